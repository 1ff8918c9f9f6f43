"""Client-side cost of one upstream call: httpx.AsyncClient vs aiohttp.ClientSession vs the
OpenAI-compatible backend built on it, against a fixed-response upstream on another core.

    .venv/bin/python tests/test_backends_perf.py                    # nginx upstream, 20,000 calls per row
    .venv/bin/python tests/test_backends_perf.py --upstream python  # tests/upstream_server.py instead
    .venv/bin/python tests/test_backends_perf.py -n 5000 -c 1 16 --no-stream

The client (this process, uvloop when installed) is pinned to CPU 0 and the upstream to CPU 1.
The nginx upstream is /work/shared/tools/gateway-baseline/upstream/nginx.conf moved to a free
port in a temp dir (fixed JSON on /v1, fixed 12-event SSE on /stream/v1). For each row:
calls/s and the client process's CPU µs per call (time.process_time), after a warm-up.

Under pytest only a smoke run (a few calls per row) checks that this script still works.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Awaitable, Callable
from contextlib import contextmanager
from pathlib import Path

import orjson

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

NGINX_CONF = Path("/work/shared/tools/gateway-baseline/upstream/nginx.conf")
BODY = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "Say hello."}], "max_tokens": 16}
HEADERS = {"Content-Type": "application/json", "Authorization": "Bearer sk-fake"}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def nginx_upstream(cpu: int):
    """The baseline's fixed-response nginx on a free port; yields (json base, stream base)."""
    port = free_port()
    with tempfile.TemporaryDirectory(prefix="rm-perf-nginx-") as tmp:
        conf = Path(tmp) / "nginx.conf"
        conf.write_text(NGINX_CONF.read_text().replace("127.0.0.1:18001", f"127.0.0.1:{port}"))
        cmd = ["nginx", "-p", tmp + "/", "-e", f"{tmp}/error.log", "-c", str(conf), "-g", "daemon off;"]
        if shutil.which("taskset"):
            cmd = ["taskset", "-c", str(cpu), *cmd]
        proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            deadline = time.monotonic() + 10
            while True:
                try:
                    urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=1).read()
                    break
                except OSError:
                    if time.monotonic() > deadline or proc.poll() is not None:
                        raise RuntimeError(f"nginx did not start (see {tmp}/error.log)") from None
                    time.sleep(0.05)
            base = f"http://127.0.0.1:{port}"
            yield base + "/v1", base + "/stream/v1"
        finally:
            proc.terminate()
            proc.wait(timeout=10)


@contextmanager
def python_upstream(cpu: int):
    from upstream_server import running_upstream

    with running_upstream(cpu=cpu if shutil.which("taskset") else None) as up:
        yield up.openai_base, up.openai_base


async def measure(call: Callable[[], Awaitable[None]], n: int, concurrency: int) -> tuple[float, float]:
    """(calls per second, client CPU µs per call) for n calls at the given concurrency."""
    for _ in range(min(500, n)):
        await call()
    per_worker = max(1, n // concurrency)

    async def worker():
        for _ in range(per_worker):
            await call()

    cpu0, t0 = time.process_time(), time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    cpu, wall = time.process_time() - cpu0, time.perf_counter() - t0
    total = per_worker * concurrency
    return total / wall, cpu / total * 1e6


async def run_all(json_base: str, stream_base: str, n: int, concurrencies: list[int], stream: bool) -> list[tuple]:
    import aiohttp
    import httpx

    from rightmodel.backends.base import RemoteEndpoint
    from rightmodel.backends.http_client import HttpClient
    from rightmodel.backends.openai_http import OpenAICompatibleBackend

    data = orjson.dumps(BODY)
    stream_data = orjson.dumps({**BODY, "stream": True})
    url, surl = json_base + "/chat/completions", stream_base + "/chat/completions"
    limits = httpx.Limits(max_connections=256, max_keepalive_connections=256)
    hx = httpx.AsyncClient(limits=limits, timeout=30, trust_env=False)
    aio = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=256), cookie_jar=aiohttp.DummyCookieJar())
    http = HttpClient()
    backend = OpenAICompatibleBackend("perf", RemoteEndpoint(base_url=json_base, model="gpt-4o-mini", api_key="sk-fake"), http)
    sbackend = OpenAICompatibleBackend("perf-s", RemoteEndpoint(base_url=stream_base, model="gpt-4o-mini", api_key="sk-fake"), http)

    async def httpx_json():
        r = await hx.post(url, content=data, headers=HEADERS)
        orjson.loads(r.content)

    async def aiohttp_json():
        async with aio.post(url, data=data, headers=HEADERS) as r:
            orjson.loads(await r.read())

    async def backend_json():
        await backend.chat(BODY)

    async def httpx_stream():
        async with hx.stream("POST", surl, content=stream_data, headers=HEADERS) as r:
            async for _ in r.aiter_raw():
                pass

    async def aiohttp_stream():
        async with aio.post(surl, data=stream_data, headers=HEADERS) as r:
            async for _ in r.content.iter_any():
                pass

    async def backend_stream():
        s = await sbackend.open_stream(BODY)
        async for _ in s:
            pass

    cases = [("httpx.AsyncClient", "json", httpx_json), ("aiohttp.ClientSession", "json", aiohttp_json),
             ("OpenAICompatibleBackend.chat", "json", backend_json)]
    if stream:
        cases += [("httpx.AsyncClient", "stream", httpx_stream), ("aiohttp.ClientSession", "stream", aiohttp_stream),
                  ("OpenAICompatibleBackend.open_stream", "stream", backend_stream)]
    rows = []
    try:
        for c in concurrencies:
            for name, mode, call in cases:
                rps, us = await measure(call, n, c)
                rows.append((name, mode, c, rps, us))
    finally:
        await hx.aclose()
        await aio.close()
        await http.aclose()
    return rows


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--upstream", choices=("nginx", "python"), default="nginx")
    ap.add_argument("-n", type=int, default=20000, help="calls per row")
    ap.add_argument("-c", type=int, nargs="+", default=[1, 16], help="concurrency levels")
    ap.add_argument("--no-stream", action="store_true")
    ap.add_argument("--client-cpu", type=int, default=0)
    ap.add_argument("--upstream-cpu", type=int, default=1)
    args = ap.parse_args(argv)
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {args.client_cpu})
    try:
        import uvloop
        loop_name = "uvloop"
    except ImportError:
        uvloop = None
        loop_name = "asyncio"
    upstream = nginx_upstream if args.upstream == "nginx" else python_upstream
    with upstream(args.upstream_cpu) as (json_base, stream_base):
        coro = run_all(json_base, stream_base, args.n, args.c, not args.no_stream)
        rows = uvloop.run(coro) if uvloop else asyncio.run(coro)
    print(f"upstream={args.upstream} loop={loop_name} n={args.n} client CPU {args.client_cpu}, "
          f"upstream CPU {args.upstream_cpu}")
    print(f"{'client':38} {'mode':6} {'conc':>4} {'calls/s':>9} {'CPU us/call':>11}")
    for name, mode, c, rps, us in rows:
        print(f"{name:38} {mode:6} {c:>4} {rps:>9,.0f} {us:>11.1f}")


def test_perf_script_smoke(tmp_path):
    """A few calls per row against upstream_server.py: the comparison still runs."""
    from upstream_server import running_upstream

    with running_upstream() as up:
        rows = asyncio.run(run_all(up.openai_base, up.openai_base, 20, [2], True))
    assert len(rows) == 6 and all(rps > 0 and us > 0 for *_, rps, us in rows)


if __name__ == "__main__":
    main()
