// notify_socket.js: the notifications socket GET /ws/notify (docs/reporting.md):
// JSON text messages; signed reports for village doctors, worklist changes for
// the county. Reconnects with backoff (the server re-sends unacknowledged
// reports on every connect, so nothing is lost while away). No DOM.
//
//   const n = new NotifySocket({ onMessage, onState }); n.start(); n.send({...}); n.stop();

export class NotifySocket {
  constructor({ onMessage, onState = () => {}, backoffMinMs = 500, backoffMaxMs = 15000 }) {
    this.onMessage = onMessage;
    this.onState = onState;
    this.backoffMinMs = backoffMinMs;
    this.backoffMaxMs = backoffMaxMs;
    this.ws = null;
    this.attempt = 0;
    this.timer = null;
    this.stopped = true;
    this.outbox = []; // messages sent while disconnected
  }

  start() {
    if (!this.stopped) return;
    this.stopped = false;
    this.connect();
  }

  stop() {
    this.stopped = true;
    clearTimeout(this.timer);
    if (this.ws) {
      const ws = this.ws;
      this.ws = null;
      ws.onopen = ws.onmessage = ws.onclose = ws.onerror = null;
      ws.close(1000);
    }
    this.outbox = [];
  }

  get open() {
    return Boolean(this.ws && this.ws.readyState === WebSocket.OPEN);
  }

  /** Send a JSON message now, or once connected. */
  send(message) {
    if (this.open) this.ws.send(JSON.stringify(message));
    else this.outbox.push(message);
  }

  connect() {
    if (this.stopped) return;
    const scheme = location.protocol === "https:" ? "wss:" : "ws:";
    const ws = new WebSocket(`${scheme}//${location.host}/ws/notify`);
    this.ws = ws;
    this.onState({ state: "connecting" });
    ws.onopen = () => {
      this.attempt = 0;
      this.onState({ state: "open" });
      const pending = this.outbox;
      this.outbox = [];
      for (const m of pending) ws.send(JSON.stringify(m));
    };
    ws.onmessage = (ev) => {
      if (ws !== this.ws || typeof ev.data !== "string") return;
      let msg;
      try {
        msg = JSON.parse(ev.data);
      } catch {
        return;
      }
      this.onMessage(msg);
    };
    ws.onclose = (ev) => {
      if (ws !== this.ws) return;
      this.ws = null;
      if (this.stopped) return;
      if (ev.code === 4001) {
        this.stopped = true;
        this.onState({ state: "closed", code: 4001 });
        return;
      }
      const cap = Math.min(this.backoffMaxMs, this.backoffMinMs * 2 ** this.attempt);
      this.attempt += 1;
      const delayMs = Math.round(cap * (0.5 + Math.random() * 0.5));
      this.onState({ state: "reconnecting", delayMs });
      this.timer = setTimeout(() => this.connect(), delayMs);
    };
  }
}
