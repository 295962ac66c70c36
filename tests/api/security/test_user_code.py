"""Uploaded model code: refused unless the operator enables it and the token carries the code permission
(a 403 that names both); a tampered, oversized or unsafe upload is a 4xx and stores nothing; a model that
cannot be built is a 4xx at submit time, with the builder's own message."""

from __future__ import annotations

import io
import os
import subprocess
import zipfile
from collections.abc import Callable
from pathlib import Path

from conftest import MUTRANSFER_CLI, RunningServer
from support.external import DECODER, ENTRYPOINT, write_decoder
from support.projects import World

from orchestrator.tokens import create_token
from workers.code_archive import digest, pack

API = "/api/v1"
ADMIN_TOKEN = "admin-token-for-cli-tests-0123456789"


def upload(world: World, who: str, data: bytes, claimed: str | None = None) -> object:
    headers = {**world.headers(who), "Content-Type": "application/octet-stream"}
    headers["X-Content-SHA256"] = claimed or digest(data)
    return world.client.post(f"{API}/code", content=data, headers=headers)


def custom_spec(tiny_spec: dict, code: str, entrypoint: str = ENTRYPOINT) -> dict:
    spec = dict(tiny_spec)
    spec["model"] = {**tiny_spec.get("model", {}), "family": "custom", "entrypoint": entrypoint, "code": code}
    spec["model"].pop("tied_embeddings", None)
    return spec


def test_code_is_refused_by_default_with_auth_on_and_the_403_names_the_fix(
    sqlite_world: World, tmp_path: Path
) -> None:
    data = pack(write_decoder(tmp_path / "user"))
    refused = upload(sqlite_world, "admin", data)
    assert refused.status_code == 403
    assert "MUTRANSFER_ALLOW_USER_CODE=1" in refused.json()["detail"]
    assert "--allow-code" in refused.json()["detail"]
    assert not sqlite_world.store.code.exists(digest(data))


def test_enabled_code_needs_the_token_permission_and_uploads_are_content_addressed(
    world_factory: Callable[..., World], tmp_path: Path, tiny_spec: dict
) -> None:
    world = world_factory(allow_user_code=True)
    world.tokens["coder"] = create_token(world.store, "alpha", name="coder", can_run_code=True)[1]
    data = pack(write_decoder(tmp_path / "user"))
    plain = upload(world, "alpha", data)
    assert plain.status_code == 403 and "this token may not upload model code" in plain.json()["detail"]
    assert upload(world, "alpha-ro", data).status_code == 403  # read-only: no writes at all

    first = upload(world, "coder", data)
    assert first.status_code == 201, first.text
    assert first.json() == {"digest": digest(data), "size": len(data), "created": True}
    again = upload(world, "coder", data)
    assert again.status_code == 200 and again.json()["created"] is False
    assert world.client.get(f"{API}/auth/whoami", headers=world.headers("coder")).json()["can_run_code"]

    # a sweep naming the code: the token without the permission may not submit it either
    spec = custom_spec(tiny_spec, digest(data))
    denied = world.client.post(f"{API}/sweeps", json=spec, headers=world.headers("alpha"))
    assert denied.status_code == 403 and "MUTRANSFER_ALLOW_USER_CODE" in denied.json()["detail"]
    accepted = world.client.post(f"{API}/sweeps", json=spec, headers=world.headers("coder"))
    assert accepted.status_code == 201, accepted.text


def test_tampered_oversized_and_unsafe_uploads_are_4xx_and_store_nothing(
    world_factory: Callable[..., World], tmp_path: Path
) -> None:
    world = world_factory(allow_user_code=True, max_code_bytes=4096)
    data = pack(write_decoder(tmp_path / "user"))
    tampered = bytearray(data)
    tampered[len(tampered) // 2] ^= 0xFF
    response = upload(world, "admin", bytes(tampered), claimed=digest(data))
    assert response.status_code == 400 and "does not match its digest" in response.json()["detail"]
    missing = world.client.post(
        f"{API}/code",
        content=data,
        headers={**world.headers("admin"), "Content-Type": "application/octet-stream"},
    )
    assert missing.status_code == 400 and "X-Content-SHA256" in missing.json()["detail"]

    big = data + os.urandom(8192)
    too_large = upload(world, "admin", big)
    assert too_large.status_code == 413 and "MUTRANSFER_MAX_CODE_BYTES" in too_large.json()["detail"]

    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("../escape.py", "print('out')")
    unsafe = upload(world, "admin", buffer.getvalue())
    assert unsafe.status_code == 422 and "outside its directory" in unsafe.json()["detail"]
    not_zip = upload(world, "admin", b"plain text, not an archive")
    assert not_zip.status_code == 422 and "not a zip archive" in not_zip.json()["detail"]
    for sent in (bytes(tampered), data, big, buffer.getvalue()):
        assert not world.store.code.exists(digest(sent)) or sent == data
    assert not world.store.code.exists(digest(data))  # the tampered upload did not store the real one either


def test_a_model_that_cannot_be_built_is_a_422_with_the_builders_message(
    world_factory: Callable[..., World], tmp_path: Path, tiny_spec: dict
) -> None:
    world = world_factory(allow_user_code=True)
    cases = {
        "missing": (DECODER, "tinydec.absent:build", "module 'tinydec.absent' not found"),
        "broken": (
            DECODER + "\nimport not_a_module_anywhere\n",
            ENTRYPOINT,
            "importing tinydec.model failed",
        ),
        "fixed": (DECODER.replace("Decoder(width, depth,", "Decoder(64, depth,"), ENTRYPOINT, "not grow"),
    }
    for name, (source, entrypoint, expected) in cases.items():
        data = pack(write_decoder(tmp_path / name, source))
        assert upload(world, "admin", data).status_code == 201
        spec = custom_spec(tiny_spec, digest(data), entrypoint)
        response = world.client.post(f"{API}/sweeps", json=spec, headers=world.headers("admin"))
        assert response.status_code == 422, (name, response.text)
        assert expected in response.json()["detail"], (name, response.json()["detail"])
    unknown = custom_spec(tiny_spec, "sha256:" + "0" * 64)
    response = world.client.post(f"{API}/sweeps", json=unknown, headers=world.headers("admin"))
    assert response.status_code == 422 and "names no uploaded archive" in response.json()["detail"]
    assert world.client.get(f"{API}/sweeps", headers=world.headers("admin")).json()["total"] == 2  # seeded


def test_cli_submit_with_code_exits_non_zero_with_the_403(
    server_factory: Callable[..., RunningServer], tmp_path: Path
) -> None:
    server = server_factory(
        "--no-runner", env={"MUTRANSFER_AUTH": "on", "MUTRANSFER_ADMIN_TOKEN": ADMIN_TOKEN}
    )
    code = write_decoder(tmp_path / "user")
    spec = tmp_path / "spec.yaml"
    spec.write_text((Path(__file__).parents[3] / "examples" / "tiny-cpu.yaml").read_text())
    done = subprocess.run(
        [*MUTRANSFER_CLI, "submit", str(spec), "--code", str(code), "--server", server.url],
        capture_output=True,
        text=True,
        env={**os.environ, "MUTRANSFER_TOKEN": ADMIN_TOKEN},
        timeout=120,
    )
    assert done.returncode == 1
    assert "403" in done.stderr and "MUTRANSFER_ALLOW_USER_CODE=1" in done.stderr
