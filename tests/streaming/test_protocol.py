"""The ingest protocol as a conversation between DeviceClient and IngestServer, no sockets."""

from __future__ import annotations

import struct

import msgpack
import pytest

from streaming.errors import CloseCode, ProtocolViolation
from streaming.frames import Ack, Data, End, Hello, decode_server_frame, encode
from streaming.protocol import (
    TRANSITIONS,
    Closing,
    DeviceClient,
    DuplicateFrame,
    EndReceived,
    FrameAccepted,
    HelloReceived,
    IngestServer,
    State,
)

HELLO = Hello(token="tcd_x", recording="rec-0001", patient="", fs_hz=500.0, leads=("I", "II", "V1"),
              gain=1000.0, sample_type="int16", block=20)


def block(seq: int, n: int = 20, leads: int = 3) -> bytes:
    return struct.pack(f"<{n * leads}h", *[(seq * 7 + k) % 300 - 150 for k in range(n * leads)])


class Pair:
    """A device and a server wired back to back; ``deliver`` moves messages and returns server events."""

    def __init__(self, resume_seq: int = 0, window: int = 8) -> None:
        self.device = DeviceClient(HELLO, window=window)
        self.server = IngestServer(window=window)
        self.resume_seq = resume_seq

    def connect(self) -> list[object]:
        events = self.server.receive(self.device.hello_message())
        assert events == [HelloReceived(HELLO)]
        self.server.accept(self.resume_seq, self.resume_seq * HELLO.block)
        self.to_device()
        return events

    def to_device(self) -> None:
        for message in self.server.data_to_send():
            self.device.receive(message)

    def deliver(self) -> list[object]:
        events: list[object] = []
        for message in self.device.data_to_send():
            events += self.server.receive(message)
        return events


def sent_frames(server: IngestServer) -> list[object]:
    return [decode_server_frame(m) for m in server.data_to_send()]


def test_a_recording_streams_acks_and_ends_normally() -> None:
    pair = Pair()
    pair.connect()
    for seq in range(3):
        pair.device.add_block(block(seq), 20)
    events = pair.deliver()
    assert [type(e) for e in events] == [FrameAccepted] * 3
    assert [e.seq for e in events] == [0, 1, 2]  # type: ignore[attr-defined]
    assert [e.i0 for e in events] == [0, 20, 40]  # type: ignore[attr-defined]
    pair.server.durable(2)
    assert sent_frames(pair.server) == [Ack(2)]
    pair.device.end()
    assert pair.deliver() == [EndReceived(3, 60)]
    assert pair.server.close == (CloseCode.NORMAL, "recording complete")
    assert pair.server.state is State.CLOSED


def test_end_waits_for_durability_before_closing() -> None:
    pair = Pair()
    pair.connect()
    pair.device.add_block(block(0), 20)
    pair.device.end()
    events = pair.deliver()
    assert events[-1] == EndReceived(1, 20)
    assert pair.server.close is None and pair.server.state is State.ENDING
    pair.server.durable(0)
    pair.to_device()
    assert pair.server.close is not None and pair.server.close[0] == CloseCode.NORMAL
    assert pair.device.finished


def test_device_resends_everything_unacked_after_reconnect_and_server_dedupes() -> None:
    pair = Pair(window=16)
    pair.connect()
    for seq in range(5):
        pair.device.add_block(block(seq), 20)
    pair.deliver()
    pair.server.durable(1)
    pair.to_device()
    pair.device.connection_lost()
    # A new server connection that has frames 0..3 on disk (written but only 0..1 acked).
    server2 = IngestServer(window=16)
    assert isinstance(server2.receive(pair.device.hello_message())[0], HelloReceived)
    server2.accept(4, 80)
    for message in server2.data_to_send():
        pair.device.receive(message)
    events = [e for m in pair.device.data_to_send() for e in server2.receive(m)]
    assert events == [FrameAccepted(4, 80, 20, block(4))]


def test_duplicates_inside_the_window_are_dropped_not_fatal() -> None:
    server = IngestServer(window=4)
    server.receive(encode(HELLO))
    server.accept(10, 200)
    server.data_to_send()
    assert server.receive(encode(Data(8, 160, 20, block(8)))) == [DuplicateFrame(8)]
    assert server.close is None


def test_sequence_before_the_resume_window_is_refused() -> None:
    server = IngestServer(window=4)
    server.receive(encode(HELLO))
    server.accept(10, 200)
    events = server.receive(encode(Data(3, 60, 20, block(3))))
    assert events == [Closing(CloseCode.BAD_SEQUENCE, "seq 3 is before the resume window")]


def test_a_gap_in_sequence_numbers_is_refused() -> None:
    server = IngestServer()
    server.receive(encode(HELLO))
    server.accept(0, 0)
    server.receive(encode(Data(0, 0, 20, block(0))))
    events = server.receive(encode(Data(2, 40, 20, block(2))))
    assert isinstance(events[0], Closing) and events[0].code == CloseCode.BAD_SEQUENCE


@pytest.mark.parametrize(("frame", "code"), [
    (Data(0, 0, 19, block(0, 19)), None),  # a short block is allowed as the last one
    (Data(0, 0, 21, block(0, 21)), CloseCode.BAD_DATA),  # longer than the declared block
    (Data(0, 0, 20, block(0, 20, leads=2)), CloseCode.BAD_DATA),  # wrong lead count
    (Data(0, 0, 20, block(0)[:-1]), CloseCode.BAD_DATA),  # truncated sample bytes
    (Data(0, 5, 20, block(0)), CloseCode.BAD_DATA),  # wrong first sample index
])
def test_data_frames_are_checked_against_the_hello(frame: Data, code: CloseCode | None) -> None:
    server = IngestServer()
    server.receive(encode(HELLO))
    server.accept(0, 0)
    events = server.receive(encode(frame))
    if code is None:
        assert isinstance(events[0], FrameAccepted)
    else:
        assert isinstance(events[0], Closing) and events[0].code == code
        assert server.close is not None and server.close[0] == code


def test_data_after_a_short_final_block_is_refused() -> None:
    server = IngestServer()
    server.receive(encode(HELLO))
    server.accept(0, 0)
    server.receive(encode(Data(0, 0, 10, block(0, 10))))
    events = server.receive(encode(Data(1, 10, 20, block(1))))
    assert isinstance(events[0], Closing) and events[0].code == CloseCode.BAD_STATE


@pytest.mark.parametrize(("message", "code"), [
    (b"\x85\xa1t", CloseCode.BAD_FRAME),  # truncated msgpack
    (b"\xc1", CloseCode.BAD_FRAME),  # never-used msgpack byte
    (msgpack.packb([1, 2, 3]), CloseCode.BAD_FRAME),  # not a map
    (msgpack.packb({"t": "launch"}), CloseCode.BAD_FRAME),  # unknown type
    (encode(Data(0, 0, 20, block(0))), CloseCode.BAD_STATE),  # data before hello
    (msgpack.packb({**HELLO.to_wire(), "v": 2}), CloseCode.UNSUPPORTED_VERSION),
    (msgpack.packb({**HELLO.to_wire(), "fs_hz": float("nan")}), CloseCode.BAD_HELLO),
    (msgpack.packb({**HELLO.to_wire(), "sample_type": "float32"}), CloseCode.BAD_HELLO),
    (msgpack.packb({**HELLO.to_wire(), "leads": ["V1", "I"]}), CloseCode.BAD_HELLO),  # not standard order
    (msgpack.packb({**HELLO.to_wire(), "leads": [f"L{k}" for k in range(19)]}), CloseCode.BAD_HELLO),
    (msgpack.packb({**HELLO.to_wire(), "recording": "../../etc"}), CloseCode.BAD_HELLO),
    (b"\x00" * (64 * 1024 + 1), CloseCode.TOO_BIG),
    ("a text message", CloseCode.UNSUPPORTED_DATA),
])
def test_bad_input_before_streaming_closes_with_its_code(message: bytes | str, code: CloseCode) -> None:
    server = IngestServer()
    events = server.receive(message)
    assert len(events) == 1 and isinstance(events[0], Closing) and events[0].code == code
    error = msgpack.unpackb(server.data_to_send()[0])
    assert error["t"] == "error" and error["code"] == int(code) and error["reason"]
    assert server.receive(encode(HELLO)) == []  # a closed protocol ignores further input


def test_samples_that_are_not_packed_integers_are_refused() -> None:
    server = IngestServer()
    server.receive(encode(HELLO))
    server.accept(0, 0)
    nan_frame = msgpack.packb({"t": "data", "seq": 0, "i0": 0, "n": 1, "d": [float("nan")] * 3})
    events = server.receive(nan_frame)
    assert isinstance(events[0], Closing) and events[0].code == CloseCode.BAD_DATA


def test_second_hello_is_a_state_error() -> None:
    server = IngestServer()
    server.receive(encode(HELLO))
    server.accept(0, 0)
    events = server.receive(encode(HELLO))
    assert isinstance(events[0], Closing) and events[0].code == CloseCode.BAD_STATE


def test_end_must_count_every_frame() -> None:
    server = IngestServer()
    server.receive(encode(HELLO))
    server.accept(0, 0)
    server.receive(encode(Data(0, 0, 20, block(0))))
    events = server.receive(encode(End(5)))
    assert isinstance(events[0], Closing) and events[0].code == CloseCode.BAD_SEQUENCE


def test_every_state_and_event_pair_follows_the_table() -> None:
    for state, moves in TRANSITIONS.items():
        for what in ("hello", "accept", "data", "end", "durable_end", "fail", "violation"):
            server = IngestServer()
            server.state = state
            if what in moves:
                server._move(what)
                assert server.state is moves[what]
            else:
                with pytest.raises(ProtocolViolation):
                    server._move(what)


def test_the_device_never_has_more_than_window_frames_in_flight() -> None:
    pair = Pair(window=4)
    pair.connect()
    for seq in range(10):
        pair.device.add_block(block(seq), 20)
    assert len(pair.deliver()) == 4
    assert pair.deliver() == []
    pair.server.durable(1)
    pair.to_device()
    assert [e.seq for e in pair.deliver()] == [4, 5]  # type: ignore[attr-defined]


def test_a_server_that_lost_acked_frames_is_detected_by_the_device() -> None:
    pair = Pair()
    pair.connect()
    pair.device.add_block(block(0), 20)
    pair.deliver()
    pair.server.durable(0)
    pair.to_device()
    pair.device.connection_lost()
    server2 = IngestServer()
    server2.receive(pair.device.hello_message())
    server2.accept(0, 0)
    with pytest.raises(ProtocolViolation, match="acked"):
        for message in server2.data_to_send():
            pair.device.receive(message)
