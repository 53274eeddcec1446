// display_filters.js: filters for DISPLAY only (the stored signal, the
// measurements and the report never see them): baseline wander (0.5 Hz
// high-pass), mains (50 Hz notch) and muscle noise (35 Hz low-pass). Each is a
// second-order biquad (RBJ cookbook) run forwards then backwards, so the
// waveform is not shifted in time; each pass starts in the steady state of the
// first sample, so there is no start-up step.

export const BASELINE_HZ = 0.5;
export const MAINS_HZ = 50;
export const MUSCLE_HZ = 35;

/** Biquad coefficients {b0, b1, b2, a1, a2} (a0 normalised to 1). */
export function biquad(kind, f0, fs, q = Math.SQRT1_2) {
  const w = (2 * Math.PI * f0) / fs;
  const cos = Math.cos(w);
  const alpha = Math.sin(w) / (2 * q);
  let b;
  if (kind === "highpass") b = [(1 + cos) / 2, -(1 + cos), (1 + cos) / 2];
  else if (kind === "lowpass") b = [(1 - cos) / 2, 1 - cos, (1 - cos) / 2];
  else if (kind === "notch") b = [1, -2 * cos, 1];
  else throw new Error(`unknown filter ${kind}`);
  const a0 = 1 + alpha;
  return { b0: b[0] / a0, b1: b[1] / a0, b2: b[2] / a0, a1: (-2 * cos) / a0, a2: (1 - alpha) / a0 };
}

function pass(x, c, reverse) {
  const n = x.length;
  const y = new Float32Array(n);
  if (!n) return y;
  const first = reverse ? x[n - 1] : x[0];
  const dc = (c.b0 + c.b1 + c.b2) / (1 + c.a1 + c.a2);
  let z1 = dc * first - c.b0 * first;
  let z2 = c.b2 * first - c.a2 * dc * first;
  for (let k = 0; k < n; k++) {
    const i = reverse ? n - 1 - k : k;
    const v = x[i];
    const out = c.b0 * v + z1;
    z1 = c.b1 * v - c.a1 * out + z2;
    z2 = c.b2 * v - c.a2 * out;
    y[i] = out;
  }
  return y;
}

/** Zero-phase biquad: forwards, then backwards. */
export function filtfilt(x, c) {
  return pass(pass(x, c, false), c, true);
}

/** `x` (mV) with the chosen display filters; `x` itself when none applies. */
export function filterSignal(x, fsHz, { baseline = false, mains = false, muscle = false } = {}) {
  let y = x;
  if (baseline) y = filtfilt(y, biquad("highpass", BASELINE_HZ, fsHz));
  if (mains && fsHz > 2 * MAINS_HZ + 10) y = filtfilt(y, biquad("notch", MAINS_HZ, fsHz, 30));
  if (muscle && fsHz > 2 * MUSCLE_HZ + 10) y = filtfilt(y, biquad("lowpass", MUSCLE_HZ, fsHz));
  return y;
}
