// i18n.js: the UI strings, Chinese (zh-CN, default) and English.
// Every visible string comes from this table. In HTML, mark elements with
// data-i18n="key" (text) or data-i18n-attr="attr:key;attr2:key2".

const STORAGE_KEY = "teleconsult.lang";

export const LANGS = Object.freeze({ "zh-CN": "中文", en: "English" });
export const DEFAULT_LANG = "zh-CN";

export const STRINGS = {
  "zh-CN": {
    app_title: "远程心电会诊 · 实时心电",
    lang_switch: "界面语言",
    login_title: "登录",
    username: "用户名",
    password: "密码",
    login: "登录",
    logging_in: "正在登录…",
    login_failed: "用户名或密码错误",
    login_error: "登录失败，请稍后再试（{status}）",
    network_error: "无法连接服务器",
    logout: "退出登录",
    signed_in_as: "{name}（{org}）",
    recordings: "心电记录",
    no_recordings: "暂无可查看的记录",
    list_updated: "每 2 秒自动刷新",
    col_recording: "记录",
    col_org: "机构",
    col_leads: "导联数",
    n_leads: "{n} 导联",
    col_fs: "采样率",
    col_status: "状态",
    col_connected: "设备连接",
    col_started: "开始时间",
    col_duration: "时长",
    open: "打开",
    open_recording: "打开记录 {id}",
    yes: "已连接",
    no: "未连接",
    status_live: "实时",
    status_open: "进行中",
    status_streaming: "实时",
    status_ended: "已结束",
    status_complete: "已结束",
    status_completed: "已结束",
    status_interrupted: "已中断",
    back: "返回列表",
    heart_rate: "心率",
    bpm: "次/分",
    lead_set: "显示导联",
    leads_all: "全部导联",
    leads_limb: "肢体导联",
    leads_chest: "胸导联 V1–V6",
    leads_extra: "附加导联",
    settings: "显示设置",
    px_per_mm: "校准：每毫米 CSS 像素",
    calibration_help: "用尺子量下方横条，应为 100 mm；不对时调整此值。",
    calibration_ruler: "100 mm 校准尺",
    reset: "恢复默认",
    baseline_filter: "基线漂移滤波（0.05 Hz）",
    scale_info: "走纸速度 25 mm/s，增益 10 mm/mV",
    conn_connecting: "正在连接…",
    conn_live: "实时接收中",
    conn_reconnecting: "连接中断，{s} 秒后重连…",
    conn_ended: "已停止",
    gap_notice: "显示丢帧 {n}",
    device_disconnected: "采集设备已断开，等待重新连接…",
    ended_notice: "记录已结束（共 {n} 个采样点）",
    error_forbidden: "无权查看此记录",
    error_not_found: "记录不存在",
    error_unavailable: "记录不存在或无权查看",
    error_session: "登录已过期，请重新登录",
    error_generic: "连接错误（{code}）：{reason}",
    chart_label: "心电图实时波形 {id}",
    hr_label: "心率（次/分）",
  },
  en: {
    app_title: "Teleconsult · Live ECG",
    lang_switch: "Language",
    login_title: "Sign in",
    username: "Username",
    password: "Password",
    login: "Sign in",
    logging_in: "Signing in…",
    login_failed: "Wrong username or password",
    login_error: "Sign-in failed, please try again later ({status})",
    network_error: "Cannot reach the server",
    logout: "Sign out",
    signed_in_as: "{name} ({org})",
    recordings: "ECG recordings",
    no_recordings: "No recordings to show",
    list_updated: "Refreshes every 2 s",
    col_recording: "Recording",
    col_org: "Organisation",
    col_leads: "Leads",
    n_leads: "{n} leads",
    col_fs: "Sampling rate",
    col_status: "Status",
    col_connected: "Device",
    col_started: "Started",
    col_duration: "Duration",
    open: "Open",
    open_recording: "Open recording {id}",
    yes: "connected",
    no: "not connected",
    status_live: "live",
    status_open: "in progress",
    status_streaming: "live",
    status_ended: "ended",
    status_complete: "ended",
    status_completed: "ended",
    status_interrupted: "interrupted",
    back: "Back to list",
    heart_rate: "Heart rate",
    bpm: "bpm",
    lead_set: "Leads shown",
    leads_all: "All leads",
    leads_limb: "Limb leads",
    leads_chest: "Chest leads V1–V6",
    leads_extra: "Extra leads",
    settings: "Display settings",
    px_per_mm: "Calibration: CSS pixels per mm",
    calibration_help: "Measure the bar below with a ruler: it should be 100 mm; adjust this value if not.",
    calibration_ruler: "100 mm calibration ruler",
    reset: "Reset",
    baseline_filter: "Baseline wander filter (0.05 Hz)",
    scale_info: "25 mm/s, 10 mm/mV",
    conn_connecting: "Connecting…",
    conn_live: "Receiving live",
    conn_reconnecting: "Connection lost, reconnecting in {s} s…",
    conn_ended: "Stopped",
    gap_notice: "{n} display frames dropped",
    device_disconnected: "The recording device is disconnected; waiting for it to reconnect…",
    ended_notice: "Recording ended ({n} samples)",
    error_forbidden: "You may not view this recording",
    error_not_found: "No such recording",
    error_unavailable: "No such recording, or you may not view it",
    error_session: "Session expired, please sign in again",
    error_generic: "Connection error ({code}): {reason}",
    chart_label: "Live ECG waveform {id}",
    hr_label: "Heart rate (bpm)",
  },
};

let current = loadLang();
const listeners = new Set();

function loadLang() {
  try {
    const saved = localStorage.getItem(STORAGE_KEY);
    if (saved && Object.hasOwn(STRINGS, saved)) return saved;
  } catch {
    // localStorage unavailable (privacy mode): use the default
  }
  return DEFAULT_LANG;
}

export function getLang() {
  return current;
}

/** Switch language, remember it, re-apply the page and notify listeners. */
export function setLang(lang) {
  if (!Object.hasOwn(STRINGS, lang)) return;
  current = lang;
  try {
    localStorage.setItem(STORAGE_KEY, lang);
  } catch {
    // not remembered; still switch
  }
  applyI18n(document);
  for (const fn of listeners) fn(lang);
}

export function onLangChange(fn) {
  listeners.add(fn);
}

/** True when the table has `key` (used for optional keys such as statuses). */
export function has(key) {
  return Object.hasOwn(STRINGS[current], key);
}

/** The string for `key` with {name} placeholders filled from `params`. */
export function t(key, params = {}) {
  const table = STRINGS[current];
  const s = Object.hasOwn(table, key) ? table[key] : key;
  return s.replace(/\{(\w+)\}/g, (m, name) => (name in params ? String(params[name]) : m));
}

/** Fill every [data-i18n] / [data-i18n-attr] element under `root`. */
export function applyI18n(root) {
  if (root === document) {
    document.documentElement.lang = current;
    document.title = t("app_title");
  }
  for (const el of root.querySelectorAll("[data-i18n]")) {
    el.textContent = t(el.dataset.i18n);
  }
  for (const el of root.querySelectorAll("[data-i18n-attr]")) {
    for (const pair of el.dataset.i18nAttr.split(";")) {
      const [attr, key] = pair.split(":");
      if (attr && key) el.setAttribute(attr.trim(), t(key.trim()));
    }
  }
}
