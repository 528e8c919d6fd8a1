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
    database_url: str = Field(
        "", description="SQLAlchemy async URL; default sqlite+aiosqlite under HEARING_VAR_DIR"
    )
    redis_url: str = Field("", description="Redis URL; unset = in-process bus (single instance)")
    redis_prefix: str = Field("hearing", description="Prefix for every Redis key and channel")
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
    turn_username: str = Field("", description="TURN username")
    turn_password: str = Field("", description="TURN credential")
    media_enabled: bool = Field(True, description="Run the SFU in this process (false: signalling only)")
    video_codec: Literal["VP8", "H264"] = Field("VP8", description="The one video codec every room agrees on")
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
    integrity_signing_key_file: Path | None = Field(
        None, alias="INTEGRITY_SIGNING_KEY_FILE",
        description="Ed25519 private key (PEM) that signs integrity codes; default var/integrity_signing_key.pem, "
                    "created once (0600)")
    recording_segment_seconds: float = Field(2.0, ge=0.5, le=60,
                                             description="Target length of a recording segment, in seconds")
    log_level: str = Field("INFO", description="Python logging level")

    @field_validator("ice_host_addresses", "stun_servers", "turn_servers", mode="before")
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

    @field_validator("court_timezone")
    @classmethod
    def _zone(cls, v: str) -> str:
        try:
            ZoneInfo(v)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"{v!r} is not a time zone; use an IANA name such as Asia/Shanghai") from None
        return v

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
            if self.s3_endpoint and not (self.s3_access_key and self.s3_secret_key):
                raise ValueError("S3_ACCESS_KEY and S3_SECRET_KEY are required with S3_ENDPOINT")
        if self.turn_servers and not (self.turn_username and self.turn_password):
            raise ValueError("TURN_USERNAME and TURN_PASSWORD are required with TURN_SERVERS")
        return self

    @property
    def base_url(self) -> str:
        if self.public_url:
            return self.public_url.rstrip("/")
        host = "127.0.0.1" if self.host in ("0.0.0.0", "::") else self.host
        return f"http://{host}:{self.port}"

    @property
    def effective_database_url(self) -> str:
        return self.database_url or f"sqlite+aiosqlite:///{(self.var_dir / 'hearing.db').resolve()}"

    @property
    def objects_dir(self) -> Path:
        return (self.var_dir / "objects").resolve()

    def ice_servers(self) -> list[dict[str, object]]:
        """RTCIceServer dicts for clients; empty by default so nothing reaches outside."""
        out: list[dict[str, object]] = []
        if self.stun_servers:
            out.append({"urls": list(self.stun_servers)})
        if self.turn_servers:
            out.append(
                {"urls": list(self.turn_servers), "username": self.turn_username, "credential": self.turn_password}
            )
        return out

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
