// consult_ecg.js: the patient's live ECG beside the consult video (docs/consults.md, "The live
// ECG beside the video"): the consult's recording_id watched over /ws/reader with the same
// chart and socket as the live viewer (ecg_chart.js, ecg_socket.js), one rhythm lead (II).

import { EcgChart } from "./ecg_chart.js";
import { EcgSocket } from "./ecg_socket.js";
import { FrameError, samplesInt32 } from "./frames.js";

const RHYTHM_LEADS = ["II", "MLII", "ECG", "I"];

export class ConsultEcg {
  /** onStatus({state, hr, lead}) after every change worth showing. */
  constructor(canvas, onStatus = () => {}) {
    this.canvas = canvas;
    this.chart = new EcgChart(canvas, { pxPerMm: 3 });
    this.onStatus = onStatus;
    this.recording = null;
    this.socket = null;
    this.meta = null;
    this.hr = null;
    this.lead = "";
  }

  open(recording) {
    if (!recording || String(recording) === this.recording) return;
    this.close();
    this.recording = String(recording);
    this.meta = null;
    this.hr = null;
    this.chart.meta = null;
    this.chart.reset();
    this.chart.layout();
    this.chart.start();
    const socket = new EcgSocket({
      recording: this.recording,
      maxFsHz: 250,
      backlogS: 10,
      onFrame: (frame) => this.socket === socket && this.onFrame(frame),
      onState: (s) => this.socket === socket && this.onStatus({ state: s.state, hr: this.hr, lead: this.lead }),
    });
    this.socket = socket;
    socket.start();
  }

  close() {
    if (this.socket) this.socket.stop();
    this.socket = null;
    this.recording = null;
    this.chart.stop();
  }

  onFrame(frame) {
    switch (frame.t) {
      case "meta": {
        this.meta = frame;
        this.chart.setMeta(frame);
        const idx = RHYTHM_LEADS.map((name) => frame.leads.indexOf(name)).find((k) => k >= 0) ?? 0;
        this.lead = frame.leads[idx] || "";
        this.chart.setVisibleLeads([idx]);
        break;
      }
      case "samples":
        if (!this.meta) return;
        try {
          this.chart.pushSamples(frame.i0, Number(frame.n), samplesInt32(frame, this.meta.leads.length));
        } catch (err) {
          if (!(err instanceof FrameError)) throw err;
        }
        return;
      case "beats":
        this.chart.pushBeats(frame.i);
        this.hr = frame.hr_bpm == null ? null : Number(frame.hr_bpm);
        break;
      default:
        return;
    }
    this.onStatus({ state: "live", hr: this.hr, lead: this.lead });
  }
}
