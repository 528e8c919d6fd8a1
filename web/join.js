// Minimal signalling client: joins with the token from the URL fragment, keeps its place across drops.
// The full client (media, pre-join check, layouts) builds on this in issue 4.
const STRINGS = {
  zh: {
    connecting: "正在连接…", connected: "已连接", reconnecting: "连接中断，正在重新连接…",
    ended: "会话已结束", noToken: "链接无效：缺少参会凭证", you: "您", participants: "参加人员",
    muteMic: "静音麦克风", stopCam: "关闭摄像头", leave: "离开", left: "您已离开庭审",
    micOff: "麦克风已关", camOff: "摄像头已关", away: "重新连接中", unreachable: "无法连接服务器，正在重试…",
  },
  en: {
    connecting: "Connecting…", connected: "Connected", reconnecting: "Connection lost, reconnecting…",
    ended: "The session has ended", noToken: "Invalid link: no join token", you: "You",
    participants: "Participants", muteMic: "Mute microphone", stopCam: "Stop camera", leave: "Leave",
    left: "You have left the hearing", micOff: "mic off", camOff: "camera off", away: "reconnecting",
    unreachable: "Cannot reach the server, retrying…",
  },
};
const lang = new URLSearchParams(location.hash.slice(1)).get("lang") === "en" ? "en" : "zh";
const t = (k) => STRINGS[lang][k] ?? k;
document.documentElement.lang = lang === "en" ? "en" : "zh-CN";
for (const el of document.querySelectorAll("[data-i18n]")) el.textContent = t(el.dataset.i18n);

const RETRYABLE = new Set([1001, 1006, 1011, 1012, 4009, 4014]);
const params = new URLSearchParams(location.hash.slice(1));
const token = params.get("token");
const state = { me: null, people: new Map(), resumeToken: null, graceMs: 30000, droppedAt: 0, ws: null, done: false };

function setState(s, text) {
  document.body.dataset.state = s;
  document.getElementById("status").textContent = text ?? t(s);
}

function roomFromToken(tok) {
  try {
    const b64 = tok.split(".")[1].replace(/-/g, "+").replace(/_/g, "/");
    return JSON.parse(decodeURIComponent(escape(atob(b64)))).room;
  } catch { return null; }
}

function render() {
  const ul = document.getElementById("participants");
  ul.replaceChildren();
  for (const p of state.people.values()) {
    const li = document.createElement("li");
    li.dataset.participantId = p.id;
    li.dataset.role = p.role;
    const flags = [];
    if (p.audio_muted) flags.push(t("micOff"));
    if (p.video_muted) flags.push(t("camOff"));
    if (p.connection === "reconnecting") { flags.push(t("away")); li.className = "reconnecting"; }
    li.textContent = `${p.name} (${p.role})${flags.length ? " — " + flags.join(", ") : ""}`;
    ul.append(li);
  }
  if (state.me) {
    document.getElementById("me").textContent = `${state.me.name} (${state.me.role})`;
    document.getElementById("mute-audio").setAttribute("aria-pressed", String(state.me.audio_muted));
    document.getElementById("mute-video").setAttribute("aria-pressed", String(state.me.video_muted));
  }
}

function send(msg) { if (state.ws?.readyState === WebSocket.OPEN) state.ws.send(JSON.stringify(msg)); }

function onMessage(msg) {
  switch (msg.type) {
    case "joined":
      state.me = msg.participant; state.resumeToken = msg.resume_token;
      state.graceMs = msg.resume_grace_seconds * 1000; state.droppedAt = 0;
      state.people = new Map(msg.participants.map((p) => [p.id, p]));
      setState("connected"); render(); break;
    case "participant-joined": state.people.set(msg.participant.id, msg.participant); render(); break;
    case "participant-left": state.people.delete(msg.participant_id); render(); break;
    case "participant-connection": {
      const p = state.people.get(msg.participant_id); if (p) { p.connection = msg.connection; render(); } break;
    }
    case "mute-state": {
      const p = msg.participant_id === state.me?.id ? state.me : state.people.get(msg.participant_id);
      if (p) { p.audio_muted = msg.audio_muted; p.video_muted = msg.video_muted; render(); } break;
    }
    case "ping": send({ type: "pong", id: msg.id }); break;
    case "error": console.warn("server error", msg.code, msg.message); break;
  }
}

function connect(room) {
  const ws = new WebSocket(`${location.protocol === "https:" ? "wss" : "ws"}://${location.host}/ws/${room}`);
  state.ws = ws;
  ws.onopen = () => send(state.resumeToken ? { type: "resume", v: 1, resume_token: state.resumeToken }
                                           : { type: "join", v: 1, token });
  ws.onmessage = (ev) => { try { onMessage(JSON.parse(ev.data)); } catch (e) { console.error(e); } };
  ws.onclose = (ev) => {
    if (state.done) return;
    if (ev.code === 4007 && token) { state.resumeToken = null; setTimeout(() => connect(room), 200); return; }
    if (ev.code === 1000 || (ev.code >= 4000 && !RETRYABLE.has(ev.code))) {
      state.done = true;
      setState(ev.code === 1000 || ev.code === 4010 ? "ended" : "error", ev.reason || t("ended"));
      return;
    }
    if (!state.droppedAt) state.droppedAt = Date.now();
    if (state.resumeToken && Date.now() - state.droppedAt > state.graceMs) state.resumeToken = null;
    setState(state.me ? "reconnecting" : "connecting", state.me ? t("reconnecting") : t("unreachable"));
    setTimeout(() => connect(room), Math.min(5000, 250 + Math.random() * 750));
  };
}

setInterval(() => send({ type: "ping" }), 15000);
document.getElementById("mute-audio").onclick = () =>
  state.me && send({ type: "mute", kind: "audio", muted: !state.me.audio_muted });
document.getElementById("mute-video").onclick = () =>
  state.me && send({ type: "mute", kind: "video", muted: !state.me.video_muted });
document.getElementById("leave").onclick = () => { send({ type: "leave" }); state.done = true; setState("ended", t("left")); };

const room = token && roomFromToken(token);
if (!room) setState("error", t("noToken"));
else { setState("connecting"); connect(room); }
window.hearing = { state };
