// app.js: page wiring for the reader page: session (login, logout), routing
// between the recordings list and the live viewer (#/recording/<id>), language.

import { api, login, Unauthorized } from "./api.js";
import { nameOf } from "./format.js";
import { applyI18n, getLang, onLangChange, setLang, t } from "./i18n.js";
import { RecordingsList } from "./recordings_list.js";
import { LiveViewer } from "./viewer.js";

const $ = (id) => document.getElementById(id);
const ROUTE = /^#\/recording\/([A-Za-z0-9_-]{1,64})$/;

const state = {
  me: null, // GET /api/me: {user, org}
  loginError: null, // {key, params}
};

const list = new RecordingsList({ onUnauthorized: () => showLogin("error_session") });
const viewer = new LiveViewer({ onUnauthorized: () => showLogin("error_session") });

function show(view) {
  for (const id of ["login-view", "list-view", "viewer-view"]) $(id).hidden = id !== view;
  $("user").hidden = view === "login-view";
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
  viewer.close();
  list.stop();
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
  viewer.close();
  list.stop();
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
  const m = location.hash.match(ROUTE);
  if (m) {
    list.stop();
    show("viewer-view");
    viewer.open(m[1]);
  } else {
    viewer.close();
    show("list-view");
    list.start();
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
  });
  $("login-form").addEventListener("submit", onLoginSubmit);
  $("logout").addEventListener("click", logout);
  $("back").addEventListener("click", () => {
    location.hash = "";
  });
  addEventListener("hashchange", route);
}

boot();
