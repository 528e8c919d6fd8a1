"""Settings from environment variables, validated once at start with errors that say what to change."""

from __future__ import annotations

import ipaddress
import secrets
from pathlib import Path
from typing import Annotated, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict
from pydantic_settings import SettingsError as _SourceError

from signaling.turn_credentials import TurnRest


class SettingsError(Exception):
    """Invalid configuration; the message names the variable and the fix."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="", case_sensitive=False, extra="ignore")

    hearing_env: Literal["development", "test", "production"] = Field(
        "development", description="development | test | production; production requires explicit secrets"
    )
    host: str = Field("127.0.0.1", alias="HEARING_HOST", description="Address the HTTP server binds to")
    port: int = Field(8000, alias="HEARING_PORT", ge=1, le=65535, description="HTTP port")
    public_url: str = Field(
        "", alias="HEARING_PUBLIC_URL",
        description="Base URL printed in join links; default http://HOST:PORT",
    )
    var_dir: Path = Field(Path("var"), alias="HEARING_VAR_DIR", description="Where embedded state lives")
    objects_dir_override: Path | None = Field(
        None, alias="HEARING_OBJECTS_DIR",
        description="The local object directory when S3_ENDPOINT is unset; default HEARING_VAR_DIR/objects "
                    "(`serve --workers` points every worker at the parent's)")
    database_url: str = Field(
        "", description="SQLAlchemy async URL; default sqlite+aiosqlite under HEARING_VAR_DIR"
    )
    redis_url: str = Field("", description="Redis URL; unset = in-process bus (single instance)")
    redis_prefix: str = Field("hearing", description="Prefix for every Redis key and channel")
    redis_heartbeat_seconds: float = Field(
        2.0, gt=0, le=60,
        description="Each instance's heartbeat in Redis; a dead instance's participants are announced as left "
                    "within 4 x this + a round trip")
    s3_endpoint: str = Field("", description="S3 endpoint host:port; unset = local directory under var/objects")
    s3_access_key: str = Field("", description="S3 access key")
    s3_secret_key: str = Field("", description="S3 secret key")
    s3_bucket: str = Field("hearing", description="S3 bucket (created if missing)")
    s3_secure: bool = Field(False, description="Use HTTPS for the S3 endpoint")
    s3_region: str = Field("us-east-1", description="S3 region")
    s3_object_lock_days: int = Field(
        0, ge=0, le=36500,
        description="Keep recordings under S3/MinIO object-lock GOVERNANCE retention this many days (bucket "
                    "created with object locking); 0 = off",
    )
    ice_host_addresses: Annotated[list[str], NoDecode] = Field(
        default_factory=lambda: ["127.0.0.1"],
        description="Comma-separated IPs the media server offers as host ICE candidates",
    )
    stun_servers: Annotated[list[str], NoDecode] = Field(
        default_factory=list, description="Comma-separated stun: URLs given to clients; empty = none"
    )
    turn_servers: Annotated[list[str], NoDecode] = Field(default_factory=list, description="Comma-separated turn: URLs")
    turn_shared_secret: str = Field(
        "", description="Secret shared with coturn (use-auth-secret): each participant gets a TURN username "
                        "`expiry:participant` and an HMAC password expiring with its link")
    media_enabled: bool = Field(True, description="Run the SFU in this process (false: signalling only)")
    node_url: str = Field(
        "", alias="HEARING_NODE_URL",
        description="With Redis: the ws(s):// base URL clients reach THIS node's signalling at, where joins of "
                    "rooms placed here are redirected; default HEARING_PUBLIC_URL as ws(s)://")
    drain_seconds: float = Field(
        30.0, alias="HEARING_DRAIN_SECONDS", ge=0, le=3600,
        description="After SIGTERM: how long live rooms may go on before the node ends them (and they move)")
    node_capacity: int = Field(100, alias="HEARING_NODE_CAPACITY", ge=1,
                               description="With Redis: rooms this media node accepts before others get new ones")
    video_codec: Literal["VP8", "H264"] = Field("VP8", description="The one video codec every room agrees on")
    transport_cc: bool = Field(False, description="Offer transport-cc to subscribers (their feedback drives "
                               "the SFU's estimate of their link; off until proven in rooms, docs/village-links.md)")
    sfu_send_path: Literal["fast", "python", "reference"] = Field(
        "fast", alias="SFU_SEND_PATH", description="The SFU's per-packet send path: fast (media/fastsend.py, its "
        "compiled rewrite+protect+send where built), python (the same without the compiled helper) or the plain "
        "reference path they are tested against")
    token_secret: str = Field(
        "", alias="HEARING_TOKEN_SECRET",
        description="HS256 key for join tokens; dev: generated once into var/token_secret",
    )
    token_ttl_seconds: int = Field(7200, ge=60, description="Default lifetime of a join token")
    resume_grace_seconds: float = Field(30.0, gt=0, description="How long a dropped participant keeps its place")
    ws_max_message_bytes: int = Field(65536, ge=1024, description="Largest signalling message accepted")
    ws_rate_per_second: float = Field(20.0, gt=0, description="Sustained signalling messages per connection")
    ws_rate_burst: int = Field(60, ge=1, description="Burst of signalling messages per connection")
    ws_idle_timeout_seconds: float = Field(60.0, gt=0, description="Close a connection silent for this long")
    ws_join_timeout_seconds: float = Field(10.0, gt=0, description="Time allowed for the first (join) message")
    court_timezone: str = Field("Asia/Shanghai", alias="HEARING_COURT_TIMEZONE",
                                description="The court's local time zone (IANA name), for times on transcripts")
    exhibit_max_mb: int = Field(50, alias="HEARING_EXHIBIT_MAX_MB", ge=1, le=2048,
                                description="Largest exhibit file accepted, in MiB")
    clip_max_mb: int = Field(100, alias="CLIP_MAX_MB", ge=1, le=2048,
                             description="Largest recorded clip (petition, asynchronous trial, station) in MiB")
    clip_max_seconds: int = Field(180, alias="CLIP_MAX_SECONDS", ge=5, le=3600,
                                  description="Longest recorded clip accepted, in seconds")
    jobs_poll_seconds: float = Field(2.0, alias="JOBS_POLL_SECONDS", gt=0, le=60,
                                     description="How often each instance looks for due scheduled jobs")
    integrity_signing_key_file: Path | None = Field(
        None, alias="INTEGRITY_SIGNING_KEY_FILE",
        description="Ed25519 private key (PEM) that signs integrity codes; default var/integrity_signing_key.pem, "
                    "created once (0600)")
    recording_segment_seconds: float = Field(2.0, ge=0.5, le=60,
                                             description="Target length of a recording segment, in seconds")
    petition_courts: str = Field(
        "main:本院", description="Courts taking video petitions: comma-separated code:name pairs (first = default)")
    petition_reopen_days: int = Field(15, ge=1, le=90,
                                      description="Days after a petition's reply within which the citizen may "
                                                  "reopen it (once); unrated petitions close then")
    petition_daily_limit_session: int = Field(3, ge=1, le=1000,
                                              description="Petitions one citizen's filing session may file per "
                                                          "court day (429 filing_limit past it)")
    petition_daily_limit_phone: int = Field(5, ge=1, le=1000,
                                            description="Petitions with one contact phone number per court day, "
                                                        "across sessions and stations (429 filing_limit past it)")
    stations_pickup_timeout_seconds: float = Field(
        180.0, gt=0, description="How long a station's call waits for a judge before the caller hears nobody picked up")
    # ---- HTTP limits (docs/security.md): slow and oversized requests never hold the server ------------
    http_header_timeout_seconds: float = Field(
        10.0, alias="HTTP_HEADER_TIMEOUT_SECONDS", gt=0, le=300,
        description="A connection must send a request's whole line and headers within this long (from its first "
                    "byte, or from connecting), else it is closed: half-open requests cannot pile up")
    http_body_idle_seconds: float = Field(
        30.0, alias="HTTP_BODY_IDLE_SECONDS", gt=0, le=600,
        description="Close a request whose body stops arriving for this long (while the app is waiting for it)")
    http_keep_alive_seconds: int = Field(
        5, alias="HTTP_KEEP_ALIVE_SECONDS", ge=1, le=300,
        description="Close an idle keep-alive connection after this long")
    http_max_connections: int = Field(
        4096, alias="HTTP_MAX_CONNECTIONS", ge=16,
        description="Open HTTP connections (or running requests) beyond which new requests get 503 at once")
    http_max_connections_per_ip: int = Field(
        64, alias="HTTP_MAX_CONNECTIONS_PER_IP", ge=1,
        description="Open HTTP connections one client address may hold (trusted proxies exempt); more are closed "
                    "at once. WebSockets leave the count once upgraded (they have their own limits)")
    http_max_body_kb: int = Field(
        1024, alias="HTTP_MAX_BODY_KB", ge=16, le=1 << 20,
        description="Largest request body, in KiB, of a route that declares no limit of its own (uploads declare "
                    "theirs); larger ones get 413 before a byte of the body is read")
    trusted_proxies: Annotated[list[str], NoDecode] = Field(
        default_factory=list, alias="TRUSTED_PROXIES",
        description="Comma-separated addresses or networks of the reverse proxies whose X-Forwarded-For and "
                    "X-Forwarded-Proto are believed; empty = none (the peer address is the client)")
    login_attempts_per_minute: float = Field(
        10.0, alias="LOGIN_ATTEMPTS_PER_MINUTE", gt=0, le=600,
        description="Sustained staff login attempts per client address (burst LOGIN_BURST); per address and "
                    "username it is a fifth of that. No account is ever locked")
    login_burst: int = Field(20, alias="LOGIN_BURST", ge=1, le=1000,
                             description="Login attempts a client address may make at once before throttling")
    log_level: str = Field("INFO", description="Python logging level")
    log_format: Literal["auto", "json", "text"] = Field(
        "auto", alias="HEARING_LOG_FORMAT",
        description="json lines (for log collectors) or text (for people); auto: text on a terminal")

    @field_validator("ice_host_addresses", "stun_servers", "turn_servers", "trusted_proxies", mode="before")
    @classmethod
    def _split_csv(cls, v: object) -> object:
        if isinstance(v, str):
            return [s.strip() for s in v.split(",") if s.strip()]
        return v

    @field_validator("ice_host_addresses")
    @classmethod
    def _ips(cls, v: list[str]) -> list[str]:
        for addr in v:
            try:
                ipaddress.ip_address(addr)
            except ValueError:
                raise ValueError(f"{addr!r} is not an IP address; list IPs such as 127.0.0.1,203.0.113.7") from None
        return v

    @field_validator("trusted_proxies")
    @classmethod
    def _networks(cls, v: list[str]) -> list[str]:
        for net in v:
            try:
                ipaddress.ip_network(net, strict=False)
            except ValueError:
                raise ValueError(f"{net!r} is not an address or network; list e.g. 172.30.70.2,10.0.0.0/8") from None
        return v

    @field_validator("court_timezone")
    @classmethod
    def _zone(cls, v: str) -> str:
        try:
            ZoneInfo(v)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"{v!r} is not a time zone; use an IANA name such as Asia/Shanghai") from None
        return v

    @field_validator("petition_courts")
    @classmethod
    def _courts(cls, v: str) -> str:
        for pair in v.split(","):
            code, _, name = pair.strip().partition(":")
            if not code.strip() or not name.strip() or len(code.strip()) > 32:
                raise ValueError(f"{pair!r} is not code:name (e.g. main:本院); codes up to 32 characters")
        return v

    def petition_court_names(self) -> dict[str, str]:
        """Court code → name, in the order given."""
        out = {}
        for pair in self.petition_courts.split(","):
            code, _, name = pair.strip().partition(":")
            out[code.strip()] = name.strip()
        return out

    @field_validator("stun_servers")
    @classmethod
    def _stun(cls, v: list[str]) -> list[str]:
        for url in v:
            if not url.startswith(("stun:", "stuns:")):
                raise ValueError(f"{url!r} must start with stun: or stuns:")
        return v

    @field_validator("turn_servers")
    @classmethod
    def _turn(cls, v: list[str]) -> list[str]:
        for url in v:
            if not url.startswith(("turn:", "turns:")):
                raise ValueError(f"{url!r} must start with turn: or turns:")
        return v

    @field_validator("database_url")
    @classmethod
    def _db(cls, v: str) -> str:
        if v and not v.startswith(("sqlite+aiosqlite://", "postgresql+asyncpg://", "postgresql://")):
            raise ValueError("use sqlite+aiosqlite:///path or postgresql+asyncpg://user@host/db")
        if v.startswith("postgresql://"):
            v = "postgresql+asyncpg://" + v.removeprefix("postgresql://")
        return v

    @field_validator("node_url")
    @classmethod
    def _node_url(cls, v: str) -> str:
        if v and not v.startswith(("ws://", "wss://")):
            raise ValueError("use the ws:// or wss:// base URL clients reach this node at, e.g. wss://node-1.court.example")
        return v

    @field_validator("redis_url")
    @classmethod
    def _redis(cls, v: str) -> str:
        if v and not v.startswith(("redis://", "rediss://", "unix://")):
            raise ValueError("use redis://host:6379/0 (or leave unset for the in-process bus)")
        return v

    @model_validator(mode="after")
    def _production(self) -> Settings:
        if self.hearing_env == "production":
            if len(self.token_secret) < 32:
                raise ValueError("HEARING_TOKEN_SECRET must be set (32+ characters) when HEARING_ENV=production")
            # Every replica must sign integrity codes with the same provided key: one generated per replica
            # would make each replica's codes unverifiable by the others.
            if self.integrity_signing_key_file is None:
                raise ValueError("INTEGRITY_SIGNING_KEY_FILE must name the provided Ed25519 key (PEM) when "
                                 "HEARING_ENV=production; create one with: openssl genpkey -algorithm ed25519")
            if not self.integrity_signing_key_file.is_file():
                raise ValueError(f"INTEGRITY_SIGNING_KEY_FILE {self.integrity_signing_key_file} is not a readable "
                                 "file; production never generates its own integrity key")
            if self.s3_endpoint and not (self.s3_access_key and self.s3_secret_key):
                raise ValueError("S3_ACCESS_KEY and S3_SECRET_KEY are required with S3_ENDPOINT")
        if self.turn_servers and len(self.turn_shared_secret) < 16:
            raise ValueError("TURN_SHARED_SECRET (16+ characters, coturn's static-auth-secret) is required with "
                             "TURN_SERVERS")
        return self

    @property
    def base_url(self) -> str:
        if self.public_url:
            return self.public_url.rstrip("/")
        host = "127.0.0.1" if self.host in ("0.0.0.0", "::") else self.host
        return f"http://{host}:{self.port}"

    @property
    def node_ws_url(self) -> str:
        """Where clients reach this node's signalling (the base of its /ws/{room} URLs)."""
        if self.node_url:
            return self.node_url.rstrip("/")
        return "ws" + self.base_url.removeprefix("http")

    @property
    def effective_database_url(self) -> str:
        return self.database_url or f"sqlite+aiosqlite:///{(self.var_dir / 'hearing.db').resolve()}"

    @property
    def objects_dir(self) -> Path:
        return (self.objects_dir_override or self.var_dir / "objects").resolve()

    def ice_servers(self) -> list[dict[str, object]]:
        """The static RTCIceServer dicts (STUN); empty by default so nothing reaches outside. TURN entries are
        per participant (`turn_rest()`), since each carries its own time-limited credential."""
        out: list[dict[str, object]] = []
        if self.stun_servers:
            out.append({"urls": list(self.stun_servers)})
        return out

    def turn_rest(self) -> TurnRest | None:
        """The TURN servers and the secret they share with the app, or None without TURN."""
        if not self.turn_servers:
            return None
        return TurnRest(tuple(self.turn_servers), self.turn_shared_secret)

    def signing_secret(self) -> str:
        """The token key: explicit, or (outside production) generated once and kept in var/token_secret."""
        if self.token_secret:
            return self.token_secret
        path = self.var_dir / "token_secret"
        if path.exists():
            return path.read_text().strip()
        self.var_dir.mkdir(parents=True, exist_ok=True)
        secret = secrets.token_urlsafe(48)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(secret)
        tmp.chmod(0o600)
        tmp.replace(path)
        return secret


def load_settings(**overrides: object) -> Settings:
    """Read the environment; raise SettingsError naming each bad variable."""
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        lines = []
        for err in exc.errors():
            name = ".".join(str(p) for p in err["loc"]).upper() or "settings"
            lines.append(f"  {name}: {err['msg']}")
        raise SettingsError("invalid configuration:\n" + "\n".join(lines)) from None
    except _SourceError as exc:
        raise SettingsError(f"invalid configuration: {exc}") from None
