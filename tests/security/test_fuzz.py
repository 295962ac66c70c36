"""Property-based fuzzing of the whole OpenAPI surface (schemathesis): every operation gets generated valid
and invalid path/query/header/body values, against a real server (uvicorn, SQLite, auth on) holding two
projects' sweeps. No response may be a 5xx, and every response must match what the schema documents
(status code, content type, headers, body schema). Bounded: 25 valid and 25 invalid examples per operation."""

from __future__ import annotations

from collections.abc import Callable

import schemathesis
from conftest import RunningServer
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from orchestrator.store.db import make_engine
from orchestrator.store.repository import SweepStore
from security.conftest import seed_project

ADMIN = "fuzzing-admin-token-0123456789abcdef"
EXAMPLES_PER_OPERATION = 25
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]


def fuzz_operation(
    operation: schemathesis.APIOperation, mode: schemathesis.GenerationMode, base_url: str, token: str
) -> None:
    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(max_examples=EXAMPLES_PER_OPERATION, deadline=None, suppress_health_check=list(HealthCheck))
    def run(case: schemathesis.Case) -> None:
        case.call_and_validate(
            base_url=base_url, headers={"Authorization": f"Bearer {token}"}, checks=CHECKS, timeout=30
        )

    run()


def test_no_server_errors_and_every_response_as_documented(
    server_factory: Callable[..., RunningServer], tiny_spec: dict
) -> None:
    server = server_factory("--no-runner", env={"MUTRANSFER_AUTH": "on", "MUTRANSFER_ADMIN_TOKEN": ADMIN})
    engine = make_engine(server.database_url)
    for project in ("alpha", "beta"):  # ids 1 and 2 exist, so generated ids reach real rows too
        seed_project(SweepStore.from_engine(engine), project, tiny_spec)
    engine.dispose()
    schema = schemathesis.openapi.from_url(f"{server.url}/api/v1/openapi.json")
    # Deletions last, so the other operations also meet the seeded sweeps.
    operations = sorted((r.ok() for r in schema.get_all_operations()), key=lambda op: op.method == "delete")
    assert len(operations) >= 10
    failures: dict[str, str] = {}
    for operation in operations:
        for mode in schemathesis.GenerationMode:  # valid values, then invalid ones
            try:
                fuzz_operation(operation, mode, server.url, ADMIN)
            except Unsatisfiable:  # no parameters, so nothing invalid to send (GET /health)
                assert mode is schemathesis.GenerationMode.NEGATIVE, operation.label
            except Exception as exc:  # collect every operation's failure, then report them together
                failures[f"{operation.label} ({mode.value})"] = f"{exc.__class__.__name__}: {str(exc)[:2000]}"
    assert not failures, "\n\n".join(f"{label}\n{text}" for label, text in failures.items())
