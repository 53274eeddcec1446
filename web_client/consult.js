// consult.js: the browser side of a video consult (docs/consults.md).
//
// Village doctor (or kiosk): pre-call check, request (audio-first optional), then the call.
// County doctor: on-duty toggle with heartbeats, the queue with waiting times, accept, the call.
// Signalling over /ws/consult exactly as docs/consults.md says: the village side always
// offers, the county side always answers; on every `peer present` the village side builds a
// fresh RTCPeerConnection and sends a full offer (gen + 1); on every offer the county side
// drops its old RTCPeerConnection and answers from a fresh one; trickle ICE tagged with gen,
// candidates of another gen are dropped. Video is capped (RTCRtpSender.setParameters).
//
// Kiosk mode (consult.html#kiosk): the page waits for the embedding page's postMessage
// {type: "tc-consult:token", token: "tck_…"} (kiosk.html) or takes #kiosk=tck_… from the
// URL, then acts as the village side with that token. postMessage API: docs/consult-browser.md.

import { login } from "./api.js";
import { ConsultEcg } from "./consult_ecg.js";
import { applyI18n, getLang, onLangChange, setLang, t } from "./consult_i18n.js";

export const MAX_VIDEO_BPS = 300_000;
const HEARTBEAT_MS = 15_000;
const QUEUE_POLL_MS = 2_000;
const DISCONNECTED_GRACE_MS = 4_000;
const TURN_CHECK_MS = 6_000;
// Refusals after which rejoining cannot help (docs/consults.md, "Signalling socket").
const FINAL_CLOSE_CODES = new Set([4000, 4001, 4003, 4004, 4012]);

const $ = (sel) => document.querySelector(sel);

/** Everything the page knows; window.tcConsult for debugging and the browser test. */
const S = {
  me: null, // /api/me answer (null for a kiosk)
  kiosk: "", // tck_… token in kiosk mode
  side: "", // "village" | "county"
  consult: null,
  myActor: "",
  ws: null,
  wsRetry: 0,
  chain: Promise.resolve(),
  iceServers: [],
  pc: null,
  gen: 0,
  pendingIce: [],
  remote: null,
  local: new MediaStream(),
  audioTrack: null,
  videoTrack: null,
  videoSender: null,
  wantVideo: true,
  autoVideo: false,  // audio-first chosen by the link check: add video when the budget allows
  budgetOk: 0,
  ended: true,
  peerPresent: false,
  seenMessages: new Set(),
  parentOrigin: "",
  timers: {},
};
window.tcConsult = S;

let ecg = null; // the live ECG panel (not on a kiosk: it is the device)

function showEcg() {
  const id = S.consult && S.consult.recording_id;
  if (!id || S.kiosk || S.ended) return;
  show("#ecg-panel");
  setText("#ecg-recording", `#${id}`);
  if (!ecg) {
    ecg = new ConsultEcg($("#consult-ecg"), ({ state, hr, lead }) => {
      const text = hr != null ? t("ecg_hr", { lead, hr: Math.round(hr) }) : lead ? t("ecg_lead", { lead }) : t("ecg_waiting");
      setText("#ecg-hr", text, hr != null ? "hr" : state);
    });
  }
  ecg.open(id);
}

// -- HTTP ---------------------------------------------------------------------------------------

class HttpError extends Error {
  constructor(status, reason, data) {
    super(reason || `HTTP ${status}`);
    this.status = status;
    this.data = data;
  }
}

/** JSON API call (a kiosk adds its bearer token); throws HttpError with the server's reason. */
async function call(path, { method = "GET", body, form } = {}) {
  const headers = {};
  if (S.kiosk) headers.Authorization = `Bearer ${S.kiosk}`;
  let payload;
  if (form) payload = form;
  else if (body !== undefined) {
    headers["Content-Type"] = "application/json";
    payload = JSON.stringify(body);
  }
  const res = await fetch(path, { method, credentials: "same-origin", headers, body: payload });
  const type = res.headers.get("Content-Type") || "";
  const data = type.includes("json") ? await res.json().catch(() => null) : null;
  if (!res.ok) throw new HttpError(res.status, (data && data.error) || "", data);
  return data;
}

// -- small UI helpers ---------------------------------------------------------------------------

function show(id, visible = true) {
  $(id).hidden = !visible;
}

function mmss(seconds) {
  const s = Math.max(0, Math.floor(seconds));
  return `${Math.floor(s / 60)}:${String(s % 60).padStart(2, "0")}`;
}

function setText(id, text, state) {
  const el = $(id);
  el.textContent = text;
  if (state !== undefined) el.dataset.state = state;
}

function callState(key, params = {}, state = key) {
  S.callStateKey = [key, params];
  setText("#call-state", t(key, params), state);
}

function outcomeText(outcome) {
  return outcome ? t(`outcome_${outcome}`) : "";
}

/** Tell the embedding page (kiosk) what happened; only to the origin that gave the token. */
function tellParent(event, data = {}) {
  if (window.parent === window || !S.parentOrigin) return;
  window.parent.postMessage({ source: "tc-consult", event, ...data }, S.parentOrigin);
}

// -- media --------------------------------------------------------------------------------------

async function audioTrack() {
  if (!S.audioTrack || S.audioTrack.readyState === "ended") {
    const stream = await navigator.mediaDevices.getUserMedia({ audio: { echoCancellation: true, noiseSuppression: true } });
    S.audioTrack = stream.getAudioTracks()[0];
  }
  return S.audioTrack;
}

async function videoTrack() {
  if (!S.videoTrack || S.videoTrack.readyState === "ended") {
    const stream = await navigator.mediaDevices.getUserMedia({
      video: { width: { ideal: 640 }, height: { ideal: 480 }, frameRate: { ideal: 15, max: 24 } },
    });
    S.videoTrack = stream.getVideoTracks()[0];
    const local = $("#local-video");
    local.srcObject = new MediaStream([S.videoTrack]);
    local.play().catch(() => {});
  }
  return S.videoTrack;
}

function stopMedia() {
  for (const track of [S.audioTrack, S.videoTrack]) if (track) track.stop();
  S.audioTrack = null;
  S.videoTrack = null;
  $("#local-video").srcObject = null;
  const preview = $("#preview");
  if (preview.srcObject) for (const tr of preview.srcObject.getTracks()) tr.stop();
  preview.srcObject = null;
  preview.hidden = true;
}

/** Cap the video sender's bitrate (poor village links); a no-op without a video sender. */
async function capVideoBitrate(sender = S.videoSender) {
  if (!sender) return;
  const params = sender.getParameters();
  if (!params.encodings || params.encodings.length === 0) params.encodings = [{}];
  for (const enc of params.encodings) enc.maxBitrate = MAX_VIDEO_BPS;
  try {
    await sender.setParameters(params);
  } catch (err) {
    console.warn("setParameters(maxBitrate) failed", err);
  }
}

// -- pre-call check -----------------------------------------------------------------------------

async function checkDevices() {
  setText("#check-camera", t("checking"), "checking");
  setText("#check-mic", t("checking"), "checking");
  try {
    const stream = await navigator.mediaDevices.getUserMedia({ video: true });
    const track = stream.getVideoTracks()[0];
    const preview = $("#preview");
    preview.srcObject = stream;
    preview.hidden = false;
    await preview.play().catch(() => {});
    const settings = track.getSettings();
    setText("#check-camera", t("ok_camera", { w: settings.width || "?", h: settings.height || "?" }), "ok");
    setTimeout(() => {
      track.stop();
      preview.srcObject = null;
      preview.hidden = true;
    }, 3000);
  } catch (err) {
    setText("#check-camera", t("failed", { why: err.name || err.message }), "failed");
  }
  try {
    const stream = await navigator.mediaDevices.getUserMedia({ audio: true });
    const track = stream.getAudioTracks()[0];
    setText("#check-mic", t("ok_mic", { label: track.label || "mic" }), "ok");
    track.stop();
  } catch (err) {
    setText("#check-mic", t("failed", { why: err.name || err.message }), "failed");
  }
}

// A link slower than this, or with a longer round trip, starts the call audio-first; video is
// added on its own once the connection's estimate of the available bandwidth stays above VIDEO_KBPS.
const WEAK_LINK_KBPS = 500;
const WEAK_LINK_RTT_MS = 800;
const VIDEO_KBPS = 250;  // what the 300 kbps-capped video needs at its lowest layer

/** Round trip (a small request) and download rate (a ~100 KB file) to this server. */
export async function measureLink() {
  const hooked = window.tcConsultTest && window.tcConsultTest.link;  // tests: a simulated village link
  if (hooked) return hooked;
  const t0 = performance.now();
  await fetch(`/healthz?probe=${Date.now()}`, { cache: "no-store" });
  const rttMs = performance.now() - t0;
  const t1 = performance.now();
  const res = await fetch(`/static/consult.js?probe=${Date.now()}`, { cache: "no-store" });
  const bytes = (await res.arrayBuffer()).byteLength;
  const seconds = Math.max(0.001, (performance.now() - t1 - rttMs) / 1000);
  return { rttMs, kbps: (bytes * 8) / 1000 / seconds };
}

export function isWeakLink(link) {
  return link.kbps < WEAK_LINK_KBPS || link.rttMs > WEAK_LINK_RTT_MS;
}

async function checkLink() {
  setText("#check-link", t("checking"), "checking");
  try {
    const link = await measureLink();
    const weak = isWeakLink(link);
    const text = t(weak ? "link_weak" : "link_ok", { kbps: Math.round(link.kbps), rtt: Math.round(link.rttMs) });
    setText("#check-link", text, weak ? "weak" : "ok");
    if (weak && !$("#audio-first").checked) {
      $("#audio-first").checked = true;  // a weak link starts with audio; video follows when it can
      S.autoVideo = true;
    }
  } catch (err) {
    setText("#check-link", t("failed", { why: err.name || err.message }), "failed");
  }
}

/** Audio-first because of a weak link: add video once the connection's bandwidth estimate allows it. */
async function watchBudget() {
  if (!S.autoVideo || S.wantVideo || !S.pc || S.ended) return;
  const stats = await S.pc.getStats().catch(() => null);
  if (!stats) return;
  let kbps = 0;
  stats.forEach((r) => {
    if (r.type === "candidate-pair" && r.state === "succeeded" && r.availableOutgoingBitrate) {
      kbps = Math.max(kbps, r.availableOutgoingBitrate / 1000);
    }
  });
  S.budgetKbps = kbps;
  S.budgetOk = kbps >= VIDEO_KBPS ? (S.budgetOk || 0) + 1 : 0;
  if (S.budgetOk >= 3) {  // three checks in a row, not a burst
    S.autoVideo = false;
    await addVideo();
    setText("#call-state", t("video_added_budget", { kbps: Math.round(kbps) }));
  }
}

function isTurn(server) {
  const urls = Array.isArray(server.urls) ? server.urls : [server.urls];
  return urls.some((u) => /^turns?:/i.test(String(u)));
}

/** "reachable" when a relay candidate is gathered from the TURN servers, else "unreachable"; "not_configured" without one. */
export async function checkTurn(iceServers, timeoutMs = TURN_CHECK_MS) {
  const turn = (iceServers || []).filter(isTurn);
  if (turn.length === 0) return "not_configured";
  const pc = new RTCPeerConnection({ iceServers: turn, iceTransportPolicy: "relay" });
  try {
    pc.createDataChannel("turn-check");
    const found = new Promise((resolve) => {
      const timer = setTimeout(() => resolve("unreachable"), timeoutMs);
      pc.onicecandidate = (ev) => {
        if (ev.candidate && / typ relay /.test(ev.candidate.candidate)) {
          clearTimeout(timer);
          resolve("reachable");
        } else if (!ev.candidate) {
          clearTimeout(timer);
          resolve("unreachable");
        }
      };
    });
    await pc.setLocalDescription(await pc.createOffer());
    return await found;
  } finally {
    pc.close();
  }
}

async function runTurnCheck(consultId) {
  setText("#check-turn", t("checking"), "checking");
  try {
    const { ice_servers: servers } = await call(`/api/consults/${consultId}/ice`);
    const result = await checkTurn(servers);
    setText("#check-turn", t(`turn_${result}`), result);
    tellParent("turn", { result });
  } catch (err) {
    setText("#check-turn", t("failed", { why: err.message }), "failed");
  }
}

// -- village side: request ----------------------------------------------------------------------

async function requestConsult({ reason, urgency, recordingId, audioFirst }) {
  const status = $("#request-status");
  status.dataset.state = "requesting";
  status.textContent = t("requesting");
  $("#request-submit").disabled = true;
  S.wantVideo = !audioFirst;
  const body = { urgency, reason };
  if (recordingId) body.recording_id = recordingId;
  let answer;
  try {
    answer = await call("/api/consults", { method: "POST", body });
  } catch (err) {
    $("#request-submit").disabled = false;
    const nobody = err.status === 409 && err.data && err.data.on_duty === 0;
    status.dataset.state = nobody ? "nobody" : "failed";
    status.textContent = nobody ? t("nobody_on_duty") : t("request_failed", { why: err.message });
    tellParent("refused", { reason: nobody ? "nobody_on_duty" : err.message });
    return;
  }
  S.consult = answer.consult;
  S.lastState = S.consult.state;
  S.ended = false;
  S.seenMessages.clear();
  $("#chat-log").replaceChildren();
  $("#file-list").replaceChildren();
  show("#cancel-request");
  const started = performance.now() - (answer.consult.waiting_s || 0) * 1000;
  const onDuty = answer.presence ? answer.presence.on_duty : 0;
  let queue = answer.queue || null;
  let polled = performance.now();
  const tick = async () => {
    if (!S.consult || S.consult.state !== "waiting" || S.ended) return;
    status.dataset.state = "waiting";
    const wait = mmss((performance.now() - started) / 1000);
    status.textContent = queue
      ? t("waiting_queue", { wait, n: onDuty, pos: queue.position, of: queue.waiting })
      : t("waiting", { wait, n: onDuty });
    status.dataset.position = queue ? String(queue.position) : "";
    if (performance.now() - polled > 3000) {  // where the request stands in the county's queue
      polled = performance.now();
      const id = S.consult.id;
      try {
        const detail = await call(`/api/consults/${id}`);
        if (S.consult && S.consult.id === id) queue = detail.queue || null;
      } catch (_) { /* the socket reports what matters; keep the last position */ }
    }
  };
  tick();
  clearInterval(S.timers.wait);
  S.timers.wait = setInterval(tick, 1000);
  tellParent("waiting", { consult: S.consult.id });
  openSocket();
  runTurnCheck(S.consult.id);
}

// -- county side: duty and queue ----------------------------------------------------------------

function presenceText(p) {
  if (!p) return "";
  return t(p.status === "busy" ? "duty_busy" : p.status === "on_duty" ? "duty_on" : "duty_off");
}

async function setDuty(on) {
  try {
    const p = await call("/api/presence", { method: "PUT", body: { on_duty: on } });
    setText("#duty-status", presenceText(p), p.status);
  } catch (err) {
    setText("#duty-status", t("st_error", { why: err.message }), "failed");
    $("#on-duty").checked = !on;
    return;
  }
  clearInterval(S.timers.heartbeat);
  if (on) {
    S.timers.heartbeat = setInterval(async () => {
      try {
        const p = await call("/api/presence/heartbeat", { method: "POST" });
        setText("#duty-status", presenceText(p), p.status);
      } catch (err) {
        console.warn("heartbeat", err);
      }
    }, HEARTBEAT_MS);
  }
  refreshQueue();
}

let queueRows = [];
let queueAt = 0;

async function refreshQueue() {
  try {
    const q = await call("/api/consults/queue");
    queueRows = q.consults || [];
    queueAt = performance.now();
    show("#queue-error", false);
    renderQueue();
  } catch (err) {
    setText("#queue-error", t("st_error", { why: err.message }));
    show("#queue-error");
  }
}

function renderQueue() {
  const body = $("#queue tbody");
  const elapsed = (performance.now() - queueAt) / 1000;
  const canAccept = $("#on-duty").checked && S.ended;
  const rows = queueRows.map((c) => {
    const tr = document.createElement("tr");
    tr.dataset.id = c.id;
    tr.dataset.urgency = c.urgency;
    const cells = [`#${c.id}`, t(`urg_${c.urgency}`), c.reason || "", mmss((c.waiting_s || 0) + elapsed)];
    for (const text of cells) {
      const td = document.createElement("td");
      td.textContent = text;
      tr.append(td);
    }
    const td = document.createElement("td");
    const b = document.createElement("button");
    b.type = "button";
    b.className = "accept";
    b.textContent = t("accept");
    b.disabled = !canAccept;
    b.addEventListener("click", () => accept(c));
    td.append(b);
    tr.append(td);
    return tr;
  });
  body.replaceChildren(...rows);
  show("#queue-empty", rows.length === 0);
}

async function accept(c) {
  try {
    const answer = await call(`/api/consults/${c.id}/accept`, { method: "POST" });
    S.consult = answer.consult;
    S.lastState = S.consult.state;
  } catch (err) {
    setText("#queue-error", t("accept_failed", { why: err.message }));
    show("#queue-error");
    refreshQueue();
    return;
  }
  S.ended = false;
  S.seenMessages.clear();
  $("#chat-log").replaceChildren();
  $("#file-list").replaceChildren();
  S.wantVideo = true;
  showCall();
  openSocket();
  renderQueue();
}

// -- the call: signalling socket ----------------------------------------------------------------

function showCall() {
  show("#call-view");
  if (S.side === "village") document.body.classList.add("in-consult");
  setText("#call-id", String(S.consult.id));
  setText("#call-reason", S.consult.reason || "");
  for (const b of ["#hangup", "#mute", "#add-video", "#camera-off", "#chat-send", "#file-send"]) $(b).disabled = false;
  $("#call-view").classList.remove("ended");
  show("#add-video", S.side === "village" && !S.wantVideo);
  show("#camera-off", S.wantVideo);
  show("#link-form", S.side === "village" && !S.kiosk);
}

function send(msg) {
  if (S.ws && S.ws.readyState === WebSocket.OPEN) S.ws.send(JSON.stringify(msg));
}

function openSocket() {
  if (S.ended || !S.consult) return;
  const proto = location.protocol === "https:" ? "wss" : "ws";
  const ws = new WebSocket(`${proto}://${location.host}/ws/consult?consult=${S.consult.id}`);
  S.ws = ws;
  if (!S.peerPresent && S.side === "county") callState("st_joining");
  ws.onopen = () => {
    S.wsRetry = 0;
  };
  ws.onmessage = (ev) => {
    if (S.ws !== ws) return;
    let msg;
    try {
      msg = JSON.parse(ev.data);
    } catch {
      return;
    }
    if (msg.t === "state") {
      S.lastState = msg.state;
      S.lastOutcome = msg.outcome;
    }
    S.chain = S.chain.then(() => handle(msg)).catch((err) => console.warn("consult message", msg.t, err));
  };
  ws.onclose = (ev) => {
    if (S.ws !== ws) return;
    S.ws = null;
    if (S.ended) return;
    if (S.lastState === "ended" || ev.code === 4009) {
      // The consult ended (the server closes 1000 after the `state: ended` message).
      S.chain = S.chain.then(() => finish(S.lastOutcome));
      return;
    }
    if (FINAL_CLOSE_CODES.has(ev.code)) {
      callState("st_error", { why: `${ev.code} ${ev.reason}` }, "error");
      return;
    }
    // A dropped socket (network change, proxy, sleep): rejoin within the grace period.
    callState("st_reconnecting", {}, "reconnecting");
    const delay = Math.min(5000, 500 * 2 ** S.wsRetry++);
    clearTimeout(S.timers.rejoin);
    S.timers.rejoin = setTimeout(openSocket, delay);
  };
}

/** Drop the socket (and so the peer connection's session) and rejoin: the documented recovery. */
function rejoin() {
  if (S.ended) return;
  closePc();
  const ws = S.ws;
  S.ws = null;
  if (ws) ws.close(4000, "rejoin");
  callState("st_reconnecting", {}, "reconnecting");
  clearTimeout(S.timers.rejoin);
  S.timers.rejoin = setTimeout(openSocket, 300);
}

async function handle(msg) {
  switch (msg.t) {
    case "joined":
      S.iceServers = msg.ice_servers || [];
      S.consult = msg.consult;
      S.myActor = msg.role === "village" ? msg.consult.requester : `user:${msg.consult.acceptor_id}`;
      for (const m of msg.messages || []) addMessage(m);
      if (msg.consult.state !== "waiting") showCall();
      showEcg();
      if (!S.peerPresent) callState("st_waiting_peer", {}, "waiting_peer");
      break;
    case "peer":
      S.peerPresent = Boolean(msg.present);
      if (msg.present) {
        if (S.side === "village") {
          showCall();
          clearInterval(S.timers.wait);
          show("#cancel-request", false);
          setText("#request-status", "", "accepted");
          await makeOffer();
        } else {
          callState("st_negotiating", {}, "negotiating");
        }
      } else {
        callState("st_peer_left", {}, "peer_left");
      }
      break;
    case "offer":
      if (S.side === "county") await answerOffer(msg);
      break;
    case "answer":
      if (S.side === "village" && msg.gen === S.gen && S.pc) {
        await S.pc.setRemoteDescription({ type: "answer", sdp: msg.sdp });
        await flushIce();
        await capVideoBitrate();
      }
      break;
    case "ice":
      await addIce(msg);
      break;
    case "state":
      onState(msg);
      break;
    case "chat":
    case "file":
      addMessage(msg.message);
      break;
    case "recording":
      S.consult.recording_id = msg.recording_id;
      showEcg();
      break;
    case "error":
      console.warn("consult socket error", msg.code, msg.reason);
      if (msg.code >= 4000 && msg.code !== 4000) callState("st_error", { why: `${msg.code} ${msg.reason}` }, "error");
      break;
    default:
      break;
  }
}

function onState(msg) {
  if (msg.consult) S.consult = msg.consult;
  else if (S.consult) S.consult.state = msg.state;
  tellParent("state", { consult: S.consult.id, state: msg.state, outcome: msg.outcome || null });
  if (msg.state === "ended") {
    finish(msg.outcome);
    return;
  }
  if (msg.state === "accepted" && S.side === "village") {
    clearInterval(S.timers.wait);
    show("#cancel-request", false);
    setText("#request-status", "", "accepted");
    showCall();
  }
  if (msg.state === "in_call") callState("st_in_call", {}, "in_call");
  if (S.consult && S.consult.recording_id) showEcg();
  if (msg.state === "reconnecting" && !S.peerPresent) callState("st_peer_left", {}, "peer_left");
}

// -- the call: RTCPeerConnection ----------------------------------------------------------------

function closePc() {
  clearTimeout(S.timers.disconnected);
  if (S.pc) {
    const pc = S.pc;
    S.pc = null;
    pc.onicecandidate = null;
    pc.ontrack = null;
    pc.onconnectionstatechange = null;
    pc.close();
  }
  S.pendingIce = [];
  S.videoSender = null;
}

function newPc(gen) {
  closePc();
  S.gen = gen;
  const pc = new RTCPeerConnection({ iceServers: S.iceServers });
  S.pc = pc;
  S.remote = new MediaStream();
  const remoteVideo = $("#remote-video");
  remoteVideo.srcObject = S.remote;
  pc.onicecandidate = (ev) => {
    if (S.pc !== pc) return;
    send({ t: "ice", candidate: ev.candidate ? ev.candidate.toJSON() : null, gen });
  };
  pc.ontrack = (ev) => {
    if (S.pc !== pc) return;
    S.remote.addTrack(ev.track);
    remoteVideo.srcObject = S.remote;
    remoteVideo.play().catch(() => {});
  };
  pc.onconnectionstatechange = () => {
    if (S.pc !== pc) return;
    const state = pc.connectionState;
    clearTimeout(S.timers.disconnected);
    if (state === "connected") {
      send({ t: "connected" });
      callState("st_in_call", {}, "in_call");
      capVideoBitrate();
      tellParent("connected", { consult: S.consult.id });
    } else if (state === "failed") {
      rejoin();
    } else if (state === "disconnected") {
      S.timers.disconnected = setTimeout(() => {
        if (S.pc === pc && pc.connectionState === "disconnected") rejoin();
      }, DISCONNECTED_GRACE_MS);
    }
  };
  callState("st_negotiating", {}, "negotiating");
  return pc;
}

/** Village side: a fresh RTCPeerConnection and a full offer (every `peer present`). */
async function makeOffer() {
  const pc = newPc(S.gen + 1);
  const audio = await audioTrack().catch(() => null);
  pc.addTransceiver(audio || "audio", { direction: "sendrecv", streams: [S.local] });
  const video = S.wantVideo ? await videoTrack().catch(() => null) : null;
  // Always a sendrecv video transceiver: audio-first adds the camera later with replaceTrack,
  // without renegotiating.
  const vt = pc.addTransceiver(video || "video", { direction: "sendrecv", streams: [S.local] });
  S.videoSender = vt.sender;
  await pc.setLocalDescription(await pc.createOffer());
  if (S.pc !== pc) return;
  send({ t: "offer", sdp: pc.localDescription.sdp, gen: S.gen });
}

/** County side: every offer replaces the old RTCPeerConnection with a fresh one that answers. */
async function answerOffer(msg) {
  const pc = newPc(msg.gen);
  await pc.setRemoteDescription({ type: "offer", sdp: msg.sdp });
  const audio = await audioTrack().catch(() => null);
  const video = S.wantVideo ? await videoTrack().catch(() => null) : null;
  for (const tr of pc.getTransceivers()) {
    const kind = tr.receiver.track.kind;
    const track = kind === "audio" ? audio : video;
    tr.direction = "sendrecv";
    if (track) await tr.sender.replaceTrack(track);
    if (tr.sender.setStreams) tr.sender.setStreams(S.local);
    if (kind === "video") S.videoSender = tr.sender;
  }
  await pc.setLocalDescription(await pc.createAnswer());
  if (S.pc !== pc) return;
  send({ t: "answer", sdp: pc.localDescription.sdp, gen: msg.gen });
  await flushIce();
  await capVideoBitrate();
}

async function addIce(msg) {
  if (msg.gen !== S.gen || !S.pc) return; // a late candidate of an older connection
  if (!S.pc.remoteDescription) {
    S.pendingIce.push(msg.candidate);
    return;
  }
  await addCandidate(S.pc, msg.candidate);
}

async function flushIce() {
  const pc = S.pc;
  const pending = S.pendingIce;
  S.pendingIce = [];
  for (const c of pending) await addCandidate(pc, c);
}

async function addCandidate(pc, candidate) {
  try {
    if (candidate) await pc.addIceCandidate(candidate);
    else await pc.addIceCandidate();
  } catch (err) {
    console.warn("addIceCandidate", err);
  }
}

/** Audio-first: put the camera on the already negotiated video transceiver. */
async function addVideo() {
  S.wantVideo = true;
  show("#add-video", false);
  show("#camera-off");
  const track = await videoTrack();
  if (S.videoSender) {
    await S.videoSender.replaceTrack(track);
    await capVideoBitrate();
  }
}

function finish(outcome) {
  if (S.ended) return;
  S.ended = true;
  S.peerPresent = false;
  clearInterval(S.timers.wait);
  clearTimeout(S.timers.rejoin);
  closePc();
  stopMedia();
  if (ecg) ecg.close();
  show("#link-form", false);
  $("#remote-video").srcObject = null;
  if (S.ws) {
    const ws = S.ws;
    S.ws = null;
    ws.close(1000, "ended");
  }
  callState("st_ended", { outcome: outcomeText(outcome) }, "ended");
  for (const b of ["#hangup", "#mute", "#add-video", "#camera-off", "#chat-send", "#file-send"]) $(b).disabled = true;
  $("#call-view").classList.add("ended");
  if (S.side === "village") {
    document.body.classList.remove("in-consult");
    $("#request-submit").disabled = false;
    show("#cancel-request", false);
    setText("#request-status", t("st_ended", { outcome: outcomeText(outcome) }), "ended");
  } else {
    refreshQueue();
  }
  tellParent("ended", { consult: S.consult && S.consult.id, outcome: outcome || null });
}

async function hangup() {
  if (!S.consult || S.ended) return;
  if (S.ws && S.ws.readyState === WebSocket.OPEN) send({ t: "hangup", reason: "hung up" });
  else await call(`/api/consults/${S.consult.id}/hangup`, { method: "POST", body: { reason: "hung up" } }).catch(() => {});
}

// -- chat and files -----------------------------------------------------------------------------

function addMessage(m) {
  if (!m || S.seenMessages.has(m.id)) return;
  S.seenMessages.add(m.id);
  const mine = m.from === S.myActor;
  const when = new Date(m.at * 1000).toLocaleTimeString(getLang(), { hour: "2-digit", minute: "2-digit", second: "2-digit" });
  if (m.kind === "chat") {
    const li = document.createElement("li");
    li.className = mine ? "mine" : "theirs";
    li.dataset.id = m.id;
    const who = document.createElement("span");
    who.className = "who";
    who.textContent = `${mine ? t("me") : t("them")} ${when}`;
    const text = document.createElement("span");
    text.className = "text";
    text.textContent = m.text;
    li.append(who, text);
    $("#chat-log").append(li);
    li.scrollIntoView({ block: "nearest" });
    return;
  }
  const li = document.createElement("li");
  li.className = mine ? "mine" : "theirs";
  li.dataset.id = m.id;
  li.dataset.name = m.name;
  const a = document.createElement("a");
  a.href = m.url;
  a.download = m.name;
  a.textContent = `${m.name} (${m.size < 1024 ? `${m.size} B` : `${Math.ceil(m.size / 1024)} KiB`})`;
  li.append(a);
  if (m.content_type === "image/png" || m.content_type === "image/jpeg") {
    const img = document.createElement("img");
    img.alt = m.name;
    img.src = m.url;
    img.className = "thumb";
    li.append(img);
  }
  $("#file-list").append(li);
}

async function sendFile(file) {
  show("#file-error", false);
  const form = new FormData();
  form.append("file", file, file.name);
  try {
    const answer = await call(`/api/consults/${S.consult.id}/files`, { method: "POST", form });
    addMessage(answer.message);
  } catch (err) {
    setText("#file-error", t("file_failed", { why: err.message }));
    show("#file-error");
  }
}

// -- start --------------------------------------------------------------------------------------

function wire() {
  for (const b of document.querySelectorAll("[data-lang]")) b.addEventListener("click", () => setLang(b.dataset.lang));
  onLangChange(() => {
    if (S.callStateKey) callState(...S.callStateKey, $("#call-state").dataset.state);
    if (S.side === "county") renderQueue();
  });
  $("#login-form").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    show("#login-error", false);
    const status = await login($("#username").value, $("#password").value).catch(() => 0);
    if (status === 200) {
      show("#login-view", false);
      await start();
    } else {
      setText("#login-error", status === 401 ? t("login_failed") : t("login_error", { status }));
      show("#login-error");
    }
  });
  $("#precheck").addEventListener("click", () => { checkDevices(); checkLink(); });
  setInterval(() => { watchBudget().catch(() => {}); }, 1000);
  $("#request-form").addEventListener("submit", (ev) => {
    ev.preventDefault();
    requestConsult({
      reason: $("#reason").value.trim(),
      urgency: $("#urgency").value,
      recordingId: $("#recording-id").value.trim(),
      audioFirst: $("#audio-first").checked,
    });
  });
  $("#cancel-request").addEventListener("click", async () => {
    if (S.consult) await call(`/api/consults/${S.consult.id}/cancel`, { method: "POST", body: {} }).catch(() => {});
  });
  $("#link-form").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const id = $("#link-recording").value.trim();
    if (!id || !S.consult || S.ended) return;
    try {
      const answer = await call(`/api/consults/${S.consult.id}/recording`, { method: "POST", body: { recording_id: id } });
      S.consult.recording_id = answer.consult.recording_id;
      $("#link-recording").value = "";
      showEcg();
    } catch (err) {
      setText("#file-error", t("st_error", { why: err.message }));
      show("#file-error");
    }
  });
  $("#on-duty").addEventListener("change", (ev) => setDuty(ev.target.checked));
  $("#hangup").addEventListener("click", hangup);
  $("#add-video").addEventListener("click", addVideo);
  $("#mute").addEventListener("click", () => {
    if (!S.audioTrack) return;
    S.audioTrack.enabled = !S.audioTrack.enabled;
    $("#mute").setAttribute("aria-pressed", String(!S.audioTrack.enabled));
    $("#mute").dataset.i18n = S.audioTrack.enabled ? "mute" : "unmute";
    $("#mute").textContent = t($("#mute").dataset.i18n);
  });
  $("#camera-off").addEventListener("click", () => {
    if (!S.videoTrack) return;
    S.videoTrack.enabled = !S.videoTrack.enabled;
    $("#camera-off").setAttribute("aria-pressed", String(!S.videoTrack.enabled));
    $("#camera-off").dataset.i18n = S.videoTrack.enabled ? "camera_off" : "camera_on";
    $("#camera-off").textContent = t($("#camera-off").dataset.i18n);
  });
  $("#chat-form").addEventListener("submit", (ev) => {
    ev.preventDefault();
    const text = $("#chat-input").value.trim();
    if (!text || S.ended) return;
    send({ t: "chat", text });
    $("#chat-input").value = "";
  });
  $("#file-form").addEventListener("submit", (ev) => {
    ev.preventDefault();
    const file = $("#file-input").files[0];
    if (file && S.consult) sendFile(file);
    $("#file-input").value = "";
  });
  window.addEventListener("message", onParentMessage);
  window.addEventListener("pagehide", () => {
    if (S.ws) S.ws.close(1000, "page closed");
  });
}

/** The embedding page's commands (kiosk mode): token, request, hangup. */
function onParentMessage(ev) {
  if (ev.source !== window.parent || window.parent === window) return;
  const data = ev.data || {};
  if (data.type === "tc-consult:token" && typeof data.token === "string" && !S.kiosk) {
    S.parentOrigin = ev.origin;
    startKiosk(data.token);
  } else if (ev.origin !== S.parentOrigin) {
    return;
  } else if (data.type === "tc-consult:request" && S.ended) {
    requestConsult({
      reason: String(data.reason || ""),
      urgency: ["stat", "urgent", "routine"].includes(data.urgency) ? data.urgency : "urgent",
      recordingId: data.recording_id ? String(data.recording_id) : "",
      audioFirst: Boolean(data.audio_first),
    });
  } else if (data.type === "tc-consult:hangup") {
    hangup();
  }
}

function startKiosk(token) {
  if (!/^tck_[A-Za-z0-9_-]+$/.test(token)) return;
  S.kiosk = token;
  // The signalling socket cannot carry an Authorization header: the server also reads the
  // token from its session cookie (tc_session), so the kiosk puts it there.
  document.cookie = `tc_session=${token}; path=/; SameSite=Strict`;
  document.body.classList.add("kiosk");
  setText("#who", t("kiosk"));
  S.side = "village";
  show("#village-view");
  tellParent("ready");
}

async function start() {
  let me;
  try {
    me = await call("/api/me");
  } catch (err) {
    if (err.status === 401) {
      show("#login-view");
      return;
    }
    throw err;
  }
  S.me = me;
  setText("#who", `${me.user.display_name || me.user.username}（${me.org.name}）`);
  if (me.user.role === "village_doctor") {
    S.side = "village";
    show("#village-view");
  } else if (me.user.role === "county_reader") {
    S.side = "county";
    show("#county-view");
    try {
      const p = await call("/api/presence");
      const mine = p.me;
      if (mine && mine.status !== "offline") {
        $("#on-duty").checked = true;
        await setDuty(true);
      }
    } catch (err) {
      console.warn("presence", err);
    }
    refreshQueue();
    S.timers.queue = setInterval(refreshQueue, QUEUE_POLL_MS);
    S.timers.queueTick = setInterval(renderQueue, 1000);
  } else {
    setText("#who", t("not_allowed", { role: me.user.role }));
  }
}

wire();
applyI18n(document);
const hash = new URLSearchParams(location.hash.slice(1));
if (hash.has("kiosk")) {
  const token = hash.get("kiosk");
  history.replaceState(null, "", location.pathname); // keep the token out of the address bar
  if (token) startKiosk(token);
  else if (window.parent !== window) window.parent.postMessage({ source: "tc-consult", event: "need-token" }, "*");
} else {
  start();
}
