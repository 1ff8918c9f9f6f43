"""What every bench shares: the machine lock and the accounting of what the machine did.

The benches under bench/ measure on one shared machine (other people's tests, CI runs). So each takes
/tmp/bench.lock (BenchLock) while it measures, and for every measured step records the CPU of the
processes it started (cpu_ticks, status_kib over /proc/<pid>) and what the rest of the machine did
(Window: per-core busy %, VM steal, cores used by processes it did not start). Also here: process
handling (Procs: each child in its own session, stopped by its group), loopback HTTP helpers that never
use an environment proxy, percentiles (pct) and moving a ledger aside (set_aside_ledger).

These lived in bench/gateway.py, the first bench; it re-exports them, so `import gateway as gwbench`
and `gwbench.BenchLock`, `gwbench.Window`, ... keep working. Import with bench/ on sys.path, as the
benches do; not an entry point.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

LOCK = Path("/tmp/bench.lock")
CLK_TCK = os.sysconf("SC_CLK_TCK")


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


class BenchLock:
    """/tmp/bench.lock, shared by every bench: created exclusively with our pid and the script's name;
    a holder that is gone is taken over; a live one is waited for (up to wait_s), then `error` is raised."""

    def __init__(self, script: str, tag: str, wait_s: float, log=None, error: type[Exception] | None = None) -> None:
        self.script, self.tag, self.wait_s, self.held = script, tag, wait_s, False
        self.log = log or globals()["log"]
        self.error = error or BenchError

    def acquire(self) -> None:
        waited = 0
        while True:
            try:
                fd = os.open(LOCK, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
                os.write(fd, f"{os.getpid()} {self.script} {self.tag}\n".encode())
                os.close(fd)
                self.held = True
                return
            except FileExistsError:
                try:
                    holder = int(LOCK.read_text().split()[0])
                    os.kill(holder, 0)
                except (ValueError, IndexError, OSError):
                    self.log(f"{LOCK} is stale (holder gone); taking it over")
                    LOCK.unlink(missing_ok=True)
                    continue
                if waited >= self.wait_s:
                    raise self.error(f"{LOCK} is held by pid {holder} for {waited} s; not measuring on a busy machine")
                if waited % 60 == 0:
                    self.log(f"{LOCK} is held by pid {holder}: waiting (up to {self.wait_s} s)")
                time.sleep(5)
                waited += 5

    def release(self) -> None:
        if self.held:
            try:
                if LOCK.read_text().split()[0] == str(os.getpid()):
                    LOCK.unlink()
            except (OSError, IndexError):
                pass
            self.held = False

class BenchError(Exception):
    pass


# ----------------------------------------------------------------------------- processes


class Procs:
    """Every process the bench starts, each in its own session (so its process group id is its pid);
    stopped by that id: SIGTERM to the process, then SIGKILL to its group if it lingers."""

    def __init__(self) -> None:
        self.live: dict[int, tuple[str, subprocess.Popen]] = {}

    def start(self, name: str, argv: list[str], *, cpus: str | None = None, log_path: Path | None = None,
              env: dict[str, str] | None = None, cwd: Path | None = None) -> subprocess.Popen:
        if cpus is not None:
            argv = ["taskset", "-c", cpus, *argv]
        out = open(log_path, "ab") if log_path else subprocess.DEVNULL
        try:
            p = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env,
                                 cwd=cwd, start_new_session=True)
        finally:
            if log_path:
                out.close()
        self.live[p.pid] = (name, p)
        return p

    def stop(self, p: subprocess.Popen, timeout: float = 15.0) -> float | None:
        """Stop one process; returns seconds until it exited after SIGTERM (None if it had to be killed)."""
        took = None
        if p.poll() is None:
            t0 = time.perf_counter()
            try:
                os.kill(p.pid, signal.SIGTERM)
                p.wait(timeout)
                took = time.perf_counter() - t0
            except subprocess.TimeoutExpired:
                log(f"{self.live.get(p.pid, ('?',))[0]} (pid {p.pid}) ignored SIGTERM for {timeout:.0f} s: SIGKILL")
            except ProcessLookupError:
                pass
        try:
            os.killpg(p.pid, signal.SIGKILL)  # leftovers of its own group (e.g. nginx's worker)
        except (ProcessLookupError, PermissionError):
            pass
        try:
            p.wait(5)
        except subprocess.TimeoutExpired:
            pass
        self.live.pop(p.pid, None)
        return took

    def stop_all(self) -> None:
        for pid, (name, p) in list(self.live.items()):
            log(f"stopping {name} (pid {pid})")
            self.stop(p, timeout=10)


# ----------------------------------------------------------------------------- /proc helpers


def _children_map() -> dict[int, list[int]]:
    kids: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            ppid = int(stat.rsplit(")", 1)[1].split()[1])
            kids.setdefault(ppid, []).append(int(entry))
    return kids


def tree(pid: int) -> list[int]:
    kids, out, todo = _children_map(), [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        todo.extend(kids.get(p, []))
    return out


def cpu_ticks(pid: int) -> int:
    """utime + stime of pid and its descendants (all threads)."""
    total = 0
    for p in tree(pid):
        try:
            fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])
        except (OSError, IndexError, ValueError):
            pass
    return total


def status_kib(pid: int, key: str) -> int:
    total = 0
    for p in tree(pid):
        try:
            for line in Path(f"/proc/{p}/status").read_text().splitlines():
                if line.startswith(key + ":"):
                    total += int(line.split()[1])
        except OSError:
            pass
    return total


def mib(kib: int) -> float:
    return round(kib / 1024.0, 1)


def cpu_snapshot() -> dict[str, tuple[int, int]]:
    snap = {}
    for line in Path("/proc/stat").read_text().splitlines():
        f = line.split()
        if f and f[0].startswith("cpu") and f[0] != "cpu":
            vals = list(map(int, f[1:]))
            snap[f[0]] = (sum(vals[:8]), vals[3] + vals[4], vals[7] if len(vals) > 7 else 0)
    return snap


def busy(s0: dict, s1: dict) -> dict[str, float]:
    out = {}
    for cpu in s0:
        tot = s1[cpu][0] - s0[cpu][0]
        if tot > 0:
            out[f"{cpu}_busy_pct"] = round(100.0 * (tot - (s1[cpu][1] - s0[cpu][1])) / tot, 1)
    return out


def proc_snapshot() -> dict[int, tuple[str, int, int]]:
    """pid -> (comm, utime+stime ticks, ppid) for every process on the machine."""
    snap = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                raw = Path(f"/proc/{entry}/stat").read_text()
                f = raw.rsplit(")", 1)[1].split()
                snap[int(entry)] = (raw[raw.find("(") + 1: raw.rfind(")")], int(f[11]) + int(f[12]), int(f[1]))
            except (OSError, IndexError, ValueError):
                continue
    return snap


class Window:
    """What the whole machine did during one measured step: per-core busy %, VM steal, and CPU used by
    processes that are not this bench's (other people's tests on a shared machine): their summed CPU
    in cores, and the top ones by name. Processes that started and ended inside the window are missed."""

    def __init__(self, root: int) -> None:
        self.root = root
        self.p0, self.s0, self.t0 = proc_snapshot(), cpu_snapshot(), time.monotonic()

    def close(self) -> dict:
        p1, s1, secs = proc_snapshot(), cpu_snapshot(), time.monotonic() - self.t0
        kids: dict[int, list[int]] = {}
        for snap in (self.p0, p1):
            for pid, (_, _, ppid) in snap.items():
                kids.setdefault(ppid, []).append(pid)
        ours, todo = set(), [self.root]
        while todo:
            p = todo.pop()
            if p not in ours:
                ours.add(p)
                todo.extend(kids.get(p, []))
        by_name: dict[str, int] = {}
        for pid, (comm, ticks, _) in p1.items():
            if pid in ours or pid <= 2:
                continue
            before = self.p0.get(pid)
            d = ticks - before[1] if before and before[0] == comm else (ticks if before is None else 0)
            if d > 0:
                by_name[comm] = by_name.get(comm, 0) + d
        total = sum(by_name.values())
        out = busy(self.s0, s1)
        steal = sum(s1[c][2] - self.s0[c][2] for c in s1 if c in self.s0)
        tot = sum(s1[c][0] - self.s0[c][0] for c in s1 if c in self.s0)
        out["steal_pct"] = round(100.0 * steal / tot, 1) if tot > 0 else 0.0
        out["other_cores"] = round(total / CLK_TCK / secs, 2) if secs > 0 else 0.0
        top = sorted(by_name.items(), key=lambda kv: -kv[1])[:3]
        out["other_top"] = ", ".join(f"{n} {t / CLK_TCK / secs:.2f}" for n, t in top if t / CLK_TCK / secs >= 0.01)
        return out


def affinity(pid: int) -> str:
    try:
        return ",".join(map(str, sorted(os.sched_getaffinity(pid))))
    except OSError:
        return "?"


# ----------------------------------------------------------------------------- HTTP helpers

_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # never an env proxy


def http(method: str, url: str, body: dict | None = None, key: str | None = None, timeout: float = 15.0):
    """(status, headers, body bytes); status 0 when nothing answered."""
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, method=method)
    if data is not None:
        req.add_header("Content-Type", "application/json")
    if key:
        req.add_header("Authorization", f"Bearer {key}")
    try:
        with _OPENER.open(req, timeout=timeout) as r:
            return r.status, dict(r.headers), r.read()
    except urllib.error.HTTPError as e:
        return e.code, dict(e.headers or {}), e.read()
    except (urllib.error.URLError, OSError):
        return 0, {}, b""


def wait_http(url: str, timeout: float, proc: subprocess.Popen | None = None, ok=lambda s: s > 0, interval: float = 0.2) -> bool:
    end = time.time() + timeout
    while time.time() < end:
        if proc is not None and proc.poll() is not None:
            return False
        status, _, _ = http("GET", url, timeout=2)
        if ok(status):
            return True
        time.sleep(interval)
    return False


def port_busy(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.5)
        return s.connect_ex(("127.0.0.1", port)) == 0


def fmt(v, nd: int = 1) -> str:
    """A number for a results table: thousands separators, ``nd`` decimals for floats, "–" for none."""
    if v is None or v == "":
        return "–"
    if isinstance(v, float):
        return f"{v:,.{nd}f}"
    if isinstance(v, int):
        return f"{v:,}"
    return str(v)


def wilson(k: int, n: int) -> tuple[float, float] | None:
    """95% Wilson interval of k successes in n (scipy's binomtest), None when there is nothing to count."""
    if n == 0:
        return None
    from scipy.stats import binomtest

    ci = binomtest(k, n).proportion_ci(confidence_level=0.95, method="wilson")
    return float(ci.low), float(ci.high)


def pct(sorted_vals: list[float], p: float) -> float:
    if not sorted_vals:
        return 0.0
    k = min(len(sorted_vals) - 1, max(0, int(round(p / 100.0 * len(sorted_vals) + 0.5)) - 1))
    return sorted_vals[k]


def set_aside_ledger(home: Path, tag: str) -> bool:
    """Rename home/ledger.db (+ -wal/-shm) and home/ledger-journal to names carrying `tag`."""
    moved = False
    for name in ("ledger.db", "ledger.db-wal", "ledger.db-shm", "ledger-journal"):
        src = home / name
        if src.exists():
            src.rename(home / name.replace("ledger", f"ledger-{tag}", 1))
            moved = True
    return moved
