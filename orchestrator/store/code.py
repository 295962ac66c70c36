"""Uploaded model code in the store: archives keyed by their content digest (workers/code_archive.py packs
and checks them; the service decides who may upload)."""

from __future__ import annotations

from sqlalchemy import select

from orchestrator.store.db import Database
from orchestrator.store.models import CodeArchive


class CodeArchives:
    """The code queries of one store (`SweepStore.code`)."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def add(self, digest: str, data: bytes) -> bool:
        """Store `data` under `digest`; False when it was already there (uploads are idempotent)."""
        with self.db.session() as session:
            if session.get(CodeArchive, digest) is not None:
                return False
            session.add(CodeArchive(digest=digest, size=len(data), data=data))
            return True

    def get(self, digest: str) -> bytes | None:
        with self.db.session() as session:
            return session.execute(select(CodeArchive.data).where(CodeArchive.digest == digest)).scalar()

    def exists(self, digest: str) -> bool:
        with self.db.session() as session:
            found = session.execute(select(CodeArchive.digest).where(CodeArchive.digest == digest)).first()
            return found is not None
