"""A local generator as a `ChatBackend`: OpenAI chat completions answered by llama.cpp in-process.

It plugs into the same path as remote models (routing, fallbacks, privacy, the ledger), so a
`kind: generate` model can be named by clients, be a task's escalation target or the generalist.

Concurrency is bounded per model: `concurrency` engines (each its own KV cache over the same
memory-mapped weights) generate at once, each in a thread of this backend's own pool; up to
`queue` more requests wait for a free engine; beyond that the model answers 429 (retryable, so a
fallback may take the request). A stream whose client leaves is closed by the gateway
(`aclose`), which sets the generation's cancel event: the engine stops before its next token and
goes back to the pool.
"""

from __future__ import annotations

import asyncio
import os
import threading
import time
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import orjson

from rightmodel.backends.base import ChatResult, UpstreamError, Usage
from rightmodel.generative.request import GenerationRequest, parse_request

_DONE = b"data: [DONE]\n\n"
_END = object()


def _sse(obj: dict[str, Any]) -> bytes:
    return b"data: " + orjson.dumps(obj) + b"\n\n"


class GenerativeBackend:
    """`concurrency` llama.cpp engines over one GGUF file, served as OpenAI chat completions."""

    def __init__(self, name: str, path: Path, *, concurrency: int = 1, queue: int = 16, n_ctx: int = 2048,
                 threads: int | None = None, engine_factory=None) -> None:
        from rightmodel.generative.engine import LlamaEngine

        self.name = name
        self.path = Path(path)
        self.acceptance_threshold: float | None = None  # as a task's specialist (generative/serving.py sets it)
        self.version: str | None = None  # the registered version served (`task@vN`), None for a plain file
        self.quality_bar: str | None = None  # its card's (`exact`, `chrf>=0.6`): what a shadow of it is judged by
        factory = engine_factory or (lambda: LlamaEngine(self.path, n_ctx=n_ctx, threads=threads))
        self._engines = [factory() for _ in range(concurrency)]
        self._free: asyncio.Queue | None = None  # made on first use, inside the serving event loop
        self._pool = ThreadPoolExecutor(concurrency, thread_name_prefix=f"generate-{name}")
        self._queue_limit = queue
        self._waiting = 0
        self._live: set[GenerationStream] = set()  # generations running, stopped at shutdown

    @property
    def concurrency(self) -> int:
        """Generations this model runs at once (its engines)."""
        return len(self._engines)

    @property
    def busy(self) -> bool:
        """Whether a generation runs on its engines or waits for one."""
        return bool(self._live or self._waiting)

    def __repr__(self) -> str:
        return f"GenerativeBackend({self.name!r}, {str(self.path)!r}, concurrency={len(self._engines)})"

    async def _acquire(self):
        if self._free is None:
            self._free = asyncio.Queue()
            for engine in self._engines:
                self._free.put_nowait(engine)
        if self._free.empty() and self._waiting >= self._queue_limit:
            raise UpstreamError(f"{self.name}: all {len(self._engines)} engine(s) busy and {self._waiting} request(s) waiting",
                                kind="http", status=429, retryable=True, retry_after=1.0)
        self._waiting += 1
        try:
            return await self._free.get()
        finally:
            self._waiting -= 1

    async def chat(self, body: dict[str, Any], *, timeout: float | None = None) -> ChatResult:
        return (await self.scored_chat(body))[0]

    async def scored_chat(self, body: dict[str, Any]) -> tuple[ChatResult, float | None]:
        """The whole answer and its acceptance score (generative/acceptance.py): what a task whose
        specialist this model is compares with its threshold before sending the answer."""
        req = parse_request(body)
        started = time.perf_counter()
        stream = await self._open(req, body.get("model") or self.name)
        parts: list[str] = []
        finish = "stop"
        try:
            async for piece in stream.pieces():
                parts.append(piece.text)
                finish = piece.finish_reason or finish
        finally:
            await stream.aclose()
        usage = stream.usage
        payload = {
            "id": stream.id,
            "object": "chat.completion",
            "created": stream.created,
            "model": stream.model,
            "choices": [{"index": 0, "message": {"role": "assistant", "content": "".join(parts)}, "finish_reason": finish, "logprobs": None}],
            "usage": {"prompt_tokens": usage.prompt_tokens, "completion_tokens": usage.completion_tokens,
                      "total_tokens": usage.prompt_tokens + usage.completion_tokens},
        }
        return ChatResult(payload, usage, (time.perf_counter() - started) * 1000.0), stream.acceptance

    async def open_stream(self, body: dict[str, Any], *, timeout: float | None = None) -> "GenerationStream":
        req = parse_request(body)
        return await self._open(req, body.get("model") or self.name)

    async def _open(self, req: GenerationRequest, model: str) -> "GenerationStream":
        engine = await self._acquire()
        try:
            ids = await asyncio.get_running_loop().run_in_executor(self._pool, engine.prompt_ids, req.messages)
            stream = GenerationStream(self, engine, req, ids, model)
            await stream.start()
            self._live.add(stream)
        except BaseException:
            self._free.put_nowait(engine)
            raise
        return stream

    def _release(self, stream: "GenerationStream") -> None:
        self._live.discard(stream)
        if self._free is not None:
            self._free.put_nowait(stream.engine)

    async def aclose(self) -> None:
        """Stop every generation before its next token, then free the models; an engine still inside
        a long prefill after 10 s is left to the process's exit rather than freed under its thread."""
        for stream in list(self._live):
            stream.cancel.set()
        stopped = threading.Thread(target=self._pool.shutdown, kwargs={"wait": True, "cancel_futures": True}, daemon=True)
        stopped.start()
        deadline = time.monotonic() + 10.0
        while stopped.is_alive() and time.monotonic() < deadline:  # polled: the default executor may be busy at shutdown
            await asyncio.sleep(0.05)
        if not stopped.is_alive():
            for engine in self._engines:
                engine.close()
        self._engines = []


class GenerationStream:
    """One generation: a worker thread samples into a queue; iterate for OpenAI SSE frames.

    `usage` holds the prompt's tokens from the start and the completion's once the stream ended.
    `aclose` stops the worker before its next token and returns the engine to the pool once the
    worker has let go of it (never two generations on one engine)."""

    def __init__(self, backend: GenerativeBackend, engine, req: GenerationRequest, ids: list[int], model: str) -> None:
        self.backend, self.engine, self.req, self.ids, self.model = backend, engine, req, ids, model
        self._counter = None  # the engine's count of the answer's tokens, live
        self.id = "chatcmpl-rm" + os.urandom(12).hex()
        self.created = int(time.time())
        self.cancel = threading.Event()
        self._queue: asyncio.Queue = asyncio.Queue()
        self._job: asyncio.Future | None = None
        self._gen = None

    @property
    def acceptance(self) -> float | None:
        """The answer's acceptance score, final once the stream ended."""
        return self._counter.acceptance if self._counter is not None else None

    @property
    def usage(self) -> Usage:
        """The prompt's tokens, and the answer's so far (final once the stream ended)."""
        done = self._counter.completion_tokens if self._counter is not None else 0
        return Usage(prompt_tokens=len(self.ids), completion_tokens=done, reported=True)

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        # Sampler setup (grammar, context check) raises before any token: a 400, or a failure the caller can fall back from.
        pieces, self._counter = await loop.run_in_executor(self.backend._pool, self.engine.generate, self.req, self.ids, self.cancel)
        self._job = loop.run_in_executor(self.backend._pool, self._work, pieces, loop)
        self._job.add_done_callback(lambda _f: self.backend._release(self))

    def _work(self, pieces, loop: asyncio.AbstractEventLoop) -> None:
        put = self._queue.put_nowait
        try:
            for piece in pieces:
                loop.call_soon_threadsafe(put, piece)
                if self.cancel.is_set():
                    break
        except Exception as exc:  # llama.cpp failing mid-generation: the stream reports it
            loop.call_soon_threadsafe(put, UpstreamError(f"{self.backend.name}: generation failed: {exc}", kind="protocol"))
        finally:
            pieces.close()  # stops llama.cpp's generator if we left it early
            try:
                loop.call_soon_threadsafe(put, _END)
            except RuntimeError:  # the loop is closed (shutdown): nobody is listening
                pass

    async def pieces(self) -> AsyncIterator[Any]:
        """The answer's pieces as they come (`engine.Piece`)."""
        while True:
            item = await self._queue.get()
            if item is _END:
                return
            if isinstance(item, UpstreamError):
                raise item
            yield item

    def __aiter__(self) -> AsyncIterator[bytes]:
        if self._gen is None:
            self._gen = self._frames()
        return self._gen

    def _chunk(self, delta: dict[str, Any], finish: str | None = None) -> bytes:
        return _sse({"id": self.id, "object": "chat.completion.chunk", "created": self.created, "model": self.model,
                     "choices": [{"index": 0, "delta": delta, "finish_reason": finish, "logprobs": None}]})

    async def _frames(self) -> AsyncIterator[bytes]:
        yield self._chunk({"role": "assistant", "content": ""})
        finish = "stop"
        async for piece in self.pieces():
            if piece.text:
                yield self._chunk({"content": piece.text})
            finish = piece.finish_reason or finish
        yield self._chunk({}, finish)
        if self.req.include_usage:
            u = self.usage
            yield _sse({"id": self.id, "object": "chat.completion.chunk", "created": self.created, "model": self.model, "choices": [],
                        "usage": {"prompt_tokens": u.prompt_tokens, "completion_tokens": u.completion_tokens,
                                  "total_tokens": u.prompt_tokens + u.completion_tokens}})
        yield _DONE

    async def aclose(self) -> None:
        """Stop generating (safe at any time, more than once); the engine returns to the pool when its thread lets go."""
        self.cancel.set()
        if self._job is not None and not self._job.done():
            try:  # it stops before its next token: wait that long, so the count is final and the engine free
                await asyncio.wait_for(asyncio.shield(self._job), 2.0)
            except (TimeoutError, asyncio.CancelledError, Exception):  # never raises: callers record the request after it
                pass
        gen, self._gen = self._gen, None
        if gen is not None:
            try:
                await gen.aclose()
            except RuntimeError:  # being iterated in another task, which sees the end
                pass
