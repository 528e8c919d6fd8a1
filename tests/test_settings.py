"""Settings from the environment: defaults that reach nothing outside, clear errors naming the variable."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from app.settings import Settings, SettingsError, load_settings
from integrity.signing import CodeSigner

ENV_NAMES = {(f.alias or name).lower() for name, f in Settings.model_fields.items()}


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """No test depends on the developer's environment or working directory."""
    for key in list(os.environ):
        if key.lower() in ENV_NAMES:
            monkeypatch.delenv(key)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def invalid(monkeypatch: pytest.MonkeyPatch, **env: str) -> str:
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    with pytest.raises(SettingsError) as info:
        load_settings()
    return str(info.value)


def test_env_names_cover_the_documented_variables() -> None:
    assert {"hearing_env", "hearing_host", "hearing_port", "hearing_var_dir", "hearing_token_secret",
            "database_url", "redis_url", "ice_host_addresses", "stun_servers", "turn_servers"} <= ENV_NAMES


# ---- defaults ---------------------------------------------------------------------------------------------


def test_defaults(clean_env: Path) -> None:
    s = load_settings()
    assert s.hearing_env == "development"
    assert (s.host, s.port) == ("127.0.0.1", 8000)
    assert s.base_url == "http://127.0.0.1:8000"
    assert s.var_dir == Path("var")
    assert s.database_url == ""
    assert s.effective_database_url == f"sqlite+aiosqlite:///{clean_env / 'var' / 'hearing.db'}"
    assert s.effective_database_url.startswith("sqlite+aiosqlite:///")
    assert s.redis_url == ""  # in-process bus
    assert s.s3_endpoint == ""  # local directory
    assert s.objects_dir == clean_env / "var" / "objects"
    assert s.ice_host_addresses == ["127.0.0.1"]
    assert s.stun_servers == [] and s.turn_servers == []
    assert s.ice_servers() == []
    assert s.token_secret == ""
    assert s.ws_max_message_bytes == 65536


def test_sqlite_url_follows_var_dir(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("HEARING_VAR_DIR", str(tmp_path / "state"))
    s = load_settings()
    assert s.var_dir == tmp_path / "state"
    assert s.effective_database_url == f"sqlite+aiosqlite:///{tmp_path / 'state' / 'hearing.db'}"
    assert s.objects_dir == tmp_path / "state" / "objects"


def test_variable_names_are_case_insensitive(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("hearing_port", "9001")
    monkeypatch.setenv("REDIS_URL", "redis://127.0.0.1:6379/2")
    s = load_settings()
    assert s.port == 9001
    assert s.redis_url == "redis://127.0.0.1:6379/2"


def test_base_url(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HEARING_HOST", "0.0.0.0")
    monkeypatch.setenv("HEARING_PORT", "8443")
    assert load_settings().base_url == "http://127.0.0.1:8443"
    monkeypatch.setenv("HEARING_PUBLIC_URL", "https://hearings.example.org/")
    assert load_settings().base_url == "https://hearings.example.org"


# ---- lists ------------------------------------------------------------------------------------------------


def test_comma_separated_lists(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ICE_HOST_ADDRESSES", " 127.0.0.1, 203.0.113.7 ,,::1,")
    monkeypatch.setenv("STUN_SERVERS", "stun:stun.example.org:3478,stuns:stun2.example.org")
    monkeypatch.setenv("TURN_SERVERS", "turn:turn.example.org:3478?transport=udp, turns:turn.example.org:5349")
    monkeypatch.setenv("TURN_SHARED_SECRET", "s" * 20)
    s = load_settings()
    assert s.ice_host_addresses == ["127.0.0.1", "203.0.113.7", "::1"]
    assert s.stun_servers == ["stun:stun.example.org:3478", "stuns:stun2.example.org"]
    assert s.turn_servers == ["turn:turn.example.org:3478?transport=udp", "turns:turn.example.org:5349"]
    # TURN entries are per participant (their own expiring credential); the static list holds STUN only.
    assert s.ice_servers() == [{"urls": ["stun:stun.example.org:3478", "stuns:stun2.example.org"]}]
    turn = s.turn_rest()
    assert turn is not None and turn.shared_secret == "s" * 20
    assert turn.urls == ("turn:turn.example.org:3478?transport=udp", "turns:turn.example.org:5349")


def test_single_stun_server(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STUN_SERVERS", "stun:stun.example.org:3478")
    assert load_settings().ice_servers() == [{"urls": ["stun:stun.example.org:3478"]}]


def test_empty_list_variables_mean_empty(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STUN_SERVERS", "")
    monkeypatch.setenv("TURN_SERVERS", " , ")
    s = load_settings()
    assert s.stun_servers == [] and s.turn_servers == [] and s.ice_servers() == []


def test_ice_servers_returns_copies(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STUN_SERVERS", "stun:a")
    s = load_settings()
    s.ice_servers()[0]["urls"].append("stun:evil")  # type: ignore[attr-defined]
    assert s.stun_servers == ["stun:a"]


# ---- errors name the variable -----------------------------------------------------------------------------


@pytest.mark.parametrize("value", ["localhost", "256.0.0.1", "127.0.0.1,example.org", "1.2.3"])
def test_invalid_ice_host_address(monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    message = invalid(monkeypatch, ICE_HOST_ADDRESSES=value)
    assert "ICE_HOST_ADDRESSES" in message
    assert "not an IP address" in message


@pytest.mark.parametrize("value", ["stun.example.org", "turn:turn.example.org", "http://stun", "stun:a,b"])
def test_invalid_stun_url(monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    message = invalid(monkeypatch, STUN_SERVERS=value)
    assert "STUN_SERVERS" in message and "stun:" in message


def test_invalid_turn_url(monkeypatch: pytest.MonkeyPatch) -> None:
    message = invalid(monkeypatch, TURN_SERVERS="stun:x", TURN_SHARED_SECRET="s" * 20)
    assert "TURN_SERVERS" in message and "turn:" in message


@pytest.mark.parametrize("value", ["abc", "0", "65536", "-1", "80.5"])
def test_invalid_port(monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    assert "HEARING_PORT" in invalid(monkeypatch, HEARING_PORT=value)


def test_invalid_hearing_env(monkeypatch: pytest.MonkeyPatch) -> None:
    assert "HEARING_ENV" in invalid(monkeypatch, HEARING_ENV="prod")


def test_invalid_database_and_redis_urls(monkeypatch: pytest.MonkeyPatch) -> None:
    assert "DATABASE_URL" in invalid(monkeypatch, DATABASE_URL="mysql://db/x")
    monkeypatch.delenv("DATABASE_URL")
    assert "REDIS_URL" in invalid(monkeypatch, REDIS_URL="127.0.0.1:6379")


def test_every_bad_variable_is_listed(monkeypatch: pytest.MonkeyPatch) -> None:
    message = invalid(monkeypatch, HEARING_PORT="x", ICE_HOST_ADDRESSES="nope", STUN_SERVERS="nope")
    assert "HEARING_PORT" in message and "ICE_HOST_ADDRESSES" in message and "STUN_SERVERS" in message


def test_numeric_limits(monkeypatch: pytest.MonkeyPatch) -> None:
    assert "WS_MAX_MESSAGE_BYTES" in invalid(monkeypatch, WS_MAX_MESSAGE_BYTES="100")
    monkeypatch.delenv("WS_MAX_MESSAGE_BYTES")
    assert "WS_RATE_PER_SECOND" in invalid(monkeypatch, WS_RATE_PER_SECOND="0")


def test_production_requires_token_secret(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    message = invalid(monkeypatch, HEARING_ENV="production")
    assert "HEARING_TOKEN_SECRET" in message
    message = invalid(monkeypatch, HEARING_ENV="production", HEARING_TOKEN_SECRET="x" * 31)
    assert "HEARING_TOKEN_SECRET" in message
    monkeypatch.setenv("HEARING_TOKEN_SECRET", "x" * 32)
    key = tmp_path / "integrity.pem"
    key.write_bytes(CodeSigner.generate().private_pem())
    monkeypatch.setenv("INTEGRITY_SIGNING_KEY_FILE", str(key))
    s = load_settings()
    assert s.hearing_env == "production"
    assert s.signing_secret() == "x" * 32


def test_production_requires_a_provided_integrity_key(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Each replica generating its own key would make the others' codes unverifiable: production never does."""
    message = invalid(monkeypatch, HEARING_ENV="production", HEARING_TOKEN_SECRET="x" * 40)
    assert "INTEGRITY_SIGNING_KEY_FILE" in message
    message = invalid(monkeypatch, INTEGRITY_SIGNING_KEY_FILE=str(tmp_path / "missing.pem"))
    assert "INTEGRITY_SIGNING_KEY_FILE" in message and "never generates" in message
    assert not (tmp_path / "missing.pem").exists()


def test_production_s3_requires_keys(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    key = tmp_path / "integrity.pem"
    key.write_bytes(CodeSigner.generate().private_pem())
    message = invalid(monkeypatch, HEARING_ENV="production", HEARING_TOKEN_SECRET="x" * 40, S3_ENDPOINT="s3:9000",
                      INTEGRITY_SIGNING_KEY_FILE=str(key))
    assert "S3_ACCESS_KEY" in message and "S3_SECRET_KEY" in message


def test_development_does_not_require_token_secret() -> None:
    assert load_settings().hearing_env == "development"


@pytest.mark.parametrize("secret", ["", "short"])
def test_turn_without_shared_secret_refused(monkeypatch: pytest.MonkeyPatch, secret: str) -> None:
    message = invalid(monkeypatch, TURN_SERVERS="turn:turn.example.org:3478", TURN_SHARED_SECRET=secret)
    assert "TURN_SHARED_SECRET" in message


# ---- database URL -----------------------------------------------------------------------------------------


def test_postgresql_url_is_normalised_to_asyncpg(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATABASE_URL", "postgresql://court@db.internal:5432/hearing")
    s = load_settings()
    assert s.database_url == "postgresql+asyncpg://court@db.internal:5432/hearing"
    assert s.effective_database_url == s.database_url


def test_asyncpg_and_sqlite_urls_are_kept(monkeypatch: pytest.MonkeyPatch) -> None:
    for url in ("postgresql+asyncpg://u@h/db", "sqlite+aiosqlite:///tmp/x.db"):
        monkeypatch.setenv("DATABASE_URL", url)
        assert load_settings().effective_database_url == url


# ---- the signing secret -----------------------------------------------------------------------------------


def test_signing_secret_generated_once_with_mode_0600(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    var = tmp_path / "fresh" / "var"
    monkeypatch.setenv("HEARING_VAR_DIR", str(var))
    s = load_settings()
    assert not var.exists()
    secret = s.signing_secret()
    assert len(secret) >= 32
    path = var / "token_secret"
    assert path.read_text().strip() == secret
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert not (var / "token_secret.tmp").exists()
    assert s.signing_secret() == secret
    assert load_settings().signing_secret() == secret  # a restart keeps it
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_signing_secret_differs_per_var_dir(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("HEARING_VAR_DIR", str(tmp_path / "a"))
    a = load_settings().signing_secret()
    monkeypatch.setenv("HEARING_VAR_DIR", str(tmp_path / "b"))
    assert load_settings().signing_secret() != a


def test_explicit_secret_is_used_and_nothing_written(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("HEARING_VAR_DIR", str(tmp_path / "v"))
    monkeypatch.setenv("HEARING_TOKEN_SECRET", "explicit-secret-0123456789")
    assert load_settings().signing_secret() == "explicit-secret-0123456789"
    assert not (tmp_path / "v" / "token_secret").exists()


def test_overrides_win_over_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REDIS_URL", "redis://a:6379/0")
    assert load_settings(redis_url="redis://b:6379/0").redis_url == "redis://b:6379/0"
