"""The docker-compose deployment: the file validates, a missing secret fails clearly, and the app's environment
names only real settings with values the settings accept. No Docker engine needed: `docker-compose config`."""

from __future__ import annotations

import re
import shutil
import subprocess
import tomllib
from pathlib import Path
from typing import Any

import pytest
import yaml

from app.settings import Settings

ROOT = Path(__file__).resolve().parent.parent
COMPOSE_FILE = ROOT / "docker-compose.yml"
TURN_CONF = ROOT / "deploy" / "turnserver.conf"
DOCKERFILE = ROOT / "Dockerfile"
SECRET = "s" * 40
TURN_PASSWORD = "t" * 24
SERVICES = {"app", "migrate", "redis", "postgres", "minio", "minio-init", "coturn"}


def compose(tmp_path: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    """Run docker-compose on our file with only the given variables: the caller's environment and any .env
    file in the repository must not change the outcome."""
    exe = shutil.which("docker-compose")
    if exe is None:
        pytest.fail("docker-compose is missing; run `make test` (installs Debian's docker-compose)")
    env_file = tmp_path / "empty.env"
    env_file.write_text("")
    base = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}
    return subprocess.run(
        [exe, "--env-file", str(env_file), "-f", str(COMPOSE_FILE), *args],
        cwd=ROOT, env={**base, **env}, capture_output=True, text=True, timeout=60, check=False,
    )


def setting_env_names() -> dict[str, str]:
    """Env var name (upper case) -> field name: `foo` reads FOO unless the field has an alias."""
    assert Settings.model_config.get("env_prefix", "") == ""
    return {(info.alias or name).upper(): name for name, info in Settings.model_fields.items()}


@pytest.fixture
def config(tmp_path: Path) -> dict[str, Any]:
    res = compose(tmp_path, "config", HEARING_TOKEN_SECRET=SECRET, TURN_PASSWORD=TURN_PASSWORD)
    assert res.returncode == 0, res.stderr
    return yaml.safe_load(res.stdout)


def test_compose_file_validates(tmp_path: Path) -> None:
    res = compose(tmp_path, "config", "-q", HEARING_TOKEN_SECRET=SECRET, TURN_PASSWORD=TURN_PASSWORD)
    assert res.returncode == 0, res.stderr


def test_missing_token_secret_fails_naming_it(tmp_path: Path) -> None:
    res = compose(tmp_path, "config", "-q", TURN_PASSWORD=TURN_PASSWORD)
    assert res.returncode != 0
    assert "set HEARING_TOKEN_SECRET" in res.stderr, res.stderr


def test_missing_turn_password_fails_naming_it(tmp_path: Path) -> None:
    res = compose(tmp_path, "config", "-q", HEARING_TOKEN_SECRET=SECRET)
    assert res.returncode != 0
    assert "set TURN_PASSWORD" in res.stderr, res.stderr


def test_services_and_wiring(config: dict[str, Any]) -> None:
    services = config["services"]
    assert SERVICES <= set(services), sorted(services)
    env = services["app"]["environment"]
    assert env["DATABASE_URL"].startswith("postgresql+asyncpg://")
    assert "@postgres:5432/" in env["DATABASE_URL"]
    assert env["REDIS_URL"] == "redis://redis:6379/0"
    assert env["S3_ENDPOINT"] == "minio:9000"
    assert env["HEARING_TOKEN_SECRET"] == SECRET
    assert env["HEARING_ENV"] == "production"
    assert {"published": 8000, "target": 8000} in services["app"]["ports"]
    # The app starts only once its services answer, the bucket exists and the schema is current.
    deps = services["app"]["depends_on"]
    assert deps["postgres"]["condition"] == deps["redis"]["condition"] == "service_healthy"
    assert deps["minio-init"]["condition"] == deps["migrate"]["condition"] == "service_completed_successfully"
    assert services["migrate"]["command"] == ["hearing", "migrate"]
    assert services["migrate"]["environment"] == env
    for name in ("postgres", "redis", "minio"):
        assert "healthcheck" in services[name], name
    assert "--with-lock" in " ".join(services["minio-init"]["command"])
    # The same password on both sides of TURN; the S3 keys are MinIO's.
    assert f"--user={env['TURN_USERNAME']}:{TURN_PASSWORD}" in services["coturn"]["command"]
    assert env["TURN_PASSWORD"] == TURN_PASSWORD
    assert env["S3_ACCESS_KEY"] == services["minio"]["environment"]["MINIO_ROOT_USER"]
    assert env["S3_SECRET_KEY"] == services["minio"]["environment"]["MINIO_ROOT_PASSWORD"]
    assert services["postgres"]["environment"]["POSTGRES_PASSWORD"] in env["DATABASE_URL"]
    assert {"postgres-data", "minio-data"} <= set(config["volumes"])


def test_app_environment_names_real_settings(config: dict[str, Any]) -> None:
    known = setting_env_names()
    for name in ("app", "migrate"):
        unknown = sorted(set(config["services"][name]["environment"]) - set(known))
        assert not unknown, f"{name} sets {unknown}, which app/settings.py does not read"


def test_app_environment_is_accepted_by_settings(config: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    for env_name in setting_env_names():
        monkeypatch.delenv(env_name, raising=False)
    for key, value in config["services"]["app"]["environment"].items():
        monkeypatch.setenv(key, str(value))
    settings = Settings()  # type: ignore[call-arg]
    assert settings.hearing_env == "production"
    assert settings.turn_servers and all(u.startswith("turn:") for u in settings.turn_servers)


def test_turn_relays_only_to_the_app(config: dict[str, Any]) -> None:
    """coturn may relay to exactly one peer, the app's media sockets; everything else is denied."""
    app = config["services"]["app"]
    app_ip = app["networks"]["default"]["ipv4_address"]
    assert app["environment"]["ICE_HOST_ADDRESSES"] == app_ip
    subnet = config["networks"]["default"]["ipam"]["config"][0]["subnet"]
    assert app_ip.rsplit(".", 1)[0] == subnet.rsplit(".", 1)[0]

    lines = [ln.strip() for ln in TURN_CONF.read_text().splitlines() if ln.strip() and not ln.startswith("#")]
    assert [ln for ln in lines if ln.startswith("allowed-peer-ip=")] == [f"allowed-peer-ip={app_ip}"]
    denied = {ln.split("=", 1)[1] for ln in lines if ln.startswith("denied-peer-ip=")}
    assert {"0.0.0.0-255.255.255.255", "::-ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"} <= denied
    # Even without the catch-all, loopback, private, link-local (cloud metadata) and CGNAT stay denied.
    assert {"127.0.0.0-127.255.255.255", "10.0.0.0-10.255.255.255", "172.16.0.0-172.31.255.255",
            "192.168.0.0-192.168.255.255", "169.254.0.0-169.254.255.255", "100.64.0.0-100.127.255.255",
            "::1", "fc00::-fdff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"} <= denied
    for flag in ("lt-cred-mech", "no-cli", "no-multicast-peers", "no-tcp-relay"):
        assert flag in lines, flag
    assert any(ln.startswith("realm=") for ln in lines)
    assert any(ln.startswith("min-port=") for ln in lines) and any(ln.startswith("max-port=") for ln in lines)
    assert not any(ln.startswith(("user=", "static-auth-secret=")) for ln in lines), "no secrets in the file"
    assert {"published": 3478, "target": 3478, "protocol": "udp"} in config["services"]["coturn"]["ports"]


def test_dockerfile_copies_every_package() -> None:
    text = DOCKERFILE.read_text()
    copied = set(re.findall(r"^COPY\s+(\S+?)/?\s", text, flags=re.MULTILINE))
    for src in copied:
        assert (ROOT / src).exists(), f"Dockerfile copies {src}, which does not exist"
    include = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"]["find"]
    packages = {p.rstrip("*").rstrip(".") for p in include["include"]}
    missing = sorted(packages - copied)
    assert not missing, f"pyproject.toml packages not copied into the image: {missing}"
    assert {"web", "README.md", "pyproject.toml"} <= copied
    assert re.search(r"^USER\s+(?!root)\S+", text, flags=re.MULTILINE), "the image must not run as root"
    assert "/healthz" in text and 'CMD ["hearing", "serve", "--host", "0.0.0.0"]' in text
