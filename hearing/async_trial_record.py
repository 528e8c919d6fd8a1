"""The transcript (笔录) of an asynchronous trial, assembled from its stages. Pure.

There is no live session for a clerk to write down, so the record is the trial itself: every stage (with its
deadline, extensions and reasons), every question (who asked, to whom, when, the judge's clip if any) and every
answer (who, when, the text, the exhibits, the recorded clip's id, size and SHA-256, and the answer's own seal).
`assemble` turns a `TrialSnapshot` into that text; the shell saves it as a transcript version through the existing
transcript mechanism (hearing.transcript_service), so it is signed by each participant and exported as PDF exactly
as a live hearing's transcript is. Times are written in the court's time zone. Names come from the register.

The clips' SHA-256 in the text are the clip store's (recomputed from the stored bytes when each upload completed);
`clip_hashes` reads them back from a transcript text, so anyone holding the PDF and the clips can check them.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import datetime
from zoneinfo import ZoneInfo

from docket.async_trial import TrialSnapshot
from hearing import async_trial as rules

STAGE_TITLES = {
    "claims_defence": "诉辩阶段 (claims and defence)",
    "evidence": "举证质证阶段 (evidence and cross-examination)",
    "debate": "辩论阶段 (debate)",
    "final_statement": "最后陈述阶段 (final statement)",
}
VISIBILITY = {"at_once": "提交后即可查看 (visible at once)",
              "after_deadline": "期限届满后查看 (visible after the deadline)"}
ROLE_TITLES = {"plaintiff": "原告", "defendant": "被告", "counsel": "代理人", "presiding_judge": "审判长",
               "judge": "审判员", "clerk": "书记员"}
_CLIP_LINE = re.compile(r"视频 clip ([0-9a-f]+) .*SHA-256 ([0-9a-f]{64})")


def _at(when: datetime, tz: ZoneInfo) -> str:
    return when.astimezone(tz).strftime("%Y-%m-%d %H:%M:%S")


def assemble(t: TrialSnapshot, names: Mapping[str, str], *, case_number: str, tz: ZoneInfo) -> str:
    """The transcript text of the trial as it stands (`names`: participant id → name)."""

    def who(pid: str) -> str:
        return f"{ROLE_TITLES.get(t.parties.get(pid, ''), t.parties.get(pid, ''))} {names.get(pid, '?')}"

    lines = ["异步审理笔录 (asynchronous trial transcript)", f"案号 (case): {case_number}", ""]
    lines.append("一、当事人同意异步审理 (consent)")
    for pid, c in sorted(rules.current_consents(t).items(), key=lambda kv: kv[1].at):
        how = {"online": "本人在线确认", "written": "书面同意", "oral_on_record": "口头同意并记录"}[c.method.value]
        note = f"（{c.note}）" if c.note else ""
        lines.append(f"  {who(pid)}：{'同意' if c.given else '不同意'}，{how}{note}，{_at(c.at, tz)}，"
                     f"记录人 {who(c.recorded_by)}")
    answers_by_q: dict[str, list[str]] = {}
    for a in t.answers:
        block = [f"      答 {who(a.participant_id)}，{_at(a.submitted_at, tz)}："]
        if a.text:
            block += [f"        {line}" for line in a.text.splitlines()]
        if a.clip is not None:
            block.append(f"        视频 clip {a.clip.clip_id} ({a.clip.media_type}, {a.clip.size} bytes) "
                         f"SHA-256 {a.clip.sha256}")
        if a.exhibit_ids:
            block.append(f"        证据 (exhibits): {', '.join(a.exhibit_ids)}")
        block.append(f"        封存 (seal) SHA-256 {a.hash}")
        answers_by_q.setdefault(a.question_id, []).extend(block)
    for n, stage in enumerate(t.stages, start=2):
        lines += ["", f"{'二三四五六七八九'[n - 2]}、{STAGE_TITLES[stage.kind.value]}"]
        lines.append(f"  开始 {_at(stage.opened_at, tz)}，期限 {stage.workdays} 个工作日，"
                     f"截止 {_at(stage.due_at, tz)}，{VISIBILITY[stage.visibility.value]}")
        for e in t.extensions:
            if e.stage_id == stage.id:
                lines.append(f"  延期 (extension) {who(e.participant_id)} 至 {_at(e.due_at, tz)}，理由：{e.reason}，"
                             f"{_at(e.granted_at, tz)}")
        for q in (q for q in t.questions if q.stage_id == stage.id):
            to = "、".join(who(pid) for pid in q.addressees)
            lines.append(f"  问 {q.number}（{who(q.posted_by)} → {to}，{_at(q.posted_at, tz)}）：{q.text}")
            if q.clip_id:
                lines.append(f"      视频 clip {q.clip_id} SHA-256 {q.clip_sha256}")
            lines += answers_by_q.get(q.id) or ["      （未答 / not answered）"]
        if stage.closed_at is not None:
            lines.append(f"  本阶段结束 {_at(stage.closed_at, tz)}")
    lines += ["", f"答复链 (answer chain) 末端 SHA-256 {t.head_hash}"]
    return "\n".join(lines) + "\n"


def clip_hashes(text: str) -> dict[str, str]:
    """clip id → SHA-256 as written in a transcript text."""
    return {m.group(1): m.group(2) for m in _CLIP_LINE.finditer(text)}
