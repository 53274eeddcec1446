// app.js: page wiring: session (login, logout), language, the notify socket,
// and routing between the pages a role may use:
//   #/recordings (default) and #/recording/<id>: the recordings list and the live viewer;
//   #/mine: the village doctor's ECGs and reports (my_ecgs.js);
//   #/worklist, #/study/<id>, #/tat: the county's worklist, study viewer and turnaround.

import { api, login, Unauthorized } from "./api.js";
import { nameOf } from "./format.js";
import { applyI18n, getLang, onLangChange, setLang, t } from "./i18n.js";
import { MyEcgs } from "./my_ecgs.js";
import { NotifySocket } from "./notify_socket.js";
import { RecordingsList } from "./recordings_list.js";
import { StudyView } from "./study_view.js";
import { TatPage } from "./tat_page.js";
import { LiveViewer } from "./viewer.js";
import { Worklist } from "./worklist.js";

const $ = (id) => document.getElementById(id);
const ROUTE = /^#\/recording\/([A-Za-z0-9_-]{1,64})$/;
const STUDY_ROUTE = /^#\/study\/(\d{1,12})$/;
const VIEWS = ["login-view", "list-view", "viewer-view", "mine-view", "worklist-view", "study-view", "tat-view"];
const COUNTY_ROLES = new Set(["county_reader", "admin"]);

const state = {
  me: null, // GET /api/me: {user, org}
  loginError: null, // {key, params}
};

const expired = () => showLogin("error_session");
const me = () => (state.me ? state.me.user ?? state.me : null);
const list = new RecordingsList({ onUnauthorized: expired });
const viewer = new LiveViewer({ onUnauthorized: expired });
const notify = new NotifySocket({ onMessage: onNotify, onState: onNotifyState });
const mine = new MyEcgs({ onUnauthorized: expired, notify });
const worklist = new Worklist({ me, onUnauthorized: expired });
const study = new StudyView({ me, onUnauthorized: expired });
const tat = new TatPage({ onUnauthorized: expired, org: () => state.me?.org ?? null });
let notifyState = null;

function show(view) {
  for (const id of VIEWS) $(id).hidden = id !== view;
  $("user").hidden = view === "login-view";
  $("nav").hidden = view === "login-view";
}

/** Stop every page's polling and sockets (the notify socket stays). */
function leavePages() {
  viewer.close();
  list.stop();
  mine.stop();
  worklist.stop();
  study.close();
  tat.stop();
}

// ---- notify socket -------------------------------------------------------------------

function onNotify(msg) {
  const role = me()?.role;
  if (role === "village_doctor") mine.onMessage(msg);
  else if (msg.t === "worklist" || msg.t === "acknowledged") worklist.poke();
  if (msg.t === "escalation") worklist.poke();
}

function onNotifyState(s) {
  notifyState = s;
  renderNotifyState();
  if (s.state === "closed" && s.code === 4001) expired();
}

function renderNotifyState() {
  const el = $("notify-state");
  const s = notifyState;
  el.textContent = !s ? "" : s.state === "open" ? t("notify_open") : t("notify_connecting");
  el.classList.toggle("live", s?.state === "open");
}

// ---- session -----------------------------------------------------------------------

async function boot() {
  applyI18n(document);
  wire();
  try {
    state.me = await api("/api/me");
    enterApp();
  } catch (err) {
    showLogin(err instanceof Unauthorized ? null : "network_error");
  }
}

/** Show the login form, with an optional message (an i18n key and its parameters). */
function showLogin(key = null, params = {}) {
  leavePages();
  notify.stop();
  notifyState = null;
  state.me = null;
  show("login-view");
  setLoginError(key, params);
  $("username").focus();
}

function setLoginError(key, params = {}) {
  state.loginError = key ? { key, params } : null;
  renderLoginError();
}

function renderLoginError() {
  const err = $("login-error");
  const e = state.loginError;
  err.textContent = e ? t(e.key, e.params) : "";
  err.hidden = !e;
}

function renderUser() {
  const me = state.me || {};
  const user = me.user ?? me;
  const org = me.org ?? me.organisation ?? user.org;
  const name = nameOf(user.display_name || user.username || user.name || "");
  $("user-name").textContent = org ? t("signed_in_as", { name, org: nameOf(org) }) : name;
}

function enterApp() {
  renderUser();
  const role = me()?.role;
  for (const a of document.querySelectorAll("[data-nav]")) {
    a.hidden = Boolean(a.dataset.role) && !a.dataset.role.split(" ").includes(role);
  }
  notify.start();
  route();
}

async function onLoginSubmit(ev) {
  ev.preventDefault();
  const button = $("login-submit");
  button.disabled = true;
  setLoginError(null);
  try {
    const status = await login($("username").value.trim(), $("password").value);
    if (status === 401 || status === 403) {
      setLoginError("login_failed");
      $("password").select();
      return;
    }
    if (status < 200 || status >= 300) {
      setLoginError("login_error", { status });
      return;
    }
    $("password").value = "";
    state.me = await api("/api/me");
    enterApp();
  } catch (err) {
    setLoginError(err instanceof Unauthorized ? "login_failed" : "network_error");
  } finally {
    button.disabled = false;
  }
}

async function logout() {
  leavePages();
  notify.stop();
  try {
    await api("/api/logout", { method: "POST" });
  } catch {
    // the session is gone either way
  }
  history.replaceState(null, "", location.pathname);
  showLogin();
}

// ---- routing ------------------------------------------------------------------------

function route() {
  if (!state.me) return;
  const hash = location.hash;
  const role = me()?.role;
  const county = COUNTY_ROLES.has(role);
  leavePages();
  let page = "recordings";
  const rec = hash.match(ROUTE);
  const st = hash.match(STUDY_ROUTE);
  if (rec) {
    page = "recording";
    show("viewer-view");
    viewer.open(rec[1]);
  } else if (st && county) {
    page = "worklist";
    show("study-view");
    study.open(st[1]);
  } else if (hash === "#/worklist" && county) {
    page = "worklist";
    show("worklist-view");
    worklist.start();
  } else if (hash === "#/tat" && county) {
    page = "tat";
    show("tat-view");
    tat.start();
  } else if ((hash === "#/mine" || st) && role === "village_doctor") {
    page = "mine";
    show("mine-view");
    mine.start();
  } else {
    show("list-view");
    list.start();
  }
  for (const a of document.querySelectorAll("[data-nav]")) {
    if (a.dataset.nav === page) a.setAttribute("aria-current", "page");
    else a.removeAttribute("aria-current");
  }
}

// ---- wiring --------------------------------------------------------------------------

function updateLangButtons() {
  for (const b of document.querySelectorAll("[data-lang]")) {
    b.setAttribute("aria-pressed", String(b.dataset.lang === getLang()));
  }
}

function wire() {
  for (const b of document.querySelectorAll("[data-lang]")) {
    b.addEventListener("click", () => setLang(b.dataset.lang));
  }
  updateLangButtons();
  onLangChange(() => {
    updateLangButtons();
    if (state.me) renderUser();
    renderLoginError();
    list.render();
    viewer.render();
    renderNotifyState();
    if (state.me) {
      mine.relabel();
      worklist.render();
      study.relabel();
      tat.render();
    }
  });
  $("login-form").addEventListener("submit", onLoginSubmit);
  $("logout").addEventListener("click", logout);
  $("back").addEventListener("click", () => {
    location.hash = "";
  });
  $("study-back").addEventListener("click", () => {
    location.hash = "#/worklist";
  });
  addEventListener("hashchange", route);
}

boot();
