"""Uploaded model code: who may run it, how an upload is checked and stored, and the submit-time check that
the model builds (docs/external-models.md, "Running your code").

Running uploaded code is running arbitrary code on the workers, so it takes two keys: the operator enables
it (`MUTRANSFER_ALLOW_USER_CODE=1`; on by default only for `--no-auth` loopback use) and the caller's token
carries the code permission (`mutransfer token create --allow-code`; admin tokens have it). An upload is
refused, and nothing stored, when it is too large, when its bytes do not hash to the digest the client
computed (a tampered or truncated upload), or when the archive breaks `workers.code_archive.check`.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

from orchestrator.rejected import Rejected
from orchestrator.settings import Settings
from orchestrator.spec import SweepSpec, preflight_widths
from orchestrator.store import SweepStore
from orchestrator.trial_config import trial_config
from workers.code_archive import ArchiveError, check, digest, install, installed_path

ALLOW_HINT = (
    "uploaded model code runs only when the service's operator sets MUTRANSFER_ALLOW_USER_CODE=1 and the "
    "token carries the code permission (`mutransfer token create --allow-code`; admin tokens have it)"
)
INSPECT_TIMEOUT_S = 180.0


class UserCodeRefused(Exception):
    """The caller may not run code here (HTTP 403); the message names the setting and the permission."""


class UserCodeRejected(Rejected):
    """The code or the model is unusable as sent (HTTP `status`); the message says what to fix."""


def authorize(settings: Settings, can_run_code: bool) -> None:
    if not settings.user_code_allowed:
        raise UserCodeRefused(f"this service does not accept model code: {ALLOW_HINT}")
    if not can_run_code:
        raise UserCodeRefused(f"this token may not upload model code: {ALLOW_HINT}")


def upload(
    store: SweepStore, settings: Settings, data: bytes, claimed: str | None, can_run_code: bool
) -> tuple[str, bool]:
    """Check and store an archive; (its digest, whether it was new)."""
    authorize(settings, can_run_code)
    if len(data) > settings.max_code_bytes:
        raise UserCodeRejected(
            413, f"the code archive is {len(data)} bytes; the limit is {settings.max_code_bytes}"
        )
    actual = digest(data)
    if claimed is None:
        raise UserCodeRejected(
            400,
            "send the archive's digest in the X-Content-SHA256 header (sha256:<hex>), so a damaged "
            "upload is caught",
        )
    if claimed != actual:
        raise UserCodeRejected(
            400,
            f"the upload does not match its digest: the header says {claimed}, the bytes hash to "
            f"{actual}; nothing was stored (resend it)",
        )
    try:
        check(data)
    except ArchiveError as exc:
        raise UserCodeRejected(422, f"the code archive is not usable: {exc}") from None
    return actual, store.code.add(actual, data)


def ensure_installed(store: SweepStore, code: str) -> str:
    """The local directory of the archive `code` names, unpacked from the store on first use (the driver
    needs it to plan; each worker unpacks its own copy from the bytes Ray hands it)."""
    found = installed_path(code)
    if found is not None:
        return found
    data = store.code.get(code)
    if data is None:
        raise UserCodeRejected(
            422,
            f"model.code {code} names no uploaded archive: upload the directory first "
            "(`mutransfer submit SPEC --code DIR` does both)",
        )
    return install(data, code)


def check_model(spec: SweepSpec, store: SweepStore) -> None:
    """Build the external model at every size the sweep uses, on the meta device, in a child process;
    `UserCodeRejected(422)` with the builder's own message (an import error's traceback tail, a missing
    function, ambiguous roles, shapes that do not change with width)."""
    if spec.model.code:
        ensure_installed(store, spec.model.code)
    depths = sorted({*spec.depths(), spec.target.depth or spec.model.depth})
    widths = sorted({*spec.proxy.widths, spec.target.width, spec.base_width})
    if spec.preflight != "off":
        widths = sorted({*widths, *preflight_widths(spec)})
    first = spec.searches()[0]
    config = trial_config(
        spec, parametrization=first.parametrization, width=first.width, depth=first.depth, seed=0, hparams={}
    )
    request = {"config": config.to_dict(), "sizes": [[w, d] for w in widths for d in depths]}
    try:
        done = subprocess.run(
            [sys.executable, "-m", "workers.external.inspect"],
            input=json.dumps(request),
            capture_output=True,
            text=True,
            timeout=INSPECT_TIMEOUT_S,
            env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"},
        )
    except subprocess.TimeoutExpired:
        raise UserCodeRejected(
            422,
            f"building the model did not finish within {INSPECT_TIMEOUT_S:.0f} s (does importing it "
            "or calling build() wait on something?)",
        ) from None
    try:
        result = json.loads(done.stdout)
    except ValueError:
        tail = "\n".join(done.stderr.strip().splitlines()[-6:])
        raise UserCodeRejected(422, f"building the model crashed its process:\n{tail}") from None
    if not result.get("ok"):
        raise UserCodeRejected(422, f"model: {result.get('error')}")
