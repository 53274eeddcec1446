"""Close codes and the one exception the frame decoder raises."""

from __future__ import annotations

import enum


class CloseCode(enum.IntEnum):
    """WebSocket close codes used by the ingest and reader sockets (see docs/protocol.md)."""

    NORMAL = 1000
    GOING_AWAY = 1001
    UNSUPPORTED_DATA = 1003
    TOO_BIG = 1009
    BAD_FRAME = 4000
    UNAUTHENTICATED = 4001
    FORBIDDEN = 4003
    NOT_FOUND = 4004
    UNSUPPORTED_VERSION = 4005
    BAD_HELLO = 4006
    BAD_DATA = 4007
    BAD_SEQUENCE = 4008
    BAD_STATE = 4009
    TOO_SLOW = 4010
    INTERNAL_ERROR = 4011
    SUPERSEDED = 4012


class ProtocolViolation(Exception):
    """The peer broke the protocol; carries the close code and a reason safe to send back.

    Reasons never contain sample values, tokens or patient references.
    """

    def __init__(self, code: CloseCode, reason: str) -> None:
        super().__init__(f"{int(code)} {reason}")
        self.code = code
        self.reason = reason
