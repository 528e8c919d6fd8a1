"""Evidence files of integrity appeals through the HTTP API, on the production wiring with the real local object
store (a directory under the test's tmp dir): a person files an appeal with PDF/PNG/JPEG files (type read from the
bytes), a judge lists and opens them through expiring links (access checked, every view audited), and every
refusal — too large, wrong type, empty, too many, the store or the database failing — files nothing: no appeal, no
audit entry, no object left in the store.
"""

from __future__ import annotations

import hashlib
import struct
import zlib
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from playwright.async_api import Page

import integrity.service as service_module
from docket.court import NewPerson
from docket.records import RecordsError
from docket.staff_sql import SqlStaffStore
from hearing.staff_auth import StaffAuth, cheap_hasher
from integrity.evidence import MAX_EVIDENCE_BYTES, MAX_EVIDENCE_FILES, evidence_digest
from tests.browser import ARTIFACTS, WAIT_MS, PageErrors, chromium, fresh_context
from tests.live import live_server
from tests.test_integrity_api import PASSWORD, Env, _enforcement, _env, _error

PDF = b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"
JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00\xff\xd9"
EXE = b"MZ\x90\x00\x03\x00\x00\x00" + b"\x00" * 64


def png_1x1() -> bytes:
    """A real 1×1 PNG (browsers render it)."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    header = struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\x00\xff\x00\x00"))
            + chunk(b"IEND", b""))


PNG = png_1x1()


@pytest.fixture
async def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Env]:
    async for e in _env(tmp_path, f"sqlite+aiosqlite:///{tmp_path / 'court.db'}", monkeypatch):
        yield e


@pytest.fixture
async def env_both(court_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Env]:
    async for e in _env(tmp_path, court_url, monkeypatch):
        yield e


async def file_with(env: Env, me: dict[str, str], files: list[tuple[str, bytes, str]], *,
                    fact_ids: list[str] | None = None, kind: str = "appeal",
                    text: str = "The enforcement was closed; the notice is attached.") -> httpx.Response:
    """POST /me/appeals as a multipart form, as the person's page sends it."""
    data: dict[str, Any] = {"kind": kind, "text": text, "fact_ids": fact_ids or [], "evidence": ["notice no. 7"]}
    return await env.call("POST", "/me/appeals", headers=me, data=data,
                          files=[("files", (name, body, declared)) for name, body, declared in files])


async def stored_objects(env: Env) -> list[str]:
    return [o.key for o in await env.services.objects.list("integrity/")]


async def open_link(env: Env, url: str) -> httpx.Response:
    """Follow a presigned link: the local store's URLs are served by the app itself (/objects/…)."""
    parts = urlsplit(url)
    return await env.client.get(f"{parts.path}?{parts.query}")


async def test_a_person_files_evidence_files_and_a_judge_opens_them(env_both: Env) -> None:
    env = env_both
    pid = await env.person("举证人")
    await env.import_json([_enforcement(pid, env.today)])
    me = await env.access(pid)
    [fact] = await env.integrity.facts.facts_of(pid)
    files = [("收据 receipt.pdf", PDF, "application/pdf"),
             ("C:\\Users\\li\\photo.png", PNG, "application/octet-stream"),  # the type comes from the bytes
             ("scan.jpeg", JPEG, "image/png")]
    r = await file_with(env, me, files, fact_ids=[fact.id])
    assert r.status_code == 201, r.text
    appeal_id = r.json()["id"]
    out = r.json()["files"]
    assert [(f["name"], f["media_type"], f["size"], f["sha256"]) for f in out] == [
        ("收据 receipt.pdf", "application/pdf", len(PDF), hashlib.sha256(PDF).hexdigest()),
        ("photo.png", "image/png", len(PNG), hashlib.sha256(PNG).hexdigest()),
        ("scan.jpeg", "image/jpeg", len(JPEG), hashlib.sha256(JPEG).hexdigest())]

    # The store holds the bytes under ids only; the person's names never reach a key.
    keys = await stored_objects(env)
    assert sorted(keys) == sorted(f"integrity/evidence/{appeal_id}/{f['id']}" for f in out)
    assert all("receipt" not in k and "photo" not in k for k in keys)
    for f, (_, body, _) in zip(out, files, strict=True):
        assert await env.services.objects.get(f"integrity/evidence/{appeal_id}/{f['id']}") == body
    [filed] = await env.audit("integrity.appeal_filed")
    assert filed.details["evidence_files"] == 3
    assert filed.details["evidence_digest"] == evidence_digest([(f["id"], f["sha256"]) for f in out])
    assert "receipt" not in str(filed.details)

    activity = (await env.call("GET", "/me/activity", headers=me)).json()
    assert [[f["name"] for f in a["files"]] for a in activity["appeals"]] == [[f["name"] for f in out]]
    [queued] = (await env.call("GET", "/appeals", "judge")).json()
    assert queued["id"] == appeal_id and queued["evidence"] == ["notice no. 7"]
    assert [f["id"] for f in queued["files"]] == [f["id"] for f in out]

    # Only a judge opens evidence, only through its own appeal; refusals are not audited.
    path = f"/appeals/{appeal_id}/evidence/{out[0]['id']}"
    _error(await env.call("GET", path), 401)
    _error(await env.call("GET", path, headers=me), 401)  # the person's link is no staff session
    _error(await env.call("GET", path, "clerk"), 403, "forbidden")
    other = await env.person("另一人")
    r = await file_with(env, await env.access(other), [("x.pdf", PDF, "application/pdf")])
    assert r.status_code == 201, r.text
    _error(await env.call("GET", f"/appeals/{r.json()['id']}/evidence/{out[0]['id']}", "judge"), 404, "not_found")
    _error(await env.call("GET", f"/appeals/{appeal_id}/evidence/nope", "judge"), 404, "not_found")
    assert await env.audit("integrity.evidence_viewed") == []

    for f, (_, body, _) in zip(out, files, strict=True):
        r = await env.call("GET", f"/appeals/{appeal_id}/evidence/{f['id']}", "judge")
        assert r.status_code == 200, r.text
        link = r.json()
        assert link["sha256"] == f["sha256"] and link["media_type"] == f["media_type"]
        expires_at = datetime.fromisoformat(link["expires_at"])
        assert env.clock.now < expires_at <= env.clock.now + timedelta(minutes=5)
        got = await open_link(env, link["url"])
        assert got.status_code == 200 and got.content == body
        assert got.headers["content-type"].startswith(f["media_type"])
    viewed = await env.audit("integrity.evidence_viewed")
    assert [(e.actor_role, e.subject, e.details) for e in viewed] == [
        ("judge", f"appeal:{appeal_id}", {"evidence_id": f["id"], "sha256": f["sha256"]}) for f in out]
    # A tampered link opens nothing.
    tampered = link["url"].replace("signature=", "signature=0")
    assert (await open_link(env, tampered)).status_code == 403

    r = await env.call("POST", f"/appeals/{appeal_id}/decision", "judge",
                       json={"grant": True, "decision": "The closing notice is genuine."})
    assert r.status_code == 200 and r.json()["status"] == "granted", r.text
    # Still openable after the decision (the record of what it rested on).
    r = await env.call("GET", f"/appeals/{appeal_id}/evidence/{out[1]['id']}", "judge")
    assert (await open_link(env, r.json()["url"])).content == PNG
    assert await env.services.audit.verify() is None


async def test_refused_files_file_nothing(env: Env) -> None:
    pid = await env.person()
    me = await env.access(pid)
    audit_before = len(await env.audit())
    oversize = b"%PDF-1.7\n" + b"0" * MAX_EVIDENCE_BYTES
    cases: list[tuple[list[tuple[str, bytes, str]], int, str, str]] = [
        ([("big.pdf", oversize, "application/pdf")], 413, "evidence_too_large", "10.0 MiB"),
        ([("setup.pdf", EXE, "application/pdf")], 415, "evidence_unsupported_type", "not a PDF, PNG or JPEG"),
        ([("notes.png", b"just some text", "image/png")], 415, "evidence_unsupported_type", "notes.png"),
        ([("ok.pdf", PDF, "application/pdf"), ("empty.jpg", b"", "image/jpeg")], 422, "evidence_empty", "empty"),
        ([(f"p{i}.png", PNG, "image/png") for i in range(MAX_EVIDENCE_FILES + 1)], 422, "evidence_too_many",
         f"at most {MAX_EVIDENCE_FILES}"),
    ]
    for files, status, code, says in cases:
        body = _error(await file_with(env, me, files), status, code)
        assert says in body["message"], body
    # Form fields are checked as in the JSON form.
    _error(await env.call("POST", "/me/appeals", headers=me, data={"kind": "plea", "text": "x"},
                          files=[("files", ("a.pdf", PDF, "application/pdf"))]), 422, "invalid_request")
    _error(await env.call("POST", "/me/appeals", headers=me, data={"kind": "appeal", "text": "x", "files": "text"},
                          files=[("other", ("a.pdf", PDF, "application/pdf"))]), 422, "invalid_request")
    _error(await env.call("POST", "/me/appeals", headers={**me, "Content-Type": "multipart/form-data; boundary=x"},
                          content=b"--x\r\nnot a part"), 422, "invalid_request")

    # A request larger than any acceptable one is refused from its Content-Length, before it is read.
    env.integrity.max_evidence_bytes = 1024
    try:
        big = [("a.pdf", b"%PDF-" + b"0" * (2 * 1024 * 1024), "application/pdf")]
        _error(await file_with(env, me, big), 413, "evidence_too_large")
        _error(await file_with(env, me, [("b.pdf", b"%PDF-" + b"0" * 1024, "application/pdf")]), 413,
               "evidence_too_large")
    finally:
        env.integrity.max_evidence_bytes = MAX_EVIDENCE_BYTES

    assert (await env.call("GET", "/me/activity", headers=me)).json()["appeals"] == []
    assert await env.integrity.appeals(status=None) == []
    assert len(await env.audit()) == audit_before
    assert await stored_objects(env) == []

    # Exactly at the limit is accepted.
    exact = b"%PDF-" + b"0" * (MAX_EVIDENCE_BYTES - 5)
    r = await file_with(env, me, [("exact.pdf", exact, "application/pdf")])
    assert r.status_code == 201 and r.json()["files"][0]["size"] == MAX_EVIDENCE_BYTES, r.text


async def test_a_failing_store_or_database_files_nothing_and_leaves_no_object(env: Env,
                                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    pid = await env.person()
    me = await env.access(pid)
    objects = env.services.objects
    real_put = objects.put
    puts: list[str] = []

    async def second_put_fails(key: str, data: bytes, content_type: str = "application/octet-stream") -> Any:
        puts.append(key)
        if len(puts) == 2:
            raise OSError("disk full")
        return await real_put(key, data, content_type)

    two = [("a.pdf", PDF, "application/pdf"), ("b.png", PNG, "image/png")]
    with monkeypatch.context() as m:
        m.setattr(objects, "put", second_put_fails)
        body = _error(await file_with(env, me, two), 503, "evidence_unavailable")
    assert "nothing was filed" in body["message"] and len(puts) == 2
    assert await stored_objects(env) == []  # the first file was removed again

    real_append = service_module.append_in

    async def audit_down(*args: Any, **kw: Any) -> Any:
        raise RecordsError("the audit log is unavailable")

    with monkeypatch.context() as m:
        m.setattr(service_module, "append_in", audit_down)
        _error(await file_with(env, me, two), 503, "database_unavailable")
    assert service_module.append_in is real_append
    assert await stored_objects(env) == []
    assert await env.integrity.appeals(status=None) == []

    # Without an evidence store (a deployment that has none), files are refused and nothing is filed.
    store, env.integrity.evidence_store = env.integrity.evidence_store, None
    try:
        _error(await file_with(env, me, two), 503, "evidence_unavailable")
        r = await env.call("POST", "/me/appeals", headers=me, json={"kind": "repair", "text": "No files."})
        assert r.status_code == 201 and r.json()["files"] == []
    finally:
        env.integrity.evidence_store = store
    assert len(await env.integrity.appeals(status=None)) == 1
    assert await env.audit("integrity.appeal_filed") != []
    assert await env.services.audit.verify() is None



# ---- the pages, in real Chromium --------------------------------------------------------------------------------

@pytest.mark.browser
@pytest.mark.timeout(180)
async def test_pages_attach_evidence_and_the_judge_opens_it(tmp_path: Path) -> None:
    """The person's page files an appeal with files (a refused one first: its message, nothing filed); the judges'
    queue lists the files and opens one in a new tab through an audited link. Waits on selectors, never sleeps."""
    async with live_server(tmp_path, media_enabled=False) as server, httpx.AsyncClient() as http:
        auth = StaffAuth(SqlStaffStore(server.services.court.engine), server.services.audit, hasher=cheap_hasher())
        await auth.create_account("clerk", "王书记员", ["clerk"], PASSWORD)
        await auth.create_account("judge", "李法官", ["judge"], PASSWORD)
        staff: dict[str, dict[str, str]] = {}
        for username in ("clerk", "judge"):
            r = await http.post(f"{server.base}/api/login", json={"username": username, "password": PASSWORD})
            staff[username] = {"Authorization": f"Bearer {r.json()['token']}"}
        http.cookies.clear()
        clerk = staff["clerk"]
        pid = (await server.services.court.create_person(NewPerson("孙申诉", birth_date=date(1980, 1, 3)))).id
        today = datetime.now(UTC).date()
        r = await http.post(f"{server.base}/api/integrity/imports?format=json", headers=clerk, json={
            "source": "city-exchange", "facts": [_enforcement(pid, today)]})
        assert r.status_code == 200, r.text
        r = await http.post(f"{server.base}/api/integrity/access-links", headers=clerk, json={"person_id": pid})
        link = r.json()["url"]

        async with chromium() as browser, fresh_context(browser) as ctx:
            person = await ctx.new_page()
            person_errors = PageErrors(person)
            pages: list[Page] = [person]
            try:
                await person.goto(link)
                await person.wait_for_selector("#code:not([hidden])", timeout=WAIT_MS)
                await person.fill("#appeal textarea[name=text]", "The enforcement was closed in March.")
                await person.check("#reasons tbody input[type=checkbox]")
                # A file that is no PDF whatever its name: the server's message, nothing filed.
                await person.set_input_files("#appeal input[name=files]", files=[
                    {"name": "notice.pdf", "mimeType": "application/pdf", "buffer": b"plain text, not a PDF"}])
                await person.click("#appeal button")
                await person.wait_for_function(
                    "() => document.getElementById('appeal-status').textContent.includes('不支持这种材料文件类型')",
                    timeout=WAIT_MS)
                assert await person.locator("#appeals li").count() == 0

                await person.set_input_files("#appeal input[name=files]", files=[
                    {"name": "notice.pdf", "mimeType": "application/pdf", "buffer": PDF},
                    {"name": "receipt.png", "mimeType": "image/png", "buffer": PNG}])
                await person.click("#appeal button")
                await person.wait_for_function(
                    "() => document.getElementById('appeal-status').textContent.startsWith('Filed with 2 file')",
                    timeout=WAIT_MS)
                await person.wait_for_selector("#appeals ul.files li", timeout=WAIT_MS)
                assert await person.locator("#appeals ul.files li").all_inner_texts() == [
                    f"notice.pdf ({len(PDF)} bytes)", f"receipt.png ({len(PNG)} bytes)"]
                [appeal] = (await http.get(f"{server.base}/api/integrity/appeals", headers=staff["judge"])).json()
                assert [f["name"] for f in appeal["files"]] == ["notice.pdf", "receipt.png"]

                # The judge's session cookie, as the staff page's login sets it.
                r2 = await ctx.request.post(f"{server.base}/api/login",
                                            data={"username": "judge", "password": PASSWORD})
                assert r2.ok
                queue = await ctx.new_page()
                queue_errors = PageErrors(queue)
                pages.append(queue)
                await queue.goto(f"{server.base}/static/integrity/appeals.html")
                await queue.wait_for_selector("#queue li[data-evidence]", timeout=WAIT_MS)
                items = queue.locator("#queue li[data-evidence]")
                assert await items.count() == 2
                assert "receipt.png · image/png" in await items.nth(1).inner_text()
                async with ctx.expect_page(timeout=WAIT_MS) as opened:
                    await items.nth(1).locator("button").click()
                tab = await opened.value
                pages.append(tab)
                await tab.wait_for_url("**/objects/integrity/evidence/**", timeout=WAIT_MS)
                await tab.wait_for_load_state()
                assert await tab.evaluate("document.contentType") == "image/png"
                await queue.wait_for_selector("#queue li[data-evidence] a:not([hidden])", timeout=WAIT_MS)
                viewed = [e for e in await server.services.audit.entries(limit=1000)
                          if e.action == "integrity.evidence_viewed"]
                assert [e.details["evidence_id"] for e in viewed] == [appeal["files"][1]["id"]]
                assert person_errors.errors == [] and queue_errors.errors == []
            except BaseException:
                ARTIFACTS.mkdir(exist_ok=True)
                for i, page in enumerate(pages):
                    await page.screenshot(path=str(ARTIFACTS / f"web_integrity_evidence_failure_{i}.png"),
                                          full_page=True)
                raise
