"""The registry facade: register, look up, verify, promote and roll back model versions.

Files live under ``{home}/models/{task}/{version}/`` (see ``store``); which versions exist and
their stages live in SQL (see ``index``). Every stage change is one database transaction plus an
audit event, so "what was in production on Tuesday, and who forced it" always has an answer.
"""

from __future__ import annotations

import builtins  # the ``list`` method shadows the builtin inside the class
import math
import os
import random
import shutil
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import asdict, dataclass, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from rightmodel.errors import DataError, PromotionRefused, RegistryError
from rightmodel.registry import index, store

REGISTER_ATTEMPTS = 20
GOLDEN_EXTENSIONS = (".jsonl", ".csv")


@dataclass(frozen=True)
class ModelVersion:
    """One registered version as recorded in the index (the files are at ``path``)."""

    task: str
    version: str
    stage: str
    created_at: datetime
    path: Path
    metrics: dict[str, Any]
    data_hash: str | None
    base_model: str | None

    @property
    def ref(self) -> str:
        return f"{self.task}@{self.version}"

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly form, used by ``--json`` output."""
        data = asdict(self)
        data.update(created_at=self.created_at.isoformat(), path=str(self.path))
        return {"ref": self.ref, **data}


@dataclass(frozen=True)
class PromotionResult:
    """What ``promote`` did: the new production, the one it replaced, and the golden scores."""

    version: ModelVersion
    previous: ModelVersion | None
    candidate_score: float | None
    production_score: float | None
    forced: bool


class _VersionTaken(Exception):
    """Another process committed the version number we picked; pick again."""


class Registry:
    """Versioned, checksummed, stage-managed storage for trained specialists."""

    def __init__(self, home: str | Path, database_url: str | None = None) -> None:
        self.home = Path(home).expanduser().resolve()
        self.home.mkdir(parents=True, exist_ok=True)
        self.database_url = database_url or f"sqlite:///{self.home / 'registry.db'}"
        self._engine = index.create_engine(self.database_url)
        try:
            index.migrate(self._engine)
        except BaseException:
            self._engine.dispose()
            raise
        store.clean_stale_staging(self.home)

    def __repr__(self) -> str:
        return f"Registry({str(self.home)!r})"

    def close(self) -> None:
        """Release database connections (the registry is unusable afterwards)."""
        self._engine.dispose()

    def __enter__(self) -> Registry:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    # -- registering -------------------------------------------------------------------------

    @contextmanager
    def staging(self, task: str) -> Iterator[Path]:
        """A fresh dir under {home}/models/{task}/.staging-<uuid>; removed if the block raises.

        Call ``register`` inside the block: the dir is locked only while the block runs, and
        unlocked leftovers older than an hour are cleaned up by any later Registry.
        """
        with store.staging_dir(self.home, store.validate_task(task)) as path:
            yield path

    def register(self, task: str, staged_dir: Path, manifest: Mapping[str, Any]) -> ModelVersion:
        """Checksum the staged files and make them the task's next version, as a candidate.

        The version number is allocated in the same transaction that inserts the row; the dir is
        renamed into place and sealed before commit. On any failure the row is rolled back and
        the dir moved back, so nothing is half-registered. A dir not made by ``staging`` is
        copied in first (the rename must stay on one filesystem); the original is left as is.
        """
        store.validate_task(task)
        staged = Path(staged_dir)
        if not staged.is_dir():
            raise RegistryError(f"cannot register {task}: staged directory {staged} does not exist")
        base = store.manifest_fields(task, manifest)
        ours = store.task_dir(self.home, task).resolve()
        if staged.resolve().parent == ours and staged.name.startswith(store.STAGING_PREFIX):
            return self._register_staged(task, staged, base)
        with self.staging(task) as copy:
            shutil.copytree(staged, copy, symlinks=True, dirs_exist_ok=True)
            store.unseal(copy)  # the source may be a sealed version dir
            return self._register_staged(task, copy, base)

    def _register_staged(self, task: str, staged: Path, base: dict[str, Any]) -> ModelVersion:
        files = store.file_entries(staged)
        if not files:
            raise RegistryError(f"cannot register {task}: {staged} contains no files")
        for attempt in range(REGISTER_ATTEMPTS):
            try:
                return self._try_register(task, staged, base, files)
            except _VersionTaken:
                time.sleep(random.uniform(0.005, 0.02) * (attempt + 1))
        raise RegistryError(
            f"cannot register {task}: no free version number after {REGISTER_ATTEMPTS} attempts "
            "(other processes keep registering); try again"
        )

    def _try_register(
        self, task: str, staged: Path, base: dict[str, Any], files: list[dict[str, Any]]
    ) -> ModelVersion:
        created = datetime.now(timezone.utc)
        renamed: Path | None = None
        try:
            with index.write(self._engine) as conn:
                version = f"v{index.next_version_num(conn, task)}"
                final = store.version_dir(self.home, task, version)
                full = {**base, "task": task, "version": version,
                        "created_at": created.isoformat(), "files": files}
                manifest_sha = store.write_manifest(staged, full)
                try:
                    index.insert_version(
                        conn, task=task, version=version, version_num=int(version[1:]),
                        stage="candidate", created_at=created,
                        path=final.relative_to(self.home).as_posix(),
                        data_hash=base.get("data_hash"), base_model=base.get("base_model"),
                        metrics=base["metrics"], manifest_sha256=manifest_sha,
                    )
                except sa.exc.IntegrityError as exc:
                    raise _VersionTaken() from exc
                # Our uncommitted row reserves this number, so a dir already there is debris
                # from a process killed between rename and commit.
                if final.exists() or final.is_symlink():
                    store.discard(final)
                os.rename(staged, final)
                renamed = final
                store.seal(final)
                index.insert_event(conn, task=task, version=version, action="register",
                                   from_stage=None, to_stage="candidate")
        except BaseException:
            if renamed is not None:
                store.move_back(renamed, staged)
            raise
        return ModelVersion(task, version, "candidate", created, final, base["metrics"],
                            base.get("data_hash"), base.get("base_model"))

    # -- looking up --------------------------------------------------------------------------

    def list(self, task: str | None = None) -> list[ModelVersion]:
        """All versions (of one task, or every task), ordered by task and version number."""
        if task is not None:
            store.validate_task(task)
        with index.read(self._engine) as conn:
            return [self._to_version(r) for r in index.fetch_versions(conn, task)]

    def get(self, ref: str) -> ModelVersion:
        """Resolve "task", "task@v3", "task@production", "task@candidate" or "task@latest".

        A bare task name means production, else the newest candidate: what a caller who does
        not care about stages would want to serve.
        """
        with index.read(self._engine) as conn:
            return self._to_version(self._resolve(conn, ref))

    def open(self, ref: str) -> ModelVersion:
        """``get`` plus a full integrity check, for callers about to load the model."""
        with index.read(self._engine) as conn:
            row = self._resolve(conn, ref)
        version = self._to_version(row)
        store.verify(version.path, version.ref, row["manifest_sha256"])
        return version

    def manifest(self, ref: str) -> dict[str, Any]:
        """The version's manifest.json as written at registration (not verified)."""
        version = self.get(ref)
        return store.read_manifest(version.path, version.ref)

    def _resolve(self, conn: Connection, ref: str) -> dict[str, Any]:
        if not isinstance(ref, str):
            raise RegistryError(f"invalid model reference {ref!r}: expected 'task' or 'task@v3'")
        task, sep, selector = ref.partition("@")
        store.validate_task(task)
        if sep and not selector:
            raise RegistryError(f"invalid model reference {ref!r}: nothing after '@'")
        if not selector:
            row = index.find_version(conn, task, stage="production") or index.find_version(
                conn, task, stage="candidate"
            )
        elif store.VERSION_RE.match(selector):
            row = index.find_version(conn, task, version=selector)
        elif selector in ("production", "candidate"):
            row = index.find_version(conn, task, stage=selector)
        elif selector == "latest":
            row = index.find_version(conn, task)
        else:
            raise RegistryError(
                f"invalid model reference {ref!r}: "
                "after '@' use vN, production, candidate or latest"
            )
        if row is not None:
            return row
        known = [r["version"] for r in index.fetch_versions(conn, task)]
        if not known:
            raise RegistryError(f"no versions of task {task!r} are registered in {self.home}")
        if selector and store.VERSION_RE.match(selector):
            raise RegistryError(f"{ref} does not exist (registered: {', '.join(known)})")
        wanted = selector or "production or candidate"
        raise RegistryError(f"{task} has no {wanted} version (registered: {', '.join(known)})")

    def _to_version(self, row: Mapping[str, Any]) -> ModelVersion:
        return ModelVersion(
            task=row["task"], version=row["version"], stage=row["stage"],
            created_at=row["created_at"], path=self.home / row["path"],
            metrics=dict(row["metrics"] or {}), data_hash=row["data_hash"],
            base_model=row["base_model"],
        )

    # -- stage changes -----------------------------------------------------------------------

    def promote(
        self,
        ref: str,
        *,
        scorer: Callable[[ModelVersion], float] | None = None,
        force: bool = False,
        reason: str | None = None,
    ) -> PromotionResult:
        """Make a candidate (or archived) version production; the old production is archived.

        With a scorer and an existing production, both are scored (higher is better) and a
        worse candidate is refused unless ``force``, which needs a reason for the audit trail.
        Scoring runs outside any transaction; if production changes meanwhile, we refuse.
        """
        reason = (reason or "").strip() or None
        if force and reason is None:
            raise RegistryError(
                f"forcing the promotion of {ref} requires a reason; it is kept in the audit trail"
            )
        with index.read(self._engine) as conn:
            row = self._resolve(conn, ref)
            prod_row = index.find_version(conn, row["task"], stage="production")
        candidate = self._to_version(row)
        if candidate.stage == "production":
            raise RegistryError(f"{candidate.ref} is already in production")
        store.verify(candidate.path, candidate.ref, row["manifest_sha256"])
        current = self._to_version(prod_row) if prod_row else None
        cand_score = prod_score = None
        if current is not None and scorer is not None:
            cand_score, prod_score = _score(scorer, candidate), _score(scorer, current)
            if cand_score < prod_score and not force:
                raise PromotionRefused(
                    f"{candidate.ref} scores {cand_score:.4f} on the golden set, below production "
                    f"{current.ref} ({prod_score:.4f}); not promoted. Force it with a reason "
                    "(CLI: --force --reason TEXT) to promote anyway."
                )
        task = candidate.task
        try:
            self._swap_production(task, candidate, current, force, reason, cand_score, prod_score)
        except sa.exc.IntegrityError as exc:  # a concurrent promotion won the race (PostgreSQL)
            raise RegistryError(
                f"{task} changed while {candidate.ref} was being scored; run promote again"
            ) from exc
        return PromotionResult(
            version=_with_stage(candidate, "production"),
            previous=_with_stage(current, "archived") if current else None,
            candidate_score=cand_score, production_score=prod_score, forced=force,
        )

    def _swap_production(
        self,
        task: str,
        candidate: ModelVersion,
        current: ModelVersion | None,
        force: bool,
        reason: str | None,
        cand_score: float | None,
        prod_score: float | None,
    ) -> None:
        """One transaction: archive the old production, promote the candidate, audit both."""
        with index.write(self._engine) as conn:
            fresh = index.find_version(conn, task, version=candidate.version)
            now_prod = index.find_version(conn, task, stage="production")
            if (fresh is None or fresh["stage"] != candidate.stage
                    or (now_prod or {}).get("version") != (current.version if current else None)):
                raise RegistryError(
                    f"{task} changed while {candidate.ref} was being scored; run promote again"
                )
            if current is not None:
                index.set_stage(conn, task, current.version, "archived")
                index.insert_event(conn, task=task, version=current.version, action="archive",
                                   from_stage="production", to_stage="archived",
                                   reason=f"replaced by {candidate.ref}")
            index.set_stage(conn, task, candidate.version, "production")
            index.insert_event(conn, task=task, version=candidate.version, action="promote",
                               from_stage=candidate.stage, to_stage="production", forced=force,
                               reason=reason, candidate_score=cand_score,
                               production_score=prod_score)

    def rollback(self, task: str, *, reason: str | None = None) -> ModelVersion:
        """Archive production and bring back the version that was production before it.

        "Before it" comes from the audit trail, replayed as a stack: each promotion pushes,
        each rollback pops, so repeated rollbacks walk further back instead of flip-flopping.
        """
        store.validate_task(task)
        reason = (reason or "").strip() or None
        with index.write(self._engine) as conn:
            prod_row = index.find_version(conn, task, stage="production")
            if prod_row is None:
                raise RegistryError(f"{task} has no production version to roll back")
            stack = index.production_stack(index.fetch_events(conn, task))
            while stack and stack[-1] == prod_row["version"]:
                stack.pop()
            if not stack:
                raise RegistryError(
                    f"cannot roll back {task}: {task}@{prod_row['version']} is the first version "
                    "ever promoted, there is no earlier production version"
                )
            prev_row = index.find_version(conn, task, version=stack[-1])
            if prev_row is None:  # pragma: no cover - rows are never deleted
                raise RegistryError(f"cannot roll back {task}: {task}@{stack[-1]} is gone")
            previous = self._to_version(prev_row)
            store.verify(previous.path, previous.ref, prev_row["manifest_sha256"])
            index.set_stage(conn, task, prod_row["version"], "archived")
            index.insert_event(conn, task=task, version=prod_row["version"], action="archive",
                               from_stage="production", to_stage="archived",
                               reason=f"rolled back to {previous.ref}")
            index.set_stage(conn, task, previous.version, "production")
            index.insert_event(conn, task=task, version=previous.version, action="rollback",
                               from_stage=previous.stage, to_stage="production", reason=reason)
        return _with_stage(previous, "production")

    def events(self, task: str | None = None) -> builtins.list[dict[str, Any]]:
        """The audit trail, oldest first: time, task, version, ref, action, stages, forced,
        reason, candidate_score, production_score."""
        if task is not None:
            store.validate_task(task)
        with index.read(self._engine) as conn:
            return index.fetch_events(conn, task)

    # -- golden sets -------------------------------------------------------------------------

    def golden_path(self, task: str) -> Path | None:
        """The task's golden set ({home}/tasks/{task}/golden.jsonl or .csv), if one was set."""
        folder = self.home / "tasks" / store.validate_task(task)
        for ext in GOLDEN_EXTENSIONS:
            if (folder / f"golden{ext}").is_file():
                return folder / f"golden{ext}"
        return None

    def set_golden(self, task: str, source: Path) -> Path:
        """Copy a .jsonl/.csv file in as the task's golden set, replacing any previous one."""
        folder = self.home / "tasks" / store.validate_task(task)
        source = Path(source)
        if not source.is_file():
            raise DataError(f"golden set for {task}: file {source} does not exist")
        ext = source.suffix.lower()
        if ext not in GOLDEN_EXTENSIONS:
            raise DataError(f"golden set for {task}: {source.name} must be a .jsonl or .csv file")
        folder.mkdir(parents=True, exist_ok=True)
        destination = folder / f"golden{ext}"
        store.copy_into(source, destination)
        for other in GOLDEN_EXTENSIONS:
            if other != ext:
                (folder / f"golden{other}").unlink(missing_ok=True)
        return destination


def _score(scorer: Callable[[ModelVersion], float], version: ModelVersion) -> float:
    value = float(scorer(version))
    if not math.isfinite(value):
        raise RegistryError(f"the golden-set scorer returned {value} for {version.ref}")
    return value


def _with_stage(version: ModelVersion, stage: str) -> ModelVersion:
    return replace(version, stage=stage)
