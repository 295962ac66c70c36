"""The code archive: the same directory always packs to the same bytes; what is unpacked is checked."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import pytest
from support.external import write_decoder

from workers.code_archive import ArchiveError, ArchiveLimits, check, digest, install, installed_path, pack


def test_packing_is_deterministic_and_leaves_caches_out(tmp_path: Path) -> None:
    code = write_decoder(tmp_path / "user")
    first = pack(code)
    (code / "tinydec" / "__pycache__").mkdir()
    (code / "tinydec" / "__pycache__" / "model.cpython-311.pyc").write_bytes(b"\0" * 100)
    (code / ".git").mkdir()
    (code / ".git" / "HEAD").write_text("ref: refs/heads/main")
    assert pack(code) == first and digest(pack(code)) == digest(first)
    assert check(first) == ["tinydec/__init__.py", "tinydec/model.py"]
    (code / "tinydec" / "model.py").write_text("# edited\n")
    assert digest(pack(code)) != digest(first)  # an edit is a new digest


def test_install_checks_the_digest_and_unpacks_once(tmp_path: Path) -> None:
    data = pack(write_decoder(tmp_path / "user"))
    with pytest.raises(ArchiveError, match="does not hash to"):
        install(data, "sha256:" + "0" * 64, tmp_path / "cache")
    assert installed_path(digest(data), tmp_path / "cache") is None
    target = install(data, digest(data), tmp_path / "cache")
    assert Path(target, "tinydec", "model.py").is_file()
    assert (
        install(data, digest(data), tmp_path / "cache")
        == target
        == installed_path(digest(data), tmp_path / "cache")
    )


def _zip(entries: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, content in entries.items():
            archive.writestr(name, content)
    return buffer.getvalue()


@pytest.mark.parametrize(
    "entries, message",
    [
        ({"/etc/evil.py": b""}, "outside its directory"),
        ({"a/../../evil.py": b""}, "outside its directory"),
        ({"README.md": b"no code"}, "no .py file"),
        ({f"m{i}.py": b"" for i in range(5)}, "holds 5 files"),
        ({"big.py": b"x" * 5000}, "unpacks to more than"),
    ],
)
def test_unsafe_or_unusable_archives_are_refused(entries: dict[str, bytes], message: str) -> None:
    limits = ArchiveLimits(max_bytes=10**6, max_unpacked_bytes=4096, max_files=4)
    with pytest.raises(ArchiveError, match=message):
        check(_zip(entries), limits)
