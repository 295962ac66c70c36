"""API tokens: create, list, revoke and look up bearer tokens scoped to one project.

Only a SHA-256 digest of each token is stored. A token is 32 random bytes, so a plain (unsalted,
fast) hash is enough: there is nothing to brute-force, and the digest can be an indexed column that a
request finds in one lookup. The secret is shown once, at creation; a lost token is revoked and
replaced, never recovered. Revocation stamps `revoked_at` (the row stays, for `token list`).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select

from orchestrator.store.models import ApiToken, Project, utcnow
from orchestrator.store.repository import NotFound, SweepStore

TOKEN_PREFIX = "mt_"  # recognisable in logs and secret scanners
MAX_TOKEN_CHARS = 200  # anything longer is malformed before it reaches the database
MAX_NAME_CHARS = 100


@dataclass(frozen=True)
class TokenInfo:
    """What may be shown about a token (never its secret)."""

    id: int
    project: str
    name: str
    read_only: bool
    created_at: datetime
    revoked_at: datetime | None

    @property
    def active(self) -> bool:
        return self.revoked_at is None


def hash_token(token: str) -> str:
    """The stored form of a token: hex SHA-256 of its UTF-8 bytes."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def new_secret() -> str:
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def _info(row: ApiToken, project: str) -> TokenInfo:
    return TokenInfo(row.id, project, row.name, row.read_only, row.created_at, row.revoked_at)


def create_token(
    store: SweepStore, project: str, name: str = "token", read_only: bool = False
) -> tuple[TokenInfo, str]:
    """A new token for `project` (created if it does not exist yet); returns its info and the secret."""
    if not project or len(project) > MAX_NAME_CHARS:
        raise ValueError(f"a project name has 1 to {MAX_NAME_CHARS} characters, got {project!r}")
    if not name or len(name) > MAX_NAME_CHARS:
        raise ValueError(f"a token name has 1 to {MAX_NAME_CHARS} characters, got {name!r}")
    project_row = store.ensure_project(project)
    secret = new_secret()
    with store.session() as session:
        row = ApiToken(
            project_id=project_row.id, name=name, token_hash=hash_token(secret), read_only=read_only
        )
        session.add(row)
        session.flush()
        return _info(row, project), secret


def list_tokens(
    store: SweepStore, project: str | None = None, include_revoked: bool = False
) -> list[TokenInfo]:
    """Tokens, oldest first, of one project (None: every project)."""
    query = select(ApiToken, Project.name).join(Project, ApiToken.project_id == Project.id)
    if project is not None:
        query = query.where(Project.name == project)
    if not include_revoked:
        query = query.where(ApiToken.revoked_at.is_(None))
    with store.session() as session:
        return [_info(row, name) for row, name in session.execute(query.order_by(ApiToken.id)).all()]


def revoke_token(store: SweepStore, token_id: int) -> TokenInfo:
    """Revoke a token by id (revoking twice keeps the first time); `NotFound` when there is none."""
    with store.session() as session:
        found = session.execute(
            select(ApiToken, Project.name)
            .join(Project, ApiToken.project_id == Project.id)
            .where(ApiToken.id == token_id)
        ).first()
        if found is None:
            raise NotFound(f"no token with id {token_id}; `mutransfer token list` shows the ids")
        row, project = found
        if row.revoked_at is None:
            row.revoked_at = utcnow()
        return _info(row, project)


def lookup_token(store: SweepStore, token: str) -> TokenInfo | None:
    """The active token whose secret is `token`, or None (unknown, revoked or malformed)."""
    if not token.startswith(TOKEN_PREFIX) or len(token) > MAX_TOKEN_CHARS:
        return None
    digest = hash_token(token)
    with store.session() as session:
        found = session.execute(
            select(ApiToken, Project.name)
            .join(Project, ApiToken.project_id == Project.id)
            .where(ApiToken.token_hash == digest, ApiToken.revoked_at.is_(None))
        ).first()
    if found is None:
        return None
    row, project = found
    # The row was found by its digest; compare again in constant time so no code path depends on
    # how much of a guess matched.
    if not hmac.compare_digest(row.token_hash, digest):
        return None
    return _info(row, project)
