"""web_client/frames.js decodes msgpack exactly like Python's ``msgpack``.

Each test hands base64-encoded messages to ``tests/web/decode_frames.mjs`` (one
``node`` process per test) and compares its JSON-normalised output with
``msgpack.unpackb`` of the same bytes. Golden frames from
``tests/fixtures/frames/*.bin`` are checked when present; generated messages
cover every msgpack family the protocol can meet.
"""

from __future__ import annotations

import base64
import json
import math
import random
import shutil
import struct
import subprocess
from pathlib import Path
from typing import Any

import msgpack
import pytest

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
RUNNER = HERE / "decode_frames.mjs"
FRAMES_JS = ROOT / "web_client" / "frames.js"
GOLDEN_DIR = ROOT / "tests" / "fixtures" / "frames"
NODE = shutil.which("node")

pytestmark = pytest.mark.skipif(NODE is None, reason="node is not installed")

SAFE = 2**53 - 1
INVALID_GOLDEN_WORDS = ("truncated", "unknown", "invalid", "bad", "corrupt")


def normalise(value: Any) -> Any:
    """Python side of the JSON normalisation done in decode_frames.mjs."""
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return value
    if isinstance(value, int):
        return value if -SAFE <= value <= SAFE else {"$int": str(value)}
    if isinstance(value, float):
        if math.isnan(value):
            return {"$float": "nan"}
        if math.isinf(value):
            return {"$float": "inf" if value > 0 else "-inf"}
        return value
    if isinstance(value, (bytes, bytearray)):
        return {"$bin": base64.b64encode(bytes(value)).decode()}
    if isinstance(value, (list, tuple)):
        return [normalise(v) for v in value]
    if isinstance(value, dict):
        return {k: normalise(v) for k, v in value.items()}
    raise TypeError(f"cannot normalise {type(value)}")


def js_decode(messages: list[bytes], direction: str | None = None) -> list[dict[str, Any]]:
    """Decode each message with frames.js: ``decode`` or ``decodeFrame(direction)``."""
    payload = json.dumps(
        {"direction": direction, "messages": [base64.b64encode(m).decode() for m in messages]}
    )
    assert NODE is not None
    proc = subprocess.run(
        [NODE, str(RUNNER)], input=payload.encode(), capture_output=True, timeout=60, check=False
    )
    assert proc.returncode == 0, proc.stderr.decode()
    results: list[dict[str, Any]] = json.loads(proc.stdout)
    assert len(results) == len(messages)
    return results


def py_decode(message: bytes) -> dict[str, Any]:
    try:
        return {"ok": normalise(msgpack.unpackb(message, raw=False))}
    except Exception as exc:  # noqa: BLE001 - any rejection counts as "error"
        return {"error": repr(exc)}


def assert_same_as_python(messages: list[bytes]) -> None:
    for message, got in zip(messages, js_decode(messages), strict=True):
        want = py_decode(message)
        if "error" in want:
            assert "error" in got, f"{message[:40].hex()}: Python rejects ({want}), JS gave {got}"
        else:
            assert "ok" in got, f"{message[:40].hex()}: JS rejects: {got}"
            # JSON cannot tell 2.0 from 2 or -0.0 from 0; == compares the values.
            assert got["ok"] == want["ok"], message[:40].hex()


def pack(obj: Any, **kwargs: Any) -> bytes:
    return msgpack.packb(obj, use_bin_type=True, **kwargs)


# ---- generated inputs --------------------------------------------------------------

# (description, bytes, expected first byte or None)
FORMATS: list[tuple[str, bytes, int | None]] = [
    ("positive fixint", pack(7), 0x07),
    ("negative fixint", pack(-5), 0xFB),
    ("negative fixint -32", pack(-32), 0xE0),
    ("nil", pack(None), 0xC0),
    ("false", pack(False), 0xC2),
    ("true", pack(True), 0xC3),
    ("uint8", pack(200), 0xCC),
    ("uint16", pack(60000), 0xCD),
    ("uint32", pack(4_000_000_000), 0xCE),
    ("uint64 safe", pack(2**53 - 1), 0xCF),
    ("uint64 2^53", pack(2**53), 0xCF),
    ("uint64 big", pack(2**63 + 5), 0xCF),
    ("uint64 max", pack(2**64 - 1), 0xCF),
    ("int8", pack(-100), 0xD0),
    ("int16", pack(-30000), 0xD1),
    ("int32", pack(-2_000_000_000), 0xD2),
    ("int64", pack(-(2**40)), 0xD3),
    ("int64 unsafe", pack(-(2**53) - 1), 0xD3),
    ("int64 min", pack(-(2**63)), 0xD3),
    ("float64", pack(3.141592653589793), 0xCB),
    ("float64 tiny", pack(5e-324), 0xCB),
    ("float64 -0.0", pack(-0.0), 0xCB),
    ("float64 nan", pack(float("nan")), 0xCB),
    ("float64 inf", pack(float("inf")), 0xCB),
    ("float64 -inf", pack(float("-inf")), 0xCB),
    ("float32", pack(0.1, use_single_float=True), 0xCA),
    ("float32 360", pack(360.0, use_single_float=True), 0xCA),
    ("float32 raw", b"\xca" + struct.pack(">f", -1.5e-7), 0xCA),
    ("fixstr empty", pack(""), 0xA0),
    ("fixstr cjk", pack("导联"), 0xA6),
    ("str8", pack("x" * 40), 0xD9),
    ("str8 cjk", pack("心电图" * 12), 0xD9),
    ("str16", pack("V1" * 300), 0xDA),
    ("str32", pack("a" * 70000), 0xDB),
    ("str8 emoji", pack("🫀" * 10), 0xD9),
    ("bin8 empty", pack(b""), 0xC4),
    ("bin8", pack(bytes(range(200))), 0xC4),
    ("bin16", pack(bytes(range(256)) * 10), 0xC5),
    ("bin32", pack(b"\x01\x02\x03" * 30000), 0xC6),
    ("fixarray", pack([1, "a", None, True, 2.5]), 0x95),
    ("array16", pack(list(range(-8, 40))), 0xDC),
    ("array32", pack(list(range(70000))), 0xDD),
    ("nested lists", pack([[1, [2, [3, [4, []]]]], [b"\x00"], [[None]]]), 0x93),
    ("fixmap", pack({"t": "gap", "dropped": 3}), 0x82),
    ("map16", pack({f"k{i}": i for i in range(20)}), 0xDE),
    ("map32", pack({f"k{i}": i for i in range(66000)}), 0xDF),
    ("empty map", pack({}), 0x80),
    ("nested map", pack({"a": {"b": {"c": [1, {"d": b"xy"}]}}}), 0x81),
    ("proto key", pack({"__proto__": 1, "constructor": {"x": 2}}), 0x82),
    ("duplicate keys, last wins", b"\x82\xa1a\x01\xa1a\x02", 0x82),
    ("non-minimal uint", b"\xcd\x00\x05", 0xCD),
    ("non-minimal str", b"\xda\x00\x02hi", 0xDA),
    ("non-minimal map", b"\xde\x00\x01\xa1t\xa3end", 0xDE),
    ("non-minimal array", b"\xdd\x00\x00\x00\x02\x01\x02", 0xDD),
]


@pytest.mark.parametrize(("name", "message", "first"), FORMATS, ids=[f[0] for f in FORMATS])
def test_input_uses_intended_format(name: str, message: bytes, first: int | None) -> None:
    """Guard the generator: each case really exercises the msgpack type it names."""
    assert first is None or message[0] == first, (name, hex(message[0]))


def test_every_msgpack_family_matches_python() -> None:
    assert_same_as_python([m for _, m, _ in FORMATS])


def test_protocol_shaped_frames_match_python() -> None:
    samples = struct.pack("<6i", 10, -20, 30, -40, 2**31 - 1, -(2**31))
    frames = [
        {
            "t": "meta", "recording": "rec-101-abc", "fs_hz": 360.0, "display_fs_hz": 180.0,
            "decimation": 2, "leads": ["MLII", "V1"], "gain": 200.0, "sample_type": "int16",
            "status": "live",
        },
        {"t": "samples", "seq": 12, "i0": 2880, "n": 3, "d": samples},
        {"t": "beats", "i": [5760, 6050, 2**40], "hr_bpm": 72.5},
        {"t": "beats", "i": [], "hr_bpm": None},
        {"t": "gap", "dropped": 4, "from_seq": 10, "to_seq": 13},
        {"t": "end", "n_samples": 650000},
        {"t": "error", "code": 4010, "reason": "too slow"},
        {
            "t": "hello", "v": 1, "token": "tok", "recording": "abcdefgh", "patient": "",
            "fs_hz": 500, "leads": "I II III aVR aVL aVF V1 V2 V3 V4 V5 V6 V7 V8 V9 V3R V4R V5R".split(),
            "gain": 1000.0, "sample_type": "int16", "block": 50,
        },
    ]
    messages = [pack(f) for f in frames] + [pack(f, use_single_float=True) for f in frames]
    assert_same_as_python(messages)


def _random_value(rng: random.Random, depth: int) -> Any:
    kinds = ["int", "bigint", "float", "str", "bytes", "bool", "nil"]
    if depth < 4:
        kinds += ["list", "map"] * 2
    kind = rng.choice(kinds)
    if kind == "int":
        return rng.choice([rng.randint(-40, 200), rng.randint(-(2**31), 2**32), rng.randint(-SAFE, SAFE)])
    if kind == "bigint":
        return rng.choice([rng.randint(-(2**63), -SAFE - 1), rng.randint(SAFE + 1, 2**64 - 1)])
    if kind == "float":
        return rng.choice([rng.uniform(-1e6, 1e6), rng.random() * 1e-300, float(rng.randint(-5, 5))])
    if kind == "str":
        alphabet = "abcXYZ019 _-导联心电ñé🫀"
        return "".join(rng.choice(alphabet) for _ in range(rng.choice([0, 3, 31, 40, 300])))
    if kind == "bytes":
        return rng.randbytes(rng.choice([0, 1, 255, 256, 1000]))
    if kind == "bool":
        return rng.random() < 0.5
    if kind == "nil":
        return None
    if kind == "list":
        return [_random_value(rng, depth + 1) for _ in range(rng.choice([0, 2, 15, 16, 20]))]
    return {
        f"k{j}_{rng.randint(0, 999)}": _random_value(rng, depth + 1)
        for j in range(rng.choice([0, 1, 15, 16, 17]))
    }


def test_random_structures_match_python() -> None:
    rng = random.Random(20240601)
    values = [_random_value(rng, 0) for _ in range(150)]
    messages = [pack(v, use_single_float=(i % 3 == 0)) for i, v in enumerate(values)]
    assert_same_as_python(messages)


BAD_MESSAGES: list[tuple[str, bytes]] = [
    ("empty", b""),
    ("never-used 0xc1", b"\xc1"),
    ("truncated uint32", b"\xce\x00\x01"),
    ("truncated str", b"\xa5abc"),
    ("truncated bin16 length", b"\xc5\x01"),
    ("truncated map", b"\x82\xa1t\xa3gap"),
    ("array claims huge length", b"\xdd\xff\xff\xff\xff\x01"),
    ("map claims huge length", b"\xdf\x7f\xff\xff\xff"),
    ("trailing bytes", pack({"t": "end", "n_samples": 1}) + b"\x00"),
    ("two values", pack(1) + pack(2)),
    ("invalid utf-8", b"\xa2\xff\xfe"),
    ("lone surrogate utf-8", b"\xa3\xed\xa0\x80"),
    ("int map key", b"\x81\x01\x02"),
    ("nil map key", b"\x81\xc0\x02"),
    ("list map key", b"\x81\x90\x02"),
    ("truncated float64", b"\xcb\x40\x09"),
]


@pytest.mark.parametrize(("name", "message"), BAD_MESSAGES, ids=[b[0] for b in BAD_MESSAGES])
def test_python_rejects_bad_message(name: str, message: bytes) -> None:
    """Guard the generator: these really are invalid for Python's msgpack."""
    assert "error" in py_decode(message), name


def test_bad_messages_rejected_like_python() -> None:
    results = js_decode([m for _, m in BAD_MESSAGES])
    for (name, _), got in zip(BAD_MESSAGES, results, strict=True):
        assert "error" in got, f"{name}: JS accepted {got}"
        assert got["code"] == 4000, (name, got)


def test_ext_types_are_rejected() -> None:
    """The protocol has no ext types; Python would return ExtType, frames.js refuses."""
    messages = [pack(msgpack.ExtType(5, b"abcd")), b"\xd4\x01\x00", b"\xc7\x03\x02abc"]
    for got in js_decode(messages):
        assert got.get("code") == 4000, got


# ---- frame validation ---------------------------------------------------------------

VALID_READER = [
    {"t": "meta", "recording": "r1234567", "fs_hz": 360, "display_fs_hz": 180.0, "decimation": 2,
     "leads": ["MLII", "V1"], "gain": 200, "sample_type": "int16", "status": "live"},
    {"t": "samples", "seq": 0, "i0": 0, "n": 0, "d": b""},
    {"t": "beats", "i": [1, 2**60], "hr_bpm": None},
    {"t": "beats", "i": [], "hr_bpm": 61.0},
    {"t": "gap", "dropped": 2, "from_seq": 3, "to_seq": 4},
    {"t": "end", "n_samples": 0},
    {"t": "error", "code": 4010, "reason": "too slow"},
    {"t": "end", "n_samples": 5, "future_key": [1, 2]},
]

INVALID_READER = [
    ("not a map", [1, 2]),
    ("bin not map", b"abc"),
    ("no t", {"n_samples": 1}),
    ("t not str", {"t": 1}),
    ("unknown t", {"t": "hello"}),
    ("proto t", {"t": "__proto__"}),
    ("toString t", {"t": "toString"}),
    ("missing key", {"t": "gap", "dropped": 1, "from_seq": 1}),
    ("float for int", {"t": "end", "n_samples": 1.5}),
    ("bool for int", {"t": "end", "n_samples": True}),
    ("str for bin", {"t": "samples", "seq": 0, "i0": 0, "n": 0, "d": "abc"}),
    ("nil hr not allowed for i", {"t": "beats", "i": None, "hr_bpm": None}),
    ("str in ints", {"t": "beats", "i": [1, "2"], "hr_bpm": None}),
    ("hr str", {"t": "beats", "i": [], "hr_bpm": "72"}),
    ("leads not strs", {"t": "meta", "recording": "r", "fs_hz": 1, "display_fs_hz": 1,
                        "decimation": 1, "leads": ["I", 2], "gain": 1, "sample_type": "int16",
                        "status": "live"}),
]


def test_valid_reader_frames_accepted() -> None:
    results = js_decode([pack(f) for f in VALID_READER], direction="reader")
    for frame, got in zip(VALID_READER, results, strict=True):
        assert got.get("ok") == normalise(frame), (frame, got)


def test_invalid_reader_frames_rejected() -> None:
    results = js_decode([pack(f) for _, f in INVALID_READER], direction="reader")
    for (name, _), got in zip(INVALID_READER, results, strict=True):
        assert got.get("code") == 4000, (name, got)


def test_device_direction_frames() -> None:
    ok = [
        {"t": "hello", "v": 1, "token": "x", "recording": "abcdefgh", "patient": "", "fs_hz": 360.0,
         "leads": ["MLII", "V1"], "gain": 200.0, "sample_type": "int16", "block": 36},
        {"t": "data", "seq": 0, "i0": 0, "n": 1, "d": b"\x00\x00\x00\x00"},
        {"t": "end", "seq": 10},
    ]
    got = js_decode([pack(f) for f in ok], direction="device")
    assert all("ok" in g for g in got), got
    # A reader `end` is not a device `end`.
    bad = js_decode([pack({"t": "end", "n_samples": 3}), pack({"t": "meta"})], direction="device")
    assert all(g.get("code") == 4000 for g in bad), bad
    server = js_decode(
        [pack({"t": "welcome", "v": 1, "recording": "abcdefgh", "resume_seq": 0, "window": 64,
               "max_frame_bytes": 65536}), pack({"t": "ack", "seq": 3})],
        direction="server",
    )
    assert all("ok" in g for g in server), server


def _run_module(source: str) -> Any:
    script = f'import * as frames from "{FRAMES_JS.as_uri()}";\n{source}'
    assert NODE is not None
    proc = subprocess.run(
        [NODE, "--input-type=module", "-e", script], capture_output=True, timeout=60, check=False
    )
    assert proc.returncode == 0, proc.stderr.decode()
    return json.loads(proc.stdout)


def test_samples_int32_unaligned_little_endian() -> None:
    """samples.d sits at an odd offset inside the message; values are int32 LE sample-major."""
    values = [1, -1, 2**31 - 1, -(2**31), 123456, -654321]  # n=3 samples x 2 leads
    message = pack({"t": "samples", "seq": 1, "i0": 7, "n": 3, "d": struct.pack("<6i", *values)})
    b64 = base64.b64encode(message).decode()
    out = _run_module(
        f"""
        const f = frames.decodeFrame(Buffer.from("{b64}", "base64"), "reader");
        const v = frames.samplesInt32(f, 2);
        let wrong = null;
        try {{ frames.samplesInt32(f, 3); }} catch (e) {{ wrong = e.code; }}
        process.stdout.write(JSON.stringify({{v: Array.from(v), wrong}}));
        """
    )
    assert out == {"v": values, "wrong": 4007}


# ---- golden files from the streaming engineer ---------------------------------------

GOLDEN = sorted(GOLDEN_DIR.glob("*.bin")) if GOLDEN_DIR.is_dir() else []


@pytest.mark.skipif(not GOLDEN, reason="no golden frames in tests/fixtures/frames yet")
def test_golden_frames_decode_like_python() -> None:
    messages = [p.read_bytes() for p in GOLDEN]
    results = js_decode(messages)
    for path, message, got in zip(GOLDEN, messages, results, strict=True):
        want = py_decode(message)
        if "error" in want:
            assert "error" in got, f"{path.name}: Python rejects, frames.js accepted {got}"
        else:
            assert got.get("ok") == want["ok"], path.name


@pytest.mark.skipif(not GOLDEN, reason="no golden frames in tests/fixtures/frames yet")
def test_golden_frames_validate() -> None:
    """Valid golden frames pass one direction's spec; *_truncated/_unknown_* ones none."""
    messages = [p.read_bytes() for p in GOLDEN]
    verdicts = {d: js_decode(messages, direction=d) for d in ("reader", "device", "server")}
    for k, path in enumerate(GOLDEN):
        accepted = [d for d, res in verdicts.items() if "ok" in res[k]]
        if any(word in path.stem for word in INVALID_GOLDEN_WORDS):
            assert not accepted, f"{path.name} should be rejected, accepted as {accepted}"
        else:
            assert accepted, f"{path.name} rejected: {[verdicts[d][k] for d in verdicts]}"


def test_streaming_frames_mirror() -> None:
    """Every frame class of streaming/frames.py passes frames.js validation in its direction."""
    make_frames = pytest.importorskip("tests.fixtures.make_frames")
    sf = pytest.importorskip("streaming.frames")
    direction_of = {
        sf.Hello: "device", sf.Data: "device", sf.End: "device",
        sf.Welcome: "server", sf.Ack: "server",
        sf.Meta: "reader", sf.Samples: "reader", sf.Beats: "reader", sf.Gap: "reader",
        sf.EndOfRecording: "reader", sf.Error: "reader", sf.DeviceStatus: "reader",
    }
    by_direction: dict[str, list[Any]] = {}
    for frame in make_frames.GOLDEN.values():
        by_direction.setdefault(direction_of[type(frame)], []).append(frame)
    extra = [sf.Beats(i=(), hr_bpm=None), sf.Error(code=4010, reason="too slow")]
    by_direction["reader"].extend(extra)
    by_direction.setdefault("server", []).append(sf.Error(code=4008, reason="gap"))
    for direction, frames in by_direction.items():
        results = js_decode([sf.encode(f) for f in frames], direction=direction)
        for frame, got in zip(frames, results, strict=True):
            assert got.get("ok") == normalise(frame.to_wire()), (direction, frame, got)
