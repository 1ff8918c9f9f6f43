"""Version directories on disk: staging, checksums, manifest, sealing and verification.

A version directory is immutable once registered, so anything that serves it can trust that the
bytes it loads are the bytes that were evaluated. The manifest lists every file with its sha256
and size; ``verify`` checks all of them before a model is loaded. Nothing here touches the
database: the SQL index decides which directories are versions, so a stray ``.staging-*`` dir
left by a killed process can never be mistaken for one.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import re
import shutil
import time
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

from rightmodel.errors import ModelLoadError, RegistryError

try:  # POSIX only; elsewhere stale staging dirs are judged by age alone
    import fcntl
except ImportError:  # pragma: no cover
    fcntl = None  # type: ignore[assignment]

TASK_RE = re.compile(r"^[a-z0-9][a-z0-9._-]{0,63}$")
VERSION_RE = re.compile(r"^v[1-9][0-9]*$")
MANIFEST_NAME = "manifest.json"
SUMS_NAME = "SHA256SUMS"
STAGING_PREFIX = ".staging-"
LOCK_SUFFIX = ".lock"
OWNED_MANIFEST_KEYS = ("version", "created_at", "files")  # the registry writes these
STALE_STAGING_SECONDS = 3600.0
_CHUNK = 1 << 20


def validate_task(task: str) -> str:
    """Task names become directory names and CLI arguments, so keep them boring."""
    if not isinstance(task, str) or not TASK_RE.match(task):
        raise RegistryError(
            f"invalid task name {task!r}: use 1-64 characters from a-z, 0-9, '.', '_' and '-', "
            "starting with a letter or digit"
        )
    return task


def task_dir(home: Path, task: str) -> Path:
    return home / "models" / task


def version_dir(home: Path, task: str, version: str) -> Path:
    return task_dir(home, task) / version


@contextmanager
def staging_dir(home: Path, task: str) -> Iterator[Path]:
    """Create ``.staging-<uuid>`` under the task dir, locked while the block runs.

    The lock (a sibling ``.lock`` file held with flock) tells ``clean_stale_staging`` in other
    processes that the directory is still being written, however long training takes. The dir is
    removed if the block raises, KeyboardInterrupt included; otherwise it is left for ``register``
    (which normally has already moved it away).
    """
    parent = task_dir(home, task)
    parent.mkdir(parents=True, exist_ok=True)
    path = parent / f"{STAGING_PREFIX}{uuid.uuid4().hex}"
    lock_path = path.with_name(path.name + LOCK_SUFFIX)
    lock_fd = os.open(lock_path, os.O_CREAT | os.O_RDWR, 0o644)
    try:
        if fcntl is not None:
            fcntl.flock(lock_fd, fcntl.LOCK_EX)
        path.mkdir()
        try:
            yield path
        except BaseException:
            remove_tree(path)
            raise
    finally:
        os.close(lock_fd)  # releases the flock
        lock_path.unlink(missing_ok=True)


def _lock_is_free(lock_path: Path) -> bool:
    """True when no live process holds the staging lock (or locking is unavailable)."""
    if fcntl is None or not lock_path.exists():
        return True
    try:
        fd = os.open(lock_path, os.O_RDWR)
    except FileNotFoundError:
        return True
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return True
    except OSError:
        return False
    finally:
        os.close(fd)


def clean_stale_staging(home: Path, max_age: float = STALE_STAGING_SECONDS) -> list[Path]:
    """Remove what killed builds left behind, once older than ``max_age`` and unlocked.

    That is ``.staging-<id>`` dirs plus any sibling ``.staging-<id>.*`` files (lock files, or
    side files a builder kept next to its staging dir). Best effort: errors are skipped.
    """
    removed: list[Path] = []
    models = home / "models"
    if not models.is_dir():
        return removed
    cutoff = time.time() - max_age
    for entry in sorted(models.glob(f"*/{STAGING_PREFIX}*")):
        try:
            if entry.lstat().st_mtime > cutoff:
                continue
            stem = "." + entry.name.split(".")[1]  # ".staging-<id>" of the owning staging dir
            if not _lock_is_free(entry.with_name(stem + LOCK_SUFFIX)):
                continue
            if entry.is_dir() and not entry.is_symlink():
                remove_tree(entry)
            else:
                entry.unlink()
            removed.append(entry)
        except OSError:
            continue  # gone already, or not ours to delete
    return removed


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _payload_files(root: Path) -> Iterator[Path]:
    """Every regular file under root except the two the registry writes itself."""
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames.sort()
        for name in sorted(filenames):
            path = Path(dirpath) / name
            rel = path.relative_to(root).as_posix()
            if rel in (MANIFEST_NAME, SUMS_NAME):
                continue
            yield path


def file_entries(root: Path) -> list[dict[str, Any]]:
    """``[{path, sha256, size}]`` for every staged file, sorted by path.

    Symlinks are refused: a link pointing outside the version dir would make it mutable.
    """
    entries = []
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            if (Path(dirpath) / name).is_symlink():
                rel = (Path(dirpath) / name).relative_to(root).as_posix()
                raise RegistryError(
                    f"cannot register {root}: {rel} is a symlink; stage a real copy of the file"
                )
    for path in _payload_files(root):
        entries.append(
            {
                "path": path.relative_to(root).as_posix(),
                "sha256": sha256_file(path),
                "size": path.stat().st_size,
            }
        )
    return entries


def write_manifest(root: Path, manifest: dict[str, Any]) -> str:
    """Write manifest.json and SHA256SUMS (``sha256sum -c`` format); return manifest's sha256."""
    manifest_path = root / MANIFEST_NAME
    manifest_path.write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n", "utf-8")
    manifest_sha = sha256_file(manifest_path)
    lines = [f"{f['sha256']}  {f['path']}" for f in manifest["files"]]
    lines.append(f"{manifest_sha}  {MANIFEST_NAME}")
    (root / SUMS_NAME).write_text("\n".join(sorted(lines, key=lambda l: l[66:])) + "\n", "utf-8")
    return manifest_sha


def _chmod_tree(root: Path, file_mode: int, dir_mode: int) -> None:
    # Directories first on the way down (so a sealed tree can be opened up), files as we go.
    # Symlinks are skipped: chmod would follow them out of the tree (and they are refused).
    os.chmod(root, dir_mode)
    for dirpath, dirnames, filenames in os.walk(root):
        for name, mode in [(d, dir_mode) for d in dirnames] + [(f, file_mode) for f in filenames]:
            if not (Path(dirpath) / name).is_symlink():
                os.chmod(Path(dirpath) / name, mode)


def seal(root: Path) -> None:
    """Make a version dir read-only (files 0444, dirs 0555) so nothing edits it by accident."""
    _chmod_tree(root, 0o444, 0o555)


def unseal(root: Path) -> None:
    """Undo ``seal``: needed before a failed registration can be moved back or removed."""
    _chmod_tree(root, 0o644, 0o755)


def remove_tree(path: Path) -> None:
    """Delete a directory even if it was sealed; a missing path is fine."""
    if not path.exists():
        return
    try:
        unseal(path)
    except OSError:
        pass  # best effort; rmtree reports what really blocks removal
    shutil.rmtree(path, ignore_errors=False)


def read_manifest(root: Path, ref: str) -> dict[str, Any]:
    """Parse manifest.json of a version, or say precisely why it cannot be read."""
    path = root / MANIFEST_NAME
    if not root.is_dir():
        raise ModelLoadError(f"{ref}: version directory {root} is missing")
    if not path.is_file():
        raise ModelLoadError(f"{ref}: {MANIFEST_NAME} is missing from {root}")
    try:
        data = json.loads(path.read_text("utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ModelLoadError(f"{ref}: cannot read {path}: {exc}") from exc
    if not isinstance(data, dict) or not isinstance(data.get("files"), list):
        raise ModelLoadError(f"{ref}: {path} is not a registry manifest (no 'files' list)")
    return data


def verify(root: Path, ref: str, manifest_sha256: str) -> dict[str, Any]:
    """Check a version dir against its manifest (and the manifest against the index).

    Every listed file must exist with the recorded size and sha256, and no unlisted file may
    appear. Returns the manifest; raises ModelLoadError naming the first offending file.
    """
    manifest = read_manifest(root, ref)
    if sha256_file(root / MANIFEST_NAME) != manifest_sha256:
        raise ModelLoadError(
            f"{ref}: checksum mismatch in {MANIFEST_NAME}: the version directory was modified "
            f"or corrupted ({root})"
        )
    listed = set()
    for entry in manifest["files"]:
        rel = entry["path"]
        listed.add(rel)
        path = root / rel
        if not path.is_file():
            raise ModelLoadError(f"{ref}: {rel} is missing from {root}")
        if path.stat().st_size != entry["size"] or sha256_file(path) != entry["sha256"]:
            raise ModelLoadError(
                f"{ref}: checksum mismatch in {rel}: the version directory was modified or "
                f"corrupted ({root})"
            )
    for path in _payload_files(root):
        rel = path.relative_to(root).as_posix()
        if rel not in listed:
            raise ModelLoadError(
                f"{ref}: unexpected file {rel} in {root}: the version directory was modified "
                "after registration"
            )
    return manifest


def copy_into(source: Path, destination: Path) -> None:
    """Copy a file atomically (temp file + rename), so readers never see half a file."""
    tmp = destination.with_name(f".{destination.name}.{uuid.uuid4().hex}.tmp")
    try:
        shutil.copyfile(source, tmp)
        os.replace(tmp, destination)
    finally:
        tmp.unlink(missing_ok=True)


def manifest_fields(task: str, manifest: Mapping[str, Any]) -> dict[str, Any]:
    """Validate the caller's manifest fields before anything touches disk or database."""
    if not isinstance(manifest, Mapping):
        raise RegistryError(f"cannot register {task}: manifest must be a dict")
    if manifest.get("task", task) != task:
        raise RegistryError(
            f"cannot register {task}: manifest says task {manifest['task']!r}"
        )
    base = {k: v for k, v in manifest.items() if k not in OWNED_MANIFEST_KEYS}
    base["metrics"] = base.get("metrics") or {}
    if not isinstance(base["metrics"], Mapping):
        raise RegistryError(f"cannot register {task}: manifest 'metrics' must be a dict")
    for key in ("data_hash", "base_model"):
        if base.get(key) is not None and not isinstance(base[key], str):
            raise RegistryError(f"cannot register {task}: manifest {key!r} must be a string")
    try:
        # Round-trip so what is stored is exactly what json (and PostgreSQL) will read back.
        return json.loads(json.dumps(_plain(base), allow_nan=False))
    except (TypeError, ValueError) as exc:
        raise RegistryError(f"cannot register {task}: manifest is not plain JSON ({exc})") from exc


def _plain(value: Any) -> Any:
    """Coerce what trainers commonly hand over into JSON: numpy scalars and arrays, paths,
    tuples; NaN/inf become null rather than failing a registration after a long training run."""
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, Path):
        return str(value)
    if hasattr(value, "tolist") and not isinstance(value, (str, bytes)):
        return _plain(value.tolist())  # numpy scalar or array, without importing numpy
    return value


def discard(path: Path) -> None:
    """Move a leftover dir out of the way (atomically), then delete it best-effort."""
    aside = path.with_name(f"{STAGING_PREFIX}orphan-{uuid.uuid4().hex}")
    os.rename(path, aside)
    with suppress(OSError):
        remove_tree(aside)


def move_back(final: Path, staged: Path) -> None:
    """Undo the rename of a failed registration so no final dir remains."""
    try:
        unseal(final)
        os.rename(final, staged)
    except OSError:
        with suppress(OSError):
            remove_tree(final)
