"""Builds the adapters from settings and hands them in: the only place that knows which backend runs."""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from zoneinfo import ZoneInfo

from app.settings import Settings
from docket.audit import SqlAuditLog
from docket.court_sql import SqlCourtRecords
from docket.exhibits_sql import SqlExhibitRecords
from docket.facts_sql import SqlFactRecords
from docket.migrate import upgrade
from docket.records import Records
from docket.sql import SqlRecords
from docket.transcripts_sql import SqlTranscriptStore
from hearing.admission import join_policy
from hearing.courtroom import Courtroom
from hearing.exhibit_service import ExhibitService
from hearing.facts_bridge import FactsBridge
from hearing.procedure_service import ProcedureService
from hearing.recording_control import RecordingControl
from hearing.transcript_service import TranscriptService
from media import aiortc_glue as glue
from media.metrics import SfuCollector
from media.sfu import MediaConfig, Sfu
from recordings.leftovers import recover_leftovers
from recordings.local_store import LocalObjectStore
from recordings.objectstore import ObjectStore
from recordings.room_recorder import RoomRecorder
from recordings.spool import Spool
from signaling.bus import InProcessBus, RoomBus
from signaling.hub import SignalingConfig, SignalingHub
from signaling.metrics import SignalingMetrics
from signaling.tokens import TokenService

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
    sfu: Sfu | None = None
    recorder: RoomRecorder | None = None
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

        bus = RedisBus(settings.redis_url, prefix=settings.redis_prefix)
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
        sfu = Sfu(MediaConfig(ice_servers=settings.ice_servers(), video_codec=settings.video_codec), hub)
        hub.media = sfu
        metrics.registry.register(SfuCollector(sfu))
        spool = Spool(settings.var_dir / "recordings" / "spool", objects,
                      quarantine=settings.var_dir / "recordings" / "quarantine")
        recorder = RoomRecorder(sfu, spool, settings.var_dir / "recordings" / "work",
                                segment_seconds=settings.recording_segment_seconds)
        recording = RecordingControl(recorder)
        procedure.listeners.append(recording.on_procedure)  # before the room hears of it, so its state is true
    courtroom = Courtroom(hub, court, court.audit, procedure, allow_adhoc=settings.hearing_env != "production",
                          tokens=tokens, records=records, exhibits=exhibits, recording=recording)
    hub.rules = courtroom
    procedure.listeners.append(courtroom.on_procedure)  # however the procedure moves (signalling, API), the room hears
    # The platform's own litigation facts (party to a case, mediation participation) for integrity/ and points/.
    facts_bridge = FactsBridge(court, SqlFactRecords(court.engine, court.url), ZoneInfo(settings.court_timezone))
    procedure.listeners.append(facts_bridge.on_procedure)
    return Services(settings, records, bus, objects, tokens, hub, metrics, court, court.audit, procedure, exhibits,
                    transcripts, sfu, recorder)


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
    if services.recorder is not None:  # close open segments first: they are spooled and uploaded
        try:
            await asyncio.wait_for(services.recorder.close(), 15)
            await asyncio.wait_for(services.recorder.spool.drain(), 10)
        except Exception:
            log.exception("recordings not fully uploaded at shutdown; they stay spooled for the next start")
        await services.recorder.spool.stop()
    await services.hub.close()
    if services.sfu is not None:
        await services.sfu.close()
    for closer in (services.bus.close, services.objects.close, services.records.close, services.court.close):
        try:
            await asyncio.wait_for(closer(), 10)
        except Exception:
            log.exception("error while closing a service")
