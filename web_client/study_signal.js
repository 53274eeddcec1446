// study_signal.js: the whole signal of a study's recording, at full rate, from
// the reader socket (/ws/reader?from_sample=0, no decimation): the archive
// first, then, for a study still streaming, the live samples. A reconnect
// rejoins from the next missing sample. No DOM.
//
//   const s = new StudySignal(recordingId, { onChange, onState }); s.start();
//   s.mv  -> [Float32Array per lead] (mV), s.n samples, s.meta, s.ended

import { EcgSocket } from "./ecg_socket.js";
import { FrameError, samplesInt32 } from "./frames.js";

export class StudySignal {
  constructor(recording, { onChange = () => {}, onState = () => {} } = {}) {
    this.recording = recording;
    this.onChange = onChange;
    this.onState = onState;
    this.meta = null;
    this.n = 0;
    this.cap = 0;
    this.buf = []; // Float32Array per lead, capacity this.cap
    this.ended = false;
    this.timer = null;
    this.socket = new EcgSocket({
      recording,
      maxFsHz: null,
      fromSample: () => this.n,
      onFrame: (f) => this.onFrame(f),
      onState: (s) => this.onState(s),
    });
  }

  start() {
    this.socket.start();
  }

  stop() {
    this.socket.stop();
    clearTimeout(this.timer);
  }

  /** The samples so far: a Float32Array view per lead. */
  get mv() {
    return this.buf.map((b) => b.subarray(0, this.n));
  }

  grow(need) {
    if (need <= this.cap) return;
    const cap = Math.max(need, this.cap * 2, 4096);
    this.buf = this.buf.map((b) => {
      const nb = new Float32Array(cap);
      nb.set(b.subarray(0, this.n));
      return nb;
    });
    this.cap = cap;
  }

  onFrame(f) {
    if (f.t === "meta") {
      if (!this.meta) {
        this.meta = { fsHz: Number(f.fs_hz), leads: f.leads.slice(), gain: Number(f.gain) || 1, status: f.status };
        this.buf = f.leads.map(() => new Float32Array(0));
        this.cap = 0;
      }
      this.changed();
    } else if (f.t === "samples" && this.meta) {
      const nLeads = this.meta.leads.length;
      let values;
      try {
        values = samplesInt32(f, nLeads);
      } catch (err) {
        if (err instanceof FrameError) return;
        throw err;
      }
      const i0 = Number(f.i0);
      const n = Number(f.n);
      if (i0 + n <= this.n || i0 > this.n) return; // overlap, or a hole (a reconnect fills it)
      this.grow(i0 + n);
      const g = this.meta.gain;
      for (let k = this.n - i0; k < n; k++) {
        for (let lead = 0; lead < nLeads; lead++) this.buf[lead][i0 + k] = values[k * nLeads + lead] / g;
      }
      this.n = i0 + n;
      this.changed();
    } else if (f.t === "end") {
      this.ended = true;
      this.changed(true);
    }
  }

  /** Tell the page, at most every 500 ms while samples pour in. */
  changed(now = false) {
    if (now) {
      clearTimeout(this.timer);
      this.timer = null;
      this.onChange(this);
      return;
    }
    if (this.timer) return;
    this.timer = setTimeout(() => {
      this.timer = null;
      this.onChange(this);
    }, this.n < 1 ? 0 : 500);
  }
}
