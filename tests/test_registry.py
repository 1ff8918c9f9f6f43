"""Registry tests: real SQLite in tmp_path, stub bytes instead of real models."""

from __future__ import annotations

import json
import multiprocessing as mp
import os
import stat
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from rightmodel.errors import DataError, ModelLoadError, PromotionRefused, RegistryError
from rightmodel.registry import ModelVersion, Registry
from rightmodel.registry import index, store
from rightmodel.registry.cli import build_models_app

TASK = "support-intent"


@pytest.fixture
def reg(tmp_path: Path) -> Iterator[Registry]:
    registry = Registry(tmp_path / "home")
    yield registry
    registry.close()


def add(reg: Registry, task: str = TASK, payload: bytes = b"onnx", **manifest) -> ModelVersion:
    """Register a stub version: a fake model, a tokenizer subdir and a card."""
    with reg.staging(task) as staged:
        (staged / "model.onnx").write_bytes(payload)
        (staged / "tokenizer").mkdir()
        (staged / "tokenizer" / "vocab.txt").write_text("hello\nworld\n")
        (staged / "card.md").write_text(f"# {task}\n\nA stub model.\n")
        manifest.setdefault("metrics", {"accuracy": 0.9})
        return reg.register(task, staged, manifest)


def writable(path: Path) -> None:
    """Undo sealing (tests run as root too, where modes are not enforced anyway)."""
    os.chmod(path.parent, 0o755)
    os.chmod(path, 0o644)


def task_entries(reg: Registry, task: str = TASK) -> list[str]:
    return sorted(p.name for p in store.task_dir(reg.home, task).iterdir())


# -- registering ----------------------------------------------------------------------------


def test_register_allocates_sequential_versions_and_writes_manifest(reg: Registry) -> None:
    v1 = add(reg, data_hash="abc123", base_model="minilm", extra={"epochs": 3})
    v2 = add(reg, payload=b"other")
    assert (v1.version, v2.version) == ("v1", "v2")
    assert v1.ref == f"{TASK}@v1" and v1.stage == "candidate"
    assert v1.path == reg.home / "models" / TASK / "v1"
    assert v1.data_hash == "abc123" and v1.base_model == "minilm"
    assert [v.version for v in reg.list(TASK)] == ["v1", "v2"]

    manifest = json.loads((v1.path / "manifest.json").read_text())
    assert manifest["task"] == TASK and manifest["version"] == "v1"
    assert manifest["extra"] == {"epochs": 3} and manifest["metrics"] == {"accuracy": 0.9}
    files = {f["path"]: f for f in manifest["files"]}
    assert set(files) == {"model.onnx", "tokenizer/vocab.txt", "card.md"}
    assert files["model.onnx"]["size"] == 4
    assert files["model.onnx"]["sha256"] == store.sha256_file(v1.path / "model.onnx")
    sums = (v1.path / "SHA256SUMS").read_text()
    assert f"{files['model.onnx']['sha256']}  model.onnx" in sums and "manifest.json" in sums
    assert reg.open(v1.ref) == v1
    assert [e["action"] for e in reg.events(TASK)] == ["register", "register"]


def test_version_files_are_read_only(reg: Registry) -> None:
    v1 = add(reg)
    for path in [v1.path, *v1.path.rglob("*")]:
        assert stat.S_IMODE(path.stat().st_mode) & 0o222 == 0, path


def test_corrupted_file_fails_open(reg: Registry) -> None:
    v1 = add(reg)
    writable(v1.path / "model.onnx")
    (v1.path / "model.onnx").write_bytes(b"evil")  # same size, different bytes
    with pytest.raises(ModelLoadError, match="checksum mismatch in model.onnx"):
        reg.open(v1.ref)
    reg.get(v1.ref)  # get does not verify


def test_missing_and_extra_files_fail_open(reg: Registry) -> None:
    v1, v2 = add(reg), add(reg)
    os.chmod(v1.path, 0o755)
    (v1.path / "model.onnx").unlink()
    with pytest.raises(ModelLoadError, match="model.onnx is missing"):
        reg.open(v1.ref)
    os.chmod(v2.path, 0o755)
    (v2.path / "sneaky.bin").write_bytes(b"x")
    with pytest.raises(ModelLoadError, match="unexpected file sneaky.bin"):
        reg.open(v2.ref)


@pytest.mark.parametrize("exc", [RuntimeError, KeyboardInterrupt])
def test_staging_block_that_raises_leaves_nothing(reg: Registry, exc: type) -> None:
    with pytest.raises(exc):
        with reg.staging(TASK) as staged:
            (staged / "model.onnx").write_bytes(b"half")
            raise exc()
    assert not staged.exists()
    assert task_entries(reg) == []
    assert reg.list() == []


def test_rename_failure_registers_nothing(reg: Registry, monkeypatch: pytest.MonkeyPatch) -> None:
    def broken_rename(src: object, dst: object) -> None:
        raise OSError("disk on fire")

    monkeypatch.setattr(os, "rename", broken_rename)
    with pytest.raises(OSError, match="disk on fire"):
        add(reg)
    monkeypatch.undo()
    assert reg.list() == [] and reg.events() == []
    assert task_entries(reg) == []
    assert add(reg).version == "v1"  # the number was never used


def test_failure_after_rename_leaves_no_final_dir(
    reg: Registry, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken_seal(root: Path) -> None:
        raise PermissionError("chmod refused")

    monkeypatch.setattr(store, "seal", broken_seal)
    with pytest.raises(PermissionError):
        add(reg)
    monkeypatch.undo()
    assert reg.list() == [] and task_entries(reg) == []


def test_register_retries_when_another_writer_took_the_number(
    reg: Registry, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Servers without SQLite's write lock rely on the unique constraint plus a retry."""
    add(reg)
    real = index.next_version_num
    calls: list[int] = []

    def stale_then_real(conn, task):
        calls.append(1)
        return 1 if len(calls) == 1 else real(conn, task)  # first guess collides with v1

    monkeypatch.setattr(index, "next_version_num", stale_then_real)
    v2 = add(reg)
    assert v2.version == "v2" and len(calls) == 2
    assert [e["version"] for e in reg.events(TASK)] == ["v1", "v2"]
    reg.open(v2.ref)


def test_register_copies_a_dir_staged_elsewhere(reg: Registry, tmp_path: Path) -> None:
    outside = tmp_path / "export"
    outside.mkdir()
    (outside / "model.onnx").write_bytes(b"m")
    version = reg.register(TASK, outside, {"metrics": {}})
    assert (outside / "model.onnx").exists() and (version.path / "model.onnx").exists()
    assert reg.open(version.ref).version == "v1"


def test_register_rejects_bad_input(reg: Registry, tmp_path: Path) -> None:
    with pytest.raises(RegistryError, match="invalid task name"):
        with reg.staging("Bad Task"):
            pass
    with pytest.raises(RegistryError, match="contains no files"):
        with reg.staging(TASK) as staged:
            reg.register(TASK, staged, {})
    with pytest.raises(RegistryError, match="'metrics' must be a dict"):
        add(reg, metrics=[1, 2])
    with pytest.raises(RegistryError, match="not plain JSON"):
        add(reg, metrics={"f1": object()})
    with pytest.raises(RegistryError, match="does not exist"):
        reg.register(TASK, tmp_path / "nope", {})
    assert reg.list() == []


def test_manifest_values_are_made_plain_json(reg: Registry, tmp_path: Path) -> None:
    version = add(reg, metrics={"f1": float("nan"), "per_class": (0.5, 1)}, source=tmp_path)
    assert version.metrics == {"f1": None, "per_class": [0.5, 1]}
    assert reg.manifest(version.ref)["source"] == str(tmp_path)


def test_orphan_dir_from_a_killed_register_is_replaced(reg: Registry) -> None:
    orphan = store.version_dir(reg.home, TASK, "v1")
    orphan.mkdir(parents=True)
    (orphan / "junk").write_bytes(b"half-registered")
    v1 = add(reg)
    assert v1.version == "v1" and not (v1.path / "junk").exists()
    reg.open(v1.ref)


def test_stale_staging_dirs_are_ignored_and_cleaned(tmp_path: Path) -> None:
    home = tmp_path / "home"
    Registry(home).close()
    stale = store.task_dir(home, TASK) / ".staging-dead"
    fresh = store.task_dir(home, TASK) / ".staging-alive"
    for path in (stale, fresh):
        path.mkdir(parents=True)
        (path / "model.onnx").write_bytes(b"x")
    side_file = stale.with_name(stale.name + ".fp32.onnx")  # a builder's sibling temp file
    side_file.write_bytes(b"big")
    old = time.time() - 2 * 3600
    os.utime(stale, (old, old))
    os.utime(side_file, (old, old))
    with Registry(home) as reg:
        assert not stale.exists() and not side_file.exists() and fresh.exists()
        assert reg.list() == []
        assert add(reg).version == "v1"
        with reg.staging(TASK) as slow:  # a long training run still holds its staging lock
            (slow / "model.onnx").write_bytes(b"x")
            os.utime(slow, (old, old))
            Registry(home).close()
            assert slow.exists()
            assert reg.register(TASK, slow, {}).version == "v2"
        assert task_entries(reg) == [".staging-alive", "v1", "v2"]


# -- lookups --------------------------------------------------------------------------------


def test_get_resolves_refs(reg: Registry) -> None:
    with pytest.raises(RegistryError, match="no versions of task 'support-intent'"):
        reg.get(TASK)
    v1, v2, v3 = add(reg), add(reg), add(reg)
    assert reg.get(TASK).version == "v3"  # no production: newest candidate
    reg.promote(v2.ref)
    assert reg.get(TASK).version == "v2"
    assert reg.get(f"{TASK}@production").version == "v2"
    assert reg.get(f"{TASK}@candidate").version == "v3"
    assert reg.get(f"{TASK}@latest").version == "v3"
    assert reg.get(f"{TASK}@v1") == v1
    with pytest.raises(RegistryError, match="support-intent@v9 does not exist"):
        reg.get(f"{TASK}@v9")
    with pytest.raises(RegistryError, match="after '@' use vN"):
        reg.get(f"{TASK}@newest")
    with pytest.raises(RegistryError, match="invalid task name"):
        reg.get("../etc@v1")
    reg.promote(v3.ref)
    assert reg.get(TASK).version == "v3"
    assert reg.get(f"{TASK}@candidate").version == "v1"
    reg.promote(v1.ref)
    with pytest.raises(RegistryError, match="has no candidate version"):
        reg.get(f"{TASK}@candidate")
    assert [v.stage for v in reg.list(TASK)] == ["production", "archived", "archived"]


# -- promotion and rollback -----------------------------------------------------------------


def scorer_from(scores: dict[str, float]):
    return lambda version: scores[version.version]


def test_promote_refuses_a_worse_candidate(reg: Registry) -> None:
    v1, v2 = add(reg), add(reg)
    reg.promote(v1.ref)
    with pytest.raises(PromotionRefused, match=r"v2 scores 0\.7000.*v1 \(0\.8000\)"):
        reg.promote(v2.ref, scorer=scorer_from({"v1": 0.8, "v2": 0.7}))
    assert reg.get(f"{TASK}@production").version == "v1"
    assert reg.get(v2.ref).stage == "candidate"


def test_promote_better_candidate_archives_old_production(reg: Registry) -> None:
    v1, v2 = add(reg), add(reg)
    first = reg.promote(v1.ref, scorer=scorer_from({}))  # nothing to compare against
    assert first.previous is None and first.candidate_score is None
    result = reg.promote(v2.ref, scorer=scorer_from({"v1": 0.8, "v2": 0.85}))
    assert result.version.stage == "production"
    assert result.previous is not None and result.previous.ref == v1.ref
    assert (result.candidate_score, result.production_score) == (0.85, 0.8)
    assert reg.get(v1.ref).stage == "archived"
    promote = reg.events(TASK)[-1]
    assert promote["action"] == "promote" and promote["candidate_score"] == 0.85
    with pytest.raises(RegistryError, match="already in production"):
        reg.promote(v2.ref)


def test_force_requires_a_reason(reg: Registry) -> None:
    v1, v2 = add(reg), add(reg)
    reg.promote(v1.ref)
    for reason in (None, "  "):
        with pytest.raises(RegistryError, match="requires a reason"):
            reg.promote(v2.ref, scorer=scorer_from({"v1": 0.8, "v2": 0.7}), force=True,
                        reason=reason)
    assert reg.get(v2.ref).stage == "candidate"


def test_forced_promotion_is_recorded(reg: Registry) -> None:
    v1, v2 = add(reg), add(reg)
    reg.promote(v1.ref)
    result = reg.promote(v2.ref, scorer=scorer_from({"v1": 0.8, "v2": 0.7}), force=True,
                         reason="golden set is stale")
    assert result.forced and reg.get(TASK).version == "v2"
    event = reg.events(TASK)[-1]
    assert event["ref"] == v2.ref and event["forced"] is True
    assert event["reason"] == "golden set is stale"
    assert (event["candidate_score"], event["production_score"]) == (0.7, 0.8)
    assert (event["from_stage"], event["to_stage"]) == ("candidate", "production")


def test_promote_refuses_a_corrupted_candidate(reg: Registry) -> None:
    v1 = add(reg)
    writable(v1.path / "card.md")
    (v1.path / "card.md").write_text("tampered")
    with pytest.raises(ModelLoadError, match="card.md"):
        reg.promote(v1.ref)
    assert reg.get(v1.ref).stage == "candidate"


def test_rollback_restores_previous_production(reg: Registry) -> None:
    v1, v2, v3 = add(reg), add(reg), add(reg)
    with pytest.raises(RegistryError, match="no production version to roll back"):
        reg.rollback(TASK)
    for v in (v1, v2, v3):
        reg.promote(v.ref)
    assert reg.rollback(TASK, reason="v3 misroutes refunds").ref == v2.ref
    assert reg.get(v3.ref).stage == "archived"
    assert reg.events(TASK)[-1]["reason"] == "v3 misroutes refunds"
    assert reg.rollback(TASK).ref == v1.ref  # walks back, does not flip-flop to v3
    with pytest.raises(RegistryError, match="no earlier production version"):
        reg.rollback(TASK)
    reg.promote(v3.ref)  # archived versions can be promoted again
    assert reg.rollback(TASK).ref == v1.ref
    stages = {v.version: v.stage for v in reg.list(TASK)}
    assert stages == {"v1": "production", "v2": "archived", "v3": "archived"}


def test_golden_set(reg: Registry, tmp_path: Path) -> None:
    assert reg.golden_path(TASK) is None
    source = tmp_path / "gold.jsonl"
    source.write_text('{"text": "refund please", "label": "refund"}\n')
    stored = reg.set_golden(TASK, source)
    assert stored == reg.home / "tasks" / TASK / "golden.jsonl" == reg.golden_path(TASK)
    assert stored.read_text() == source.read_text()
    csv = tmp_path / "gold.csv"
    csv.write_text("text,label\nhi,greeting\n")
    assert reg.set_golden(TASK, csv) == reg.golden_path(TASK) == stored.with_suffix(".csv")
    assert not stored.exists()
    text = tmp_path / "gold.txt"
    text.write_text("x")
    with pytest.raises(DataError, match="must be a .jsonl or .csv"):
        reg.set_golden(TASK, text)


# -- concurrency ----------------------------------------------------------------------------


def _register_worker(home: str, start, results, count: int) -> None:
    reg = Registry(home)  # both workers also race to create the schema
    start.wait()
    versions = []
    for i in range(count):
        with reg.staging(TASK) as staged:
            (staged / "model.onnx").write_bytes(f"{os.getpid()}-{i}".encode())
            versions.append(reg.register(TASK, staged, {}).version)
    reg.close()
    results.put(versions)


def test_concurrent_register_from_two_processes(tmp_path: Path) -> None:
    ctx = mp.get_context("spawn")
    start, results = ctx.Event(), ctx.Queue()
    home, count = str(tmp_path / "home"), 6
    workers = [ctx.Process(target=_register_worker, args=(home, start, results, count))
               for _ in range(2)]
    for w in workers:
        w.start()
    start.set()
    got = [results.get(timeout=60) for _ in workers]
    for w in workers:
        w.join(timeout=60)
        assert w.exitcode == 0
    allocated = got[0] + got[1]
    assert len(set(allocated)) == 2 * count
    with Registry(home) as reg:
        assert sorted(int(v.version[1:]) for v in reg.list(TASK)) == list(range(1, 2 * count + 1))
        for version in reg.list(TASK):
            reg.open(version.ref)


# -- CLI ------------------------------------------------------------------------------------


def test_cli_list_show_promote_rollback_history(reg: Registry) -> None:
    add(reg, base_model="minilm")
    add(reg)
    add(reg)
    scores = {"v1": 0.8, "v2": 0.9, "v3": 0.5}
    seen: list[str] = []

    def factory(registry: Registry, task: str):
        seen.append(task)
        return scorer_from(scores)

    app = build_models_app(scorer_factory=factory)
    runner = CliRunner()
    home = ["--home", str(reg.home)]

    def run(*args: str):
        return runner.invoke(app, [*home, *args])

    listed = run("list", "--json")
    assert listed.exit_code == 0, listed.output
    assert [v["ref"] for v in json.loads(listed.stdout)] == [f"{TASK}@v{i}" for i in (1, 2, 3)]
    table = run("list", "--task", TASK)
    assert table.exit_code == 0 and "candidate" in table.stdout and "minilm" in table.stdout

    shown = run("show", f"{TASK}@v1")
    assert shown.exit_code == 0, shown.output
    assert "model.onnx" in shown.stdout and "A stub model" in shown.stdout and "ok" in shown.stdout
    data = json.loads(run("show", f"{TASK}@v1", "--json").stdout)
    assert data["integrity"] == "ok" and data["card_md"].startswith("# support-intent")

    assert run("promote", f"{TASK}@v1").exit_code == 0
    promoted = run("promote", f"{TASK}@v2")
    assert promoted.exit_code == 0, promoted.output
    assert "support-intent@v2 is now in production" in promoted.stdout
    assert "0.9000 vs 0.8000" in promoted.stdout
    assert seen == [f"{TASK}@v1", f"{TASK}@v2"]

    refused = run("promote", f"{TASK}@v3")
    assert refused.exit_code == PromotionRefused.exit_code
    assert "scores 0.5000" in refused.stderr and "Traceback" not in refused.output
    no_reason = run("promote", f"{TASK}@v3", "--force")
    assert no_reason.exit_code == 1 and "requires a reason" in no_reason.stderr
    forced = run("promote", f"{TASK}@v3", "--force", "--reason", "hotfix")
    assert forced.exit_code == 0 and "[forced]" in forced.stdout

    rolled = run("rollback", TASK, "--reason", "bad release")
    assert rolled.exit_code == 0 and "support-intent@v2 is in production again" in rolled.stdout
    history = json.loads(run("history", TASK, "--json").stdout)
    assert [e["action"] for e in history][-2:] == ["archive", "rollback"]
    assert any(e["forced"] and e["reason"] == "hotfix" for e in history)
    assert run("history", TASK).exit_code == 0

    missing = run("show", "nosuch@v1")
    assert missing.exit_code == 1 and "no versions of task 'nosuch'" in missing.stderr


def test_cli_reads_home_from_environment(reg: Registry) -> None:
    add(reg)
    app = build_models_app()
    result = CliRunner().invoke(app, ["list", "--json"], env={"RIGHTMODEL_HOME": str(reg.home)})
    assert result.exit_code == 0 and json.loads(result.stdout)[0]["version"] == "v1"
