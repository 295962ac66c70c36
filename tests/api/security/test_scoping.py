"""Every API endpoint, enumerated from the app's OpenAPI document (so an endpoint added later is covered
without touching this file), checked for tokens and project scoping:

- without a token, or with a malformed, unknown or revoked one: 401 (only the health probes are public);
- a sweep of another project answers exactly like a sweep that does not exist (a 404, never a 403 that
  would confirm it exists), on reads and on writes, and stays untouched;
- a read-only token gets 403 on every write (anything but GET, except the dry-run validation);
- a project token lists only its own project's sweeps; the admin token sees every project.
"""

from __future__ import annotations

import pytest
from support.projects import World

from api.app import API_PREFIX
from api.routes.common import MAX_ID

# The probes, and the status table (fixed data, like the OpenAPI document): they reveal no sweep.
PUBLIC = {f"{API_PREFIX}/health", f"{API_PREFIX}/ready", f"{API_PREFIX}/statuses"}
# a dry run and a backtest: they compute an answer and change nothing
READ_ONLY_POSTS = {
    ("POST", f"{API_PREFIX}/sweeps/validate"),
    ("POST", f"{API_PREFIX}/sweeps/{{sweep_id}}/backtest"),
}
MALFORMED = ["Token abc", "Bearer", "Bearer ", "bearer", "Basic dXNlcjpwYXNz", "Bearer mt_" + "x" * 500]


def endpoints(world: World) -> list[tuple[str, str]]:
    """(method, path template) of every API operation, from the app's OpenAPI document."""
    paths = world.client.app.openapi()["paths"]
    found = [(method.upper(), path) for path, operations in paths.items() for method in operations]
    assert len(found) >= 10, f"expected the whole API, found only {found}"
    return sorted(found)


def fill(path: str, sweep_id: int, trial_id: int) -> str:
    """A concrete URL: the given sweep/trial ids, 1 for any other path parameter."""
    url = path.replace("{sweep_id}", str(sweep_id)).replace("{trial_id}", str(trial_id))
    while "{" in url:
        start = url.index("{")
        url = url[:start] + "1" + url[url.index("}", start) + 1 :]
    return url


def call(world: World, method: str, url: str, who: str | None, spec: dict | None = None):
    headers = world.headers(who) if who else {}
    body = spec if method in ("POST", "PUT", "PATCH") else None
    return world.client.request(method, url, headers=headers, json=body)


def test_every_endpoint_but_the_probes_needs_a_valid_token(world: World, tiny_spec: dict) -> None:
    for method, path in endpoints(world):
        url = fill(path, world.sweeps["alpha"], world.trials["alpha"])
        if path in PUBLIC:
            assert call(world, method, url, None).status_code == 200, path
            continue
        response = call(world, method, url, None, tiny_spec)
        assert response.status_code == 401, f"{method} {path} without a token: {response.status_code}"
        assert response.headers["www-authenticate"] == "Bearer"
        assert "mutransfer token create" in response.json()["detail"]
        for header in MALFORMED:
            response = world.client.request(method, url, headers={"Authorization": header}, json=tiny_spec)
            assert response.status_code == 401, f"{method} {path} with {header!r}: {response.status_code}"
        for who in ("revoked",):
            response = call(world, method, url, who, tiny_spec)
            assert response.status_code == 401, f"{method} {path} with a revoked token"
            assert "not valid" in response.json()["detail"]
        response = world.client.request(
            method, url, headers={"Authorization": "Bearer mt_unknownunknownunknown"}, json=tiny_spec
        )
        assert response.status_code == 401


def test_another_projects_sweep_is_indistinguishable_from_a_missing_one(
    world: World, tiny_spec: dict
) -> None:
    alpha_sweep, alpha_trial = world.sweeps["alpha"], world.trials["alpha"]
    before = world.client.get(f"{API_PREFIX}/sweeps/{alpha_sweep}", headers=world.headers("admin")).json()
    scoped = [(m, p) for m, p in endpoints(world) if "{sweep_id}" in p]
    assert scoped, "no sweep endpoints found"
    for method, path in scoped:
        for who in ("beta", "beta-ro"):
            foreign = call(world, method, fill(path, alpha_sweep, alpha_trial), who, tiny_spec)
            missing = call(world, method, fill(path, MAX_ID, alpha_trial), who, tiny_spec)
            where = f"{method} {path} as {who}"
            assert foreign.status_code == missing.status_code, (
                f"{where}: {foreign.status_code} leaks existence"
            )
            assert foreign.status_code in (403, 404, 422), f"{where}: {foreign.status_code} {foreign.text}"
            if method == "GET" or who == "beta":
                assert foreign.status_code == 404, f"{where}: {foreign.status_code} {foreign.text}"
            detail = foreign.json()["detail"].replace(str(alpha_sweep), "ID")
            assert detail == missing.json()["detail"].replace(str(MAX_ID), "ID"), where
    after = world.client.get(f"{API_PREFIX}/sweeps/{alpha_sweep}", headers=world.headers("admin"))
    assert after.status_code == 200, "another project's token deleted alpha's sweep"
    assert (after.json()["status"], after.json()["cancel_requested"]) == (before["status"], False)


def test_the_owner_reads_every_output_of_its_sweep(world: World) -> None:
    """The seeded sweep has every output, so each GET answers 200 for its owner: the scoping test above
    compares against a working endpoint, not one that is always 404."""
    for method, path in endpoints(world):
        if method != "GET" or "{sweep_id}" not in path:
            continue
        for who in ("alpha", "alpha-ro", "admin"):
            response = call(world, method, fill(path, world.sweeps["alpha"], world.trials["alpha"]), who)
            assert response.status_code == 200, f"GET {path} as {who}: {response.status_code} {response.text}"


def test_read_only_tokens_cannot_write_anywhere(world: World, tiny_spec: dict) -> None:
    writes = [(m, p) for m, p in endpoints(world) if m != "GET" and (m, p) not in READ_ONLY_POSTS]
    assert ("POST", f"{API_PREFIX}/sweeps") in writes
    for method, path in writes:
        response = call(
            world, method, fill(path, world.sweeps["alpha"], world.trials["alpha"]), "alpha-ro", tiny_spec
        )
        assert response.status_code == 403, f"{method} {path} with a read-only token: {response.status_code}"
        assert "read-only" in response.json()["detail"]
    validate = call(world, "POST", f"{API_PREFIX}/sweeps/validate", "alpha-ro", tiny_spec)
    assert validate.status_code == 200 and validate.json()["valid"] is True


def test_a_project_token_lists_and_creates_only_in_its_project(world: World, tiny_spec: dict) -> None:
    created = call(world, "POST", f"{API_PREFIX}/sweeps", "beta", tiny_spec)
    assert created.status_code == 201
    for who, project in (("alpha", "alpha"), ("beta-ro", "beta")):
        page = world.client.get(f"{API_PREFIX}/sweeps", headers=world.headers(who)).json()
        assert {s["project"] for s in page["items"]} == {project}
        assert page["total"] == len(page["items"]) == (2 if project == "beta" else 1)
    everything = world.client.get(f"{API_PREFIX}/sweeps", headers=world.headers("admin")).json()
    assert {s["project"] for s in everything["items"]} == {"alpha", "beta"}
    me = world.client.get(f"{API_PREFIX}/auth/whoami", headers=world.headers("beta-ro")).json()
    assert me == {"auth": True, "project": "beta", "read_only": True, "can_run_code": False}


@pytest.mark.parametrize("who", ["alpha", "admin"])
def test_a_token_is_accepted_with_surrounding_whitespace_and_any_case_scheme(world: World, who: str) -> None:
    headers = {"Authorization": f"bearer   {world.tokens[who]} "}
    assert world.client.get(f"{API_PREFIX}/sweeps", headers=headers).status_code == 200
