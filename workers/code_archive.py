"""A model's code directory as one content-addressed archive: packed by the CLI, checked by the service,
unpacked by each worker (docs/external-models.md, "Your code on the workers").

The archive is a zip with sorted entries, fixed timestamps and no caches, so the same directory always packs
to the same bytes and the same `sha256:` digest; a sweep names its code by that digest, and a later edit of
the directory (a new digest) cannot change a sweep already submitted. `check` refuses what must never be
unpacked: absolute or `..` paths, links, too many files, too many bytes. `install` unpacks into a directory
named by the digest, atomically, after checking the bytes still hash to it, so every process on a node
shares one copy and a half-written one is never imported.
"""

from __future__ import annotations

import hashlib
import io
import os
import shutil
import stat
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

SKIPPED_DIRS = frozenset({"__pycache__", ".git", ".hg", ".svn", ".venv", ".mypy_cache", ".pytest_cache"})
SKIPPED_SUFFIXES = (".pyc", ".pyo")
FIXED_TIME = (1980, 1, 1, 0, 0, 0)


class ArchiveError(ValueError):
    """The archive (or the directory being packed) breaks a rule; the message says which."""


@dataclass(frozen=True)
class ArchiveLimits:
    max_bytes: int = 10 * 2**20  # the archive itself
    max_unpacked_bytes: int = 50 * 2**20
    max_files: int = 2000


def digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def pack(directory: str | Path, limits: ArchiveLimits | None = None) -> bytes:
    """The deterministic archive of `directory` (caches, VCS folders and bytecode left out)."""
    limits = limits or ArchiveLimits()
    root = Path(directory)
    if not root.is_dir():
        raise ArchiveError(f"code directory {directory} does not exist or is not a directory")
    files = []
    for path, dirs, names in os.walk(root):
        dirs[:] = sorted(d for d in dirs if d not in SKIPPED_DIRS)
        for name in sorted(names):
            full = Path(path) / name
            if name.endswith(SKIPPED_SUFFIXES) or full.is_symlink():
                continue
            files.append(full)
    if len(files) > limits.max_files:
        raise ArchiveError(f"{directory} holds {len(files)} files; the limit is {limits.max_files}")
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for full in sorted(files):
            info = zipfile.ZipInfo(full.relative_to(root).as_posix(), FIXED_TIME)
            info.external_attr = 0o644 << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, full.read_bytes())
    data = buffer.getvalue()
    if len(data) > limits.max_bytes:
        raise ArchiveError(
            f"{directory} packs to {len(data)} bytes; the limit is {limits.max_bytes} (code only: keep data, "
            "checkpoints and virtual environments out of it)"
        )
    return data


def check(data: bytes, limits: ArchiveLimits | None = None) -> list[str]:
    """The archive's file names, after checking every rule (raises `ArchiveError` naming the first broken)."""
    limits = limits or ArchiveLimits()
    if len(data) > limits.max_bytes:
        raise ArchiveError(f"the archive is {len(data)} bytes; the limit is {limits.max_bytes}")
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
        infos = archive.infolist()
    except (zipfile.BadZipFile, ValueError, OSError) as exc:
        raise ArchiveError(f"not a zip archive: {exc}") from None
    if len(infos) > limits.max_files:
        raise ArchiveError(f"the archive holds {len(infos)} files; the limit is {limits.max_files}")
    total = 0
    names = []
    for info in infos:
        path = PurePosixPath(info.filename)
        if path.is_absolute() or ".." in path.parts or "\\" in info.filename or not info.filename:
            raise ArchiveError(f"archive entry {info.filename!r} would unpack outside its directory")
        if stat.S_ISLNK(info.external_attr >> 16):
            raise ArchiveError(f"archive entry {info.filename!r} is a link; only plain files are accepted")
        total += info.file_size
        if total > limits.max_unpacked_bytes:
            raise ArchiveError(f"the archive unpacks to more than {limits.max_unpacked_bytes} bytes")
        if not info.is_dir():
            names.append(info.filename)
    if not any(name.endswith(".py") for name in names):
        raise ArchiveError("the archive holds no .py file: is --code the directory of your model's package?")
    return names


def default_root() -> Path:
    return Path(os.environ.get("MUTRANSFER_CODE_CACHE") or Path(tempfile.gettempdir()) / "mutransfer-code")


def installed_path(expected: str, root: str | Path | None = None) -> str | None:
    """Where `install` put the archive `expected` names on this node, or None if it has not."""
    target = Path(root or default_root()) / expected.removeprefix("sha256:")
    return str(target) if target.is_dir() else None


def install(data: bytes, expected: str, root: str | Path | None = None) -> str:
    """Unpack `data` into `root/<hex digest>` (once per node) and return that directory."""
    if digest(data) != expected:
        raise ArchiveError(f"the code archive does not hash to {expected}: refusing to run it")
    check(data)
    target = Path(root or default_root()) / expected.removeprefix("sha256:")
    if target.is_dir():
        return str(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(dir=target.parent, prefix=".unpacking-"))
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            archive.extractall(scratch)
        try:
            os.rename(scratch, target)
        except OSError:  # another process on this node unpacked the same digest first
            if not target.is_dir():
                raise
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return str(target)
