"""API tokens in the store: rows keyed by the secret's digest (`orchestrator/tokens.py` makes and hashes
secrets; only digests reach this module)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select

from orchestrator.store.db import Database
from orchestrator.store.errors import NotFound
from orchestrator.store.models import ApiToken, Project, utcnow


@dataclass(frozen=True)
class TokenInfo:
    """What may be shown about a token (never its secret), with the project it is scoped to."""

    id: int
    project: str
    name: str
    read_only: bool
    created_at: datetime
    revoked_at: datetime | None
    can_run_code: bool = False

    @property
    def active(self) -> bool:
        return self.revoked_at is None


def _info(row: ApiToken, project: str) -> TokenInfo:
    return TokenInfo(
        row.id, project, row.name, row.read_only, row.created_at, row.revoked_at, bool(row.can_run_code)
    )


class Tokens:
    """The token queries of one store (`SweepStore.tokens`)."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def add(
        self,
        project_id: int,
        project: str,
        name: str,
        token_hash: str,
        read_only: bool,
        can_run_code: bool = False,
    ) -> TokenInfo:
        """A new token row for the project (`SweepStore.ensure_project` makes sure it exists)."""
        with self.db.session() as session:
            row = ApiToken(
                project_id=project_id,
                name=name,
                token_hash=token_hash,
                read_only=read_only,
                can_run_code=can_run_code,
            )
            session.add(row)
            session.flush()
            return _info(row, project)

    def list(self, project: str | None = None, include_revoked: bool = False) -> list[TokenInfo]:
        """Tokens, oldest first, of one project (None: every project)."""
        query = select(ApiToken, Project.name).join(Project, ApiToken.project_id == Project.id)
        if project is not None:
            query = query.where(Project.name == project)
        if not include_revoked:
            query = query.where(ApiToken.revoked_at.is_(None))
        with self.db.session() as session:
            return [_info(row, name) for row, name in session.execute(query.order_by(ApiToken.id)).all()]

    def revoke(self, token_id: int) -> TokenInfo:
        """Stamp `revoked_at` (revoking twice keeps the first time); `NotFound` when there is no such id."""
        with self.db.session() as session:
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

    def active_by_hash(self, token_hash: str) -> tuple[TokenInfo, str] | None:
        """The unrevoked token with this digest and the digest as stored, if any (one indexed lookup)."""
        with self.db.session() as session:
            found = session.execute(
                select(ApiToken, Project.name)
                .join(Project, ApiToken.project_id == Project.id)
                .where(ApiToken.token_hash == token_hash, ApiToken.revoked_at.is_(None))
            ).first()
        return None if found is None else (_info(found[0], found[1]), found[0].token_hash)
