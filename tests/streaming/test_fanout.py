"""A slow reader loses only its own display frames, is told so, and never loses beats."""

from __future__ import annotations

import msgpack

from streaming.fanout import ReaderQueue


def drain(queue: ReaderQueue) -> list[bytes]:
    out = []
    while (message := queue.pop()) is not None:
        out.append(message)
    return out


def test_a_reader_that_keeps_up_gets_everything_in_order() -> None:
    queue = ReaderQueue(max_display_frames=4)
    queue.put_samples(0, b"s0")
    queue.put_event(b"beat")
    queue.put_samples(1, b"s1")
    assert drain(queue) == [b"s0", b"beat", b"s1"]
    assert queue.dropped_total == 0


def test_overflow_drops_the_oldest_display_frames_and_announces_a_gap() -> None:
    queue = ReaderQueue(max_display_frames=3)
    for seq in range(6):
        queue.put_samples(seq, f"s{seq}".encode())
    queue.put_event(b"beat")
    out = drain(queue)
    gap = msgpack.unpackb(out[0])
    assert gap == {"t": "gap", "dropped": 3, "from_seq": 0, "to_seq": 2}
    assert out[1:] == [b"s3", b"s4", b"s5", b"beat"]
    assert queue.dropped_total == 3


def test_events_are_never_dropped_for_display_frames() -> None:
    queue = ReaderQueue(max_display_frames=1)
    queue.put_event(b"b1")
    for seq in range(5):
        queue.put_samples(seq, b"s")
    queue.put_event(b"b2")
    out = drain(queue)
    assert b"b1" in out and b"b2" in out


def test_too_many_pending_events_mark_the_reader_as_overflowed() -> None:
    queue = ReaderQueue(max_display_frames=2, max_events=3)
    for _ in range(3):
        queue.put_event(b"b")
    assert not queue.overflowed
    queue.put_event(b"b")
    assert queue.overflowed
