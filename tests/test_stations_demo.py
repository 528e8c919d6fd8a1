"""`hearing demo` also prints a demo station's device link and an on-duty judge's login: both work, and a second run
withdraws the previous station link and gives the judge a new password."""

from __future__ import annotations

import re
from pathlib import Path

import httpx
import pytest

from app.cli import _print_demo
from tests.live import live_server


async def test_demo_station_and_judge_work_and_a_second_run_replaces_them(tmp_path: Path,
                                                                         capsys: pytest.CaptureFixture[str]) -> None:
    async with live_server(tmp_path) as server, httpx.AsyncClient(base_url=server.base, timeout=30) as http:
        async def run() -> tuple[str, str]:
            await _print_demo(server.services)
            out = capsys.readouterr().out
            link = re.search(r"/station#link=(\S+)", out)
            password = re.search(r"username duty-judge, password (\S+)\)", out)
            assert link and password, out
            return link.group(1), password.group(1)

        link, password = await run()
        me = await http.get("/api/stations/me", headers={"X-Station-Link": link})
        assert me.status_code == 200 and me.json()["name"] == "示例村工作站" and me.json()["open_now"]
        login = await http.post("/api/login", json={"username": "duty-judge", "password": password})
        assert login.status_code == 200, login.text
        duty = await http.get("/api/duty", headers={"Authorization": f"Bearer {login.json()['token']}"})
        assert duty.json()["on_duty"] and duty.json()["courts"] == ["demo-court"]
        http.cookies.clear()

        link2, password2 = await run()
        assert (await http.get("/api/stations/me", headers={"X-Station-Link": link})).json()["error"] == \
            "station_link_revoked"
        assert (await http.get("/api/stations/me", headers={"X-Station-Link": link2})).status_code == 200
        for old_or_new, status in ((password, 401), (password2, 200)):
            r = await http.post("/api/login", json={"username": "duty-judge", "password": old_or_new})
            assert r.status_code == status
        assert len(await server.services.stations.store.list_stations()) == 1  # type: ignore[union-attr]
