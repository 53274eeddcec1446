// Test helper: decode msgpack messages with web_client/frames.js.
// stdin: JSON {"direction": "reader"|null, "messages": [base64, ...]}
// stdout: JSON list, one {"ok": value} or {"error": message, "code": int} per message.
// Values are JSON-normalised the same way as tests/web/test_frames_js.py does it:
// bytes -> {"$bin": base64}, ints outside +-2^53 -> {"$int": "decimal"},
// NaN/+-Infinity -> {"$float": "nan"|"inf"|"-inf"}.
import { decode, decodeFrame } from "../../web_client/frames.js";

function normalise(v) {
  if (v instanceof Uint8Array) return { $bin: Buffer.from(v).toString("base64") };
  if (typeof v === "bigint") return { $int: v.toString() };
  if (typeof v === "number" && !Number.isFinite(v)) {
    return { $float: Number.isNaN(v) ? "nan" : v > 0 ? "inf" : "-inf" };
  }
  if (Array.isArray(v)) return v.map(normalise);
  if (v !== null && typeof v === "object") {
    const out = Object.create(null); // keeps a "__proto__" key as data
    for (const k of Object.keys(v)) out[k] = normalise(v[k]);
    return out;
  }
  return v;
}

const chunks = [];
for await (const c of process.stdin) chunks.push(c);
const { direction, messages } = JSON.parse(Buffer.concat(chunks).toString("utf8"));
const results = messages.map((b64) => {
  const bytes = new Uint8Array(Buffer.from(b64, "base64"));
  try {
    return { ok: normalise(direction ? decodeFrame(bytes, direction) : decode(bytes)) };
  } catch (e) {
    return { error: String(e.message), code: e.code ?? null };
  }
});
process.stdout.write(JSON.stringify(results));
