"""Builds the adapters from settings and hands them in: the only place that knows which backend runs."""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from zoneinfo import ZoneInfo

from app.rooms import JoinPolicyByRoom, RoomRulesByRoom
from app.settings import Settings
from docket.async_trial_sql import SqlAsyncTrialStore
from docket.audit import SqlAuditLog
from docket.court_sql import SqlCourtRecords
from docket.exhibits_sql import SqlExhibitRecords
from docket.facts_sql import SqlFactRecords
from docket.jobs import JobScheduler
from docket.migrate import upgrade
from docket.notifications import SmsGateway, SqlInbox
from docket.records import Records
from docket.room_chat import SqlRoomChat
from docket.sql import SqlRecords
from docket.transcripts_sql import SqlTranscriptStore
from docket.workdays_sql import SqlWorkdayOverrides
from hearing.admission import join_policy
from hearing.async_trial_clips import ClipStoreSource
from hearing.async_trial_deadlines import DeadlineJobs, notice_effect, schedule_effect
from hearing.async_trial_push import room_push
from hearing.async_trial_service import AsyncTrialService
from hearing.courtroom import Courtroom
from hearing.exhibit_service import ExhibitService
from hearing.facts_bridge import FactsBridge
from hearing.procedure_service import ProcedureService
from hearing.recording_control import RecordingControl
from hearing.transcript_service import TranscriptService
from media import aiortc_glue as glue
from media.metrics import SfuCollector
from media.sfu import MediaConfig, Sfu
from recordings.clips import ClipPolicy, ClipService
from recordings.leftovers import recover_leftovers
from recordings.local_store import LocalObjectStore
from recordings.manifest import ChainGuard
from recordings.objectstore import ObjectStore
from recordings.room_recorder import RoomRecorder
from recordings.spool import Spool
from signaling.bus import InProcessBus, RoomBus
from signaling.hub import SignalingConfig, SignalingHub
from signaling.metrics import SignalingMetrics
from signaling.node_registry import NodeRegistry
from signaling.tokens import TokenService
from stations.call_rules import is_call_room
from stations.call_rules import join_policy as call_join_policy
from stations.service import StationsConfig, StationsService
from stations.store_sql import SqlStations

log = logging.getLogger("hearing.app")


@dataclass
class Services:
    settings: Settings
    records: Records
    bus: RoomBus
    objects: ObjectStore
    tokens: TokenService
    hub: SignalingHub
    metrics: SignalingMetrics
    court: SqlCourtRecords
    audit: SqlAuditLog
    procedure: ProcedureService
    exhibits: ExhibitService
    transcripts: TranscriptService
    # Shared machinery (migration 0016_foundations): recorded clips, the durable scheduler (handlers are registered
    # by kind in app/factory.py before it starts), the notification inbox and the working-day calendar's overrides.
    clips: ClipService | None = None
    jobs: JobScheduler | None = None
    inbox: SqlInbox | None = None
    workdays: SqlWorkdayOverrides | None = None
    sms: SmsGateway | None = None  # no production gateway yet: notifications go to the in-app inbox
    sfu: Sfu | None = None
    recorder: RoomRecorder | None = None
    async_trial: AsyncTrialService | None = None
    nodes: NodeRegistry | None = None  # with Redis: media nodes and room placement
    draining: bool = False  # SIGTERM received (app/drain.py): /readyz answers 503
    courtroom: Courtroom | None = None
    stations: StationsService | None = None
    started: bool = False
    _closers: list[Callable[[], object]] = field(default_factory=list)


def build_services(settings: Settings) -> Services:
    """Construct everything without I/O; `start_services` connects and migrates."""
    secret = settings.signing_secret()
    records = SqlRecords(settings.effective_database_url)
    court = SqlCourtRecords(settings.effective_database_url)
    procedure = ProcedureService(court, court.audit)
    bus: RoomBus
    if settings.redis_url:
        from signaling.redis_bus import RedisBus

        bus = RedisBus(settings.redis_url, prefix=settings.redis_prefix,
                       heartbeat_seconds=settings.redis_heartbeat_seconds,
                       lost_ttl_seconds=settings.resume_grace_seconds)
    else:
        bus = InProcessBus()
    objects: ObjectStore
    if settings.s3_endpoint:
        from recordings.s3_store import S3ObjectStore

        objects = S3ObjectStore(
            settings.s3_endpoint, settings.s3_access_key, settings.s3_secret_key, settings.s3_bucket,
            secure=settings.s3_secure, region=settings.s3_region, object_lock_days=settings.s3_object_lock_days,
        )
    else:
        # The presign key is derived from the token secret so it survives restarts without another file.
        key = hashlib.sha256(b"objects-presign:" + secret.encode()).digest()
        objects = LocalObjectStore(settings.objects_dir, url_base=settings.base_url, signing_key=key)
    tokens = TokenService(secret)
    metrics = SignalingMetrics()

    async def is_revoked(jti: str) -> bool:
        return await records.is_revoked(jti)

    hub = SignalingHub(
        bus,
        tokens,
        SignalingConfig(
            max_message_bytes=settings.ws_max_message_bytes,
            rate_per_second=settings.ws_rate_per_second,
            rate_burst=settings.ws_rate_burst,
            idle_timeout=settings.ws_idle_timeout_seconds,
            join_timeout=settings.ws_join_timeout_seconds,
            resume_grace=settings.resume_grace_seconds,
            ice_servers=settings.ice_servers(),
            turn=settings.turn_rest(),
        ),
        join_policy=join_policy,
        is_revoked=is_revoked,
        metrics=metrics,
    )
    exhibits = ExhibitService(court, SqlExhibitRecords(court.engine), objects, court.audit,
                              max_size=settings.exhibit_max_mb << 20)
    transcripts = TranscriptService(court, SqlTranscriptStore(court.engine, court.url), court.audit,
                                    tz=ZoneInfo(settings.court_timezone))
    sfu = None
    recorder = None
    recording = None
    if settings.media_enabled:
        sfu = Sfu(MediaConfig(ice_servers=settings.ice_servers(), video_codec=settings.video_codec,
                              transport_cc=settings.transport_cc, send_path=settings.sfu_send_path), hub)
        hub.media = sfu
        metrics.registry.register(SfuCollector(sfu))
        spool = Spool(settings.var_dir / "recordings" / "spool", objects,
                      quarantine=settings.var_dir / "recordings" / "quarantine", check=ChainGuard(objects))
        recorder = RoomRecorder(sfu, spool, settings.var_dir / "recordings" / "work",
                                segment_seconds=settings.recording_segment_seconds)
        recording = RecordingControl(recorder)
        procedure.listeners.append(recording.on_procedure)  # before the room hears of it, so its state is true
    courtroom = Courtroom(hub, court, court.audit, procedure, allow_adhoc=settings.hearing_env != "production",
                          tokens=tokens, records=records, exhibits=exhibits, recording=recording,
                          chat=SqlRoomChat(court.engine), transcripts=transcripts.store,
                          tz=ZoneInfo(settings.court_timezone))
    clips = ClipService(court.engine, court.url, objects, ClipPolicy(max_bytes=settings.clip_max_mb << 20,
                                                                     max_duration_ms=settings.clip_max_seconds * 1000))
    # Connect-a-judge (连线法官): call rooms get their own rules and join policy; other rooms stay the courtroom's.
    stations = StationsService(SqlStations(court.engine, court.url), tokens, hub, StationsConfig(
        tz=ZoneInfo(settings.court_timezone),
        pickup_timeout=timedelta(seconds=settings.stations_pickup_timeout_seconds),
        grace=timedelta(seconds=settings.resume_grace_seconds), base_url=settings.base_url), recorder=recorder,
        clips=clips)  # recorded messages when nobody answered
    assert stations.rules is not None
    hub.rules = RoomRulesByRoom(courtroom, (is_call_room, stations.rules))  # petitions' calls route in app.factory
    hub.join_policy = JoinPolicyByRoom(join_policy, (is_call_room, call_join_policy))
    procedure.listeners.append(courtroom.on_procedure)  # however the procedure moves (signalling, API), the room hears
    # The platform's own litigation facts (party to a case, mediation participation) for integrity/ and points/.
    facts_bridge = FactsBridge(court, SqlFactRecords(court.engine, court.url), ZoneInfo(settings.court_timezone))
    procedure.listeners.append(facts_bridge.on_procedure)
    jobs = JobScheduler(court.engine, court.url, poll_interval=settings.jobs_poll_seconds)
    tz = ZoneInfo(settings.court_timezone)
    workdays = SqlWorkdayOverrides(court.engine, court.url, tz=tz)
    # The asynchronous trial (异步审理): its consents guard the procedure (nothing leaves `scheduled` without them);
    # its deadlines go through the shared scheduler, its recorded answers through the shared clip upload.
    async_store = SqlAsyncTrialStore(court.engine, court.url)
    async_trial = AsyncTrialService(court, async_store, court.audit, calendar=workdays.calendar,
                                    clips=ClipStoreSource(clips), exhibits=SqlExhibitRecords(court.engine),
                                    transcripts=transcripts, tz=tz)
    procedure.guards.append(async_trial.guard)
    async_trial.listeners.append(room_push(hub))  # people on the page hear of each change over signalling
    async_store.effects += [schedule_effect, notice_effect]  # reminders, overdue flags, the withdrawal notice
    DeadlineJobs(async_store).register(jobs)
    nodes = None
    if settings.redis_url:
        # Several nodes: each room's media on one of them; joins elsewhere are redirected there.
        nodes = NodeRegistry(settings.redis_url, prefix=settings.redis_prefix, node_id=bus.instance_id,  # type: ignore[attr-defined]
                             ws_url=settings.node_ws_url, capacity=settings.node_capacity,
                             media=settings.media_enabled, heartbeat_seconds=settings.redis_heartbeat_seconds)
        hub.router = nodes
    return Services(settings, records, bus, objects, tokens, hub, metrics, court, court.audit, procedure, exhibits,
                    transcripts, clips=clips, jobs=jobs, inbox=SqlInbox(court.engine, court.url),
                    workdays=workdays, sfu=sfu, recorder=recorder, async_trial=async_trial, nodes=nodes,
                    courtroom=courtroom, stations=stations)


async def start_services(services: Services, *, progress: Callable[[str], None] | None = None) -> None:
    """Migrate the schema, connect the bus, check the object store. Errors say which part failed."""
    s = services.settings
    if s.effective_database_url.startswith("sqlite"):
        s.var_dir.mkdir(parents=True, exist_ok=True)
    if services.sfu is not None:
        glue.check_compatibility()
        glue.use_host_addresses(s.ice_host_addresses)
    await upgrade(s.effective_database_url, progress=progress)
    await services.bus.start()
    if services.nodes is not None:
        await services.nodes.start()
    await services.objects.ping()
    if services.recorder is not None:
        # what a killed recorder left in its work directory, before any recording reuses it
        quarantine = services.recorder.spool.quarantine or s.var_dir / "recordings" / "quarantine"
        left = await asyncio.to_thread(recover_leftovers, services.recorder.work_dir, quarantine)
        if left.quarantined and progress is not None:
            progress(f"{len(left.quarantined)} recording segments never chained are kept in {quarantine}")
        recovered = await services.recorder.spool.recover()
        if recovered and progress is not None:
            progress(f"uploading {recovered} recording objects left from the previous run")
        services.recorder.spool.start()
    services.started = True


async def stop_services(services: Services) -> None:
    if services.jobs is not None:  # finish the job in hand; unfinished claims expire and run elsewhere
        await services.jobs.stop()
    if services.recorder is not None:  # close open segments first: they are spooled and uploaded
        try:
            await asyncio.wait_for(services.recorder.close(), 15)
            await asyncio.wait_for(services.recorder.spool.drain(), 10)
        except Exception:
            log.exception("recordings not fully uploaded at shutdown; they stay spooled for the next start")
        await services.recorder.spool.stop()
    await services.hub.close()
    if services.nodes is not None:
        await services.nodes.close()
    if services.sfu is not None:
        await services.sfu.close()
    for closer in (services.bus.close, services.objects.close, services.records.close, services.court.close):
        try:
            await asyncio.wait_for(closer(), 10)
        except Exception:
            log.exception("error while closing a service")
