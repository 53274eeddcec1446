// consult_i18n.js: the strings of the video consult page (consult.html, kiosk.html),
// Chinese (zh-CN, default) and English. Same conventions as i18n.js: data-i18n="key"
// for text, data-i18n-attr="attr:key;attr2:key2" for attributes; the language choice is
// shared with the main page (localStorage "teleconsult.lang").

const STORAGE_KEY = "teleconsult.lang";
export const DEFAULT_LANG = "zh-CN";

export const STRINGS = {
  "zh-CN": {
    title: "视频会诊",
    home: "心电首页",
    login_title: "登录",
    username: "用户名",
    password: "密码",
    login: "登录",
    login_failed: "用户名或密码错误",
    login_error: "登录失败（{status}）",
    not_allowed: "此账号不能使用视频会诊（{role}）",
    kiosk: "自助终端",
    precheck_title: "通话前检查",
    precheck_run: "检查摄像头、麦克风和网络",
    check_camera: "摄像头",
    check_mic: "麦克风",
    check_turn: "中继服务器（TURN）",
    checking: "检查中…",
    ok_camera: "正常（{w}×{h}）",
    ok_mic: "正常（{label}）",
    failed: "不可用：{why}",
    turn_after_request: "发出会诊请求后检查",
    turn_reachable: "TURN 可达",
    turn_not_configured: "未配置 TURN（仅直连/STUN）",
    turn_unreachable: "TURN 不可达",
    request_title: "申请会诊",
    reason: "会诊原因",
    reason_ph: "例如：胸痛 2 小时，心电正在传输",
    urgency: "紧急程度",
    urg_stat: "危急",
    urg_urgent: "紧急",
    urg_routine: "常规",
    recording_id: "心电记录号",
    optional: "可选",
    audio_first: "先语音，稍后再开视频（网络较差时）",
    audio_first_hint: "视频码率上限 300 kbps。",
    request: "发起会诊",
    cancel: "取消请求",
    requesting: "正在发送请求…",
    check_link: "网络",
    link_ok: "良好：约 {kbps} kbps，往返 {rtt} ms",
    link_weak: "较弱：约 {kbps} kbps，往返 {rtt} ms，将先语音，网络允许时自动开启视频",
    video_added_budget: "网络已允许（约 {kbps} kbps），已开启视频",
    waiting: "等待县级医生接诊… 已等待 {wait}（值班医生 {n} 位）",
    waiting_queue: "等待县级医生接诊… 排队第 {pos} 位（共 {of} 位），已等待 {wait}（值班医生 {n} 位）",
    nobody_on_duty: "现在没有值班的县级医生，请稍后再试或电话联系。",
    request_failed: "请求失败：{why}",
    duty_title: "值班",
    on_duty: "我在值班，接收会诊请求",
    duty_on: "值班中",
    duty_off: "未值班",
    duty_busy: "通话中",
    queue_title: "候诊队列",
    queue_empty: "暂无等待的会诊",
    col_id: "编号",
    col_wait: "已等待",
    accept: "接诊",
    accept_failed: "接诊失败：{why}",
    call_title: "会诊",
    call_reason: "原因",
    remote: "对方",
    local: "本机",
    mute: "静音",
    unmute: "取消静音",
    add_video: "开启视频",
    camera_off: "关闭摄像头",
    camera_on: "打开摄像头",
    hangup: "挂断",
    chat: "文字交流",
    chat_ph: "输入消息",
    send: "发送",
    files: "文件（PDF、PNG、JPEG）",
    send_file: "发送文件",
    file_failed: "文件发送失败：{why}",
    st_joining: "正在连接会诊…",
    st_waiting_peer: "等待对方加入…",
    st_negotiating: "正在建立音视频连接…",
    st_in_call: "通话中",
    st_peer_left: "对方连接中断，等待重新连接…",
    st_reconnecting: "网络中断，正在重新连接…",
    st_ended: "会诊已结束（{outcome}）",
    st_error: "错误：{why}",
    outcome_completed: "已完成",
    outcome_cancelled: "已取消",
    outcome_no_answer: "无人接诊",
    outcome_failed: "连接失败",
    live_ecg: "实时心电",
    ecg_hr: "{lead} 导联 · 心率 {hr} 次/分",
    ecg_lead: "{lead} 导联",
    ecg_waiting: "等待心电数据…",
    link_ecg: "关联心电记录",
    me: "我",
    them: "对方",
  },
  en: {
    title: "Video consult",
    home: "ECG home",
    login_title: "Sign in",
    username: "Username",
    password: "Password",
    login: "Sign in",
    login_failed: "Wrong username or password",
    login_error: "Sign-in failed ({status})",
    not_allowed: "This account cannot use video consults ({role})",
    kiosk: "Kiosk",
    precheck_title: "Pre-call check",
    precheck_run: "Check camera, microphone and network",
    check_camera: "Camera",
    check_mic: "Microphone",
    check_turn: "Relay server (TURN)",
    checking: "Checking…",
    ok_camera: "OK ({w}×{h})",
    ok_mic: "OK ({label})",
    failed: "Unavailable: {why}",
    turn_after_request: "checked once the request is sent",
    turn_reachable: "TURN reachable",
    turn_not_configured: "TURN not configured (direct/STUN only)",
    turn_unreachable: "TURN unreachable",
    request_title: "Request a consult",
    reason: "Reason",
    reason_ph: "e.g. chest pain 2 h, ECG streaming now",
    urgency: "Urgency",
    urg_stat: "STAT",
    urg_urgent: "Urgent",
    urg_routine: "Routine",
    recording_id: "ECG recording id",
    optional: "optional",
    audio_first: "Audio first, add video later (poor network)",
    audio_first_hint: "Video is capped at 300 kbps.",
    request: "Request consult",
    cancel: "Cancel request",
    requesting: "Sending the request…",
    check_link: "Network",
    link_ok: "good: about {kbps} kbps, round trip {rtt} ms",
    link_weak: "weak: about {kbps} kbps, round trip {rtt} ms; the call starts with audio and adds video when the link allows",
    video_added_budget: "The link allows it now (about {kbps} kbps): video is on",
    waiting: "Waiting for a county doctor… {wait} so far ({n} on duty)",
    waiting_queue: "Waiting for a county doctor… number {pos} of {of} in the queue, {wait} so far ({n} on duty)",
    nobody_on_duty: "No county doctor is on duty now; try again later or call.",
    request_failed: "Request failed: {why}",
    duty_title: "Duty",
    on_duty: "I am on duty and take consult requests",
    duty_on: "on duty",
    duty_off: "off duty",
    duty_busy: "in a call",
    queue_title: "Queue",
    queue_empty: "Nobody is waiting",
    col_id: "No.",
    col_wait: "Waiting",
    accept: "Accept",
    accept_failed: "Could not accept: {why}",
    call_title: "Consult",
    call_reason: "Reason",
    remote: "Remote",
    local: "This device",
    mute: "Mute",
    unmute: "Unmute",
    add_video: "Turn video on",
    camera_off: "Camera off",
    camera_on: "Camera on",
    hangup: "Hang up",
    chat: "Chat",
    chat_ph: "Type a message",
    send: "Send",
    files: "Files (PDF, PNG, JPEG)",
    send_file: "Send file",
    file_failed: "Could not send the file: {why}",
    st_joining: "Joining the consult…",
    st_waiting_peer: "Waiting for the other side…",
    st_negotiating: "Connecting audio/video…",
    st_in_call: "In call",
    st_peer_left: "The other side dropped; waiting for it to reconnect…",
    st_reconnecting: "Network lost, reconnecting…",
    st_ended: "Consult ended ({outcome})",
    st_error: "Error: {why}",
    outcome_completed: "completed",
    outcome_cancelled: "cancelled",
    outcome_no_answer: "no answer",
    outcome_failed: "failed",
    live_ecg: "Live ECG",
    ecg_hr: "lead {lead} · HR {hr} bpm",
    ecg_lead: "lead {lead}",
    ecg_waiting: "waiting for ECG data…",
    link_ecg: "Link ECG recording",
    me: "me",
    them: "them",
  },
};

let lang = (() => {
  try {
    const saved = localStorage.getItem(STORAGE_KEY);
    return saved && STRINGS[saved] ? saved : DEFAULT_LANG;
  } catch {
    return DEFAULT_LANG;
  }
})();
const listeners = [];

export function getLang() {
  return lang;
}

export function setLang(next) {
  if (!STRINGS[next]) return;
  lang = next;
  try {
    localStorage.setItem(STORAGE_KEY, next);
  } catch {
    // private mode: the choice lasts for this page only
  }
  applyI18n(document);
  for (const fn of listeners) fn(next);
}

export function onLangChange(fn) {
  listeners.push(fn);
}

/** The string of `key` in the current language ({name} placeholders filled from params). */
export function t(key, params = {}) {
  const table = STRINGS[lang] || STRINGS[DEFAULT_LANG];
  const text = table[key] ?? STRINGS[DEFAULT_LANG][key] ?? key;
  return text.replace(/\{(\w+)\}/g, (m, name) => (name in params ? String(params[name]) : m));
}

export function applyI18n(root) {
  document.documentElement.lang = lang;
  for (const el of root.querySelectorAll("[data-i18n]")) el.textContent = t(el.dataset.i18n);
  for (const el of root.querySelectorAll("[data-i18n-attr]")) {
    for (const pair of el.dataset.i18nAttr.split(";")) {
      const [attr, key] = pair.split(":");
      if (attr && key) el.setAttribute(attr.trim(), t(key.trim()));
    }
  }
  for (const b of root.querySelectorAll("[data-lang]")) b.setAttribute("aria-pressed", String(b.dataset.lang === lang));
}
