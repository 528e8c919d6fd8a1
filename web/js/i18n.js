// Every string people read, in one place. Simplified Chinese by default; English selectable (remembered).
const LANG_KEY = "hearing.lang";

export const STRINGS = {
  zh: {
    appTitle: "远程庭审",
    langToggle: "English",
    langToggleLabel: "Switch to English",
    langToggleLang: "en",
    pageTitle: "远程庭审",
    joinInAudioOnly: "以仅音频模式加入（网络较差时推荐）",
    // states
    prejoin: "加入前检查",
    connecting: "正在连接…",
    connectingMedia: "正在建立音视频连接…",
    connected: "已连接",
    reconnecting: "连接中断，正在重新连接…",
    reconnectingMedia: "音视频中断，正在恢复…",
    ended: "会话已结束",
    error: "无法加入",
    unreachable: "无法连接服务器，正在重试…",
    graceOver: "断线时间超过 {s} 秒，您在庭审中的位置已释放，会话已结束。",
    left: "您已离开。",
    rejoin: "重新加入",
    retry: "重试",
    serverSaid: "服务器说明：{reason}",
    // pre-join check
    prejoinHeading: "加入前检查",
    joiningAs: "您将以 {role}「{name}」的身份加入",
    room: "庭审室：{room}",
    cameraPreview: "摄像头预览",
    camera: "摄像头",
    microphone: "麦克风",
    micLevel: "麦克风音量",
    micLevelHint: "请说话，音量条应随声音跳动",
    noDevice: "（无）",
    deviceDefault: "设备 {n}",
    network: "网络检查",
    netChecking: "正在检查网络…",
    netResult: "往返时延 {rtt} 毫秒：{verdict}",
    netGood: "良好",
    netFair: "一般，可能出现卡顿",
    netPoor: "较差，建议使用仅音频模式",
    netUnreachable: "无法连接服务器，请检查网络后重试",
    checkAgain: "重新检查",
    join: "加入庭审",
    joinAudioOnly: "仅用麦克风加入",
    joinWatchOnly: "仅观看加入",
    observerNote: "您是旁听人员，只能观看和收听。",
    camDenied: "无法使用摄像头：{why}。您可以仅用麦克风加入。",
    allDenied: "无法使用摄像头和麦克风：{why}。您可以仅观看加入，或允许使用设备后点“重试”。",
    whyDenied: "浏览器未获准使用",
    whyMissing: "未找到设备",
    whyBusy: "设备被其他程序占用",
    whyOther: "设备无法打开",
    askDevices: "重试使用设备",
    camDeniedInRoom: "无法使用摄像头（{why}），已仅用麦克风加入。",
    allDeniedInRoom: "无法使用摄像头和麦克风（{why}），已以仅观看方式加入。",
    // room
    you: "您",
    youSuffix: "（您）",
    participants: "参加人员",
    participantsCount: "参加人员（{n}）",
    controls: "庭审控制",
    muteMic: "静音麦克风",
    stopCam: "关闭摄像头",
    audioOnly: "仅音频模式",
    audioOnlyOn: "已开启仅音频模式：不接收他人视频，以节省网络。",
    audioOnlyOff: "已关闭仅音频模式。",
    suggestAudioOnly: "网络较差，建议开启仅音频模式。",
    leave: "离开",
    micOff: "麦克风已关",
    camOff: "摄像头已关",
    speaking: "正在发言",
    away: "重新连接中",
    noVideo: "无视频",
    waitingOthers: "等待其他人员加入…",
    quality: "网络质量",
    qualityUnknown: "网络：检测中",
    qualityLine: "网络{verdict} · 往返 {rtt} · 丢包 {loss} · 可用 {bw}",
    qGood: "良好",
    qFair: "一般",
    qPoor: "较差",
    enableAudio: "点击此处开启声音",
    nowSpeaking: "{name} 正在发言",
    joinedNote: "{name}（{role}）加入了",
    leftNote: "{name}（{role}）离开了",
    mediaFailed: "音视频连接失败，正在重试…",
    // close codes
    close1000: "会话已结束。",
    close1009: "消息过大，连接被关闭。请刷新页面。",
    close4000: "通信协议错误，请刷新页面。",
    close4001: "链接无效或已被改动，请向法院索取新的链接。",
    close4002: "链接已过期，请向法院索取新的链接。",
    close4003: "链接尚未生效，请在规定时间再打开。",
    close4004: "此链接属于另一场庭审。",
    close4005: "此链接已被法院撤回。",
    close4006: "法院的准入规则不允许您加入本场庭审。",
    close4008: "发送消息过于频繁，连接被关闭。",
    close4010: "您已在其他窗口或设备上加入，本窗口已断开。",
    close4012: "客户端版本不受支持，请刷新页面。",
    close4013: "您已被移出庭审。",
    noToken: "链接无效：缺少参会凭证。请使用法院发送的完整链接。",
    badToken: "链接无效：参会凭证无法识别。",
  },
  en: {
    appTitle: "Remote hearing",
    langToggle: "中文",
    langToggleLabel: "切换到中文",
    langToggleLang: "zh-CN",
    pageTitle: "Remote hearing",
    joinInAudioOnly: "Join in audio-only mode (recommended on a poor connection)",
    prejoin: "Pre-join check",
    connecting: "Connecting…",
    connectingMedia: "Setting up audio and video…",
    connected: "Connected",
    reconnecting: "Connection lost, reconnecting…",
    reconnectingMedia: "Audio/video interrupted, recovering…",
    ended: "The session has ended",
    error: "Cannot join",
    unreachable: "Cannot reach the server, retrying…",
    graceOver: "You were disconnected for more than {s} seconds; your place in the hearing was released and the session has ended.",
    left: "You have left.",
    rejoin: "Join again",
    retry: "Retry",
    serverSaid: "Server: {reason}",
    prejoinHeading: "Pre-join check",
    joiningAs: "You will join as {role} “{name}”",
    room: "Hearing room: {room}",
    cameraPreview: "Camera preview",
    camera: "Camera",
    microphone: "Microphone",
    micLevel: "Microphone level",
    micLevelHint: "Speak: the bar should move with your voice",
    noDevice: "(none)",
    deviceDefault: "Device {n}",
    network: "Network check",
    netChecking: "Checking the network…",
    netResult: "Round trip {rtt} ms: {verdict}",
    netGood: "good",
    netFair: "fair, video may stutter",
    netPoor: "poor, audio-only mode is recommended",
    netUnreachable: "Cannot reach the server; check the network and retry",
    checkAgain: "Check again",
    join: "Join the hearing",
    joinAudioOnly: "Join with microphone only",
    joinWatchOnly: "Join to watch only",
    observerNote: "You are an observer: you can watch and listen only.",
    camDenied: "The camera cannot be used: {why}. You can join with the microphone only.",
    allDenied: "Camera and microphone cannot be used: {why}. You can join to watch only, or allow the devices and press “Retry”.",
    whyDenied: "the browser was not allowed to use it",
    whyMissing: "no device found",
    whyBusy: "the device is in use by another program",
    whyOther: "the device could not be opened",
    askDevices: "Retry the devices",
    camDeniedInRoom: "The camera cannot be used ({why}); you joined with the microphone only.",
    allDeniedInRoom: "Camera and microphone cannot be used ({why}); you joined to watch only.",
    you: "You",
    youSuffix: " (you)",
    participants: "Participants",
    participantsCount: "Participants ({n})",
    controls: "Hearing controls",
    muteMic: "Mute microphone",
    stopCam: "Stop camera",
    audioOnly: "Audio-only mode",
    audioOnlyOn: "Audio-only mode on: other people's video is not received, to save bandwidth.",
    audioOnlyOff: "Audio-only mode off.",
    suggestAudioOnly: "The connection is poor: audio-only mode is recommended.",
    leave: "Leave",
    micOff: "mic off",
    camOff: "camera off",
    speaking: "speaking",
    away: "reconnecting",
    noVideo: "no video",
    waitingOthers: "Waiting for others to join…",
    quality: "Connection quality",
    qualityUnknown: "Network: measuring",
    qualityLine: "Network {verdict} · RTT {rtt} · loss {loss} · available {bw}",
    qGood: "good",
    qFair: "fair",
    qPoor: "poor",
    enableAudio: "Click here to turn on sound",
    nowSpeaking: "{name} is speaking",
    joinedNote: "{name} ({role}) joined",
    leftNote: "{name} ({role}) left",
    mediaFailed: "Audio/video connection failed, retrying…",
    close1000: "The session has ended.",
    close1009: "A message was too large and the connection was closed. Reload the page.",
    close4000: "Protocol error. Reload the page.",
    close4001: "The link is invalid or has been altered. Ask the court for a new link.",
    close4002: "The link has expired. Ask the court for a new link.",
    close4003: "The link is not valid yet. Open it again at the set time.",
    close4004: "This link is for a different hearing.",
    close4005: "This link has been withdrawn by the court.",
    close4006: "The court's admission rules do not allow you to join this hearing.",
    close4008: "Too many messages; the connection was closed.",
    close4010: "You joined from another window or device; this window was disconnected.",
    close4012: "This client version is not supported. Reload the page.",
    close4013: "You have been removed from the hearing.",
    noToken: "Invalid link: the join token is missing. Use the full link the court sent you.",
    badToken: "Invalid link: the join token cannot be read.",
  },
};

export const ROLES = {
  zh: {
    presiding_judge: "审判长", judge: "审判员", clerk: "书记员", mediator: "调解员", plaintiff: "原告",
    defendant: "被告", counsel: "代理人", witness: "证人", interpreter: "翻译", prosecutor: "检察员",
    detainee: "在押人员", officer: "监管民警", observer: "旁听",
  },
  en: {
    presiding_judge: "Presiding judge", judge: "Judge", clerk: "Clerk", mediator: "Mediator", plaintiff: "Plaintiff",
    defendant: "Defendant", counsel: "Counsel", witness: "Witness", interpreter: "Interpreter",
    prosecutor: "Prosecutor", detainee: "Detainee", officer: "Officer", observer: "Observer",
  },
};

function initialLang() {
  try {
    const saved = localStorage.getItem(LANG_KEY);
    if (saved === "en" || saved === "zh") return saved;
  } catch { /* storage disabled */ }
  return "zh";
}

let lang = initialLang();
const listeners = new Set();

export function currentLang() { return lang; }

export function t(key, vars = {}) {
  const s = STRINGS[lang][key] ?? STRINGS.zh[key] ?? key;
  return s.replace(/\{(\w+)\}/g, (_, k) => (k in vars ? String(vars[k]) : `{${k}}`));
}

export function roleLabel(role) { return ROLES[lang][role] ?? role; }

/** Localized message for a close code, or null when the code has no message of its own. */
export function closeMessage(code) {
  const key = `close${code}`;
  return key in STRINGS.zh ? t(key) : null;
}

export function setLang(next, { remember = true } = {}) {
  if (next !== "zh" && next !== "en") return;
  lang = next;
  if (remember) {
    try { localStorage.setItem(LANG_KEY, next); } catch { /* storage disabled */ }
  }
  applyI18n(document);
  for (const fn of listeners) fn(lang);
}

export function onLangChange(fn) { listeners.add(fn); }

/** Fill `data-i18n` (text), `data-i18n-label` (aria-label) and `data-i18n-title` attributes under root. */
export function applyI18n(root) {
  document.documentElement.lang = lang === "en" ? "en" : "zh-CN";
  for (const el of root.querySelectorAll("[data-i18n]")) el.textContent = t(el.dataset.i18n);
  for (const el of root.querySelectorAll("[data-i18n-label]")) el.setAttribute("aria-label", t(el.dataset.i18nLabel));
  for (const el of root.querySelectorAll("[data-i18n-title]")) el.title = t(el.dataset.i18nTitle);
  for (const el of root.querySelectorAll("[data-i18n-lang]")) el.lang = t(el.dataset.i18nLang);
  document.title = `${t("pageTitle")} · Hearing`;
}
