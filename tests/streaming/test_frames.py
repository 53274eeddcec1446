"""Wire frames against the golden files in tests/fixtures/frames."""

from __future__ import annotations

from pathlib import Path

import msgpack
import pytest

from streaming.errors import CloseCode, ProtocolViolation
from streaming.frames import Data, End, Hello, decode_device_frame, decode_server_frame, encode
from tests.fixtures.make_frames import GOLDEN

FRAMES = Path(__file__).resolve().parent.parent / "fixtures" / "frames"


@pytest.mark.parametrize("name", sorted(GOLDEN))
def test_encoding_matches_the_golden_file(name: str) -> None:
    assert encode(GOLDEN[name]) == (FRAMES / f"{name}.bin").read_bytes()


@pytest.mark.parametrize("name", ["hello_v1", "data_v1", "end_v1"])
def test_device_frames_decode_back_to_the_same_value(name: str) -> None:
    assert decode_device_frame((FRAMES / f"{name}.bin").read_bytes()) == GOLDEN[name]


@pytest.mark.parametrize("name", ["welcome_v1", "ack_v1", "error_v1"])
def test_server_frames_decode_back_to_the_same_value(name: str) -> None:
    assert decode_server_frame((FRAMES / f"{name}.bin").read_bytes()) == GOLDEN[name]


def test_truncated_frame_is_a_bad_frame() -> None:
    with pytest.raises(ProtocolViolation) as info:
        decode_device_frame((FRAMES / "data_v1_truncated.bin").read_bytes())
    assert info.value.code == CloseCode.BAD_FRAME and "truncated" in info.value.reason


def test_unknown_frame_type_is_a_bad_frame() -> None:
    with pytest.raises(ProtocolViolation) as info:
        decode_device_frame((FRAMES / "unknown_type.bin").read_bytes())
    assert info.value.code == CloseCode.BAD_FRAME


def test_golden_hello_uses_the_standard_12_lead_order() -> None:
    hello = GOLDEN["hello_v1"]
    assert isinstance(hello, Hello)
    assert hello.leads == ("I", "II", "III", "aVR", "aVL", "aVF", "V1", "V2", "V3", "V4", "V5", "V6")


def test_the_18_lead_set_is_accepted_in_standard_order() -> None:
    leads = ["I", "II", "III", "aVR", "aVL", "aVF", "V1", "V2", "V3", "V4", "V5", "V6",
             "V7", "V8", "V9", "V3R", "V4R", "V5R"]
    hello = decode_device_frame(msgpack.packb({**GOLDEN["hello_v1"].to_wire(), "leads": leads}))
    assert isinstance(hello, Hello) and len(hello.leads) == 18


@pytest.mark.parametrize("frame", [Data(0, 0, 1, b"\x00\x00"), End(0)])
def test_booleans_are_not_integers(frame: Data | End) -> None:
    wire = frame.to_wire()
    wire["seq"] = True
    with pytest.raises(ProtocolViolation):
        decode_device_frame(msgpack.packb(wire))
