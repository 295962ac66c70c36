"""`Rejected`: a request the service refuses as sent, with the HTTP status and a message that says what to
fix (the API turns it into that 4xx)."""

from __future__ import annotations


class Rejected(ValueError):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
