// The staff pages' strings: Simplified Chinese by default, English selectable. The choice is shared with the join
// page (localStorage["hearing.lang"]); nothing else of the staff pages is ever stored in the browser.
const LANG_KEY = "hearing.lang";

const STRINGS = {
  zh: {
    appTitle: "远程庭审 · 法院工作人员",
    langToggle: "English",
    langToggleLabel: "Switch to English",
    langToggleLang: "en",
    loginHeading: "工作人员登录",
    username: "用户名",
    password: "密码",
    login: "登录",
    loggingIn: "正在登录…",
    logout: "退出登录",
    lockedUntil: "账户已锁定，请于 {t} 之后再试。",
    sessionEnded: "登录已失效，请重新登录。",
    loggedInAs: "{name}（{roles}）",
    navHearings: "庭审列表",
    navCreate: "立案排期",
    navDashboard: "统计",
    loading: "正在加载…",
    networkError: "无法连接服务器，请检查网络后重试。",
    serverError: "服务器错误（{status}）。",
    dismiss: "关闭提示",
    // hearing list
    hearingsHeading: "庭审列表",
    filterState: "状态",
    filterKind: "类型",
    any: "全部",
    refresh: "刷新",
    colCase: "案号",
    colKind: "类型",
    colTime: "时间",
    colState: "状态",
    colRoom: "庭审室",
    noHearings: "没有符合条件的庭审。",
    open: "打开",
    // detail
    detailHeading: "庭审详情",
    back: "返回列表",
    yourRole: "您在本庭审中的身份：{role}",
    noRole: "您在本庭审中没有庭审身份，不能推进程序。",
    panel: "合议庭 / 审判人员",
    participants: "参加人员",
    colName: "姓名",
    colRole: "身份",
    colStatus: "候庭状态",
    colVerified: "身份核验",
    colLink: "入庭链接",
    notVerified: "未核验",
    verifiedBy: "{method}（{by}）",
    linkBound: "已发送",
    issueLink: "生成链接",
    linkOnce: "链接只显示这一次，请复制后发送给本人。再次生成会使旧链接失效。",
    copy: "复制",
    copied: "已复制",
    linkFor: "{name} 的入庭链接",
    procedure: "庭审程序",
    noMoves: "当前没有您可以进行的程序操作。",
    moved: "程序已变更：{from} → {to}",
    openRoom: "进入庭审室",
    openRoomHelp: "您不是本庭审的参加人员。请由书记员将您添加为参加人员（审判长/审判员须在合议庭中），然后点“进入庭审室”或请书记员为您生成链接。",
    openRoomNoPerm: "您的账户不能生成链接，请书记员为您生成入庭链接。",
    addParticipant: "添加参加人员",
    person: "人员",
    role: "身份",
    add: "添加",
    added: "已添加参加人员。",
    scheduled: "{start} — {end}",
    recorded: "录音录像",
    yes: "是",
    no: "否",
    // recording
    recordingHeading: "录像 / Recording",
    recNone: "本庭审还没有录像（只在开庭期间录制）。",
    recVerified: "录像完整：哈希链与片段均核对无误（{how}）。",
    recBroken: "录像不完整：清单第 {seq} 条有问题（{reason}）：{detail}",
    recRunning: "正在录制中，或录像的最后几条记录缺失。",
    recSummary: "开始于 {start}，开庭时长 {dur}",
    recHowFull: "已重新计算每个片段的 SHA-256",
    recHowSizes: "已核对哈希链与片段大小",
    colParticipant: "参加人",
    colKind: "类型",
    colCodec: "编码",
    colSegments: "片段数",
    colDuration: "时长",
    play: "播放",
    stop: "停止",
    kindVideo: "视频",
    kindAudio: "音频",
    recPaused: "{at} 休庭（{reason}，操作人 {who}）",
    recResumed: "，{at} 恢复",
    recPlaying: "正在播放 {who} 的{kind}：第 {n}/{total} 段，录制于 {at}",
    recEnded: "已播放完毕。",
    recUrlsExpire: "播放地址 {t} 失效，过期后会自动重新获取。",
    // create
    createHeading: "立案排期",
    personHeading: "1. 登记人员",
    name: "姓名",
    idDocument: "身份证件号码（可选）",
    idDocHint: "证件号码只保存加密摘要和后四位。",
    createPerson: "登记",
    personCreated: "已登记：{name}",
    knownPersons: "本次登记的人员",
    caseHeading: "2. 立案",
    caseNumber: "案号",
    cause: "案由",
    parties: "当事人",
    side: "诉讼地位",
    none: "（不列入）",
    createCase: "立案",
    caseCreated: "已立案：{number}",
    hearingHeading: "3. 排期",
    case: "案件",
    kind: "类型",
    start: "开始时间",
    end: "结束时间",
    panelPick: "合议庭（第一位为审判长）",
    panelIds: "其他人员编号（逗号分隔，可选）",
    createHearing: "排期",
    hearingCreated: "已排期，可添加参加人员。",
    me: "本人",
    personId: "人员编号",
    // dashboard
    dashHeading: "庭审统计",
    since: "起始日期",
    until: "截止日期",
    show: "查询",
    colHeld: "已结束庭审",
    colMinutes: "开庭时长（分钟）",
    total: "合计",
    statsRange: "统计区间：{since} 至 {until}",
    allTime: "全部",
  },
  en: {
    appTitle: "Remote hearings · Court staff",
    langToggle: "中文",
    langToggleLabel: "切换到中文",
    langToggleLang: "zh-CN",
    loginHeading: "Staff login",
    username: "Username",
    password: "Password",
    login: "Log in",
    loggingIn: "Logging in…",
    logout: "Log out",
    lockedUntil: "The account is locked; try again after {t}.",
    sessionEnded: "Your session ended; please log in again.",
    loggedInAs: "{name} ({roles})",
    navHearings: "Hearings",
    navCreate: "Cases & scheduling",
    navDashboard: "Statistics",
    loading: "Loading…",
    networkError: "Cannot reach the server; check the network and try again.",
    serverError: "Server error ({status}).",
    dismiss: "Dismiss",
    hearingsHeading: "Hearings",
    filterState: "State",
    filterKind: "Kind",
    any: "All",
    refresh: "Refresh",
    colCase: "Case number",
    colKind: "Kind",
    colTime: "Scheduled",
    colState: "State",
    colRoom: "Room",
    noHearings: "No hearings match.",
    open: "Open",
    detailHeading: "Hearing",
    back: "Back to the list",
    yourRole: "Your role in this hearing: {role}",
    noRole: "You hold no court role in this hearing and cannot make procedure moves.",
    panel: "Panel",
    participants: "Participants",
    colName: "Name",
    colRole: "Role",
    colStatus: "Lobby status",
    colVerified: "Identity check",
    colLink: "Join link",
    notVerified: "not checked",
    verifiedBy: "{method} (by {by})",
    linkBound: "issued",
    issueLink: "Issue link",
    linkOnce: "This link is shown only once: copy it and send it to the person. Issuing again withdraws it.",
    copy: "Copy",
    copied: "Copied",
    linkFor: "Join link for {name}",
    procedure: "Procedure",
    noMoves: "No procedure move is open to you now.",
    moved: "Procedure changed: {from} → {to}",
    openRoom: "Open the hearing room",
    openRoomHelp: "You are not a participant of this hearing. Ask a clerk to add you as a participant (a judge must be on the panel), then use “Open the hearing room” or ask the clerk for your link.",
    openRoomNoPerm: "Your account cannot issue links; ask a clerk to issue your join link.",
    addParticipant: "Add a participant",
    person: "Person",
    role: "Role",
    add: "Add",
    added: "Participant added.",
    scheduled: "{start} — {end}",
    recorded: "Recorded",
    yes: "yes",
    no: "no",
    recordingHeading: "录像 / Recording",
    recNone: "This hearing has no recording yet (hearings are recorded only while in session).",
    recVerified: "Recording intact: the hash chain and the segments check out ({how}).",
    recBroken: "Recording broken at manifest entry {seq} ({reason}): {detail}",
    recRunning: "Still recording, or the recording's last entries are missing.",
    recSummary: "Started {start}, {dur} in session",
    recHowFull: "every segment's SHA-256 recomputed",
    recHowSizes: "chain and segment sizes checked",
    colParticipant: "Participant",
    colKind: "Kind",
    colCodec: "Codec",
    colSegments: "Segments",
    colDuration: "Duration",
    play: "Play",
    stop: "Stop",
    kindVideo: "video",
    kindAudio: "audio",
    recPaused: "{at} recess ({reason}, by {who})",
    recResumed: ", resumed {at}",
    recPlaying: "Playing {who}'s {kind}: segment {n}/{total}, recorded {at}",
    recEnded: "Playback finished.",
    recUrlsExpire: "Playback URLs expire at {t}; they are fetched again when they do.",
    createHeading: "Cases and scheduling",
    personHeading: "1. Register a person",
    name: "Name",
    idDocument: "ID number (optional)",
    idDocHint: "Only a salted hash and the last four characters are kept.",
    createPerson: "Register",
    personCreated: "Registered: {name}",
    knownPersons: "Persons registered in this session",
    caseHeading: "2. Open a case",
    caseNumber: "Case number",
    cause: "Cause",
    parties: "Parties",
    side: "Side",
    none: "(not a party)",
    createCase: "Open case",
    caseCreated: "Case opened: {number}",
    hearingHeading: "3. Schedule a hearing",
    case: "Case",
    kind: "Kind",
    start: "Start",
    end: "End",
    panelPick: "Panel (the first presides)",
    panelIds: "Other person ids (comma separated, optional)",
    createHearing: "Schedule",
    hearingCreated: "Scheduled; add the participants now.",
    me: "me",
    personId: "Person id",
    dashHeading: "Hearing statistics",
    since: "From",
    until: "To",
    show: "Show",
    colHeld: "Hearings held",
    colMinutes: "Minutes in session",
    total: "Total",
    statsRange: "Range: {since} to {until}",
    allTime: "all",
  },
};

const LABELS = {
  kind: {
    trial: ["庭审", "Trial"], mediation: ["调解", "Mediation"], deliberation: ["合议", "Deliberation"],
    interview: ["谈话", "Interview"], async_trial: ["异步审理", "Asynchronous trial"],
    arraignment: ["提讯", "Arraignment"],
  },
  state: {
    scheduled: ["已排期", "Scheduled"], lobby_open: ["候庭", "Lobby open"], in_session: ["开庭", "In session"],
    recess: ["休庭", "Recess"], closed: ["闭庭", "Closed"], record_sealed: ["归档", "Record sealed"],
  },
  role: {
    presiding_judge: ["审判长", "Presiding judge"], judge: ["审判员", "Judge"], clerk: ["书记员", "Clerk"],
    mediator: ["调解员", "Mediator"], plaintiff: ["原告", "Plaintiff"], defendant: ["被告", "Defendant"],
    counsel: ["代理人", "Counsel"], witness: ["证人", "Witness"], interpreter: ["翻译", "Interpreter"],
    prosecutor: ["检察员", "Prosecutor"], detainee: ["在押人员", "Detainee"], officer: ["监管民警", "Officer"],
    observer: ["旁听", "Observer"], admin: ["管理员", "Administrator"],
  },
  status: {
    waiting: ["候庭中", "Waiting"], admitted: ["已准入", "Admitted"], denied: ["已拒绝", "Denied"],
    removed: ["已移出", "Removed"],
  },
  transition: {
    open_lobby: ["开放候庭", "Open the lobby"], start_session: ["开庭", "Start the session"],
    recess: ["休庭", "Recess"], resume: ["继续开庭", "Resume"], close: ["闭庭", "Close"], seal: ["归档", "Seal the record"],
  },
  side: { plaintiff: ["原告", "Plaintiff"], defendant: ["被告", "Defendant"], third_party: ["第三人", "Third party"] },
  verification: {
    id_card_at_station: ["服务站核验身份证", "ID card at a station"],
    id_card_on_video: ["视频核验身份证", "ID card on video"],
    face_match: ["人脸比对", "Face match"], known_to_court: ["法院认识", "Known to the court"],
  },
};

export const KINDS = Object.keys(LABELS.kind);
export const STATES = Object.keys(LABELS.state);
export const ROLES = Object.keys(LABELS.role).filter((r) => r !== "admin");
export const SIDES = Object.keys(LABELS.side);

let lang = "zh";
try {
  if (localStorage.getItem(LANG_KEY) === "en") lang = "en";
} catch { /* storage blocked: Chinese */ }

export function currentLang() { return lang; }

export function setLang(next) {
  lang = next === "en" ? "en" : "zh";
  try { localStorage.setItem(LANG_KEY, lang); } catch { /* not remembered */ }
}

/** A string in the current language with {placeholders} filled in. */
export function t(key, vars = {}) {
  const s = STRINGS[lang][key] ?? STRINGS.zh[key] ?? key;
  return s.replace(/\{(\w+)\}/g, (_, k) => (k in vars ? String(vars[k]) : `{${k}}`));
}

/** A label of the court's vocabulary (kind, state, role, status, transition, side, verification). */
export function label(group, value) {
  const pair = LABELS[group]?.[value];
  if (!pair) return value ?? "";
  return pair[lang === "en" ? 1 : 0];
}

/** Date and time in the browser's time zone and language. */
export function localTime(iso) {
  if (!iso) return "";
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return iso;
  return d.toLocaleString(lang === "en" ? "en-GB" : "zh-CN", {
    year: "numeric", month: "2-digit", day: "2-digit", hour: "2-digit", minute: "2-digit",
  });
}

/** Put the strings into every element marked data-i18n / data-i18n-label below `root`. */
export function applyStrings(root = document) {
  document.documentElement.lang = lang === "en" ? "en" : "zh-CN";
  document.title = t("appTitle");
  for (const el of root.querySelectorAll("[data-i18n]")) el.textContent = t(el.dataset.i18n);
  for (const el of root.querySelectorAll("[data-i18n-label]")) el.setAttribute("aria-label", t(el.dataset.i18nLabel));
  for (const el of root.querySelectorAll("[data-i18n-lang]")) el.setAttribute("lang", t(el.dataset.i18nLang));
}
