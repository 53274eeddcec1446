"""Wire frames of protocol version 1: typed dataclasses with msgpack encode/decode.

Each WebSocket message is one msgpack map whose key ``t`` names the frame type (see
docs/protocol.md). ``decode_*`` never lets a parser error escape as anything but
:class:`~streaming.errors.ProtocolViolation` with the close code to use.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any, Union

import msgpack

from streaming.errors import CloseCode, ProtocolViolation

PROTOCOL_VERSION = 1
MAX_FRAME_BYTES = 64 * 1024
MAX_LEADS = 18
MAX_BLOCK = 1000
MIN_FS_HZ = 50.0
MAX_FS_HZ = 2000.0

#: Standard order of the 12-lead ECG, then the six extra leads of the 18-lead ECG.
STANDARD_LEADS: tuple[str, ...] = (
    "I", "II", "III", "aVR", "aVL", "aVF",
    "V1", "V2", "V3", "V4", "V5", "V6",
    "V7", "V8", "V9", "V3R", "V4R", "V5R",
)
SAMPLE_BYTES: dict[str, int] = {"int16": 2, "int32": 4}

_RECORDING_ID = re.compile(r"^[A-Za-z0-9_-]{8,64}$")
_LEAD_NAME = re.compile(r"^[A-Za-z0-9_-]{1,16}$")


# --- device -> server -------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Hello:
    token: str
    recording: str
    patient: str
    fs_hz: float
    leads: tuple[str, ...]
    gain: float
    sample_type: str
    block: int
    v: int = PROTOCOL_VERSION

    @property
    def bytes_per_sample_row(self) -> int:
        """Bytes of one sample instant across all leads."""
        return SAMPLE_BYTES[self.sample_type] * len(self.leads)

    def same_stream_as(self, other: "Hello") -> bool:
        """True when ``other`` describes the same signal layout (used on resume)."""
        return (
            self.fs_hz == other.fs_hz
            and self.leads == other.leads
            and self.gain == other.gain
            and self.sample_type == other.sample_type
            and self.block == other.block
        )

    def to_wire(self) -> dict[str, Any]:
        return {
            "t": "hello", "v": self.v, "token": self.token, "recording": self.recording,
            "patient": self.patient, "fs_hz": self.fs_hz, "leads": list(self.leads),
            "gain": self.gain, "sample_type": self.sample_type, "block": self.block,
        }


@dataclass(frozen=True, slots=True)
class Data:
    seq: int
    i0: int
    n: int
    d: bytes

    def to_wire(self) -> dict[str, Any]:
        return {"t": "data", "seq": self.seq, "i0": self.i0, "n": self.n, "d": self.d}


@dataclass(frozen=True, slots=True)
class End:
    seq: int

    def to_wire(self) -> dict[str, Any]:
        return {"t": "end", "seq": self.seq}


# --- server -> device -------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Welcome:
    recording: str
    resume_seq: int
    window: int
    max_frame_bytes: int = MAX_FRAME_BYTES
    v: int = PROTOCOL_VERSION

    def to_wire(self) -> dict[str, Any]:
        return {
            "t": "welcome", "v": self.v, "recording": self.recording,
            "resume_seq": self.resume_seq, "window": self.window,
            "max_frame_bytes": self.max_frame_bytes,
        }


@dataclass(frozen=True, slots=True)
class Ack:
    seq: int

    def to_wire(self) -> dict[str, Any]:
        return {"t": "ack", "seq": self.seq}


@dataclass(frozen=True, slots=True)
class Error:
    code: int
    reason: str

    def to_wire(self) -> dict[str, Any]:
        return {"t": "error", "code": self.code, "reason": self.reason}


# --- server -> reader -------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Meta:
    recording: str
    fs_hz: float
    display_fs_hz: float
    decimation: int
    leads: tuple[str, ...]
    gain: float
    sample_type: str
    status: str

    def to_wire(self) -> dict[str, Any]:
        return {
            "t": "meta", "recording": self.recording, "fs_hz": self.fs_hz,
            "display_fs_hz": self.display_fs_hz, "decimation": self.decimation,
            "leads": list(self.leads), "gain": self.gain, "sample_type": self.sample_type,
            "status": self.status,
        }


@dataclass(frozen=True, slots=True)
class Samples:
    """Display samples for a reader: int32 little-endian, sample-major."""

    seq: int
    i0: int
    n: int
    d: bytes

    def to_wire(self) -> dict[str, Any]:
        return {"t": "samples", "seq": self.seq, "i0": self.i0, "n": self.n, "d": self.d}


@dataclass(frozen=True, slots=True)
class Beats:
    i: tuple[int, ...]
    hr_bpm: float | None = None

    def to_wire(self) -> dict[str, Any]:
        return {"t": "beats", "i": list(self.i), "hr_bpm": self.hr_bpm}


@dataclass(frozen=True, slots=True)
class Gap:
    dropped: int
    from_seq: int
    to_seq: int

    def to_wire(self) -> dict[str, Any]:
        return {"t": "gap", "dropped": self.dropped, "from_seq": self.from_seq, "to_seq": self.to_seq}


@dataclass(frozen=True, slots=True)
class DeviceStatus:
    """Whether the recording's device is connected right now (a dropped cart vs a quiet one)."""

    connected: bool

    def to_wire(self) -> dict[str, Any]:
        return {"t": "status", "connected": self.connected}


@dataclass(frozen=True, slots=True)
class EndOfRecording:
    n_samples: int

    def to_wire(self) -> dict[str, Any]:
        return {"t": "end", "n_samples": self.n_samples}


DeviceFrame = Union[Hello, Data, End]
ServerFrame = Union[Welcome, Ack, Error]
ReaderFrame = Union[Meta, Samples, Beats, Gap, DeviceStatus, EndOfRecording, Error]
AnyFrame = Union[DeviceFrame, ServerFrame, ReaderFrame]


def encode(frame: AnyFrame) -> bytes:
    """Serialise one frame to the bytes of one binary WebSocket message."""
    out: bytes = msgpack.packb(frame.to_wire(), use_bin_type=True)
    return out


# --- decoding ---------------------------------------------------------------------


def _unpack(message: bytes) -> dict[str, Any]:
    if len(message) > MAX_FRAME_BYTES:
        raise ProtocolViolation(CloseCode.TOO_BIG, f"frame of {len(message)} bytes exceeds {MAX_FRAME_BYTES}")
    try:
        obj = msgpack.unpackb(message, raw=False, strict_map_key=True, use_list=True)
    except (ValueError, msgpack.ExtraData, msgpack.FormatError, msgpack.StackError, TypeError) as exc:
        kind = "truncated" if isinstance(exc, ValueError) and "incomplete" in str(exc).lower() else "malformed"
        raise ProtocolViolation(CloseCode.BAD_FRAME, f"{kind} msgpack") from None
    except Exception:  # msgpack may raise other errors on hostile input
        raise ProtocolViolation(CloseCode.BAD_FRAME, "malformed msgpack") from None
    if not isinstance(obj, dict):
        raise ProtocolViolation(CloseCode.BAD_FRAME, "frame is not a msgpack map")
    return obj


def _int(obj: dict[str, Any], key: str, code: CloseCode = CloseCode.BAD_FRAME) -> int:
    value = obj.get(key)
    if not isinstance(value, int) or isinstance(value, bool):
        raise ProtocolViolation(code, f"'{key}' must be an integer")
    return value


def _num(obj: dict[str, Any], key: str) -> float:
    value = obj.get(key)
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ProtocolViolation(CloseCode.BAD_HELLO, f"'{key}' must be a number")
    if not math.isfinite(value):
        raise ProtocolViolation(CloseCode.BAD_HELLO, f"'{key}' must be finite")
    return float(value)


def _str(obj: dict[str, Any], key: str, code: CloseCode = CloseCode.BAD_FRAME) -> str:
    value = obj.get(key)
    if not isinstance(value, str):
        raise ProtocolViolation(code, f"'{key}' must be a string")
    return value


def _hello(obj: dict[str, Any]) -> Hello:
    version = obj.get("v")
    if version != PROTOCOL_VERSION:
        raise ProtocolViolation(CloseCode.UNSUPPORTED_VERSION, f"protocol version {version!r} not supported (use {PROTOCOL_VERSION})")
    token = _str(obj, "token", CloseCode.UNAUTHENTICATED)
    recording = _str(obj, "recording", CloseCode.BAD_HELLO)
    if not _RECORDING_ID.match(recording):
        raise ProtocolViolation(CloseCode.BAD_HELLO, "recording id must be 8-64 characters [A-Za-z0-9_-]")
    patient = _str(obj, "patient", CloseCode.BAD_HELLO)
    if len(patient) > 128:
        raise ProtocolViolation(CloseCode.BAD_HELLO, "patient reference longer than 128 characters")
    fs_hz = _num(obj, "fs_hz")
    if not MIN_FS_HZ <= fs_hz <= MAX_FS_HZ:
        raise ProtocolViolation(CloseCode.BAD_HELLO, f"fs_hz must be within {MIN_FS_HZ:g}-{MAX_FS_HZ:g}")
    leads_raw = obj.get("leads")
    if not isinstance(leads_raw, list) or not 1 <= len(leads_raw) <= MAX_LEADS:
        raise ProtocolViolation(CloseCode.BAD_HELLO, f"leads must be a list of 1-{MAX_LEADS} names")
    if not all(isinstance(x, str) and _LEAD_NAME.match(x) for x in leads_raw):
        raise ProtocolViolation(CloseCode.BAD_HELLO, "lead names must be short strings")
    leads = tuple(leads_raw)
    if len(set(leads)) != len(leads):
        raise ProtocolViolation(CloseCode.BAD_HELLO, "lead names must be distinct")
    standard = [name for name in leads if name in STANDARD_LEADS]
    if standard != sorted(standard, key=STANDARD_LEADS.index):
        raise ProtocolViolation(CloseCode.BAD_HELLO, "leads must be in standard order (I II III aVR aVL aVF V1-V6 V7-V9 V3R-V5R)")
    gain = _num(obj, "gain")
    if not gain > 0:
        raise ProtocolViolation(CloseCode.BAD_HELLO, "gain must be positive (ADC units per mV)")
    sample_type = _str(obj, "sample_type", CloseCode.BAD_HELLO)
    if sample_type not in SAMPLE_BYTES:
        raise ProtocolViolation(CloseCode.BAD_HELLO, "sample_type must be int16 or int32")
    block = _int(obj, "block", CloseCode.BAD_HELLO)
    if not 1 <= block <= MAX_BLOCK:
        raise ProtocolViolation(CloseCode.BAD_HELLO, f"block must be 1-{MAX_BLOCK} samples")
    if block * len(leads) * SAMPLE_BYTES[sample_type] + 64 > MAX_FRAME_BYTES:
        raise ProtocolViolation(CloseCode.BAD_HELLO, "block too long for the frame size limit")
    return Hello(token=token, recording=recording, patient=patient, fs_hz=fs_hz, leads=leads,
                 gain=gain, sample_type=sample_type, block=block, v=version)


def _data(obj: dict[str, Any]) -> Data:
    seq = _int(obj, "seq")
    i0 = _int(obj, "i0")
    n = _int(obj, "n")
    d = obj.get("d")
    if not isinstance(d, bytes):
        raise ProtocolViolation(CloseCode.BAD_DATA, "'d' must be packed little-endian integer samples (bin)")
    if seq < 0 or i0 < 0:
        raise ProtocolViolation(CloseCode.BAD_FRAME, "seq and i0 must not be negative")
    return Data(seq=seq, i0=i0, n=n, d=d)


def decode_device_frame(message: bytes) -> DeviceFrame:
    """Decode a device's message.

    Raises:
        ProtocolViolation: with the close code to use (never any other exception).
    """
    obj = _unpack(message)
    kind = obj.get("t")
    if kind == "data":
        return _data(obj)
    if kind == "hello":
        return _hello(obj)
    if kind == "end":
        return End(seq=_int(obj, "seq"))
    raise ProtocolViolation(CloseCode.BAD_FRAME, "unknown frame type")


def decode_server_frame(message: bytes) -> ServerFrame:
    """Decode what the server sends a device (used by the device side).

    Raises:
        ProtocolViolation: the server sent something this client does not understand.
    """
    obj = _unpack(message)
    kind = obj.get("t")
    if kind == "ack":
        return Ack(seq=_int(obj, "seq"))
    if kind == "welcome":
        return Welcome(recording=_str(obj, "recording"), resume_seq=_int(obj, "resume_seq"),
                       window=_int(obj, "window"), max_frame_bytes=_int(obj, "max_frame_bytes"),
                       v=_int(obj, "v"))
    if kind == "error":
        return Error(code=_int(obj, "code"), reason=_str(obj, "reason"))
    raise ProtocolViolation(CloseCode.BAD_FRAME, "unknown frame type")


def decode_reader_frame(message: bytes) -> dict[str, Any]:
    """Decode a reader frame into its map (readers are lenient: unknown keys are kept)."""
    return _unpack(message)


__all__ = [
    "PROTOCOL_VERSION", "MAX_FRAME_BYTES", "STANDARD_LEADS", "SAMPLE_BYTES",
    "Hello", "Data", "End", "Welcome", "Ack", "Error", "Meta", "Samples", "Beats", "Gap",
    "DeviceStatus", "EndOfRecording", "encode", "decode_device_frame", "decode_server_frame", "decode_reader_frame",
]
