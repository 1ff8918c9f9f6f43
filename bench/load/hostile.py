"""Hostile clients for bench/load.py --hostile: slow bodies, oversize inputs and deep JSON, open loop.

    python bench/load/hostile.py --url http://127.0.0.1:PORT --duration 180 --rate 90 --out hostile.jsonl

Starts `rate` requests per second (the bench sets it to a share of the normal clients' rate
measured without them), kinds in a fixed rotation:

- `slow-body`: a chat completion whose body (Content-Length declared) is sent one byte per
  second, on a raw connection, until the gateway answers or closes (it should cut it off: 408);
- `oversize`: in turn /v1/embeddings with 2,049 inputs, /v1/embeddings with one 40,000-character
  input, /v1/classify with 2,049 inputs, a chat completion with 2,049 messages (all over the
  defaults: 400);
- `deep-json`: a chat completion whose `metadata` (in turn: a content part) nests 1,000 levels
  (over the depth limit of 128: 400).

Requests still in flight at the end are waited for (up to --grace s). Prints ``START <epoch>``
and ``DONE <n>``; writes one JSON line per request, as bench/load/loadgen.py does: ``t``,
``ms``, ``kind``, ``variant``, ``status`` (0: no HTTP response), ``rid``, ``outcome``.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit

import aiohttp
import orjson

KINDS = ("slow-body", "oversize", "deep-json")
AUTH = {"Content-Type": "application/json", "Authorization": "Bearer sk-load"}


def nested(depth: int) -> str:
    return '{"a":' * (depth - 1) + "{}" + "}" * (depth - 1)


def oversize(n: int, task: str) -> tuple[str, str, bytes]:
    """(variant, path, body) of the n-th oversize request."""
    variant = n % 4
    if variant == 0:
        return "embeddings-2049-inputs", "/v1/embeddings", orjson.dumps({"input": ["x"] * 2049})
    if variant == 1:
        return "embeddings-40k-chars", "/v1/embeddings", orjson.dumps({"input": "y" * 40_000})
    if variant == 2:
        return "classify-2049-inputs", "/v1/classify", orjson.dumps({"model": task, "input": ["z"] * 2049})
    messages = [{"role": "user", "content": "hi"}] * 2049
    return "chat-2049-messages", "/v1/chat/completions", orjson.dumps({"model": "primary", "messages": messages})


def deep(n: int) -> tuple[str, str, bytes]:
    if n % 2 == 0:
        raw = '{"model":"primary","messages":[{"role":"user","content":"hi"}],"metadata":' + nested(1000) + "}"
        return "metadata-1000-deep", "/v1/chat/completions", raw.encode()
    raw = '{"model":"primary","messages":[{"role":"user","content":[{"type":"text","text":"hi","x":' + nested(1000) + "}]}]}"
    return "content-part-1000-deep", "/v1/chat/completions", raw.encode()


class Hostile:
    def __init__(self, a: argparse.Namespace) -> None:
        self.a = a
        parts = urlsplit(a.url)
        self.host, self.port = parts.hostname, parts.port
        self.records: list[bytes] = []
        self.seq = itertools.count()

    def record(self, t: float, started: float, kind: str, variant: str, status: int, rid: str | None, outcome: str) -> None:
        ms = (time.perf_counter() - started) * 1000.0
        self.records.append(orjson.dumps({"t": t, "ms": round(ms, 3), "kind": kind, "variant": variant, "status": status, "rid": rid,
                                          "outcome": outcome}))

    async def slow_body(self, n: int) -> None:
        body = orjson.dumps({"model": "primary", "messages": [{"role": "user", "content": f"slow request {n}"}]})
        head = (f"POST /v1/chat/completions HTTP/1.1\r\nHost: bench\r\nContent-Type: application/json\r\nAuthorization: Bearer sk-load\r\n"
                f"Content-Length: {len(body)}\r\n\r\n").encode()
        t, started = time.time(), time.perf_counter()
        status, rid, outcome = 0, None, "closed without an answer"
        writer = None
        try:
            reader, writer = await asyncio.open_connection(self.host, self.port)
            writer.write(head)
            answer = asyncio.ensure_future(reader.read(65536))
            for i in range(len(body)):
                done, _ = await asyncio.wait({answer}, timeout=1.0)
                if done:
                    break
                writer.write(body[i : i + 1])
            data = await asyncio.wait_for(answer, self.a.grace)
            if data.startswith(b"HTTP/1.1 "):
                status = int(data[9:12])
                for line in data.split(b"\r\n\r\n", 1)[0].split(b"\r\n")[1:]:
                    name, _, value = line.partition(b":")
                    if name.strip().lower() == b"x-request-id":
                        rid = value.strip().decode()
                outcome = f"http {status}"
        except (OSError, asyncio.TimeoutError) as exc:
            outcome = f"client {type(exc).__name__}"
        finally:
            if writer is not None:
                writer.close()
        self.record(t, started, "slow-body", "1 byte/s", status, rid, outcome)

    async def post(self, session: aiohttp.ClientSession, kind: str, variant: str, path: str, data: bytes) -> None:
        t, started = time.time(), time.perf_counter()
        status, rid, outcome = 0, None, ""
        try:
            async with session.post(self.a.url.rstrip("/") + path, data=data, headers=AUTH) as r:
                status, rid = r.status, r.headers.get("x-request-id")
                raw = await r.read()
                try:
                    code = orjson.loads(raw)["error"]["code"]
                except (orjson.JSONDecodeError, KeyError, TypeError):
                    code = None
                outcome = f"http {status} {code}" if code else f"http {status}"
        except (aiohttp.ClientError, asyncio.TimeoutError) as exc:
            outcome = f"client {type(exc).__name__}"
        self.record(t, started, kind, variant, status, rid, outcome)

    async def run(self) -> None:
        timeout = aiohttp.ClientTimeout(total=self.a.grace)
        async with aiohttp.ClientSession(timeout=timeout, connector=aiohttp.TCPConnector(limit=0)) as session:
            print(f"START {time.time():.6f}", flush=True)
            t0, tasks = time.monotonic(), set()
            for i in itertools.count():
                at = t0 + i / self.a.rate
                if at - t0 >= self.a.duration:
                    break
                await asyncio.sleep(max(0.0, at - time.monotonic()))
                kind = KINDS[i % len(KINDS)]
                n = i // len(KINDS)
                if kind == "slow-body":
                    job = self.slow_body(n)
                elif kind == "oversize":
                    job = self.post(session, kind, *oversize(n, self.a.task))
                else:
                    job = self.post(session, kind, *deep(n))
                task = asyncio.ensure_future(job)
                tasks.add(task)
                task.add_done_callback(tasks.discard)
            if tasks:
                await asyncio.wait(tasks, timeout=self.a.grace)
        Path(self.a.out).write_bytes(b"\n".join(self.records) + b"\n")
        print(f"DONE {len(self.records)}", flush=True)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--url", required=True)
    ap.add_argument("--duration", type=float, required=True)
    ap.add_argument("--rate", type=float, required=True, help="hostile requests started per second")
    ap.add_argument("--task", default="bench-intent", help="the task /v1/classify names")
    ap.add_argument("--grace", type=float, default=40.0, help="seconds to wait for an answer, and for requests in flight at the end")
    ap.add_argument("--out", required=True)
    a = ap.parse_args(argv)
    try:
        import uvloop

        uvloop.run(Hostile(a).run())
    except ImportError:
        asyncio.run(Hostile(a).run())
    return 0


if __name__ == "__main__":
    sys.exit(main())
