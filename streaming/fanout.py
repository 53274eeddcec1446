"""Per-reader bounded queue: a slow reader loses only its own display frames.

Pure data structure (no asyncio): the reader socket's task pops from it; the ingest path
pushes into every reader's queue and never waits for any reader.
"""

from __future__ import annotations

from collections import deque

from streaming.frames import Gap, encode

DEFAULT_MAX_DISPLAY_FRAMES = 64
DEFAULT_MAX_EVENTS = 1000


class ReaderQueue:
    """Holds encoded reader frames for one reader socket.

    Display frames (samples) beyond ``max_display_frames`` push out the oldest display
    frame; the reader is told with a ``gap`` frame before the next one it receives.
    Events (beats, end) are never dropped; more than ``max_events`` of them pending
    marks the queue ``overflowed`` and the adapter closes the reader (4010).
    """

    def __init__(self, max_display_frames: int = DEFAULT_MAX_DISPLAY_FRAMES,
                 max_events: int = DEFAULT_MAX_EVENTS) -> None:
        self.max_display_frames = max_display_frames
        self.max_events = max_events
        self._items: deque[tuple[int, bytes]] = deque()  # (seq or -1 for events, message)
        self._n_display = 0
        self.dropped_total = 0
        self._gap_from: int | None = None
        self._gap_to = -1
        self._gap_count = 0
        self.overflowed = False

    def __len__(self) -> int:
        return len(self._items) + (1 if self._gap_from is not None else 0)

    @property
    def free_display_slots(self) -> int:
        """Display frames that fit before the oldest is dropped."""
        return self.max_display_frames - self._n_display

    def put_samples(self, seq: int, message: bytes) -> None:
        if self._n_display >= self.max_display_frames:
            self._drop_oldest_display()
        self._items.append((seq, message))
        self._n_display += 1

    def put_event(self, message: bytes) -> None:
        if len(self._items) - self._n_display >= self.max_events:
            self.overflowed = True
            return
        self._items.append((-1, message))

    def _drop_oldest_display(self) -> None:
        for k, (seq, _) in enumerate(self._items):
            if seq >= 0:
                del self._items[k]
                self._n_display -= 1
                self.dropped_total += 1
                self._gap_count += 1
                if self._gap_from is None:
                    self._gap_from = seq
                self._gap_to = max(self._gap_to, seq)
                return

    def pop(self) -> bytes | None:
        """The next message to send, or None when empty. A pending gap notice comes first."""
        if self._gap_from is not None:
            message = encode(Gap(dropped=self._gap_count, from_seq=self._gap_from, to_seq=self._gap_to))
            self._gap_from, self._gap_to, self._gap_count = None, -1, 0
            return message
        if not self._items:
            return None
        seq, message = self._items.popleft()
        if seq >= 0:
            self._n_display -= 1
        return message
