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

from orchestrator.store import SweepStore
from orchestrator.store.tokens import TokenInfo

TOKEN_PREFIX = "mt_"  # recognisable in logs and secret scanners
MAX_TOKEN_CHARS = 200  # anything longer is malformed before it reaches the database
MAX_NAME_CHARS = 100


def hash_token(token: str) -> str:
    """The stored form of a token: hex SHA-256 of its UTF-8 bytes."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def new_secret() -> str:
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def create_token(
    store: SweepStore, project: str, name: str = "token", read_only: bool = False, can_run_code: bool = False
) -> tuple[TokenInfo, str]:
    """A new token for `project` (created if it does not exist yet); returns its info and the secret.
    `can_run_code`: it may upload model code that the workers import and run."""
    if read_only and can_run_code:
        raise ValueError("a read-only token cannot upload code: drop --read-only or --allow-code")
    if not project or len(project) > MAX_NAME_CHARS:
        raise ValueError(f"a project name has 1 to {MAX_NAME_CHARS} characters, got {project!r}")
    if not name or len(name) > MAX_NAME_CHARS:
        raise ValueError(f"a token name has 1 to {MAX_NAME_CHARS} characters, got {name!r}")
    secret = new_secret()
    project_id = store.ensure_project(project).id
    return store.tokens.add(project_id, project, name, hash_token(secret), read_only, can_run_code), secret


def list_tokens(
    store: SweepStore, project: str | None = None, include_revoked: bool = False
) -> list[TokenInfo]:
    """Tokens, oldest first, of one project (None: every project)."""
    return store.tokens.list(project, include_revoked)


def revoke_token(store: SweepStore, token_id: int) -> TokenInfo:
    """Revoke a token by id (revoking twice keeps the first time); `NotFound` when there is none."""
    return store.tokens.revoke(token_id)


def lookup_token(store: SweepStore, token: str) -> TokenInfo | None:
    """The active token whose secret is `token`, or None (unknown, revoked or malformed)."""
    if not token.startswith(TOKEN_PREFIX) or len(token) > MAX_TOKEN_CHARS:
        return None
    digest = hash_token(token)
    found = store.tokens.active_by_hash(digest)
    if found is None:
        return None
    info, stored = found
    # The row was found by its digest; compare again in constant time so no code path depends on
    # how much of a guess matched.
    if not hmac.compare_digest(stored, digest):
        return None
    return info
