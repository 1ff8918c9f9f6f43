"""Bounded work (issue 17): no client, however slow, large or nested its request, can stall or
crash a real gateway process, and what clients do is recorded as theirs, not ours.

One gateway process (`gw`, in front of tests/upstream_server.py, with a specialist, the bundled
encoder and an API key with a budget) under tight limits, so that each case takes seconds:
huge headers, silent and slow connections, broken framing (raw sockets: tests/raw_http.py),
deep JSON, oversize batches, big CPU work beside small requests, a hung upstream with no
deadline configured, clients that leave, an upstream that bills past max_tokens. A second
process is stopped with SIGTERM while abandoned work is still running. Timings are asserted
loosely: the point is "seconds, not minutes", "a small request is not stuck behind a big one".
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import statistics
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from cpu_specialist import register_cpu_specialist
from gateway_proc import Gateway, create_keys, running_gateway, start_gateway, stop_gateway
from raw_http import closed_within, connect, head, read_reply, trickle
from upstream_server import upstream  # noqa: F401  (module-scoped fixture)

pytestmark = pytest.mark.slow

UPSTREAM_KEY = {"TEST_UPSTREAM_KEY": "sk-up"}
LIMITS = {
    "retries": 2, "backoff_s": 0.05, "drain_s": 1, "idle_timeout_s": 2, "header_timeout_s": 2, "body_timeout_s": 2,
    "batch_deadline_s": 4, "max_batch_inputs": 64, "max_input_chars": 4000, "max_messages": 50, "max_header_bytes": 16384,
}
LONG_TEXT = " ".join(["my card has not arrived and the transfer is still pending"] * 18)[:1000]


def rss_mb(gw: Gateway) -> float:
    with open(f"/proc/{gw.process.pid}/status") as f:
        return int(re.search(r"VmRSS:\s+(\d+)", f.read()).group(1)) / 1024


def open_fds(gw: Gateway) -> int:
    return len(os.listdir(f"/proc/{gw.process.pid}/fd"))


def chat_body(text: str = "hello", **extra) -> dict:
    return {"model": "gpt", "messages": [{"role": "user", "content": text}], **extra}


@pytest.fixture(scope="module")
def home(tmp_path_factory) -> Path:
    """A registry with a CPU-bound stand-in specialist for task `intent` (tests/cpu_specialist.py)."""
    path = tmp_path_factory.mktemp("bounds-home")
    register_cpu_specialist(path)
    return path


@pytest.fixture(scope="module")
def gw(home, upstream, tmp_path_factory) -> Iterator[Gateway]:  # noqa: F811
    from rightmodel.auth.keys import KeySpec

    own = tmp_path_factory.mktemp("gw-bounds")
    keys_url = f"sqlite:///{own / 'keys.db'}"
    (key,) = create_keys(keys_url, KeySpec(tenant="acme", budget_usd=1000))
    config = {
        "models": {
            "gpt": {"kind": "openai", "base_url": upstream.openai_base, "api_key_env": "TEST_UPSTREAM_KEY", "timeout_s": 3,
                    "price": {"input_per_mtok": 0.0, "output_per_mtok": 1000.0}},
            "intent-v": {"kind": "specialist", "task": "intent"},
        },
        "tasks": {"intent": {"specialist": "intent-v", "escalate_to": "gpt"}},
        "defaults": LIMITS,
    }
    with running_gateway(config, own, extra_args=own_files(home, own) + ("--keys-url", keys_url), env=UPSTREAM_KEY) as gateway:
        gateway.key = key  # type: ignore[attr-defined]
        gateway.client = httpx.Client(base_url=gateway.url, headers={"Authorization": f"Bearer {key}"}, timeout=30)  # type: ignore[attr-defined]
        assert gateway.client.post("/v1/embeddings", json={"input": "warm up"}).status_code == 200  # exports the encoder once
        yield gateway
        gateway.client.close()


def own_files(home: Path, own: Path) -> tuple[str, ...]:
    """Serve the registry (and encoder cache) in `home`, with ledger and journal of its own in `own`."""
    return ("--home", str(home), "--ledger-url", f"sqlite:///{own / 'ledger.db'}", "--journal-dir", str(own / "journal"))


def auth(gw: Gateway) -> str:
    return f"Authorization: Bearer {gw.key}\r\n"


def rows_with(gw: Gateway, status: int, since: int = 0, expect: int = 1) -> list[dict]:
    deadline = time.time() + 10
    while True:
        rows = [r for r in gw.ledger_rows()[since:] if r["status"] == status]
        if len(rows) >= expect or time.time() > deadline:
            return rows
        time.sleep(0.2)


def metric(gw: Gateway, name: str, **labels: str) -> float:
    text = gw.client.get("/metrics").text
    total = 0.0
    for line in text.splitlines():
        if line.startswith(name) and all(f'{k}="{v}"' in line for k, v in labels.items()):
            total += float(line.rsplit(" ", 1)[1])
    return total


# -- the connection: headers, silence, slow bodies, broken framing -------------------------------


def test_a_50_mb_authorization_header_is_refused_with_431_while_it_arrives(gw):
    before = rss_mb(gw)
    sock = connect(gw.url)
    replies: list = []
    reader = threading.Thread(target=lambda: replies.append(read_reply(sock, timeout=15)))
    reader.start()
    sock.sendall(b"POST /v1/chat/completions HTTP/1.1\r\nHost: test\r\nAuthorization: Bearer ")
    sent = 0
    try:
        while sent < 50 << 20:
            sock.sendall(b"a" * (1 << 20))
            sent += 1 << 20
    except OSError:  # closed after the refusal
        pass
    reader.join(15)
    sock.close()
    reply = replies[0]
    assert reply is not None and reply.status == 431, reply
    assert reply.headers["content-type"] == "application/json"
    assert reply.json()["error"]["code"] == "request_header_fields_too_large"
    assert "defaults.max_header_bytes" in reply.json()["error"]["message"]
    assert rss_mb(gw) - before < 24  # the header was never buffered (before: 50 MB read into memory)
    assert gw.client.get("/healthz").status_code == 200


def test_headers_just_over_the_limit_in_one_read_are_refused_too(gw):
    sock = connect(gw.url)
    sock.sendall(head("/v1/chat/completions", 2, auth(gw) + "X-Big: " + "b" * 17000 + "\r\n") + b"{}")
    reply = read_reply(sock)
    sock.close()
    assert reply is not None and reply.status == 431


def test_silent_connections_slow_headers_and_slow_bodies_are_closed_in_seconds(gw):
    start = len(gw.ledger_rows())
    body = json.dumps(chat_body()).encode()
    silent = connect(gw.url)
    slow_head = connect(gw.url)
    slow_head.sendall(b"POST /v1/chat/completions HTTP/1.1\r\nHost: test\r\n")
    slow_body = connect(gw.url)
    slow_body.sendall(head("/v1/chat/completions", len(body), auth(gw)))
    # A body trickled at 4 bytes/s: the deadline (body_timeout_s 2 s + 1 s per 1 KB) is never extended enough.
    sent, acted = trickle(slow_body, body, every_s=0.25, stop_after_s=8)
    assert acted and sent < len(body)
    reply = read_reply(slow_body)
    assert reply is not None and reply.status == 408
    assert reply.json()["error"]["code"] == "request_timeout" and "defaults.body_timeout_s" in reply.json()["error"]["message"]
    # The silent one (idle_timeout_s 2) is gone by now, the slow header one (header_timeout_s 2) answered 408.
    assert closed_within(silent, 1.0) is not None
    head_reply = read_reply(slow_head, timeout=3)
    assert head_reply is not None and head_reply.status == 408
    for sock in (silent, slow_head, slow_body):
        sock.close()
    (row,) = rows_with(gw, 408, since=start)
    assert row["endpoint"] == "/v1/chat/completions" and "request_timeout" in row["error"]
    assert reply.headers["x-request-id"] == row["request_id"]  # the cut-off answer names its ledger row


def test_an_early_answer_stays_the_only_one_and_a_trickle_after_it_is_still_cut(gw):
    sock = connect(gw.url)
    sock.sendall(head("/v1/chat/completions", 5_000_000, auth(gw)) + b"{")  # over max_body_bytes: 413 before the body
    reply = read_reply(sock)
    assert reply is not None and reply.status == 413
    sent, acted = trickle(sock, b" " * 100, every_s=0.25, stop_after_s=8)
    assert acted and sent < 100
    after = bytearray()
    assert closed_within(sock, 3, after) is not None  # closed (body_timeout_s)...
    assert b"HTTP/1.1" not in after  # ...with no second answer written after the first
    sock.close()


def test_a_body_sent_at_a_normal_pace_in_pieces_is_answered(gw):
    body = json.dumps(chat_body("x " * 4000)).encode()
    sock = connect(gw.url)
    sock.sendall(head("/v1/chat/completions", len(body), auth(gw)))
    for i in range(0, len(body), 1000):  # 8 KB over 2.4 s: slower than body_timeout_s alone allows, at 3 KB/s
        sock.sendall(body[i : i + 1000])
        time.sleep(0.3)
    reply = read_reply(sock)
    sock.close()
    assert reply is not None and reply.status == 200, reply


def test_a_hundred_slow_clients_are_all_closed_and_their_files_released(gw):
    before = open_fds(gw)
    start = len(gw.ledger_rows())
    body = json.dumps(chat_body()).encode()
    socks = [connect(gw.url) for _ in range(100)]
    for sock in socks:
        sock.sendall(head("/v1/chat/completions", len(body), auth(gw)) + body[:5])
        sock.setblocking(False)
    deadline = time.time() + 3
    while open_fds(gw) < before + 90 and time.time() < deadline:  # accepted by the server
        time.sleep(0.05)
    assert open_fds(gw) >= before + 90
    open_socks, started = set(socks), time.monotonic()
    while open_socks and time.monotonic() - started < 8:
        for sock in list(open_socks):
            try:
                sock.send(b" ")  # one byte every half second each
                sock.recv(1, socket.MSG_PEEK)  # returns only once the server answered or closed
                open_socks.discard(sock)
            except BlockingIOError:
                pass
            except OSError:
                open_socks.discard(sock)
        time.sleep(0.5)
    assert not open_socks, f"{len(open_socks)} slow connections still open after {time.monotonic() - started:.1f} s"
    for sock in socks:
        sock.close()
    assert len(rows_with(gw, 408, since=start, expect=100)) == 100
    deadline = time.time() + 5
    while open_fds(gw) > before + 5 and time.time() < deadline:
        time.sleep(0.2)
    assert open_fds(gw) <= before + 5
    assert metric(gw, "rightmodel_requests_total", status="500") == 0


@pytest.mark.parametrize(
    "raw",
    [
        b"GARBAGE\r\n\r\n",
        b"POST /v1/chat/completions HTTP/1.1\r\nHost test\r\n\r\n",
        b"POST /v1/chat/completions HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\nContent-Length: 7\r\n\r\n{}",
    ],
    ids=["request-line", "header-line", "two-lengths"],
)
def test_malformed_http_gets_an_openai_shaped_json_400(gw, raw):
    sock = connect(gw.url)
    sock.sendall(raw)
    reply = read_reply(sock)
    sock.close()
    assert reply is not None and reply.status == 400
    assert reply.json()["error"]["code"] == "invalid_http_request"


def test_broken_chunked_framing_mid_body_is_a_400_and_a_400_row(gw):
    start = len(gw.ledger_rows())
    sock = connect(gw.url)
    sock.sendall(head("/v1/chat/completions", None, auth(gw) + "Transfer-Encoding: chunked\r\n") + b"5\r\n{\"mo\r\nzz-not-a-size\r\n")
    reply = read_reply(sock)
    sock.close()
    assert reply is not None and reply.status == 400 and reply.json()["error"]["code"] == "invalid_http_request"
    (row,) = rows_with(gw, 400, since=start)
    assert "invalid_http_request" in row["error"]


# -- request bodies: nesting and sizes -----------------------------------------------------------


def nested(depth: int) -> dict:
    """A dict `depth` levels deep (itself included)."""
    value: dict = {}
    for _ in range(depth - 1):
        value = {"a": value}
    return value


@pytest.mark.parametrize(
    "make, param",
    [
        (lambda d: chat_body(metadata=nested(d)), "metadata"),
        (lambda d: {"model": "gpt", "messages": [{"role": "user", "content": [{"type": "text", "text": "hi", "x": nested(d)}]}]}, "messages.0"),
        (lambda d: chat_body(tools=[{"type": "function", "function": {"name": "f", "parameters": nested(d)}}]), "tools.0"),
    ],
    ids=["metadata", "content-part", "tool-schema"],
)
def test_deep_json_is_a_400_naming_the_field_at_any_depth(gw, make, param):
    for depth in (300, 900):  # 254-1023 used to be a 500 from re-serialising for the upstream
        r = gw.client.post("/v1/chat/completions", content=json.dumps(make(depth)), headers={"content-type": "application/json"})
        assert r.status_code == 400, r.text
        err = r.json()["error"]
        assert err["code"] == "json_too_deep" and err["param"] == param and "128 levels" in err["message"]


def test_json_too_deep_to_parse_is_a_400_and_the_limit_itself_passes(gw):
    raw = '{"model":"gpt","messages":[{"role":"user","content":"hi"}],"metadata":' + '{"a":' * 2000 + "1" + "}" * 2001
    r = gw.client.post("/v1/chat/completions", content=raw, headers={"content-type": "application/json"})
    assert r.status_code == 400 and r.json()["error"]["code"] == "json_too_deep"
    # The body is level 1: metadata may hold 127 levels (MAX_JSON_DEPTH = 128), and reaches the upstream.
    from rightmodel.bounds import MAX_JSON_DEPTH

    assert gw.client.post("/v1/chat/completions", json=chat_body(metadata=nested(MAX_JSON_DEPTH - 1))).status_code == 200
    assert gw.client.post("/v1/chat/completions", json=chat_body(metadata=nested(MAX_JSON_DEPTH))).status_code == 400


@pytest.mark.parametrize(
    "path, body, param, code",
    [
        ("/v1/embeddings", {"input": ["a"] * 65}, "input", "too_many_inputs"),
        ("/v1/embeddings", {"input": "x" * 4001}, "input", "input_too_long"),
        ("/v1/embeddings", {"input": ["ok", "fine", "y" * 4001]}, "input.2", "input_too_long"),
        ("/v1/classify", {"model": "intent", "input": ["a"] * 65}, "input", "too_many_inputs"),
        ("/v1/classify", {"model": "intent", "input": ["ok", "z" * 4001]}, "input.1", "input_too_long"),
        ("/v1/chat/completions", {"model": "gpt", "messages": [{"role": "user", "content": "hi"}] * 51}, "messages", "too_many_messages"),
    ],
)
def test_oversize_batches_and_conversations_are_400s_naming_the_field(gw, path, body, param, code):
    r = gw.client.post(path, json=body)
    assert r.status_code == 400, r.text
    assert r.json()["error"]["param"] == param and r.json()["error"]["code"] == code
    assert "defaults.max_" in r.json()["error"]["message"]


# -- CPU work: deadlines, cancellation, small requests beside big ones ---------------------------


def timed(call) -> float:
    started = time.perf_counter()
    r = call()
    assert r.status_code == 200, r.text
    return time.perf_counter() - started


def test_big_batches_end_at_their_deadline_and_do_not_starve_small_requests(gw):
    c = gw.client
    small = {
        "healthz": lambda: c.get("/healthz"),
        "chat": lambda: c.post("/v1/chat/completions", json=chat_body()),
        "embed-1": lambda: c.post("/v1/embeddings", json={"input": "where is my card"}),
        "classify-1": lambda: c.post("/v1/classify", json={"model": "intent", "input": "where is my card"}),
    }
    alone = {name: statistics.median(timed(call) for _ in range(7)) for name, call in small.items()}
    big: list = []

    def big_request(path: str, body: dict) -> None:
        started = time.monotonic()
        with httpx.Client(base_url=gw.url, headers={"Authorization": f"Bearer {gw.key}"}, timeout=60) as own:
            r = own.post(path, json=body)
        big.append((path, r.status_code, r.json(), time.monotonic() - started))

    # Six big embedding batches on two cores: more work than fits the 4 s deadline on any machine
    # here (three fitted on a fast one: one finished in time and the "all 504" check failed).
    jobs = [("/v1/embeddings", {"input": [LONG_TEXT] * 64})] * 6 + [("/v1/classify", {"model": "intent", "input": [LONG_TEXT] * 64})] * 2
    threads = [threading.Thread(target=big_request, args=job) for job in jobs]
    for thread in threads:
        thread.start()
    time.sleep(0.5)
    loaded: dict[str, list[float]] = {name: [] for name in small}
    while any(t.is_alive() for t in threads):
        for name, call in small.items():
            loaded[name].append(timed(call))
        time.sleep(0.05)
    for thread in threads:
        thread.join()
    for name in small:  # "within its normal latency": a few times alone at most, never seconds
        assert len(loaded[name]) >= 5
        assert statistics.median(loaded[name]) < 4 * alone[name] + 0.1, (name, alone[name], loaded[name])
        assert max(loaded[name]) < 1.0, (name, loaded[name])
    embeds = [b for b in big if b[0] == "/v1/embeddings"]
    assert all(status in (200, 504) for _, status, _, _ in embeds)
    assert sum(status == 504 for _, status, _, _ in embeds) >= 3  # the batches queued behind others run out of time
    for _, status, payload, elapsed in embeds:
        if status == 504:
            assert payload["error"]["code"] == "deadline_exceeded" and "texts were embedded by then" in payload["error"]["message"]
        assert elapsed < 4 + 2  # answered or cut off at the deadline, never later
    assert all(status in (200, 504) for _, status, _, _ in big)
    # Abandoned chunks stop between chunks: the pool is idle again within a chunk's time.
    deadline = time.time() + 3
    while (metric(gw, "rightmodel_cpu_pool_busy") or metric(gw, "rightmodel_cpu_pool_abandoned")) and time.time() < deadline:
        time.sleep(0.1)
    assert metric(gw, "rightmodel_cpu_pool_busy") == 0 and metric(gw, "rightmodel_cpu_pool_abandoned") == 0


def test_privacy_detection_grows_linearly_and_does_not_starve_small_requests(gw):
    """The prompt whose entity overlaps were quadratic ("John Smith met Anna. " repeated: 19 s at
    168 KB before): time through the gateway grows with length, not its square, and a small
    request answers while three big ones are scanned."""
    c = gw.client
    unit = "John Smith met Anna. "
    took = {}
    for kb in (20, 160):
        body = chat_body((unit * (kb * 1024 // len(unit)))[: kb * 1024], model="gpt")
        took[kb] = min(timed(lambda: c.post("/v1/chat/completions", json=body)) for _ in range(2))
    assert took[160] < 8 * 2.5 * took[20] + 0.5, took  # 8x the text: quadratic would be 64x
    alone = statistics.median(timed(lambda: c.get("/healthz")) for _ in range(5))
    big = chat_body(unit * 12000, model="gpt")  # 250 KB each
    threads = [threading.Thread(target=lambda: c.post("/v1/chat/completions", json=big)) for _ in range(3)]
    for thread in threads:
        thread.start()
    loaded = []
    while any(t.is_alive() for t in threads):
        loaded.append(timed(lambda: c.post("/v1/chat/completions", json=chat_body("is my card blocked?", model="gpt"))))
    for thread in threads:
        thread.join()
    assert loaded and max(loaded) < 1.0 and statistics.median(loaded) < 10 * alone + 0.2, (alone, loaded)


def test_a_hung_upstream_with_no_deadline_configured_gets_a_timely_504(gw, upstream):  # noqa: F811
    upstream.set_fault("stall", count=-1)
    try:
        started = time.monotonic()
        r = gw.client.post("/v1/chat/completions", json=chat_body())
        elapsed = time.monotonic() - started
    finally:
        upstream.set_fault(None)
    # One attempt of the model (timeout_s 3): before, 3 attempts with backoff (and 183 s with the default 60 s timeout).
    assert r.status_code == 504 and r.json()["error"]["code"] == "deadline_exceeded"
    assert "deadline_s is unset" in r.json()["error"]["message"]
    assert 2.5 < elapsed < 5


# -- clients that leave; upstreams that overbill ------------------------------------------------


def test_a_client_leaving_is_a_499_row_without_a_traceback(gw, upstream):  # noqa: F811
    start = len(gw.ledger_rows())
    body = json.dumps(chat_body()).encode()
    for _ in range(5):  # mid-body
        sock = connect(gw.url)
        sock.sendall(head("/v1/chat/completions", 1000, auth(gw)) + body[:40])
        time.sleep(0.05)
        sock.close()
    upstream.set_fault("slow:3000")
    try:  # while the upstream thinks: the request stops at once, the upstream call is aborted
        sock = connect(gw.url)
        sock.sendall(head("/v1/chat/completions", len(body), auth(gw)) + body)
        time.sleep(0.5)
        sock.close()
        rows = rows_with(gw, 499, since=start, expect=6)
    finally:
        upstream.set_fault(None)
    assert len(rows) == 6
    assert rows[-1]["latency_ms"] < 2000
    # During big CPU work: no further chunk starts once the client has gone.
    big = json.dumps({"input": [LONG_TEXT] * 64}).encode()
    sock = connect(gw.url)
    sock.sendall(head("/v1/embeddings", len(big), auth(gw)) + big)
    time.sleep(0.7)
    sock.close()
    rows = rows_with(gw, 499, since=start, expect=7)
    assert len(rows) == 7 and rows[-1]["endpoint"] == "/v1/embeddings" and rows[-1]["latency_ms"] < 1500
    deadline = time.time() + 2
    while metric(gw, "rightmodel_cpu_pool_busy") and time.time() < deadline:
        time.sleep(0.1)
    assert metric(gw, "rightmodel_cpu_pool_busy") == 0  # 64 long texts take ~5 s: it stopped
    assert all("client_closed_request" in r["error"] for r in rows)
    log = gw.log_text()
    assert "Traceback" not in log and "ClientDisconnect" not in log and " ERROR " not in log
    assert metric(gw, "rightmodel_requests_total", status="499") >= 7
    assert metric(gw, "rightmodel_requests_total", status="500") == 0


def test_an_upstream_billing_past_max_tokens_is_settled_flagged_and_counted(gw, upstream):  # noqa: F811
    start = len(gw.ledger_rows())
    upstream.set_fault("ignore-max-tokens")
    try:
        r = gw.client.post("/v1/chat/completions", json=chat_body(" ".join(["word"] * 200), max_tokens=2))
    finally:
        upstream.set_fault(None)
    assert r.status_code == 200 and r.json()["usage"]["completion_tokens"] == 201
    row = next(x for x in gw.ledger_rows(expect=start + 1)[start:] if x["status"] == 200)
    extra = row["extra"] if isinstance(row["extra"], dict) else json.loads(row["extra"])
    assert extra["max_tokens_exceeded"] == {"max_tokens": 2, "completion_tokens": 201}
    overrun = extra["budget_overrun"]
    assert overrun["ratio"] > 50 and overrun["actual_usd"] == pytest.approx(row["cost_usd"])  # settled at the real cost
    assert row["cost_usd"] == pytest.approx(201 * 1000 / 1e6)
    assert metric(gw, "rightmodel_budget_overruns_total", model="gpt") >= 1
    assert metric(gw, "rightmodel_max_tokens_exceeded_total", model="gpt") >= 1
    assert "budgets: request" in gw.log_text()


# -- stopping ---------------------------------------------------------------------------------


def test_sigterm_during_abandoned_work_exits_within_the_drain_time(home, upstream, tmp_path):  # noqa: F811
    config = {
        "models": {"gpt": {"kind": "openai", "base_url": upstream.openai_base, "api_key_env": "TEST_UPSTREAM_KEY"}},
        "defaults": {"generalist": "gpt", "drain_s": 1, "deadline_s": 1.5, "batch_deadline_s": 1.5},
    }
    gw2 = start_gateway(config, tmp_path, extra_args=own_files(home, tmp_path), env=UPSTREAM_KEY)
    try:
        results: list = []

        def call(path: str, body: dict) -> None:
            try:
                results.append(httpx.post(gw2.url + path, json=body, timeout=30).status_code)
            except httpx.HTTPError as exc:
                results.append(type(exc).__name__)

        # Work that outlives its request: a long privacy scan (a worker thread that does not stop
        # at the deadline), big embeddings (abandoned between chunks), and a stalled upstream call.
        names = "John Smith met Anna. " * 150000  # 3.1 MB: seconds of detection (linear, in chunks)
        upstream.set_fault("stall", count=2)  # should the scan finish in time, the upstream call still outlives the deadline
        jobs = [("/v1/chat/completions", {"model": "gpt", "messages": [{"role": "user", "content": "stall"}]}),
                ("/v1/chat/completions", {"model": "gpt", "messages": [{"role": "user", "content": names}]}),
                ("/v1/embeddings", {"input": [LONG_TEXT] * 64})]
        threads = [threading.Thread(target=call, args=job) for job in jobs]
        for thread in threads:
            thread.start()
        time.sleep(2.5)  # every request is past its 1.5 s deadline; its work may not be
        started = time.monotonic()
        gw2.process.send_signal(signal.SIGTERM)
        code = gw2.process.wait(timeout=30)
        elapsed = time.monotonic() - started
        for thread in threads:
            thread.join(5)
    finally:
        upstream.set_fault(None)
        stop_gateway(gw2)
    assert elapsed < 1 + 2, f"exit took {elapsed:.1f} s (drain_s 1)\n{gw2.log_text()[-2000:]}"
    assert code == 0, gw2.log_text()[-2000:]
    assert sorted(map(str, results)) == ["504", "504", "504"], results
