"""What bench/load.py measured: the machine, the code (working tree or an exported commit), and the
specialist it serves (trained once into the work directory, then reused)."""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import os
import platform
import shlex
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

TASK = "bench-intent"
TRAIN_PER_INTENT = 26  # 77 intents x 26 = 2,002 rows, as bench/gateway.py
GW_CPU, OTHER_CPU = "0", "1"


def machine_meta(a: argparse.Namespace, run_id: str, root: Path, script: str) -> dict[str, Any]:
    """Date, command, machine, OS and package versions."""
    import importlib.metadata as md

    m: dict[str, Any] = {"run_id": run_id, "date_utc": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")}
    m["command"] = " ".join(shlex.quote(x) for x in [os.path.relpath(sys.executable, root), os.path.relpath(script, root), *sys.argv[1:]])
    m["duration_s"], m["concurrency"], m["outage_s"] = a.duration, a.concurrency, a.outage_s
    m["mix"] = a.mix if not a.no_specialist else ",".join(p for p in a.mix.split(",") if not p.startswith("specialist"))
    m["client_timeout_s"] = a.client_timeout
    cpuinfo = Path("/proc/cpuinfo").read_text().splitlines()
    m["cpu_model"] = next((line.split(":", 1)[1].strip() for line in cpuinfo if line.startswith("model name")), "?")
    m["nproc"] = os.cpu_count()
    meminfo = Path("/proc/meminfo").read_text().splitlines()
    m["mem_gib"] = round(int(next(line.split()[1] for line in meminfo if line.startswith("MemTotal"))) / 1024 / 1024, 1)
    m["kernel"] = platform.release()
    try:
        m["os"] = next(line.split("=", 1)[1].strip('"') for line in Path("/etc/os-release").read_text().splitlines()
                       if line.startswith("PRETTY_NAME="))
    except (OSError, StopIteration):
        m["os"] = platform.platform()
    m["python"] = platform.python_version()
    m["loadavg_at_start"] = Path("/proc/loadavg").read_text().split()[:3]
    versions = {}
    for pkg in ("fastapi", "starlette", "uvicorn", "uvloop", "httptools", "aiohttp", "orjson", "SQLAlchemy", "onnxruntime"):
        try:
            versions[pkg] = md.version(pkg)
        except md.PackageNotFoundError:
            pass
    m["versions"] = versions
    m["layout"] = ("unpinned (--no-pin)" if a.no_pin else
                   f"gateway pinned to CPU {GW_CPU}; upstream and load generators pinned to CPU {OTHER_CPU}")
    return m


def source(a: argparse.Namespace, root: Path, work: Path, env: dict[str, str], m: dict[str, Any], error: type[Exception]) -> tuple[Path, Path]:
    """The src/ and tests/ to run (an exported commit with --ref), checked to be what the gateway
    imports; records the commit and a digest of the source in `m` and PYTHONPATH in `env`."""
    src, tests = root / "src", root / "tests"

    def git(*args: str) -> str:
        return subprocess.run(["git", "-C", str(root), *args], capture_output=True, text=True).stdout.strip()

    if a.ref:
        sha = git("rev-parse", "--verify", f"{a.ref}^{{commit}}")
        if not sha:
            raise error(f"--ref {a.ref}: not a commit of {root}")
        export = work / f"src-{sha[:12]}"
        if not (export / "src" / "rightmodel").is_dir():
            staging = work / f".export-{sha[:12]}-{os.getpid()}"
            staging.mkdir(parents=True, exist_ok=True)
            archive = subprocess.run(["git", "-C", str(root), "archive", sha, "src", "tests/upstream_*.py"], capture_output=True, check=True)
            subprocess.run(["tar", "-x", "-C", str(staging)], input=archive.stdout, check=True)
            shutil.rmtree(export, ignore_errors=True)
            staging.rename(export)
        src, tests = export / "src", export / "tests"
        m["git_commit"] = sha[:7]
        m["git_src_uncommitted_files"] = 0
        m["source"] = f"src/ of commit {sha[:12]} (--ref {a.ref}), exported to {export}"
    else:
        m["git_commit"] = git("rev-parse", "--short", "HEAD")
        m["git_src_uncommitted_files"] = len([line for line in git("status", "--porcelain", "--", "src").splitlines() if line])
        m["source"] = "the working tree's src/"
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(src), os.environ.get("PYTHONPATH")]))
    probe = subprocess.run([sys.executable, "-c", "import rightmodel; print(rightmodel.__file__)"], capture_output=True, text=True,
                           env=env, cwd=root)
    if Path(probe.stdout.strip()).resolve() != (src / "rightmodel" / "__init__.py").resolve():
        raise error(f"the gateway would import rightmodel from {probe.stdout.strip() or probe.stderr.strip()}, not {src}")
    h = hashlib.sha256()
    for f in sorted((src / "rightmodel").rglob("*.py")):
        h.update(str(f.relative_to(src.parent)).encode() + b"\0" + f.read_bytes())
    m["src_digest"] = h.hexdigest()[:12]
    return src, tests


def specialist_home(a: argparse.Namespace, work: Path, run_dir: Path, logs: Path, root: Path, env: dict[str, str], m: dict[str, Any],
                    write_train_subset: Callable[[Path, int], list], log: Callable[[str], None], error: type[Exception]) -> Path | None:
    """A home with TASK in production: --specialist-home, or trained once into WORK/specialist-home."""
    if a.no_specialist:
        m["specialist"] = "none (--no-specialist)"
        return None
    if a.specialist_home:
        home = Path(a.specialist_home).resolve()
        m["specialist"] = f"{TASK} from {home} (--specialist-home)"
        return home
    home = work / "specialist-home"
    marker = home / ".bench-load-promoted"
    if marker.exists():
        m["specialist"] = f"{TASK}@v1, trained by an earlier run of this bench ({marker.read_text().strip()}), reused"
        return home
    if home.exists():
        shutil.rmtree(home)
    data = run_dir / "train-subset.csv"
    rows = write_train_subset(data, TRAIN_PER_INTENT)
    log(f"training {TASK} on {len(rows)} Banking77 train rows, 1 epoch, into {home} (once; later runs reuse it)")
    t0 = time.time()
    cli = [sys.executable, "-m", "rightmodel.cli"]
    with open(logs / "train.log", "ab") as out:
        r = subprocess.run([*cli, "train", TASK, "--data", str(data), "--epochs", "1", "--home", str(home),
                            "--calibration-mode", "split"],  # one model: cross-fitting would train five more
                           stdout=out, stderr=subprocess.STDOUT, env=env, cwd=root, timeout=1800)
        if r.returncode == 0:
            r = subprocess.run([*cli, "models", "--home", str(home), "promote", f"{TASK}@v1", "--force", "--reason",
                                    "bench: throughput and memory do not depend on how much it answers locally"], stdout=out,
                               stderr=subprocess.STDOUT, env=env, cwd=root, timeout=300)
    if r.returncode != 0:
        raise error(f"training or promotion failed (see {logs / 'train.log'})")
    note = f"{len(rows)} Banking77 train rows ({TRAIN_PER_INTENT} per intent), 1 epoch, {time.time() - t0:.0f} s, run {run_dir.name}"
    marker.write_text(note + "\n")
    m["specialist"] = f"{TASK}@v1 trained by this run: {note}"
    return home
