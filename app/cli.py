"""The `hearing` command: serve, issue and revoke join links, migrate, the demo, and staff accounts."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import re
import shutil
import socket
import sys
from collections.abc import Sequence
from pathlib import Path

from app.logs import setup_logging
from app.services import Services, build_services, start_services, stop_services
from app.settings import Settings, SettingsError, load_settings
from docket.seat_codes_sql import SqlSeatCodes
from hearing.kinds import KIND_LABELS
from hearing.roles import ROLE_LABELS, Role


def _progress(line: str) -> None:
    print(f"  {line}", file=sys.stderr, flush=True)


def command_hint() -> str:
    """How to run `hearing` again from where the person is: `hearing` if that is on PATH and the same program,
    else the path they ran (`.venv/bin/hearing` after `make run`, which never activates the virtualenv)."""
    ran = Path(sys.argv[0])
    on_path = shutil.which("hearing")
    if on_path and ran.name == "hearing" and Path(on_path).resolve() == ran.resolve():
        return "hearing"
    if ran.name != "hearing":  # run as `python -m app.cli` or from a test: the venv's entry point beside python
        ran = Path(sys.executable).parent / "hearing"
    with contextlib.suppress(ValueError):
        return str(ran.resolve().relative_to(Path.cwd().resolve()))
    return str(ran)


async def _print_demo(services: Services) -> None:
    from hearing.api.seat_codes import store_seat_code
    from hearing.demo import DEMO_TITLE, seed_demo_court
    from hearing.seat_codes import derive_key

    s = services.settings
    hearings = await seed_demo_court(services.court, services.records, services.tokens, s.base_url,
                                     audit=services.audit)
    store, key = SqlSeatCodes(services.court.engine), derive_key(s.token_secret)
    full: list[str] = []
    print(f"\nDemo court 演示法院: {DEMO_TITLE}.\nOpen each link in its own browser window (one per person); "
          "parties wait in the lobby\nuntil the judge or clerk checks their identity and admits them. "
          "A link holds the seat's short code after '#'.")
    for demo in hearings:
        zh, en = KIND_LABELS[demo.spec.kind]
        print(f"\n{zh} {en} (room {demo.hearing.room_id}):")
        full.append(f"# {zh} {en} (room {demo.hearing.room_id})")
        if demo.spec.page == "async":
            print("  Each party consents on their /async page (links in the file below); then the judge opens\n"
                  "  the lobby and the session from the courtroom, the clerk admits the parties, and stages,\n"
                  "  questions and answers run on the pages. The judge's and clerk's courtroom codes:")
        for seat in demo.links:
            role_zh, role_en = ROLE_LABELS[seat.role]
            pad = " " * max(1, 8 - 2 * len(role_zh))  # Chinese characters take two columns
            if seat.url != seat.link.url:  # the asynchronous trial's own page (a token of its own, no short code)
                full.append(f"{role_en} (/async): {seat.url}")
                if seat.role not in (Role.PRESIDING_JUDGE, Role.CLERK):
                    continue
            short = await store_seat_code(store, key, s.base_url, seat.link.jti, seat.link.url)
            print(f"  {role_zh}{pad}{role_en:<17} {short.code_url}")
            full.append(f"{role_en}: {seat.link.url}")
    links_file = s.var_dir / "demo-links.txt"  # the full links hold tokens: the owner's eyes only
    links_file.parent.mkdir(parents=True, exist_ok=True)
    links_file.touch(mode=0o600)
    links_file.chmod(0o600)
    links_file.write_text("\n".join(full) + "\n", encoding="utf-8")
    print(f"\n(the full join links, for scripts: {links_file})")
    await _print_demo_petitions(services)
    await _print_demo_desk(services)
    print(flush=True)


async def _print_demo_petitions(services: Services) -> None:
    """A few video petitions in every state (petitions/demo.py), once per register."""
    from app.factory import petition_service
    from docket.staff_sql import SqlStaffStore
    from hearing.staff_auth import StaffAuth
    from petitions.api import CitizenTokens
    from petitions.demo import seed_demo_petitions

    s = services.settings
    service = petition_service(s, services, CitizenTokens.from_secret(s.signing_secret()))
    auth = StaffAuth(SqlStaffStore(services.court.engine), services.audit)
    demo = await seed_demo_petitions(service, auth.create_account, next(iter(s.petition_court_names())))
    if demo.staff_password is None:
        print("\nVideo petitions (接诉即办): the register already has petitions; the demo added none.")
        return
    print(f"\nVideo petitions (接诉即办): citizens {s.base_url}/petitions · staff {s.base_url}/petitions/staff "
          f"(accounts demo-clerk, demo-judge, demo-supervisor; password {demo.staff_password})")
    for p in demo.petitions:
        print(f"  {p.number}  status code {p.status_code}  ({p.state})")


DEMO_JUDGE = "duty-judge"


async def _print_demo_desk(services: Services) -> None:
    """Connect-a-judge (连线法官): the demo station's device link and an on-duty judge (a fresh password each run)."""
    import secrets
    from datetime import UTC, datetime

    from docket.staff_sql import SqlStaffStore
    from hearing.staff_auth import StaffAuth
    from stations.demo import seed_demo_desk

    if services.stations is None:
        return
    auth = StaffAuth(SqlStaffStore(services.court.engine), services.audit)
    password = secrets.token_urlsafe(9)
    account = await auth.store.find_staff(DEMO_JUDGE)
    if account is None:
        account = await auth.create_account(DEMO_JUDGE, "值班法官（演示）", ["judge"], password)
    else:
        await auth.store.set_password_hash(account.id, await asyncio.to_thread(auth.hasher.hash, password))
    desk = await seed_demo_desk(services.court, services.stations.store, account.id, actor=("system", "system"),
                                now=datetime.now(UTC))
    base = services.settings.base_url
    print(f"\n连线法官 Connect a judge (court {desk.station.court_code}):")
    print(f"  工作站 Station page      {base}/station#link={desk.link_token}")
    print(f"  值班法官 Duty page       {base}/duty   (username {DEMO_JUDGE}, password {password})")


async def _serve(settings: Settings, demo: bool) -> int:
    import uvicorn

    from app.drain import DrainingServer
    from app.factory import create_app
    from app.http_guard import ResourceLog, raise_fd_limit, server_options

    problem = _port_problem(settings.host, settings.port)
    if problem:
        print(f"hearing: cannot listen on {settings.host}:{settings.port}: {problem}. Stop the other server "
              "(another `hearing serve`?) or choose a free port with HEARING_PORT=...", file=sys.stderr)
        return 1
    services = build_services(settings)
    print(f"Starting the hearing platform (database: {_safe_url(settings.effective_database_url)}, "
          f"bus: {'redis' if settings.redis_url else 'in-process'}, "
          f"objects: {settings.s3_endpoint or settings.objects_dir})", file=sys.stderr, flush=True)
    await start_services(services, progress=_progress)
    app = create_app(settings, services)
    raise_fd_limit()
    ResourceLog().install(asyncio.get_running_loop())  # EMFILE on accept: one warning per interval
    config = uvicorn.Config(
        app, host=settings.host, port=settings.port, log_config=None, access_log=False,
        ws_max_size=4 * settings.ws_max_message_bytes, ws_ping_interval=20, ws_ping_timeout=20,
        timeout_graceful_shutdown=5, lifespan="on", **server_options(settings),  # limits: app/http_guard.py
    )
    server = DrainingServer(config, services, settings.drain_seconds)  # SIGTERM drains first (app/drain.py)
    task = asyncio.create_task(server.serve())
    while not server.started and not task.done():  # uvicorn exposes no event for "listening"
        await asyncio.wait({task}, timeout=0.05)
    if task.done():
        with contextlib.suppress(SystemExit):  # uvicorn exits when it cannot start; it has logged why
            await task
        await stop_services(services)
        return 1
    rule = "=" * 78
    print(f"\n{rule}\nThe hearing platform is running at {settings.base_url}\n"
          f"  health {settings.base_url}/healthz · API docs {settings.base_url}/docs · "
          f"hearing codes {settings.base_url}/c\n"
          f"  court staff pages {settings.base_url}/staff — create an account first, in another terminal here:\n"
          f"    {command_hint()} staff add --username NAME --name 'Full name' --roles clerk\n{rule}", flush=True)
    if demo:
        await _print_demo(services)
    await task
    return 0


def _port_problem(host: str, port: int) -> str | None:
    """Say so before migrating and connecting anything, rather than a traceback from deep inside uvicorn."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError as exc:
            return exc.strerror or str(exc)
    return None


def _safe_url(url: str) -> str:
    return re.sub(r"://([^:/@]+):[^@]+@", r"://\1:***@", url)


async def _with_services(settings: Settings, fn) -> int:  # type: ignore[no-untyped-def]
    services = build_services(settings)
    await start_services(services, progress=_progress)
    try:
        return int(await fn(services) or 0)
    finally:
        await stop_services(services)


async def _token(settings: Settings, args: argparse.Namespace) -> int:
    from app.links import issue_link

    async def run(services: Services) -> int:
        grants = frozenset(args.grants.split(",")) if args.grants else None
        url, issued = await issue_link(services.records, services.tokens, settings.base_url, room_id=args.room,
                                       role=Role(args.role), name=args.name, ttl_seconds=args.ttl, grants=grants,
                                       kind=args.kind)
        print(url)
        print(f"token id {issued.jti}, participant {issued.participant_id}, expires {issued.expires_at:%Y-%m-%d %H:%M} "
              "UTC (revoke with: hearing revoke TOKEN_ID)", file=sys.stderr)
        return 0

    return await _with_services(settings, run)


async def _revoke(settings: Settings, args: argparse.Namespace) -> int:
    async def run(services: Services) -> int:
        if await services.records.revoke_token(args.token_id, args.reason):
            print(f"revoked {args.token_id}")
            return 0
        print(f"no token {args.token_id} was issued here; check the id printed by `hearing token`", file=sys.stderr)
        return 1

    return await _with_services(settings, run)


async def _migrate(settings: Settings) -> int:
    from docket.migrate import current_revision, upgrade

    url = settings.effective_database_url
    if url.startswith("sqlite"):
        settings.var_dir.mkdir(parents=True, exist_ok=True)
    print(f"migrating {_safe_url(url)}", file=sys.stderr)
    await upgrade(url, progress=_progress)
    print(f"schema at {await current_revision(url)}")
    return 0


async def _verify_recording(settings: Settings, hearing_id: str) -> int:
    """Exit 0 if every manifest link and segment hash checks out and the recording was stopped, 1 naming the first
    missing or altered segment (or broken link), 2 if the store cannot be read or holds no such recording."""
    from recordings.manifest import verify_store
    from recordings.objectstore import ObjectStoreError

    services = build_services(settings)
    tty = sys.stderr.isatty()

    def progress(done: int, total: int) -> None:
        if tty or done == total or done % 500 == 0:
            end = "\n" if done == total or not tty else "\r"
            print(f"  checking manifest entry {done}/{total}", end=end, file=sys.stderr, flush=True)

    try:
        entries, broken = await verify_store(services.objects, hearing_id, progress=progress)
    except ObjectStoreError as exc:
        print(f"hearing: cannot read the recordings: {exc}", file=sys.stderr)
        return 2
    finally:
        await services.objects.close()
    if not entries:
        print(f"hearing: no recording of hearing {hearing_id!r} in the object store", file=sys.stderr)
        return 2
    if broken is not None:
        print(f"recording of hearing {hearing_id} BROKEN at manifest entry {broken.seq} ({broken.reason.value}): "
              f"{broken.detail}")
        return 1
    segments = [e for e in entries if e.type == "segment"]
    size = sum(int(e.data.get("size", 0)) for e in segments)
    if entries[-1].type != "stop":
        print(f"recording of hearing {hearing_id}: {len(entries)} entries and {len(segments)} segments intact, but "
              "it has no stop entry: it is still running, or its last entries are missing")
        return 1
    print(f"recording of hearing {hearing_id} intact: {len(entries)} manifest entries, {len(segments)} segments, "
          f"{size / 1e6:.1f} MB, every SHA-256 recomputed")
    return 0


async def _export(settings: Settings, args: argparse.Namespace) -> int:
    """Compose the recording into one MP4 (or, with --track, remux one track), then audit it as recording.exported.

    Exit 0 when written and audited, 1 if the recording is broken (unless --force) or has no such track, 2 if the
    store or the audit log cannot be used. The audit log is checked first: an export that cannot be recorded is
    not made.
    """
    import hashlib
    from pathlib import Path

    from docket.audit import AuditEvent, SqlAuditLog
    from docket.migrate import current_revision
    from docket.records import RecordsError
    from recordings.export import ExportRefused, export_mp4, export_track_to
    from recordings.objectstore import ObjectStoreError

    url = settings.effective_database_url
    try:
        revision = await current_revision(url)
    except RecordsError as exc:
        print(f"hearing: cannot reach the audit log, so nothing was exported: {exc}", file=sys.stderr)
        return 2
    if revision is None or revision[:4] < "0003":
        print(f"hearing: {_safe_url(url)} has no audit log yet (schema at {revision or 'none'}); run `hearing migrate`"
              " (exports are recorded there)", file=sys.stderr)
        return 2
    out = Path(args.out)
    partial = out.with_name(out.name + ".part")
    services = build_services(settings)
    tty = sys.stderr.isatty()
    shown = [-1]

    def progress(fraction: float) -> None:
        percent = int(fraction * 100)
        if percent == shown[0] or (not tty and percent % 10 and percent != 100):
            return
        shown[0] = percent
        bar = "#" * (percent * 30 // 100)
        end = "\n" if percent == 100 or not tty else "\r"
        print(f"  composing [{bar:<30}] {percent:3d}%", end=end, file=sys.stderr, flush=True)

    try:
        if args.track:
            print(f"  remuxing track {args.track} of hearing {args.hearing_id}", file=sys.stderr, flush=True)
            result = await export_track_to(services.objects, args.hearing_id, args.track, partial, force=args.force)
        else:
            print(f"  verifying the recording of hearing {args.hearing_id}", file=sys.stderr, flush=True)
            result = await export_mp4(services.objects, args.hearing_id, partial,
                                      court_timezone=settings.court_timezone, fps=args.fps, force=args.force,
                                      progress=progress)
    except ExportRefused as exc:
        partial.unlink(missing_ok=True)
        print(f"hearing: {exc}", file=sys.stderr)
        return 1
    except ObjectStoreError as exc:
        partial.unlink(missing_ok=True)
        print(f"hearing: cannot read the recordings: {exc}", file=sys.stderr)
        return 2
    finally:
        await services.objects.close()

    def finish() -> tuple[str, int]:
        """SHA-256 and size of the written file, then move it into place."""
        digest, size = hashlib.sha256(), 0
        with open(partial, "rb") as f:
            while chunk := f.read(1 << 20):
                digest.update(chunk)
                size += len(chunk)
        partial.replace(out)
        return digest.hexdigest(), size

    sha256, size = await asyncio.to_thread(finish)
    details: dict[str, object] = {
        "hearing_id": args.hearing_id, "what": "track" if args.track else "composite", "track_id": args.track,
        "format": result.kind, "sha256": sha256, "size": size,
        "forced_over_seq": result.forced_over.seq if result.forced_over else None,
    }
    log = SqlAuditLog.open(url)
    try:
        entry = await log.append(AuditEvent("cli", "system", "recording.exported", f"hearing:{args.hearing_id}",
                                            details))
    except RecordsError as exc:
        print(f"hearing: wrote {out} but could not record the export in the audit log: {exc}; delete the file or "
              "record the export by hand", file=sys.stderr)
        return 2
    finally:
        await log.close()
    what = f"track {args.track}" if args.track else f"{result.duration_s:.1f} s in session"
    print(f"exported hearing {args.hearing_id} ({what}) to {out}: {details['size']} bytes, sha256 "
          f"{details['sha256']}, audit entry {entry.seq}")
    return 0


async def _verify_audit(settings: Settings) -> int:
    """Walk the audit chain read-only: exit 0 if intact, 1 naming the first broken entry, 2 if there is no log."""
    from docket.audit import SqlAuditLog
    from docket.migrate import current_revision
    from docket.records import RecordsError

    url = settings.effective_database_url
    try:
        revision = await current_revision(url)
    except RecordsError as exc:
        print(f"hearing: {exc}", file=sys.stderr)
        return 2
    if revision is None or revision[:4] < "0003":  # revisions are named NNNN_slug; 0003_court made the log
        print(f"hearing: {_safe_url(url)} has no audit log yet (schema at {revision or 'none'}); "
              "run `hearing migrate`", file=sys.stderr)
        return 2
    log = SqlAuditLog.open(url)
    try:
        report = await log.check()
    except RecordsError as exc:
        print(f"hearing: {exc}", file=sys.stderr)
        return 2
    finally:
        await log.close()
    if report.broken is None:
        print(f"audit chain intact: {report.entries} entries")
        return 0
    b = report.broken
    print(f"audit chain broken at entry {b.seq} ({b.reason.value}): {b.detail}; "
          f"{report.entries} entries before it are intact")
    return 1


STAFF_PASSWORD_ENV = "HEARING_STAFF_PASSWORD"


def _staff_password() -> str | None:
    """From HEARING_STAFF_PASSWORD (scripts), else asked twice without echo; None (and a message) if refused."""
    import getpass
    import os

    from hearing.staff_auth import password_problem

    password = os.environ.get(STAFF_PASSWORD_ENV)
    if password is None:
        password = getpass.getpass("Password for the new account: ")
        if getpass.getpass("Repeat the password: ") != password:
            print("hearing: the two passwords differ; nothing was created", file=sys.stderr)
            return None
    problem = password_problem(password)
    if problem:
        print(f"hearing: {problem}; nothing was created", file=sys.stderr)
        return None
    return password


async def _staff(settings: Settings, args: argparse.Namespace, password: str | None) -> int:
    """Staff accounts on the database directly (no server needed); `add` is audited as staff.created."""
    from docket.audit import AuditEvent, SqlAuditLog
    from docket.migrate import upgrade
    from docket.records import RecordsError
    from docket.staff_sql import open_staff_store
    from hearing.staff_auth import StaffAuth

    url = settings.effective_database_url
    if url.startswith("sqlite"):
        settings.var_dir.mkdir(parents=True, exist_ok=True)
    await upgrade(url, progress=_progress)
    store = open_staff_store(url)
    try:
        if args.staff_command == "add":
            assert password is not None
            audit = SqlAuditLog(store.engine, url)
            try:
                account = await StaffAuth(store, audit).create_account(
                    args.username, args.name, args.roles.split(","), password, person_id=args.person_id)
            except (RecordsError, ValueError) as exc:
                print(f"hearing: {exc}", file=sys.stderr)
                return 1
            await audit.append(AuditEvent("cli", "system", "staff.created", f"staff:{account.id}", {
                "roles": sorted(r.value for r in account.roles), "person_id": account.person_id}))
            print(f"created staff account {account.username} ({account.id}), roles "
                  f"{', '.join(sorted(r.value for r in account.roles))}")
            return 0
        accounts = await store.list_staff()
        if not accounts:
            print(f"no staff accounts yet; add one with: {command_hint()} staff add --username U --name N "
                  "--roles admin")
        for a in accounts:
            flags = " disabled" if a.disabled else ""
            print(f"{a.username:<20} {a.id}  {','.join(sorted(r.value for r in a.roles)):<28} "
                  f"person {a.person_id or '-'}  {a.display_name}{flags}")
        return 0
    finally:
        await store.close()


async def _verify_clip(settings: Settings, clip_id: str) -> int:
    """Exit 0 if the stored clip's SHA-256 matches its record and its audit entry, 1 if not, 2 if there is none."""
    from docket.migrate import upgrade
    from recordings.clips import ClipRefused
    from recordings.objectstore import ObjectStoreError

    await upgrade(settings.effective_database_url, progress=_progress)
    services = build_services(settings)
    try:
        assert services.clips is not None
        clip = await services.clips.clip(clip_id)
        intact = await services.clips.verify(clip_id)
    except ClipRefused:
        print(f"hearing: no clip {clip_id!r}", file=sys.stderr)
        return 2
    except ObjectStoreError as exc:
        print(f"hearing: cannot read the clip: {exc}", file=sys.stderr)
        return 2
    finally:
        await services.objects.close()
        await services.court.close()
        await services.records.close()
    if not intact:
        print(f"clip {clip_id} ALTERED or missing: its stored bytes do not match SHA-256 {clip.sha256} "
              f"(audit entry {clip.audit_seq})")
        return 1
    print(f"clip {clip_id} intact: {clip.size} bytes, SHA-256 {clip.sha256} as in audit entry {clip.audit_seq}")
    return 0


async def _workdays(settings: Settings, args: argparse.Namespace) -> int:
    """The working-day calendar's override table (docket/workdays_sql.py), audited as the CLI acting as admin."""
    from datetime import date, datetime
    from zoneinfo import ZoneInfo

    from docket.migrate import upgrade
    from docket.sql import make_engine
    from docket.workdays import CalendarNotCovered, package_years
    from docket.workdays_sql import SqlWorkdayOverrides

    url = settings.effective_database_url
    if url.startswith("sqlite"):
        settings.var_dir.mkdir(parents=True, exist_ok=True)
    await upgrade(url, progress=_progress)
    engine = make_engine(url)
    table = SqlWorkdayOverrides(engine, url, tz=ZoneInfo(settings.court_timezone))
    who = {"actor_id": "cli", "actor_role": "admin"}
    try:
        command = args.workdays_command
        if command == "set":
            await table.set_day(date.fromisoformat(args.day), args.workday, args.reason, **who)
            print(f"{args.day} is now a {'working day' if args.workday else 'rest day'} ({args.reason})")
        elif command == "clear":
            found = await table.clear_day(date.fromisoformat(args.day), **who)
            print(f"{args.day}: override removed" if found else f"{args.day} had no override")
        elif command == "declare-year":
            await table.declare_year(args.year, args.reason, **who)
            print(f"{args.year} declared complete: days without an override follow Monday-Friday")
        elif command == "deadline":
            filed = datetime.fromisoformat(args.filed_at)
            if filed.tzinfo is None:
                filed = filed.replace(tzinfo=ZoneInfo(settings.court_timezone))
            try:
                d = (await table.calendar()).deadline(filed, args.workdays)
            except CalendarNotCovered as exc:
                print(f"hearing: {exc}", file=sys.stderr)
                return 1
            print(f"working day 1: {d.first_day}  working day {d.workdays}: {d.last_day}  due before "
                  f"{d.due_at.isoformat()}")
        else:
            cal = await table.calendar()
            years = package_years()
            declared = sorted(y for y in range(years.stop, years.stop + 10) if cal.covers(y))
            print(f"chinese-calendar covers {years.start}-{years.stop - 1}; declared complete: "
                  f"{', '.join(map(str, declared)) or 'none'}")
            for day, o in sorted(cal.overrides.items()):
                print(f"{day}  {'work' if o.workday else 'rest'}  {o.reason}")
        return 0
    except ValueError as exc:
        print(f"hearing: {exc}", file=sys.stderr)
        return 2
    finally:
        await engine.dispose()


async def _demo(settings: Settings) -> int:
    async def run(services: Services) -> int:
        await _print_demo(services)
        return 0

    return await _with_services(settings, run)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="hearing", description="The court's hearing cloud.")
    sub = p.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve", help="run the platform (HTTP, signalling, web client)")
    serve.add_argument("--host", help="bind address (HEARING_HOST)")
    serve.add_argument("--port", type=int, help="port (HEARING_PORT)")
    serve.add_argument("--demo", action="store_true", help="print a demo hearing's join links once running")
    serve.add_argument("--workers", type=int, default=1,
                       help="media nodes (processes) on this host, on ports PORT..PORT+N-1; needs REDIS_URL")
    tok = sub.add_parser("token", help="issue a join link for one person")
    tok.add_argument("--room", required=True, help="room id (letters, digits, - and _)")
    tok.add_argument("--role", required=True, choices=[r.value for r in Role])
    tok.add_argument("--name", required=True, help="display name shown to the others")
    tok.add_argument("--ttl", type=int, default=None, help="lifetime in seconds (TOKEN_TTL_SECONDS)")
    tok.add_argument("--grants", help="comma-separated subset of the role's grants: publish,subscribe,moderate")
    tok.add_argument("--kind", default="trial", help="hearing kind when the room is new")
    rev = sub.add_parser("revoke", help="withdraw a join link by its token id")
    rev.add_argument("token_id")
    rev.add_argument("--reason", default="revoked by staff")
    sub.add_parser("migrate", help="upgrade the database schema to the latest version")
    sub.add_parser("demo", help="create the demo hearing and print its join links")
    sub.add_parser("verify-audit", help="check the audit log's hash chain and name the first broken entry")
    vr = sub.add_parser("verify-recording", help="recompute a hearing recording's hashes; name the first bad segment")
    vr.add_argument("hearing_id")
    vc = sub.add_parser("verify-clip", help="recompute a recorded clip's SHA-256 against its record and audit entry")
    vc.add_argument("clip_id")
    ex = sub.add_parser("export", help="compose a hearing's recording into one MP4 (or one track with --track)")
    ex.add_argument("hearing_id")
    ex.add_argument("--out", required=True, help="the file to write: FILE.mp4, or FILE.webm/.mkv with --track")
    ex.add_argument("--track", default=None, help="remux only this track (PARTICIPANT.KIND.MID), no transcoding")
    ex.add_argument("--force", action="store_true", help="export a broken recording, leaving out what is bad")
    ex.add_argument("--fps", type=int, default=25, choices=range(1, 61), metavar="1-60",
                    help="frame rate of the composed video")
    staff = sub.add_parser("staff", help="court staff accounts (log in to the staff API)")
    staff_sub = staff.add_subparsers(dest="staff_command", required=True)
    add = staff_sub.add_parser("add", help=f"create an account; the password is asked for (or {STAFF_PASSWORD_ENV})")
    add.add_argument("--username", required=True, help="login name, case-insensitive")
    add.add_argument("--name", required=True, help="display name")
    add.add_argument("--roles", required=True,
                     help="comma-separated: admin, presiding_judge, judge, clerk, mediator")
    add.add_argument("--person-id", default=None, help="the register's person id (judges on panels need it)")
    staff_sub.add_parser("list", help="list staff accounts")
    wd = sub.add_parser("workdays", help="the working-day calendar: overrides, completed years, deadlines")
    wd_sub = wd.add_subparsers(dest="workdays_command", required=True)
    wd_sub.add_parser("show", help="what the calendar covers and every override")
    wd_set = wd_sub.add_parser("set", help="decide one day (a local closure, a holiday the package lacks)")
    wd_set.add_argument("day", help="YYYY-MM-DD")
    kind = wd_set.add_mutually_exclusive_group(required=True)
    kind.add_argument("--workday", dest="workday", action="store_true", help="a working day (e.g. 调休)")
    kind.add_argument("--rest", dest="workday", action="store_false", help="a rest day (holiday, closure)")
    wd_set.add_argument("--reason", required=True)
    wd_clear = wd_sub.add_parser("clear", help="remove a day's override")
    wd_clear.add_argument("day", help="YYYY-MM-DD")
    wd_year = wd_sub.add_parser("declare-year", help="a year's notice is fully entered as overrides")
    wd_year.add_argument("year", type=int)
    wd_year.add_argument("--reason", required=True)
    wd_dl = wd_sub.add_parser("deadline", help="where N working days from a filing time end")
    wd_dl.add_argument("filed_at", help="ISO time, e.g. 2026-09-30T15:00 (court time zone if none given)")
    wd_dl.add_argument("workdays", type=int)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    overrides: dict[str, object] = {}
    if getattr(args, "host", None):
        overrides["HEARING_HOST"] = args.host
    if getattr(args, "port", None):
        overrides["HEARING_PORT"] = args.port
    try:
        settings = load_settings(**overrides)
    except SettingsError as exc:
        print(f"hearing: {exc}", file=sys.stderr)
        return 2
    setup_logging(settings.log_level, settings.log_format)
    if args.command == "token":
        if not re.fullmatch(r"[A-Za-z0-9_\-]{1,64}", args.room):
            print("hearing: --room must be 1-64 letters, digits, '-' or '_'", file=sys.stderr)
            return 2
        if args.ttl is None:
            args.ttl = settings.token_ttl_seconds
        if args.ttl < 60:
            print("hearing: --ttl must be at least 60 seconds", file=sys.stderr)
            return 2
    try:
        if args.command == "serve" and args.workers != 1:  # N media nodes on this host (app/workers.py)
            if args.workers < 1 or not settings.redis_url:
                print("hearing: --workers N needs N >= 1 and REDIS_URL (rooms are placed on workers through "
                      "Redis)", file=sys.stderr)
                return 2
            from app.workers import supervise

            asyncio.run(_migrate(settings))
            return supervise(settings, args.workers)
        if args.command == "serve":
            with contextlib.suppress(KeyboardInterrupt):
                return asyncio.run(_serve(settings, args.demo))
            return 0
        if args.command == "token":
            return asyncio.run(_token(settings, args))
        if args.command == "revoke":
            return asyncio.run(_revoke(settings, args))
        if args.command == "migrate":
            return asyncio.run(_migrate(settings))
        if args.command == "demo":
            return asyncio.run(_demo(settings))
        if args.command == "verify-audit":
            return asyncio.run(_verify_audit(settings))
        if args.command == "verify-recording":
            return asyncio.run(_verify_recording(settings, args.hearing_id))
        if args.command == "export":
            return asyncio.run(_export(settings, args))
        if args.command == "verify-clip":
            return asyncio.run(_verify_clip(settings, args.clip_id))
        if args.command == "workdays":
            return asyncio.run(_workdays(settings, args))
        if args.command == "staff":
            password = _staff_password() if args.staff_command == "add" else None
            if args.staff_command == "add" and password is None:
                return 2
            return asyncio.run(_staff(settings, args, password))
    except (OSError, ValueError) as exc:
        print(f"hearing: {exc}", file=sys.stderr)
        return 1
    return 2


if __name__ == "__main__":
    sys.exit(main())
