"""ECG streaming protocol: frames, the sans-I/O ingest state machines and reader fan-out.

This package imports only msgpack and the standard library: no asyncio, no sockets.
"""

from streaming.errors import CloseCode, ProtocolViolation
from streaming.frames import PROTOCOL_VERSION

__all__ = ["CloseCode", "ProtocolViolation", "PROTOCOL_VERSION"]
