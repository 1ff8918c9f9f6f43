"""A stand-in for the paid frontier APIs: OpenAI chat completions and the Anthropic Messages API
served on loopback by a real process, with fault injection and a record of every request.

Run it:   python tests/upstream_server.py --port 0 [--reply TEXT] [--api-key KEY]
It prints ``READY <port>`` on stdout once it listens on 127.0.0.1 (``--port 0``: a free port).

Use it from a test module::

    from upstream_server import upstream  # noqa: F401   (module-scoped fixture -> Upstream)

    def test_x(upstream):
        upstream.url          # "http://127.0.0.1:PORT"; OpenAI base_url is upstream.url + "/v1"
        upstream.set_fault("500", count=2)
        upstream.received()   # every request, decoded
        upstream.clear()

or ``with running_upstream() as up: ...`` / ``up = start_upstream(); ...; up.stop()`` anywhere.

Endpoints
- ``POST /v1/chat/completions``: the answer is ``"echo: " + <text of the last user message>``
  (``--reply`` fixes it). ``prompt_tokens`` = words in all message texts, ``completion_tokens`` =
  words in the answer, ``prompt_tokens_details.cached_tokens`` = ``metadata.cached`` or the
  ``x-upstream-cached`` header (capped at prompt_tokens). ``max_tokens``/``max_completion_tokens``
  truncate to that many words (finish_reason ``length``); ``stop`` truncates (``stop``). With
  ``tools`` and a last user text ``call <name> <json args>`` the answer is a tool call.
  ``stream: true`` gives SSE ``chat.completion.chunk`` events: role chunk, one chunk per word,
  finish chunk, a usage chunk when ``stream_options.include_usage``, ``data: [DONE]``.
  Requires ``Authorization: Bearer <non-empty>`` (``--api-key``: that exact key).
- ``POST /v1/messages`` (Anthropic): requires ``anthropic-version`` and a key, in ``x-api-key`` or
  as ``Authorization: Bearer`` (anthropic SDK 2.x sends the latter), and checks the
  request like the real API does (max_tokens, alternating roles starting with user, tool_result
  blocks first and answering the previous turn's tool_use ids, image sources, temperature <= 1).
  Same answer rule; ``stop_sequences`` and ``max_tokens`` give ``stop_sequence``/``max_tokens``.
  Tool trigger as above: a text block, then a ``tool_use`` block (streamed as input_json_delta).
  Usage: ``input_tokens`` = words minus cached ones; ``x-upstream-cache-read`` and
  ``x-upstream-cache-creation`` headers set ``cache_read_input_tokens`` and
  ``cache_creation_input_tokens``. Streams send the real event sequence (message_start,
  content_block_start, ping, content_block_delta..., content_block_stop, message_delta, message_stop).
- ``GET /v1/models``.
- ``GET /_received``: every request to the endpoints above (not to /_received, /_control), as
  ``[{"method", "path", "headers": [[name, value]...], "body_b64", "client_port", "fault",
  "outcome", "t"}]``;
  ``DELETE /_received`` clears. ``outcome`` is "ok", the fault name, or "client-disconnected" when
  the client went away while a stream was being written.
- ``POST /_control {"fault": F, "count": N}``: fault for the next N requests (count default 1; a
  null fault or count 0 clears; count -1: until cleared). A request's ``x-upstream-fault`` header
  takes precedence and does not use up a controlled fault. ``GET /_control`` shows the state.

Faults
- ``429`` (Retry-After: 1), ``500``, ``503`` (Retry-After as an HTTP date ~2 s ahead), ``529``
  (Anthropic overloaded), any other 3-digit status (e.g. ``400``, ``401``): an error in the
  endpoint's own error shape.
- ``stall``: never answers (sleeps an hour). ``stall-stream``: a stream that stops after 2 content
  chunks and then sends nothing, keeping the connection open.
- ``drop``: closes the connection without a response.
- ``malformed-sse``: a stream whose third event is broken JSON; on a non-stream request, a 200
  with a truncated JSON body (``malformed-json`` does that too).
- ``cut-stream``: a stream that stops after 2 content chunks, no [DONE], connection closed (a
  non-stream request gets half its Content-Length, then the close).
- ``error-event``: after 2 content chunks, an error event (Anthropic ``event: error`` with
  overloaded_error; OpenAI ``data: {"error": ...}``).
- ``null-id``: the response's (and every chunk's) ``id`` is null.
- ``slow:<ms>``: waits that long before answering. ``slow-stream:<ms>``: waits that long between
  stream events.
- ``ignore-max-tokens``: (OpenAI, non-stream) the whole answer, billed in full, whatever
  ``max_tokens`` asked.
- ``fragmented``: every stream event is written in 3 pieces, a millisecond apart, so frames cross
  TCP segment boundaries.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import email.utils
import json
import os
import re
import select
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from upstream_anthropic import anthropic_handlers
from upstream_common import apply_limits, openai_text, parse_tool_trigger, split_words, words

STALL_S = 3600.0
OPENAI_MODELS = ("gpt-4o-mini", "gpt-4o", "claude-sonnet-4-5")


# --------------------------------------------------------------------------------------------
# Server side (imports aiohttp lazily so that tests importing the helpers stay light)
# --------------------------------------------------------------------------------------------


@dataclass
class ServerState:
    reply: str | None = None
    api_key: str | None = None
    received: list[dict[str, Any]] = field(default_factory=list)
    fault: str | None = None
    fault_count: int = 0
    counter: int = 0

    def take_fault(self, header: str | None) -> str | None:
        if header:
            return header.strip()
        if self.fault is None or self.fault_count == 0:
            return None
        fault = self.fault
        if self.fault_count > 0:
            self.fault_count -= 1
            if self.fault_count == 0:
                self.fault = None
        return fault

    def next_id(self) -> int:
        self.counter += 1
        return self.counter


def build_app(state: ServerState):
    from aiohttp import web

    def openai_error(status: int, message: str, etype: str = "invalid_request_error", headers=None):
        return web.json_response(
            {"error": {"message": message, "type": etype, "param": None, "code": None}},
            status=status, headers=headers)

    status_types = {400: "invalid_request_error", 401: "authentication_error", 403: "permission_error",
                    404: "not_found_error", 413: "request_too_large", 429: "rate_limit_error",
                    500: "api_error", 503: "api_error", 529: "overloaded_error"}

    def status_fault(provider: str, status: int):
        headers = {}
        if status in (429, 529):
            headers["Retry-After"] = "1"
        elif status == 503:
            headers["Retry-After"] = email.utils.formatdate(time.time() + 2, usegmt=True)
        etype = status_types.get(status, "api_error" if status >= 500 else "invalid_request_error")
        message = f"injected fault: HTTP {status}"
        if provider == "anthropic":
            return anthropic_error(status, message, etype, headers)
        return openai_error(status, message, etype, headers)

    async def drop(request):
        request.transport.close()
        return web.Response()  # its write fails quietly on the closed transport

    async def pre_faults(request, provider: str):
        """Faults that replace the answer; None when the request proceeds."""
        fault = request["entry"]["fault"]
        if not fault:
            return None
        if re.fullmatch(r"\d{3}", fault):
            return status_fault(provider, int(fault))
        if fault == "stall":
            await asyncio.sleep(STALL_S)
            return web.Response(status=504)
        if fault == "drop":
            return await drop(request)
        if fault.startswith("slow:"):
            await asyncio.sleep(float(fault[5:]) / 1000)
        return None

    @web.middleware
    async def record(request, handler):
        if request.path.startswith(("/_received", "/_control")):
            return await handler(request)
        raw = await request.read()
        fault = state.take_fault(request.headers.get("x-upstream-fault"))
        entry = {
            "method": request.method,
            "path": request.path_qs,
            "headers": [[k, v] for k, v in request.headers.items()],
            "body_b64": base64.b64encode(raw).decode(),
            "client_port": (request.transport.get_extra_info("peername") or (None, None))[1]
            if request.transport else None,
            "fault": fault,
            "outcome": fault or "ok",
            "t": time.time(),
        }
        state.received.append(entry)
        request["entry"] = entry
        return await handler(request)

    async def write_stream(request, frames: list[bytes], *, cut_after: int | None = None,
                           stall_after: int | None = None, delay_s: float = 0.0,
                           fragmented: bool = False):
        resp = web.StreamResponse(status=200, headers={"Content-Type": "text/event-stream",
                                                       "Cache-Control": "no-cache"})
        await resp.prepare(request)
        try:
            for i, frame in enumerate(frames):
                if cut_after is not None and i == cut_after:
                    request.transport.close()
                    return resp
                if stall_after is not None and i == stall_after:
                    await asyncio.sleep(STALL_S)
                if delay_s:
                    await asyncio.sleep(delay_s)
                if fragmented and len(frame) > 3:
                    third = len(frame) // 3
                    for piece in (frame[:third], frame[third:2 * third], frame[2 * third:]):
                        await resp.write(piece)
                        await asyncio.sleep(0.001)
                else:
                    await resp.write(frame)
        except ConnectionError:
            request["entry"]["outcome"] = "client-disconnected"
            return resp
        await resp.write_eof()
        return resp

    def stream_options(fault: str | None) -> dict[str, Any]:
        """Where a streaming fault strikes: frames index counted from the first frame."""
        if not fault:
            return {}
        if fault.startswith("slow-stream:"):
            return {"delay_s": float(fault[12:]) / 1000}
        if fault == "fragmented":
            return {"fragmented": True}
        return {}

    # ---------------------------------------------------------------- OpenAI

    async def openai_chat(request):
        early = await pre_faults(request, "openai")
        if early is not None:
            return early
        fault = request["entry"]["fault"]
        auth = request.headers.get("Authorization", "")
        if not auth.startswith("Bearer ") or not auth[7:].strip():
            return openai_error(401, "missing bearer token", "authentication_error")
        if state.api_key is not None and auth[7:] != state.api_key:
            return openai_error(401, "incorrect API key", "authentication_error")
        try:
            body = json.loads(await request.read())
        except ValueError:
            return openai_error(400, "request body is not valid JSON")
        if not isinstance(body, dict) or not isinstance(body.get("model"), str):
            return openai_error(400, "you must provide a model parameter")
        messages = body.get("messages")
        if not isinstance(messages, list) or not messages:
            return openai_error(400, "'messages' must be a non-empty array")
        for m in messages:
            if not isinstance(m, dict) or m.get("role") not in ("system", "developer", "user", "assistant", "tool"):
                return openai_error(400, f"invalid message: {m!r}"[:200])
        if "stream_options" in body and not body.get("stream"):
            return openai_error(400, "stream_options is only allowed when stream is true")

        prompt_tokens = sum(words(openai_text(m.get("content"))) for m in messages)
        cached = body.get("metadata", {}).get("cached") if isinstance(body.get("metadata"), dict) else None
        cached = int(cached or request.headers.get("x-upstream-cached", 0) or 0)
        cached = min(cached, prompt_tokens)
        last_user = next((openai_text(m.get("content")) for m in reversed(messages) if m.get("role") == "user"), "")
        tool_names = [t["function"]["name"] for t in body.get("tools") or [] if t.get("type") == "function"]
        call = parse_tool_trigger(last_user, tool_names)
        n = state.next_id()
        rid = None if fault == "null-id" else f"chatcmpl-up{n:06d}"
        created = int(time.time())
        model = body["model"]
        stop = body.get("stop") or []
        stops = [stop] if isinstance(stop, str) else list(stop)
        max_tokens = body.get("max_completion_tokens", body.get("max_tokens"))
        if call:
            text, reason = None, "tool_calls"
            tool_calls = [{"id": f"call_up{n:06d}", "type": "function",
                           "function": {"name": call[0], "arguments": json.dumps(call[1])}}]
            completion_tokens = 1 + words(tool_calls[0]["function"]["arguments"])
        else:
            answer = state.reply if state.reply is not None else "echo: " + last_user
            # ignore-max-tokens: a provider that bills a full answer whatever max_tokens said
            text, reason, _ = apply_limits(answer, None if fault == "ignore-max-tokens" else max_tokens, stops)
            reason = {"end_turn": "stop", "stop_sequence": "stop", "max_tokens": "length"}[reason]
            tool_calls = None
            completion_tokens = words(text)
        usage = {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens,
                 "total_tokens": prompt_tokens + completion_tokens,
                 "prompt_tokens_details": {"cached_tokens": cached, "audio_tokens": 0},
                 "completion_tokens_details": {"reasoning_tokens": 0, "audio_tokens": 0,
                                               "accepted_prediction_tokens": 0,
                                               "rejected_prediction_tokens": 0}}

        if not body.get("stream"):
            message: dict[str, Any] = {"role": "assistant", "content": text, "refusal": None, "annotations": []}
            if tool_calls:
                message["tool_calls"] = tool_calls
            out = json.dumps({
                "id": rid, "object": "chat.completion", "created": created, "model": model,
                "choices": [{"index": 0, "message": message, "logprobs": None, "finish_reason": reason}],
                "usage": usage, "service_tier": "default", "system_fingerprint": "fp_upstream",
            }).encode()
            return await finish_plain(request, out, fault)

        def chunk(delta, finish=None, **extra):
            obj = {"id": rid, "object": "chat.completion.chunk", "created": created, "model": model,
                   "system_fingerprint": "fp_upstream",
                   "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}]}
            obj.update(extra)
            return b"data: " + json.dumps(obj).encode() + b"\n\n"

        include_usage = bool((body.get("stream_options") or {}).get("include_usage"))
        u = {"usage": None} if include_usage else {}
        frames = [chunk({"role": "assistant", "content": "", "refusal": None}, **u)]
        if tool_calls:
            tc = tool_calls[0]
            frames.append(chunk({"tool_calls": [{"index": 0, "id": tc["id"], "type": "function",
                                                 "function": {"name": tc["function"]["name"], "arguments": ""}}]}, **u))
            args = tc["function"]["arguments"]
            for i in range(0, len(args), 8):
                frames.append(chunk({"tool_calls": [{"index": 0, "function": {"arguments": args[i:i + 8]}}]}, **u))
        else:
            frames.extend(chunk({"content": piece}, **u) for piece in split_words(text))
        frames.append(chunk({}, reason, **u))
        if include_usage:
            frames.append(b"data: " + json.dumps({
                "id": rid, "object": "chat.completion.chunk", "created": created, "model": model,
                "system_fingerprint": "fp_upstream", "choices": [], "usage": usage}).encode() + b"\n\n")
        frames.append(b"data: [DONE]\n\n")
        return await stream_with_faults(request, frames, fault, b'data: {"error": {"message": '
                                        b'"injected mid-stream error", "type": "server_error", '
                                        b'"param": null, "code": null}}\n\n')

    async def finish_plain(request, out: bytes, fault: str | None):
        if fault in ("malformed-sse", "malformed-json"):
            return web.Response(body=out[: len(out) // 2], content_type="application/json")
        if fault == "cut-stream":
            resp = web.StreamResponse(status=200, headers={"Content-Type": "application/json"})
            resp.content_length = len(out)
            await resp.prepare(request)
            await resp.write(out[: len(out) // 2])
            request.transport.close()
            return resp
        return web.Response(body=out, content_type="application/json")

    async def stream_with_faults(request, frames: list[bytes], fault: str | None, error_frame: bytes):
        """frames[0] is the role/start frame; the first content frame is frames[1] for OpenAI, and
        for Anthropic the caller passes frames so that index 2 content chunks in is `first + 2`."""
        first = request.get("first_content", 1)
        if fault == "cut-stream":
            return await write_stream(request, frames, cut_after=first + 2)
        if fault == "stall-stream":
            return await write_stream(request, frames, stall_after=first + 2)
        if fault == "malformed-sse":
            frames = frames[: first + 1] + [b'data: {"id": broken, "choices": [\n\n'] + frames[first + 1:]
            return await write_stream(request, frames)
        if fault == "error-event":
            return await write_stream(request, frames[: first + 2] + [error_frame])
        return await write_stream(request, frames, **stream_options(fault))

    # ---------------------------------------------------------------- Anthropic (upstream_anthropic.py)

    anthropic_error, anthropic_messages = anthropic_handlers(
        state, pre_faults=pre_faults, finish_plain=finish_plain, stream_with_faults=stream_with_faults)

    # ---------------------------------------------------------------- misc

    async def models(request):
        early = await pre_faults(request, "openai")
        if early is not None:
            return early
        return web.json_response({"object": "list", "data": [
            {"id": m, "object": "model", "created": 1700000000, "owned_by": "upstream"} for m in OPENAI_MODELS]})

    async def get_received(request):
        return web.json_response(state.received)

    async def delete_received(request):
        state.received.clear()
        return web.json_response({"cleared": True})

    async def post_control(request):
        try:
            body = await request.json()
        except ValueError:
            return web.json_response({"error": "body must be JSON"}, status=400)
        fault = body.get("fault")
        count = int(body.get("count", 1))
        state.fault, state.fault_count = (fault, count) if fault and count != 0 else (None, 0)
        return web.json_response({"fault": state.fault, "count": state.fault_count})

    async def get_control(request):
        return web.json_response({"fault": state.fault, "count": state.fault_count})

    app = web.Application(middlewares=[record], client_max_size=64 * 1024 * 1024)
    app.router.add_post("/v1/chat/completions", openai_chat)
    app.router.add_post("/v1/messages", anthropic_messages)
    app.router.add_get("/v1/models", models)
    app.router.add_get("/_received", get_received)
    app.router.add_delete("/_received", delete_received)
    app.router.add_post("/_control", post_control)
    app.router.add_get("/_control", get_control)
    return app


async def serve(port: int, state: ServerState, host: str = "127.0.0.1") -> None:
    from aiohttp import web

    runner = web.AppRunner(build_app(state), access_log=None, handle_signals=False)
    await runner.setup()
    site = web.TCPSite(runner, host, port, backlog=1024)
    await site.start()
    bound = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    print(f"READY {bound}", flush=True)
    try:
        await asyncio.Event().wait()
    finally:
        await runner.cleanup()


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--port", type=int, default=0, help="0: a free port (printed as READY <port>)")
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--reply", default=None, help="a fixed answer instead of 'echo: <last user text>'")
    ap.add_argument("--api-key", default=None, help="require exactly this key (default: any non-empty key)")
    args = ap.parse_args(argv)
    try:
        import uvloop
        uvloop.install()
    except ImportError:
        pass
    try:
        asyncio.run(serve(args.port, ServerState(reply=args.reply, api_key=args.api_key), args.host))
    except KeyboardInterrupt:
        pass


# --------------------------------------------------------------------------------------------
# Test side: start the server as a real process and talk to its control endpoints (stdlib only)
# --------------------------------------------------------------------------------------------


@dataclass
class Upstream:
    """A running upstream_server.py process."""

    url: str  # http://127.0.0.1:PORT (OpenAI base_url: url + "/v1"; Anthropic base_url: url)
    port: int
    process: subprocess.Popen

    @property
    def openai_base(self) -> str:
        return self.url + "/v1"

    def _call(self, method: str, path: str, body: Any = None) -> Any:
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(self.url + path, data=data, method=method,
                                     headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=10) as resp:
            return json.loads(resp.read())

    def received(self) -> list[dict[str, Any]]:
        """Every recorded request; each also gets ``body`` (raw bytes) and ``json`` (parsed or None)."""
        out = self._call("GET", "/_received")
        for entry in out:
            entry["body"] = base64.b64decode(entry["body_b64"])
            try:
                entry["json"] = json.loads(entry["body"]) if entry["body"] else None
            except ValueError:
                entry["json"] = None
        return out

    def clear(self) -> None:
        self._call("DELETE", "/_received")

    def set_fault(self, fault: str | None, count: int = 1) -> None:
        self._call("POST", "/_control", {"fault": fault, "count": count})

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=5)
        if self.process.stdout is not None:
            self.process.stdout.close()


def start_upstream(*, reply: str | None = None, api_key: str | None = None, port: int = 0,
                   cpu: int | None = None, startup_timeout: float = 20.0) -> Upstream:
    """Start ``upstream_server.py`` in a new process and wait for its READY line.

    ``cpu`` pins it to one core (``taskset``), for measurements. Call ``.stop()`` when done.
    """
    cmd = [sys.executable, os.path.abspath(__file__), "--port", str(port)]
    if reply is not None:
        cmd += ["--reply", reply]
    if api_key is not None:
        cmd += ["--api-key", api_key]
    if cpu is not None:
        cmd = ["taskset", "-c", str(cpu), *cmd]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stdin=subprocess.DEVNULL)
    assert proc.stdout is not None
    deadline = time.monotonic() + startup_timeout
    line = b""
    while time.monotonic() < deadline and proc.poll() is None:
        ready, _, _ = select.select([proc.stdout], [], [], 0.1)
        if ready:
            line = proc.stdout.readline()
            break
    if not line.startswith(b"READY "):
        proc.kill()
        proc.wait(timeout=5)
        raise RuntimeError(f"upstream_server did not start (exit {proc.returncode}, said {line!r})")
    bound = int(line.split()[1])
    return Upstream(url=f"http://127.0.0.1:{bound}", port=bound, process=proc)


@contextmanager
def running_upstream(**kwargs: Any) -> Iterator[Upstream]:
    up = start_upstream(**kwargs)
    try:
        yield up
    finally:
        up.stop()


pytest: Any = None
if __name__ != "__main__":  # the server process itself does not need pytest
    try:
        import pytest
    except ImportError:
        pass

if pytest is not None:

    @pytest.fixture(scope="module")
    def upstream() -> Iterator[Upstream]:
        """One upstream server per test module; faults and the record are cleared between uses
        by the tests that need it (``upstream.set_fault(None)``, ``upstream.clear()``)."""
        with running_upstream() as up:
            yield up


if __name__ == "__main__":
    main()
