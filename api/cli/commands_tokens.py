"""`mutransfer token create | list | revoke`: manage API tokens directly in the service's database.

These commands talk to the database, not to a running service: they are how the first token is made
(before anyone can call the API) and they need only the database URL. `create` prints the secret once,
as the last word of its output, so scripts can take it with `| tail -n1` or `awk '{print $NF}'`.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated

import typer
from rich.table import Table

from api.cli import app
from api.cli.commands_sweeps import _safe_url, console, fail, load_settings
from orchestrator.store import NotFound, SweepStore
from orchestrator.store.db import make_engine, upgrade_database
from orchestrator.store.errors import DatabaseError
from orchestrator.tokens import MAX_NAME_CHARS, create_token, list_tokens, revoke_token

token_app = typer.Typer(help="API tokens: create, list and revoke project-scoped bearer tokens.")
app.add_typer(token_app, name="token")

DatabaseOpt = Annotated[
    str | None,
    typer.Option(help="SQLAlchemy URL [env MUTRANSFER_DATABASE_URL; sqlite:///./mutransfer.db]"),
]


@contextmanager
def open_store(database_url: str | None) -> Iterator[SweepStore]:
    """The store at the configured URL, its schema brought up to date (tokens may precede the first serve)."""
    settings = load_settings(database_url=database_url)
    try:
        engine = make_engine(settings.database_url)
    except ValueError as exc:
        raise fail(str(exc), 2) from None
    try:
        upgrade_database(engine)
        yield SweepStore.from_engine(engine)
    except DatabaseError as exc:
        reason = getattr(exc, "orig", None) or exc
        raise fail(f"cannot use the database {_safe_url(settings)}: {reason}") from None
    finally:
        engine.dispose()


@token_app.command("create")
def create(
    project: Annotated[str, typer.Option(help="the project the token may see and change")],
    read_only: Annotated[
        bool, typer.Option("--read-only", help="may read but not change (dashboards)")
    ] = False,
    name: Annotated[str, typer.Option(help="a label to recognise the token by in `token list`")] = "token",
    allow_code: Annotated[
        bool,
        typer.Option(
            "--allow-code",
            help="may upload model code the workers import and run (family: custom); the service must "
            "also allow it (MUTRANSFER_ALLOW_USER_CODE=1)",
        ),
    ] = False,
    database_url: DatabaseOpt = None,
) -> None:
    """Create a token for PROJECT (the project is created if new) and print it; it is shown only once."""
    if not 1 <= len(project) <= MAX_NAME_CHARS or not 1 <= len(name) <= MAX_NAME_CHARS:
        raise fail(f"--project and --name need 1 to {MAX_NAME_CHARS} characters", 2)
    with open_store(database_url) as store:
        try:
            info, secret = create_token(
                store, project, name=name, read_only=read_only, can_run_code=allow_code
            )
        except ValueError as exc:
            raise fail(str(exc), 2) from None
    kind = ("read-only" if read_only else "read-write") + (" code-running" if allow_code else "")
    typer.echo(f"created {kind} token {info.id} ({info.name}) for project {info.project}.")
    typer.echo("It is shown only this once; keep it secret (e.g. export MUTRANSFER_TOKEN=...):")
    typer.echo(secret)


@token_app.command("list")
def list_(
    project: Annotated[str | None, typer.Option(help="only this project's tokens")] = None,
    revoked: Annotated[bool, typer.Option("--revoked", help="include revoked tokens")] = False,
    database_url: DatabaseOpt = None,
) -> None:
    """List tokens (never their secrets)."""
    with open_store(database_url) as store:
        tokens = list_tokens(store, project, include_revoked=revoked)
    table = Table(title=f"API tokens ({len(tokens)})")
    for column in ("id", "project", "name", "access", "created", "revoked"):
        table.add_column(column)
    for token in tokens:
        table.add_row(
            str(token.id),
            token.project,
            token.name,
            ("read-only" if token.read_only else "read-write") + (", code" if token.can_run_code else ""),
            token.created_at.strftime("%Y-%m-%d %H:%M"),
            token.revoked_at.strftime("%Y-%m-%d %H:%M") if token.revoked_at else "",
        )
    console.print(table)


@token_app.command("revoke")
def revoke(
    token_id: Annotated[int, typer.Argument(help="the token's id, from `mutransfer token list`", min=1)],
    database_url: DatabaseOpt = None,
) -> None:
    """Revoke a token: requests with it get 401 from now on."""
    with open_store(database_url) as store:
        try:
            info = revoke_token(store, token_id)
        except NotFound as exc:
            raise fail(str(exc)) from None
    typer.echo(f"revoked token {info.id} ({info.name}) of project {info.project}")
