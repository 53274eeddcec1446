"""Domain errors of reading and reporting, each with the HTTP status an adapter answers with."""

from __future__ import annotations


class ReadingError(Exception):
    """Base class; ``status`` is the HTTP status for the JSON API."""

    status = 400

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class BadRequest(ReadingError):
    status = 400


class Forbidden(ReadingError):
    status = 403


class NotFoundError(ReadingError):
    status = 404


class ConflictError(ReadingError):
    """The study is in another state (claimed by someone else, report already signed, …)."""

    status = 409


class NotImplementedYet(ReadingError):
    status = 501


__all__ = ["BadRequest", "ConflictError", "Forbidden", "NotFoundError", "NotImplementedYet", "ReadingError"]
