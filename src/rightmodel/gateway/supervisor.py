"""`rightmodel serve --workers N`: N gateway processes on one machine behind one port.

Why a supervisor of our own rather than uvicorn's `--workers`: each worker needs an identity
(its own ledger journal directory `<journal_dir>/worker-K`, reused when it is restarted so its
unshipped rows are shipped by its successor; its name in the shared limits store, so the
reservations of a worker that died are charged at once), and the stop must stay bounded by
`drain_s` like a lone gateway's.

- The supervisor validates the configuration once (a bad file fails before anything starts),
  holds the journal root's lock (a lone `serve` on the same home then says so clearly) and a
  socket bound with SO_REUSEPORT (the port stays ours; `--port 0` picks one for all).
- Each worker is a fresh interpreter (`python -m rightmodel.gateway.worker`) binding its own
  SO_REUSEPORT socket to that port; the kernel spreads new connections over the workers.
- A worker that dies is restarted with the same index (after its reservations are expired in
  the shared store). One that dies again and again at once (a configuration problem) stops the
  whole gateway with exit status 1.
- SIGTERM/SIGINT: every worker gets SIGTERM and drains for `drain_s` (its own watchdog ends it
  at drain_s + 1.5 s); any still alive at drain_s + 1.8 s is killed. The supervisor exits within
  drain_s + 2 s of the signal.

Not Ray: processes on one machine only. The shared limits store may be PostgreSQL, so several
machines each running `serve --workers N` against one registry, ledger, key store and limits
store form one gateway behind any TCP balancer.
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field

from rightmodel.gateway.launch import ServeOptions, claim_journal, journal_root, prepare, reuse_port_socket, ship_leftover_journals

log = logging.getLogger("rightmodel.gateway.supervisor")

SPEC_ENV = "RIGHTMODEL_WORKER_SPEC"
KILL_AFTER_S = 1.8  # after drain_s: workers' own watchdogs fire at drain_s + 1.5 s
FAST_FAILURES = 3  # a worker dying this many times, each within FAST_S of its start: give up
FAST_S = 20.0
POLL_S = 0.1


@dataclass
class Worker:
    index: int
    process: subprocess.Popen | None = None
    instance: str = ""
    started: float = 0.0
    fast_failures: int = 0
    spawned: int = 0
    exits: list[int] = field(default_factory=list)


def _die_with_parent() -> None:
    """In the child before exec: SIGTERM when the supervisor dies (even by SIGKILL), so no worker
    is left serving alone."""
    try:
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except Exception:  # not Linux: workers then outlive a killed supervisor
        pass


def spawn(options: ServeOptions, worker: Worker) -> None:
    import json

    worker.spawned += 1
    worker.instance = f"{socket.gethostname()}:{os.getpid()}:w{worker.index}:{worker.spawned}"
    spec = json.dumps({"options": json.loads(options.to_json()), "index": worker.index, "instance": worker.instance})
    env = {**os.environ, SPEC_ENV: spec}
    worker.process = subprocess.Popen([sys.executable, "-m", "rightmodel.gateway.worker"], env=env, preexec_fn=_die_with_parent)
    worker.started = time.monotonic()


class Supervisor:
    def __init__(self, options: ServeOptions) -> None:
        self.options = options
        self.stop_at: float | None = None  # monotonic time of the first SIGTERM/SIGINT

    def _signal(self, _sig: int, _frame: object) -> None:
        if self.stop_at is None:
            self.stop_at = time.monotonic()

    def run(self) -> int:
        import typer

        options = self.options
        constellation, settings = prepare(options)  # a bad configuration fails here, once
        lock = claim_journal(journal_root(settings), "its directory lock is held")
        ship_leftover_journals(settings, keep=set(range(options.workers)))
        placeholder = reuse_port_socket(options.host, options.port)
        options.port = placeholder.getsockname()[1]
        shared = self._open_shared(settings, constellation)
        drain_s = constellation.defaults.drain_s
        names = ", ".join([*constellation.tasks, *constellation.remote_models()]) or "nothing (no production specialists, no models)"
        typer.echo(f"rightmodel gateway on http://{options.host}:{options.port}/v1 serving: {names} "
                   f"({options.workers} worker processes)", err=True)
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, self._signal)
        workers = [Worker(i) for i in range(options.workers)]
        status = 0
        try:
            for w in workers:
                spawn(options, w)
            status = self._watch(workers, shared)
        finally:
            status = max(status, self._stop_all(workers, drain_s))
            if shared is not None:
                shared.close()
            placeholder.close()
            lock.release()
        return status

    def _open_shared(self, settings, constellation):  # type: ignore[no-untyped-def]
        if settings.limits_url is None:
            return None
        from rightmodel.cluster.limits_store import SharedLimits

        shared = SharedLimits(settings.limits_url, instance=f"supervisor:{os.getpid()}", hold_s=60.0)
        shared.migrate()  # once here, rather than N workers racing on a new database
        return shared

    def _watch(self, workers: list[Worker], shared) -> int:  # type: ignore[no-untyped-def]
        while self.stop_at is None:
            time.sleep(POLL_S)
            for w in workers:
                code = w.process.poll() if w.process is not None else None
                if code is None or self.stop_at is not None:
                    continue
                w.exits.append(code)
                quick = time.monotonic() - w.started < FAST_S
                w.fast_failures = w.fast_failures + 1 if quick else 0
                if shared is not None:
                    try:
                        expired = shared.expire_instance(w.instance)
                        if expired:
                            log.warning("worker %d: %d reservation(s) it held are charged in full", w.index, expired)
                    except Exception as exc:  # the store down: they expire on their own later
                        log.warning("worker %d: cannot expire its reservations now: %s", w.index, exc)
                if w.fast_failures >= FAST_FAILURES:
                    log.error("worker %d exited %d times within %.0f s of starting (last status %d); stopping the gateway",
                              w.index, w.fast_failures, FAST_S, code)
                    return 1
                log.warning("worker %d (pid %d) exited with status %d; starting it again", w.index, w.process.pid, code)
                spawn(self.options, w)
        return 0

    def _stop_all(self, workers: list[Worker], drain_s: float) -> int:
        """SIGTERM every worker; SIGKILL what is left at drain_s + KILL_AFTER_S after the signal."""
        start = self.stop_at if self.stop_at is not None else time.monotonic()
        alive = [w.process for w in workers if w.process is not None and w.process.poll() is None]
        for p in alive:
            try:
                p.send_signal(signal.SIGTERM)
            except ProcessLookupError:
                pass
        status = 0
        deadline = start + drain_s + KILL_AFTER_S
        for p in alive:
            try:
                code = p.wait(max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                p.kill()
                code = p.wait()
                log.error("worker pid %d did not stop within drain_s + %.1f s; killed", p.pid, KILL_AFTER_S)
            status = max(status, 1 if code else 0)
        log.info("supervisor: %d worker(s) stopped %.2f s after the signal", len(alive), time.monotonic() - start)
        return status


def supervise(options: ServeOptions) -> int:
    """Run `options.workers` gateway processes until SIGTERM/SIGINT; the exit status."""
    return Supervisor(options).run()
