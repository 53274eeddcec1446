"""Sans-I/O state machines of the ingest protocol: the server side and the device side.

Neither class does I/O or awaits. An adapter feeds each received WebSocket message to
``receive()``, acts on the returned events, and sends what ``data_to_send()`` returns;
when ``close`` is set it closes the socket with that code after sending.

Server calling order::

    proto = IngestServer()
    for message in socket:
        for event in proto.receive(message):
            HelloReceived  -> authenticate, then proto.accept(resume_seq) or proto.fail(...)
            FrameAccepted  -> archive.append(...)
            EndReceived    -> archive.finish(...)
        send(proto.data_to_send())
        if proto.close: close(*proto.close)
    # after each group commit:  proto.durable(highest_durable_seq); send(proto.data_to_send())
"""

from __future__ import annotations

import enum
from collections import deque
from dataclasses import dataclass
from typing import Union

from streaming.errors import CloseCode, ProtocolViolation
from streaming.frames import (
    MAX_FRAME_BYTES,
    Ack,
    Data,
    End,
    Error,
    Hello,
    Welcome,
    decode_device_frame,
    decode_server_frame,
    encode,
)

DEFAULT_WINDOW = 256


class State(enum.Enum):
    AWAIT_HELLO = "await_hello"
    AUTHENTICATING = "authenticating"
    STREAMING = "streaming"
    ENDING = "ending"
    CLOSED = "closed"


# Rule: every transition of IngestServer is listed here and nowhere else.
# Keys are (state, what happened); "accept"/"fail"/"durable_end" are calls by the adapter.
TRANSITIONS: dict[State, dict[str, State]] = {
    State.AWAIT_HELLO: {"hello": State.AUTHENTICATING, "violation": State.CLOSED},
    State.AUTHENTICATING: {"accept": State.STREAMING, "fail": State.CLOSED, "violation": State.CLOSED},
    State.STREAMING: {"data": State.STREAMING, "end": State.ENDING, "fail": State.CLOSED, "violation": State.CLOSED},
    State.ENDING: {"durable_end": State.CLOSED, "fail": State.CLOSED, "violation": State.CLOSED},
    State.CLOSED: {},
}

# Frames that are allowed in a state (anything else is BAD_STATE).
_ALLOWED_FRAMES: dict[State, tuple[type, ...]] = {
    State.AWAIT_HELLO: (Hello,),
    State.AUTHENTICATING: (),
    State.STREAMING: (Data, End),
    State.ENDING: (),
    State.CLOSED: (),
}


@dataclass(frozen=True, slots=True)
class HelloReceived:
    hello: Hello


@dataclass(frozen=True, slots=True)
class FrameAccepted:
    """A new in-order frame to store; ``d`` is validated against the hello's layout."""

    seq: int
    i0: int
    n: int
    d: bytes


@dataclass(frozen=True, slots=True)
class DuplicateFrame:
    seq: int


@dataclass(frozen=True, slots=True)
class EndReceived:
    n_frames: int
    n_samples: int


@dataclass(frozen=True, slots=True)
class Closing:
    code: CloseCode
    reason: str


ServerEvent = Union[HelloReceived, FrameAccepted, DuplicateFrame, EndReceived, Closing]


class IngestServer:
    """Server side of one device connection.

    Args:
        window: how many frames before ``resume_seq`` a resending device may repeat
            (they are acknowledged as duplicates and dropped); older ones are an error.
    """

    def __init__(self, window: int = DEFAULT_WINDOW) -> None:
        self.window = window
        self.state = State.AWAIT_HELLO
        self.hello: Hello | None = None
        self.next_seq = 0
        self.next_sample = 0
        self.acked_seq = -1
        self.short_block_seen = False
        self.close: tuple[CloseCode, str] | None = None
        self._out: list[bytes] = []

    # -- transitions ---------------------------------------------------------------

    def _move(self, what: str) -> None:
        try:
            self.state = TRANSITIONS[self.state][what]
        except KeyError:
            raise ProtocolViolation(CloseCode.BAD_STATE, f"'{what}' not allowed in state {self.state.value}") from None

    def _violate(self, code: CloseCode, reason: str) -> list[ServerEvent]:
        if self.state is State.CLOSED:
            return []
        self.state = State.CLOSED
        self._out.append(encode(Error(code=int(code), reason=reason)))
        self.close = (code, reason)
        return [Closing(code, reason)]

    # -- input ---------------------------------------------------------------------

    def receive(self, message: bytes | str) -> list[ServerEvent]:
        """Feed one WebSocket message; returns what happened."""
        if self.state is State.CLOSED:
            return []
        if isinstance(message, str):
            return self._violate(CloseCode.UNSUPPORTED_DATA, "binary msgpack frames only")
        try:
            frame = decode_device_frame(message)
            if not isinstance(frame, _ALLOWED_FRAMES[self.state]):
                raise ProtocolViolation(
                    CloseCode.BAD_STATE, f"{type(frame).__name__.lower()} frame not allowed in state {self.state.value}"
                )
            if isinstance(frame, Data):
                return self._on_data(frame)
            if isinstance(frame, Hello):
                self._move("hello")
                self.hello = frame
                return [HelloReceived(frame)]
            assert isinstance(frame, End)
            return self._on_end(frame)
        except ProtocolViolation as exc:
            return self._violate(exc.code, exc.reason)

    def _on_data(self, frame: Data) -> list[ServerEvent]:
        hello = self.hello
        assert hello is not None
        if frame.seq < self.next_seq:
            if frame.seq < self.next_seq - self.window:
                raise ProtocolViolation(CloseCode.BAD_SEQUENCE, f"seq {frame.seq} is before the resume window")
            return [DuplicateFrame(frame.seq)]
        if frame.seq > self.next_seq:
            raise ProtocolViolation(CloseCode.BAD_SEQUENCE, f"gap: expected seq {self.next_seq}, got {frame.seq}")
        if self.short_block_seen:
            raise ProtocolViolation(CloseCode.BAD_STATE, "data after the final (short) block")
        if not 1 <= frame.n <= hello.block:
            raise ProtocolViolation(CloseCode.BAD_DATA, f"block length {frame.n}, expected {hello.block}")
        if len(frame.d) != frame.n * hello.bytes_per_sample_row:
            raise ProtocolViolation(
                CloseCode.BAD_DATA,
                f"{len(frame.d)} bytes do not hold {frame.n} {hello.sample_type} samples of {len(hello.leads)} leads",
            )
        if frame.i0 != self.next_sample:
            raise ProtocolViolation(CloseCode.BAD_DATA, f"i0 {frame.i0}, expected {self.next_sample}")
        self._move("data")
        self.short_block_seen = frame.n < hello.block
        self.next_seq += 1
        self.next_sample += frame.n
        return [FrameAccepted(frame.seq, frame.i0, frame.n, frame.d)]

    def _on_end(self, frame: End) -> list[ServerEvent]:
        if frame.seq != self.next_seq:
            raise ProtocolViolation(CloseCode.BAD_SEQUENCE, f"end after {frame.seq} frames, server has {self.next_seq}")
        self._move("end")
        events: list[ServerEvent] = [EndReceived(self.next_seq, self.next_sample)]
        self._maybe_finish()
        return events

    # -- adapter decisions ---------------------------------------------------------

    def accept(self, resume_seq: int, resume_sample: int) -> None:
        """The device is authenticated; it resumes at ``resume_seq`` (0 for a new recording)."""
        self._move("accept")
        assert self.hello is not None
        self.next_seq = resume_seq
        self.next_sample = resume_sample
        self.acked_seq = resume_seq - 1
        self.short_block_seen = resume_seq > 0 and resume_sample < resume_seq * self.hello.block
        self._out.append(encode(Welcome(self.hello.recording, resume_seq, self.window, MAX_FRAME_BYTES)))

    def fail(self, code: CloseCode, reason: str) -> None:
        """Close with an error decided outside the protocol (auth, storage, shutdown)."""
        self._violate(code, reason)

    def durable(self, seq: int) -> None:
        """Every frame up to ``seq`` is on disk: acknowledge it."""
        if self.state not in (State.STREAMING, State.ENDING) or seq <= self.acked_seq:
            return
        self.acked_seq = seq
        self._out.append(encode(Ack(seq)))
        self._maybe_finish()

    def _maybe_finish(self) -> None:
        if self.state is State.ENDING and self.acked_seq == self.next_seq - 1:
            self._move("durable_end")
            if not self._out or self._out[-1] != encode(Ack(self.acked_seq)):
                self._out.append(encode(Ack(self.acked_seq)))  # the final ack the device waits for
            self.close = (CloseCode.NORMAL, "recording complete")

    def data_to_send(self) -> list[bytes]:
        out, self._out = self._out, []
        return out


# -------------------------------------------------------------------------------------
# Device side


@dataclass(frozen=True, slots=True)
class Welcomed:
    resume_seq: int


@dataclass(frozen=True, slots=True)
class Acked:
    seq: int
    latencies_s: tuple[float, ...]


@dataclass(frozen=True, slots=True)
class Rejected:
    code: int
    reason: str


DeviceEvent = Union[Welcomed, Acked, Rejected]


class DeviceClient:
    """Device side: numbers blocks, keeps every unacknowledged frame, resends after a resume.

    Calling order: ``hello_message()`` on each (re)connection; feed server messages to
    ``receive()``; ``add_block()`` as samples are produced; send ``data_to_send(now)``;
    ``connection_lost()`` when the socket drops. Done when ``finished`` is true.
    """

    def __init__(self, hello: Hello, window: int = DEFAULT_WINDOW) -> None:
        self.hello = hello
        self.window = window
        self.acked_seq = -1
        self.connected = False
        self.finished = False
        self.ended = False
        self._next_seq = 0
        self._next_sample = 0
        self._unacked: deque[tuple[int, bytes]] = deque()
        self._send_from = 0  # next seq to put on the wire in this connection
        self._sent_at: dict[int, float] = {}
        self._end_sent = False
        self.rejected: Rejected | None = None

    @property
    def n_frames(self) -> int:
        return self._next_seq

    @property
    def in_flight(self) -> int:
        return self._send_from - (self.acked_seq + 1)

    def hello_message(self) -> bytes:
        self._send_from = self.acked_seq + 1
        self._end_sent = False
        return encode(self.hello)

    def add_block(self, d: bytes, n: int) -> None:
        """Queue one block of ``n`` samples (all leads, sample-major, little-endian)."""
        if self.ended:
            raise RuntimeError("add_block after end")
        frame = Data(seq=self._next_seq, i0=self._next_sample, n=n, d=d)
        self._unacked.append((self._next_seq, encode(frame)))
        self._next_seq += 1
        self._next_sample += n

    def end(self) -> None:
        self.ended = True

    def receive(self, message: bytes, now: float = 0.0) -> list[DeviceEvent]:
        frame = decode_server_frame(message)
        if isinstance(frame, Welcome):
            if frame.resume_seq <= self.acked_seq:
                raise ProtocolViolation(
                    CloseCode.INTERNAL_ERROR, f"server resumes at {frame.resume_seq} but acked {self.acked_seq}"
                )
            self.connected = True
            # The server may have made more durable than it acked before a restart.
            self._release(frame.resume_seq - 1)
            self._send_from = frame.resume_seq
            return [Welcomed(frame.resume_seq)]
        if isinstance(frame, Ack):
            latencies = tuple(now - self._sent_at.pop(s) for s in range(self.acked_seq + 1, frame.seq + 1) if s in self._sent_at)
            self._release(frame.seq)
            if self.ended and self.acked_seq == self._next_seq - 1:
                self.finished = True
            return [Acked(frame.seq, latencies)]
        self.rejected = Rejected(frame.code, frame.reason)
        return [self.rejected]

    def _release(self, seq: int) -> None:
        if seq <= self.acked_seq:
            return
        while self._unacked and self._unacked[0][0] <= seq:
            self._unacked.popleft()
        self.acked_seq = seq

    def data_to_send(self, now: float = 0.0) -> list[bytes]:
        """Frames that may go on the wire now (within the window), plus ``end`` when due."""
        if not self.connected:
            return []
        out: list[bytes] = []
        if self._unacked:
            first = self._unacked[0][0]
            limit = self.acked_seq + 1 + self.window
            while self._send_from < min(self._next_seq, limit):
                _, message = self._unacked[self._send_from - first]
                out.append(message)
                self._sent_at.setdefault(self._send_from, now)
                self._send_from += 1
        if self.ended and not self._end_sent and self._send_from == self._next_seq:
            out.append(encode(End(self._next_seq)))
            self._end_sent = True
        return out

    def connection_lost(self) -> None:
        self.connected = False
        self._sent_at.clear()


__all__ = [
    "State", "TRANSITIONS", "IngestServer", "DeviceClient", "DEFAULT_WINDOW",
    "HelloReceived", "FrameAccepted", "DuplicateFrame", "EndReceived", "Closing",
    "Welcomed", "Acked", "Rejected",
]
