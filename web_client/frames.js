// frames.js: msgpack decoding and frame validation for the teleconsult ECG
// protocol, version 1 (docs/protocol.md). JS mirror of streaming/frames.py.
//
// Pure functions, no network, no DOM. Every WebSocket message is one msgpack
// map with string keys; key `t` names the frame type.
//
//   decode(bytes)                  -> plain JS value (like Python msgpack.unpackb)
//   decodeFrame(bytes, direction)  -> validated frame object, or throws FrameError
//   samplesInt32(frame, nLeads)    -> Int32Array (n * nLeads, sample-major)
//
// Decoded types: nil -> null, bool -> boolean, int -> number (BigInt outside
// +-2^53), float32/64 -> number, str -> string, bin -> Uint8Array,
// array -> Array, map -> null-prototype object (string keys only). Ext types
// are not used by the protocol and are rejected, as are trailing bytes.

/** Close code for any malformed frame (protocol.md, "bad frame"). */
export const BAD_FRAME = 4000;
/** Close code for samples whose byte length does not match n and the leads. */
export const BAD_DATA = 4007;
export const PROTOCOL_VERSION = 1;

/** A frame that cannot be decoded or does not match its spec. */
export class FrameError extends Error {
  constructor(message, code = BAD_FRAME) {
    super(message);
    this.name = "FrameError";
    this.code = code;
  }
}

const MAX_DEPTH = 32;
const utf8 = new TextDecoder("utf-8", { fatal: true });

function toBytes(input) {
  if (input instanceof Uint8Array) return input;
  if (input instanceof ArrayBuffer) return new Uint8Array(input);
  if (ArrayBuffer.isView(input)) {
    return new Uint8Array(input.buffer, input.byteOffset, input.byteLength);
  }
  throw new FrameError("message is not binary", 1003);
}

class Reader {
  constructor(bytes) {
    this.u8 = bytes;
    this.dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    this.pos = 0;
  }

  need(n) {
    if (this.pos + n > this.u8.length) throw new FrameError("truncated msgpack");
    const at = this.pos;
    this.pos += n;
    return at;
  }

  /** Guard container sizes: every element takes at least one byte. */
  count(n, perItem) {
    if (n * perItem > this.u8.length - this.pos) throw new FrameError("truncated msgpack");
    return n;
  }

  u8at() { return this.u8[this.need(1)]; }
  u16() { return this.dv.getUint16(this.need(2)); }
  u32() { return this.dv.getUint32(this.need(4)); }

  bytes(n) {
    const at = this.need(n);
    return this.u8.slice(at, at + n);
  }

  str(n) {
    const at = this.need(n);
    try {
      return utf8.decode(this.u8.subarray(at, at + n));
    } catch {
      throw new FrameError("invalid UTF-8 in str");
    }
  }
}

function bigToNumber(v) {
  return v >= BigInt(Number.MIN_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER)
    ? Number(v)
    : v;
}

function readArray(r, n, depth) {
  r.count(n, 1);
  const out = new Array(n);
  for (let k = 0; k < n; k++) out[k] = readValue(r, depth + 1);
  return out;
}

function readMap(r, n, depth) {
  r.count(n, 2);
  const out = Object.create(null);
  for (let k = 0; k < n; k++) {
    const key = readValue(r, depth + 1);
    if (typeof key !== "string") throw new FrameError("map key is not a str");
    out[key] = readValue(r, depth + 1);
  }
  return out;
}

function readValue(r, depth) {
  if (depth > MAX_DEPTH) throw new FrameError("msgpack nested too deeply");
  const b = r.u8at();
  if (b <= 0x7f) return b;
  if (b >= 0xe0) return b - 0x100;
  if (b >= 0x80 && b <= 0x8f) return readMap(r, b & 0x0f, depth);
  if (b >= 0x90 && b <= 0x9f) return readArray(r, b & 0x0f, depth);
  if (b >= 0xa0 && b <= 0xbf) return r.str(b & 0x1f);
  switch (b) {
    case 0xc0: return null;
    case 0xc2: return false;
    case 0xc3: return true;
    case 0xc4: return r.bytes(r.u8at());
    case 0xc5: return r.bytes(r.u16());
    case 0xc6: return r.bytes(r.u32());
    case 0xca: return r.dv.getFloat32(r.need(4));
    case 0xcb: return r.dv.getFloat64(r.need(8));
    case 0xcc: return r.u8at();
    case 0xcd: return r.u16();
    case 0xce: return r.u32();
    case 0xcf: return bigToNumber(r.dv.getBigUint64(r.need(8)));
    case 0xd0: return r.dv.getInt8(r.need(1));
    case 0xd1: return r.dv.getInt16(r.need(2));
    case 0xd2: return r.dv.getInt32(r.need(4));
    case 0xd3: return bigToNumber(r.dv.getBigInt64(r.need(8)));
    case 0xd9: return r.str(r.u8at());
    case 0xda: return r.str(r.u16());
    case 0xdb: return r.str(r.u32());
    case 0xdc: return readArray(r, r.u16(), depth);
    case 0xdd: return readArray(r, r.u32(), depth);
    case 0xde: return readMap(r, r.u16(), depth);
    case 0xdf: return readMap(r, r.u32(), depth);
    default:
      // 0xc1 (never used), ext 0xc7-0xc9 and fixext 0xd4-0xd8.
      throw new FrameError(`unsupported msgpack type 0x${b.toString(16)}`);
  }
}

/**
 * Decode exactly one msgpack value from `input` (ArrayBuffer or a typed array).
 * Throws FrameError on truncated, trailing or unsupported data.
 */
export function decode(input) {
  const r = new Reader(toBytes(input));
  const value = readValue(r, 0);
  if (r.pos !== r.u8.length) throw new FrameError("extra bytes after msgpack value");
  return value;
}

// ---- frame specs -----------------------------------------------------------
// Key types: int, num (int or float), str, bin, bool, strs (list of str),
// ints (list of int); a trailing "?" also allows nil.

/** Frames the server sends to a reader (`/ws/reader`). */
export const READER_FRAMES = Object.freeze({
  meta: {
    recording: "str", fs_hz: "num", display_fs_hz: "num", decimation: "int",
    leads: "strs", gain: "num", sample_type: "str", status: "str",
  },
  samples: { seq: "int", i0: "int", n: "int", d: "bin" },
  beats: { i: "ints", hr_bpm: "num?" },
  gap: { dropped: "int", from_seq: "int", to_seq: "int" },
  status: { connected: "bool" },
  end: { n_samples: "int" },
  error: { code: "int", reason: "str" },
});

/** Frames a device sends to the server (`/ws/device`). */
export const DEVICE_FRAMES = Object.freeze({
  hello: {
    v: "int", token: "str", recording: "str", patient: "str", fs_hz: "num",
    leads: "strs", gain: "num", sample_type: "str", block: "int",
  },
  data: { seq: "int", i0: "int", n: "int", d: "bin" },
  end: { seq: "int" },
});

/** Frames the server sends to a device (`/ws/device`). */
export const SERVER_TO_DEVICE_FRAMES = Object.freeze({
  welcome: {
    v: "int", recording: "str", resume_seq: "int", window: "int", max_frame_bytes: "int",
  },
  ack: { seq: "int" },
  error: { code: "int", reason: "str" },
});

export const DIRECTIONS = Object.freeze({
  reader: READER_FRAMES,
  device: DEVICE_FRAMES,
  server: SERVER_TO_DEVICE_FRAMES,
});

const isInt = (v) => (typeof v === "number" && Number.isInteger(v)) || typeof v === "bigint";

const CHECKS = {
  int: isInt,
  num: (v) => isInt(v) || (typeof v === "number"),
  str: (v) => typeof v === "string",
  bin: (v) => v instanceof Uint8Array,
  bool: (v) => typeof v === "boolean",
  strs: (v) => Array.isArray(v) && v.every((x) => typeof x === "string"),
  ints: (v) => Array.isArray(v) && v.every(isInt),
};

function checkKey(frame, key, type) {
  const nullable = type.endsWith("?");
  const base = nullable ? type.slice(0, -1) : type;
  if (!(key in frame)) throw new FrameError(`${frame.t}: missing key ${key}`);
  const v = frame[key];
  if (v === null && nullable) return;
  if (!CHECKS[base](v)) throw new FrameError(`${frame.t}: key ${key} is not ${base}`);
}

/**
 * Check a decoded value against the frame specs of `direction`
 * ("reader", "device" or "server"). Returns the frame; extra keys are kept.
 */
export function validateFrame(frame, direction = "reader") {
  const specs = DIRECTIONS[direction];
  if (!specs) throw new TypeError(`unknown direction ${direction}`);
  if (frame === null || typeof frame !== "object" || Array.isArray(frame) || frame instanceof Uint8Array) {
    throw new FrameError("frame is not a map");
  }
  if (typeof frame.t !== "string") throw new FrameError("frame has no str key t");
  const spec = Object.hasOwn(specs, frame.t) ? specs[frame.t] : undefined;
  if (!spec) throw new FrameError(`unknown frame type ${JSON.stringify(frame.t)}`);
  for (const [key, type] of Object.entries(spec)) checkKey(frame, key, type);
  return frame;
}

/** decode() + validateFrame(). */
export function decodeFrame(input, direction = "reader") {
  return validateFrame(decode(input), direction);
}

/**
 * The int32 little-endian, sample-major samples of a reader `samples` frame
 * (or a device `data` frame with sample_type int32) as an Int32Array of
 * n * nLeads values: out[k * nLeads + lead].
 */
export function samplesInt32(frame, nLeads) {
  const n = Number(frame.n);
  const d = frame.d;
  if (!(n >= 0) || d.length !== n * nLeads * 4) {
    throw new FrameError(`samples: ${d.length} bytes for n=${n} and ${nLeads} leads`, BAD_DATA);
  }
  const dv = new DataView(d.buffer, d.byteOffset, d.byteLength);
  const out = new Int32Array(n * nLeads);
  for (let k = 0; k < out.length; k++) out[k] = dv.getInt32(k * 4, true);
  return out;
}
