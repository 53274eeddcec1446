"""Domain errors of consults, each with the HTTP status and the socket close code an adapter uses."""

from __future__ import annotations


class ConsultError(Exception):
    """Base class; ``status`` is the HTTP status, ``close_code`` the signalling socket's close code."""

    status = 400
    close_code = 4000

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class BadRequest(ConsultError):
    status = 400
    close_code = 4000


class Unauthenticated(ConsultError):
    status = 401
    close_code = 4001


class Forbidden(ConsultError):
    status = 403
    close_code = 4003


class NotFound(ConsultError):
    status = 404
    close_code = 4004


class Conflict(ConsultError):
    """The consult is in another state (accepted by someone else, ended, …)."""

    status = 409
    close_code = 4009


class TooLarge(ConsultError):
    status = 413
    close_code = 1009


class Unsupported(ConsultError):
    status = 415
    close_code = 4000


__all__ = ["BadRequest", "Conflict", "ConsultError", "Forbidden", "NotFound", "TooLarge", "Unauthenticated",
           "Unsupported"]
