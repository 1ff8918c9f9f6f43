"""Raw-socket HTTP/1.1 clients for tests that must misbehave: slow, huge, silent or broken.

An HTTP library cannot send a header of 50 MB, trickle a body one byte at a time or stop in the
middle of its request line; these helpers write exactly the bytes asked for and read whatever
comes back.
"""

from __future__ import annotations

import json
import socket
import time
from dataclasses import dataclass
from urllib.parse import urlsplit


@dataclass
class Reply:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> dict:
        return json.loads(self.body)


def connect(url: str, timeout: float = 10.0) -> socket.socket:
    parts = urlsplit(url)
    sock = socket.create_connection((parts.hostname, parts.port), timeout=timeout)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return sock


def head(path: str, content_length: int | None = None, extra: str = "", method: str = "POST") -> bytes:
    """A request line and headers (ended by the blank line)."""
    lines = [f"{method} {path} HTTP/1.1", "Host: test", "Content-Type: application/json"]
    if content_length is not None:
        lines.append(f"Content-Length: {content_length}")
    text = "\r\n".join(lines) + "\r\n" + extra
    return text.encode() + b"\r\n"


def read_reply(sock: socket.socket, timeout: float = 10.0) -> Reply | None:
    """The response on `sock`, or None if the server closed the connection without one."""
    sock.settimeout(timeout)
    data = b""
    try:
        while b"\r\n\r\n" not in data:
            chunk = sock.recv(65536)
            if not chunk:
                return None
            data += chunk
        top, _, rest = data.partition(b"\r\n\r\n")
        lines = top.decode("latin-1").split("\r\n")
        headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
        length = int(headers.get("content-length", "0"))
        while len(rest) < length:
            chunk = sock.recv(65536)
            if not chunk:
                break
            rest += chunk
        return Reply(int(lines[0].split()[1]), headers, rest[:length])
    except (ConnectionResetError, BrokenPipeError):
        return None


def closed_within(sock: socket.socket, seconds: float, received: bytearray | None = None) -> float | None:
    """Seconds until the server closes `sock` (reading anything it sends into `received`), or
    None if it is still open after `seconds`."""
    started = time.monotonic()
    sock.settimeout(0.1)
    while time.monotonic() - started < seconds:
        try:
            chunk = sock.recv(65536)
        except socket.timeout:
            continue
        except (ConnectionResetError, BrokenPipeError):
            return time.monotonic() - started
        if not chunk:
            return time.monotonic() - started
        if received is not None:
            received += chunk
    return None


def trickle(sock: socket.socket, data: bytes, every_s: float, stop_after_s: float) -> tuple[int, bool]:
    """Send `data` one byte per `every_s` until done, the server closes, or `stop_after_s`;
    (bytes sent, whether the server answered or closed meanwhile)."""
    started, sent = time.monotonic(), 0
    sock.setblocking(False)
    try:
        while sent < len(data) and time.monotonic() - started < stop_after_s:
            try:
                sock.send(data[sent : sent + 1])
                sent += 1
            except (BlockingIOError, InterruptedError):
                pass
            except OSError:
                return sent, True
            time.sleep(every_s)
            try:
                sock.recv(1, socket.MSG_PEEK)  # returns (data, or b"" at close) only once the server acted
                return sent, True
            except BlockingIOError:
                continue
            except OSError:
                return sent, True
        return sent, False
    finally:
        sock.setblocking(True)
