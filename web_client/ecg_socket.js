// ecg_socket.js: the reader WebSocket (/ws/reader) for one recording.
// Decodes and validates frames (frames.js) and hands them on; reconnects with
// exponential backoff and rejoins with a backlog. No drawing, no DOM.
//
//   const s = new EcgSocket({ recording, onFrame, onState });
//   s.start();  ...  s.stop();
//
// onFrame(frame) gets every validated server frame (meta, samples, beats, gap,
// end, error) in order, synchronously from the socket's message event; keep it
// cheap (the chart only copies samples into its buffers and draws later).
// onState(state) gets {state: "connecting"|"live"|"reconnecting"|"closed", ...}.

import { decodeFrame, FrameError } from "./frames.js";

/** Close codes after which reconnecting cannot help (protocol.md error table). */
export const TERMINAL_CODES = Object.freeze(new Set([1000, 1003, 4001, 4003, 4004, 4005]));

export const DEFAULTS = Object.freeze({
  maxFsHz: 250,
  backlogS: 10,
  backoffMinMs: 500,
  backoffMaxMs: 15000,
  /** A connection open this long resets the backoff. */
  stableMs: 5000,
  /** No frame for this long: assume a dead TCP connection and rejoin. */
  idleTimeoutMs: 30000,
});

/** ws(s)://host/ws/reader?… for the page's own origin. */
export function readerUrl(recording, { maxFsHz, backlogS, fromSample } = {}, loc = location) {
  const scheme = loc.protocol === "https:" ? "wss:" : "ws:";
  const q = new URLSearchParams({ recording });
  if (maxFsHz != null) q.set("max_fs_hz", String(maxFsHz));
  if (backlogS != null) q.set("backlog_s", String(backlogS));
  if (fromSample != null) q.set("from_sample", String(fromSample));
  return `${scheme}//${loc.host}/ws/reader?${q}`;
}

export class EcgSocket {
  constructor({ recording, onFrame, onState = () => {}, ...options }) {
    this.recording = recording;
    this.onFrame = onFrame;
    this.onState = onState;
    this.opts = { ...DEFAULTS, ...options };
    this.ws = null;
    this.attempt = 0;
    this.retryTimer = null;
    this.idleTimer = null;
    this.stopped = true;
    this.ended = false;
    this.lastError = null;
    this.openedAt = 0;
    this.onOnline = () => {
      if (this.retryTimer !== null) this.reconnectNow();
    };
  }

  start() {
    this.stopped = false;
    this.ended = false;
    addEventListener("online", this.onOnline);
    this.connect();
  }

  /** Close for good (page left the viewer). */
  stop() {
    this.stopped = true;
    removeEventListener("online", this.onOnline);
    clearTimeout(this.retryTimer);
    clearTimeout(this.idleTimer);
    this.retryTimer = null;
    if (this.ws) {
      const ws = this.ws;
      this.ws = null;
      ws.onopen = ws.onmessage = ws.onclose = ws.onerror = null;
      if (ws.readyState <= WebSocket.OPEN) ws.close(1000);
    }
  }

  reconnectNow() {
    clearTimeout(this.retryTimer);
    this.retryTimer = null;
    this.connect();
  }

  connect() {
    if (this.stopped) return;
    this.lastError = null;
    this.onState({ state: "connecting", attempt: this.attempt });
    // fromSample (a number, or a function giving the next sample wanted, for
    // rejoining where a whole-recording reader left off) replaces the backlog.
    const from = typeof this.opts.fromSample === "function" ? this.opts.fromSample() : this.opts.fromSample;
    const url = readerUrl(this.recording, {
      maxFsHz: this.opts.maxFsHz,
      backlogS: from == null ? this.opts.backlogS : null,
      fromSample: from,
    });
    const ws = new WebSocket(url);
    ws.binaryType = "arraybuffer";
    this.ws = ws;
    ws.onopen = () => {
      this.openedAt = performance.now();
      this.touch();
    };
    ws.onmessage = (ev) => this.handleMessage(ws, ev.data);
    ws.onclose = (ev) => this.handleClose(ws, ev.code, ev.reason);
    // onerror is always followed by onclose, which decides what to do.
  }

  handleMessage(ws, data) {
    if (ws !== this.ws) return;
    this.touch();
    let frame;
    try {
      frame = decodeFrame(data, "reader");
    } catch (err) {
      if (!(err instanceof FrameError)) throw err;
      console.warn("teleconsult: bad frame from server:", err.message);
      this.lastError = { code: 4000, reason: err.message };
      this.abandon(ws, 4000, "bad frame");
      return;
    }
    if (frame.t === "meta") this.onState({ state: "live", status: frame.status });
    if (frame.t === "end") this.ended = true;
    if (frame.t === "error") this.lastError = { code: Number(frame.code), reason: frame.reason };
    this.onFrame(frame);
  }

  handleClose(ws, code, reason) {
    if (ws !== this.ws) return;
    clearTimeout(this.idleTimer);
    this.ws = null;
    if (this.stopped) return;
    const err = this.lastError;
    const closeCode = err && err.code >= 4000 ? err.code : code;
    const closeReason = (err && err.reason) || reason;
    if (this.ended || TERMINAL_CODES.has(closeCode)) {
      this.stopped = true;
      this.onState({ state: "closed", code: closeCode, reason: closeReason, ended: this.ended });
      return;
    }
    const opened = this.openedAt > 0;
    if (opened && performance.now() - this.openedAt >= this.opts.stableMs) this.attempt = 0;
    this.openedAt = 0;
    const cap = Math.min(this.opts.backoffMaxMs, this.opts.backoffMinMs * 2 ** this.attempt);
    const delayMs = Math.round(cap * (0.5 + Math.random() * 0.5));
    this.attempt += 1;
    // opened=false: the upgrade itself failed (maybe an HTTP 401/403/404, which
    // browsers report only as 1006); the page may check its session then.
    this.onState({ state: "reconnecting", code: closeCode, reason: closeReason, delayMs, opened });
    this.retryTimer = setTimeout(() => {
      this.retryTimer = null;
      this.connect();
    }, delayMs);
  }

  /** Restart the idle watchdog after any sign of life. */
  touch() {
    clearTimeout(this.idleTimer);
    this.idleTimer = setTimeout(() => {
      if (this.ws) this.abandon(this.ws, 4000, "idle");
    }, this.opts.idleTimeoutMs);
  }

  /** Close `ws` without waiting for the closing handshake (it may be dead). */
  abandon(ws, code, reason) {
    ws.onopen = ws.onmessage = ws.onclose = ws.onerror = null;
    try {
      ws.close(4000, reason); // browsers only send 1000 or 3000-4999
    } catch {
      // already closing
    }
    this.handleClose(ws, code, reason);
  }
}
