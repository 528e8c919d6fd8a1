"""The integrity and points pages in real Chromium against a live server.

- /integrity#access=… (the person): the colour badge, the QR (the server's <svg>), the reasons with case numbers;
  after an agency's query, the query shows under "Who checked my code".
- /static/integrity/agency.html: an agency fills in its key, the person, a scope and a purpose and sees only the
  colour and the validity — nothing of the cases behind them.
- /points#t=… : the balance, the history and the catalogue; redeeming an item lowers the balance and adds a line.
Every wait is on a selector or a condition, never a sleep.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.async_api import BrowserContext, Page

from docket.court import NewPerson
from docket.facts import FactKind, NewFact
from docket.facts_sql import SqlFactRecords
from docket.staff_sql import SqlStaffStore
from hearing.staff_auth import StaffAuth, cheap_hasher
from tests.browser import ARTIFACTS, WAIT_MS, PageErrors, chromium, fresh_context
from tests.live import LiveServer, live_server

pytestmark = [pytest.mark.browser, pytest.mark.timeout(180)]

PASSWORD = "correct horse battery"
CASE = "(2026)示例执7号"


async def clerk_session(server: LiveServer, http: httpx.AsyncClient) -> dict[str, str]:
    """A clerk account on the server's database (cheap test hasher) and its session header."""
    auth = StaffAuth(SqlStaffStore(server.services.court.engine), server.services.audit, hasher=cheap_hasher())
    await auth.create_account("clerk", "王书记员", ["clerk"], PASSWORD)
    r = await http.post(f"{server.base}/api/login", json={"username": "clerk", "password": PASSWORD})
    assert r.status_code == 200, r.text
    http.cookies.clear()
    return {"Authorization": f"Bearer {r.json()['token']}"}


async def post(http: httpx.AsyncClient, url: str, headers: dict[str, str], **kw: Any) -> dict[str, Any]:
    r = await http.post(url, headers=headers, **kw)
    assert r.status_code in (200, 201), r.text
    body: dict[str, Any] = r.json()
    return body


async def open_page(ctx: BrowserContext, url: str) -> tuple[Page, PageErrors]:
    page = await ctx.new_page()
    errors = PageErrors(page)
    await page.goto(url)
    return page, errors


async def text(page: Page, selector: str) -> str:
    return (await page.locator(selector).inner_text()).strip()


async def test_integrity_person_and_agency_pages(tmp_path: Path) -> None:
    async with live_server(tmp_path, media_enabled=False) as server, httpx.AsyncClient() as http:
        clerk = await clerk_session(server, http)
        pid = (await server.services.court.create_person(NewPerson("赵当事人", birth_date=date(1980, 1, 3)))).id
        today = datetime.now(UTC).date()
        await post(http, f"{server.base}/api/integrity/imports?format=json", clerk, json={
            "source": "city-exchange", "facts": [{
                "person_id": pid, "kind": "enforcement_opened", "occurred_on": (today - timedelta(days=5)).isoformat(),
                "source_ref": "E-1", "case_number": CASE}]})
        link = (await post(http, f"{server.base}/api/integrity/access-links", clerk, json={"person_id": pid}))["url"]
        assert link.startswith(f"{server.base}/integrity#access=")
        key = (await post(http, f"{server.base}/api/integrity/agencies", clerk,
                          json={"name": "市财政局", "scopes": ["procurement"]}))["api_key"]

        async with chromium() as browser, fresh_context(browser) as ctx:
            person, person_errors = await open_page(ctx, link)
            agency, agency_errors = await open_page(ctx, f"{server.base}/static/integrity/agency.html")
            try:
                await person.wait_for_selector("#code:not([hidden])", timeout=WAIT_MS)
                assert await person.get_attribute("#colour", "class") == "badge yellow"
                assert "yellow" in await text(person, "#colour")
                await person.wait_for_selector("#qr svg", state="attached", timeout=WAIT_MS)
                assert await person.locator("#qr svg").count() == 1
                assert (await person.text_content("#token") or "").startswith("IC1.")  # in closed <details>
                reasons = await text(person, "#reasons tbody")
                assert "enforcement_open" in reasons and CASE in reasons
                assert await person.locator("#queries tbody tr").count() == 0

                await agency.fill("input[name=key]", key)
                await agency.fill("input[name=person_id]", pid)
                await agency.select_option("select[name=scope]", "procurement")
                await agency.fill("input[name=purpose]", "tender 2026-31 bidder check")
                await agency.click("#query button")
                await agency.wait_for_selector("#answer:not([hidden])", timeout=WAIT_MS)
                assert await get_class(agency) == "badge yellow"
                assert await text(agency, "#valid")
                assert (await agency.text_content("#token") or "").startswith("IC1.")
                shown = await agency.evaluate("document.body.innerText")
                for secret in (CASE, "enforcement", "赵当事人", "Score"):
                    assert secret not in shown, secret
                # A purpose that is too short: the code's words (not the API's English), no answer, nothing recorded.
                await agency.fill("input[name=purpose]", "x   ")
                await agency.click("#query button")
                await agency.wait_for_selector("#answer[hidden]", state="attached", timeout=WAIT_MS)
                refusal = await text(agency, "#status")
                assert "请写明查询目的" in refusal and "purpose" not in refusal

                await person.reload()
                await person.wait_for_selector("#queries tbody tr", timeout=WAIT_MS)
                rows = await person.locator("#queries tbody tr").all_inner_texts()
                assert len(rows) == 1 and "市财政局" in rows[0] and "tender 2026-31 bidder check" in rows[0]
                assert person_errors.errors == [] and agency_errors.errors == []
            except BaseException:
                ARTIFACTS.mkdir(exist_ok=True)
                await person.screenshot(path=str(ARTIFACTS / "web_integrity_person_failure.png"), full_page=True)
                await agency.screenshot(path=str(ARTIFACTS / "web_integrity_agency_failure.png"), full_page=True)
                raise


async def get_class(page: Page) -> str | None:
    return await page.get_attribute("#colour", "class")


async def test_points_page_balance_history_catalogue_and_redemption(tmp_path: Path) -> None:
    async with live_server(tmp_path, media_enabled=False) as server, httpx.AsyncClient() as http:
        clerk = await clerk_session(server, http)
        court = server.services.court
        pid = (await court.create_person(NewPerson("钱调解", birth_date=date(1985, 2, 3)))).id
        facts = SqlFactRecords(court.engine, court.url)
        for kind, ref in ((FactKind.SETTLEMENT_REACHED, "S-1"), (FactKind.MEDIATION_PARTICIPATION, "M-1"),
                          (FactKind.SETTLEMENT_PERFORMED, "S-2")):
            await facts.add_fact(NewFact(pid, kind, date(2026, 5, 1), "court", ref, "(2026)民初9号"))
        item = await post(http, f"{server.base}/api/points/staff/items", clerk,
                          json={"name": "保温杯", "price": 50, "stock": 3})
        link = (await post(http, f"{server.base}/api/points/staff/person-tokens", clerk,
                           json={"person_id": pid}))["link"]
        assert "/points#t=" in link

        async with chromium() as browser, fresh_context(browser) as ctx:
            page, errors = await open_page(ctx, link if link.startswith("http") else f"{server.base}{link}")
            try:
                await page.wait_for_selector("#signed-in:not([hidden])", timeout=WAIT_MS)
                await page.wait_for_function("() => document.getElementById('balance').textContent === '120'",
                                             timeout=WAIT_MS)
                assert "#t=" not in page.url  # the token left the address bar
                await page.wait_for_selector("#history tbody tr", timeout=WAIT_MS)
                history = await page.locator("#history tbody tr").all_inner_texts()
                assert len(history) == 2  # participation +20, settlement performed +100
                assert any("+100" in row for row in history) and any("+20" in row for row in history)
                catalogue = page.locator("#catalogue tbody tr", has_text=item["name"])
                assert await catalogue.count() == 1
                assert (await catalogue.locator("td").nth(1).inner_text()).strip() == "50"

                await catalogue.locator("button").click()
                await page.wait_for_function("() => document.getElementById('balance').textContent === '70'",
                                             timeout=WAIT_MS)
                await page.wait_for_function("() => document.querySelectorAll('#history tbody tr').length === 3",
                                             timeout=WAIT_MS)
                newest = await page.locator("#history tbody tr").first.inner_text()
                assert "-50" in newest and "70" in newest
                assert "保温杯" in await text(page, "#message")
                stock = page.locator("#catalogue tbody tr", has_text=item["name"]).locator("td").nth(2)
                assert (await stock.inner_text()).strip() == "2"
                assert errors.errors == []
            except BaseException:
                ARTIFACTS.mkdir(exist_ok=True)
                await page.screenshot(path=str(ARTIFACTS / "web_points_failure.png"), full_page=True)
                raise
        # The server agrees: one redemption, balance 70, stock 2.
        token = link.split("#t=", 1)[1]
        me = (await http.get(f"{server.base}/api/points/me", headers={"Authorization": f"Bearer {token}"})).json()
        assert me["balance"] == 70
