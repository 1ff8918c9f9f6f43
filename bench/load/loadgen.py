"""Closed-loop load generator for bench/load.py: every request's kind, status, latency and id.

    python bench/load/loadgen.py --url http://127.0.0.1:PORT --duration 180 --concurrency 32 \
        --out records.jsonl [--mix chat=6,stream=3,specialist=1] [--texts texts.json]

`concurrency` asyncio workers on one aiohttp session each send a request, read the whole
answer, record it and send the next, until `duration` seconds have passed; requests in flight
then finish (up to --timeout). Kinds, in a fixed repeating order given by --mix: `chat`
(non-streamed passthrough to --chat-model), `stream` (the same, streamed), `specialist` (a chat
completion for --task, answered by the local specialist; texts from --texts).

Prints ``START <epoch>`` when the first requests go out and ``DONE <n>`` at the end. Writes one
JSON line per request: ``t`` (epoch seconds at send), ``ms`` (until the answer was read to its
end), ``kind``, ``status`` (0: no HTTP response), ``rid`` (the gateway's x-request-id, or
null), ``outcome`` ("ok", "http <status> <error code>", "stream error event", "stream ended
without [DONE]", "client <exception>").

Why a separate process in Python rather than wrk: the ledger check needs each response's
request id, and streams must be read to their last frame to know whether they completed.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import sys
import time
from pathlib import Path

import aiohttp
import orjson


def parse_mix(text: str) -> list[str]:
    """"chat=6,stream=3,specialist=1" -> a repeating order of kinds, interleaved."""
    weights = {}
    for part in text.split(","):
        name, _, n = part.partition("=")
        weights[name.strip()] = int(n or 1)
    order: list[str] = []
    for i in range(max(weights.values())):
        order += [name for name, n in weights.items() if i < n]
    return order


class Generator:
    def __init__(self, a: argparse.Namespace) -> None:
        self.a = a
        self.url = a.url.rstrip("/") + "/v1/chat/completions"
        self.order = parse_mix(a.mix)
        self.texts = orjson.loads(Path(a.texts).read_bytes()) if a.texts else ["my card has not arrived yet"]
        self.records: list[bytes] = []
        self.seq = itertools.count()

    def body(self, kind: str, n: int) -> bytes:
        if kind == "specialist":
            text = self.texts[n % len(self.texts)]
            return orjson.dumps({"model": self.a.task, "messages": [{"role": "user", "content": text}]})
        payload = {"model": self.a.chat_model, "messages": [{"role": "user", "content": f"load request {n} says hello"}], "max_tokens": 16}
        if kind == "stream":
            payload["stream"] = True
        return orjson.dumps(payload)

    async def one(self, session: aiohttp.ClientSession, kind: str, n: int) -> None:
        data = self.body(kind, n)
        t = time.time()
        started = time.perf_counter()
        status, rid, outcome = 0, None, "ok"
        try:
            async with session.post(self.url, data=data, headers={"Content-Type": "application/json", "Authorization": "Bearer sk-load"}) as r:
                status, rid = r.status, r.headers.get("x-request-id")
                if status == 200 and kind == "stream":
                    done = error = False
                    async for line in r.content:
                        if line.startswith(b"data: [DONE]"):
                            done = True
                        elif line.startswith(b'data: {"error"'):
                            error = True
                    outcome = "stream error event" if error else ("ok" if done else "stream ended without [DONE]")
                else:
                    raw = await r.read()
                    if status != 200:
                        outcome = f"http {status} {error_code(raw)}"
                    elif b'"choices"' not in raw:
                        outcome = "200 without choices"
        except asyncio.TimeoutError:
            outcome = "client timeout"
        except aiohttp.ClientError as exc:
            outcome = f"client {type(exc).__name__}"
        ms = (time.perf_counter() - started) * 1000.0
        self.records.append(orjson.dumps({"t": round(t, 4), "ms": round(ms, 3), "kind": kind, "status": status, "rid": rid, "outcome": outcome}))

    async def worker(self, session: aiohttp.ClientSession, end: float, offset: int) -> None:
        i = offset
        while time.time() < end:
            n = next(self.seq)
            await self.one(session, self.order[i % len(self.order)], n)
            i += 1

    async def run(self) -> None:
        connector = aiohttp.TCPConnector(limit=self.a.concurrency, limit_per_host=self.a.concurrency, ttl_dns_cache=None)
        timeout = aiohttp.ClientTimeout(total=self.a.timeout)
        async with aiohttp.ClientSession(connector=connector, timeout=timeout, skip_auto_headers=("User-Agent",)) as session:
            start = time.time()
            print(f"START {start:.4f}", flush=True)
            end = start + self.a.duration
            # Workers start at different places in the mix, so every kind is in flight at once.
            await asyncio.gather(*(self.worker(session, end, w * 7) for w in range(self.a.concurrency)))


def error_code(raw: bytes) -> str:
    """The OpenAI-shaped error's code (or type) from a body; '?' when it is not one."""
    try:
        err = orjson.loads(raw)["error"]
        return str(err.get("code") or err.get("type") or "?")
    except (orjson.JSONDecodeError, KeyError, TypeError, AttributeError):
        return "non-JSON body"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--url", required=True, help="gateway base URL (http://127.0.0.1:PORT)")
    ap.add_argument("--duration", type=float, required=True, help="seconds of load")
    ap.add_argument("--concurrency", type=int, default=32)
    ap.add_argument("--mix", default="chat=6,stream=3,specialist=1")
    ap.add_argument("--chat-model", default="primary")
    ap.add_argument("--task", default="bench-intent")
    ap.add_argument("--texts", help="JSON list of texts for specialist requests")
    ap.add_argument("--timeout", type=float, default=30.0, help="client timeout per request, seconds")
    ap.add_argument("--out", required=True)
    a = ap.parse_args(argv)
    try:
        import uvloop

        uvloop.install()
    except ImportError:
        pass
    gen = Generator(a)
    try:
        asyncio.run(gen.run())
    finally:
        Path(a.out).write_bytes(b"\n".join(gen.records) + b"\n")
        print(f"DONE {len(gen.records)}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
