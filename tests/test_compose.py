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
from integrity.signing import CodeSigner

ROOT = Path(__file__).resolve().parent.parent
COMPOSE_FILE = ROOT / "docker-compose.yml"
TURN_CONF = ROOT / "deploy" / "turnserver.conf"
DOCKERFILE = ROOT / "Dockerfile"
SECRET = "s" * 40
TURN_SECRET = "t" * 24
SERVICES = {"app", "app-2", "migrate", "redis", "postgres", "s3", "s3-init", "coturn", "proxy"}
NGINX_CONF = ROOT / "deploy" / "nginx.conf"
APP_NODES = ("app", "app-2")


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


def required(tmp_path: Path, **without: str) -> dict[str, str]:
    """The variables docker-compose insists on, less those named in `without`."""
    key = tmp_path / "integrity.pem"
    key.write_bytes(CodeSigner.generate().private_pem())
    env = {"HEARING_TOKEN_SECRET": SECRET, "TURN_SHARED_SECRET": TURN_SECRET, "INTEGRITY_SIGNING_KEY_FILE": str(key)}
    return {k: v for k, v in env.items() if k not in without}


@pytest.fixture
def config(tmp_path: Path) -> dict[str, Any]:
    res = compose(tmp_path, "config", **required(tmp_path))
    assert res.returncode == 0, res.stderr
    return yaml.safe_load(res.stdout)


def test_compose_file_validates(tmp_path: Path) -> None:
    res = compose(tmp_path, "config", "-q", **required(tmp_path))
    assert res.returncode == 0, res.stderr


@pytest.mark.parametrize("name", ["HEARING_TOKEN_SECRET", "TURN_SHARED_SECRET", "INTEGRITY_SIGNING_KEY_FILE"])
def test_missing_secret_fails_naming_it(tmp_path: Path, name: str) -> None:
    res = compose(tmp_path, "config", "-q", **required(tmp_path, **{name: ""}))
    assert res.returncode != 0
    assert f"set {name}" in res.stderr, res.stderr


def test_services_and_wiring(config: dict[str, Any]) -> None:
    services = config["services"]
    assert SERVICES <= set(services), sorted(services)
    env = services["app"]["environment"]
    assert env["DATABASE_URL"].startswith("postgresql+asyncpg://")
    assert "@postgres:5432/" in env["DATABASE_URL"]
    assert env["REDIS_URL"] == "redis://redis:6379/0"
    assert env["S3_ENDPOINT"] == "s3:8333"
    assert env["HEARING_TOKEN_SECRET"] == SECRET
    assert env["HEARING_ENV"] == "production"
    # Clients reach the nodes only through the proxy (its own limits, deploy/nginx.conf; the app's behind it).
    assert "ports" not in services["app"] and "ports" not in services["app-2"]
    assert {"published": 8000, "target": 8000} in services["proxy"]["ports"]
    # The app starts only once its services answer, the bucket exists and the schema is current.
    for node in APP_NODES:
        deps = services[node]["depends_on"]
        assert deps["postgres"]["condition"] == deps["redis"]["condition"] == "service_healthy"
        assert deps["s3-init"]["condition"] == deps["migrate"]["condition"] == "service_completed_successfully"
    assert services["migrate"]["command"] == ["hearing", "migrate"]
    assert services["migrate"]["environment"] == env
    for name in ("postgres", "redis", "s3"):
        assert "healthcheck" in services[name], name
    # The S3 server is a maintained one pinned by version (MinIO's images are no longer served).
    image, _, tag = services["s3"]["image"].partition(":")
    assert image == "chrislusf/seaweedfs" and re.fullmatch(r"\d+\.\d+", tag), services["s3"]["image"]
    assert "object_lock=True" in " ".join(services["s3-init"]["command"])
    assert services["s3-init"]["environment"]["S3_ENDPOINT"] == env["S3_ENDPOINT"]
    # One shared secret on both sides of TURN (time-limited credentials); the S3 keys are SeaweedFS's.
    assert f"--static-auth-secret={TURN_SECRET}" in services["coturn"]["command"]
    assert env["TURN_SHARED_SECRET"] == TURN_SECRET
    assert env["S3_ACCESS_KEY"] == services["s3"]["environment"]["S3_ACCESS_KEY"]
    assert env["S3_SECRET_KEY"] == services["s3"]["environment"]["S3_SECRET_KEY"]
    assert services["postgres"]["environment"]["POSTGRES_PASSWORD"] in env["DATABASE_URL"]
    assert {"postgres-data", "s3-data"} <= set(config["volumes"])


def test_two_app_nodes_share_everything_but_spool_and_media_address(config: dict[str, Any]) -> None:
    services = config["services"]
    a, b = (services[n] for n in APP_NODES)
    env_a, env_b = dict(a["environment"]), dict(b["environment"])
    assert env_a.pop("ICE_HOST_ADDRESSES") != env_b.pop("ICE_HOST_ADDRESSES")
    # Each node announces its own URL (rooms placed on it are redirected there), on its own host port.
    # Each node announces its own URL (rooms placed on it are redirected there): the proxy's port for that node.
    urls = env_a.pop("HEARING_NODE_URL"), env_b.pop("HEARING_NODE_URL")
    assert [u.rsplit(":", 1)[1] for u in urls] == [str(p) for p in proxied_ports(services).values()]
    assert env_a == env_b
    def sources(node: dict[str, Any]) -> set[str]:  # docker-compose 1.29 prints short strings, v2 mappings
        return {v["source"] if isinstance(v, dict) else v.split(":", 1)[0] for v in node["volumes"]}

    assert sources(a).isdisjoint(sources(b))
    # Both sign with the one provided integrity key, mounted where the setting points.
    for node in (a, b, services["migrate"]):
        assert [s["source"] if isinstance(s, dict) else s for s in node["secrets"]] == ["integrity_signing_key"]
    assert env_a["INTEGRITY_SIGNING_KEY_FILE"] == "/run/secrets/integrity_signing_key"


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
    # The secret is mounted at /run/secrets/ in the container; here the host file compose would mount stands in.
    monkeypatch.setenv("INTEGRITY_SIGNING_KEY_FILE", config["secrets"]["integrity_signing_key"]["file"])
    settings = Settings()  # type: ignore[call-arg]
    assert settings.hearing_env == "production"
    assert settings.turn_servers and all(u.startswith("turn:") for u in settings.turn_servers)


def test_turn_relays_only_to_the_app(config: dict[str, Any]) -> None:
    """coturn may relay to the app nodes' media sockets and nothing else; everything else is denied."""
    subnet = config["networks"]["default"]["ipam"]["config"][0]["subnet"]
    ips = []
    for node in APP_NODES:
        app = config["services"][node]
        app_ip = app["networks"]["default"]["ipv4_address"]
        assert app["environment"]["ICE_HOST_ADDRESSES"] == app_ip
        assert app_ip.rsplit(".", 1)[0] == subnet.rsplit(".", 1)[0]
        ips.append(app_ip)

    lines = [ln.strip() for ln in TURN_CONF.read_text().splitlines() if ln.strip() and not ln.startswith("#")]
    assert [ln for ln in lines if ln.startswith("allowed-peer-ip=")] == [f"allowed-peer-ip={ips[0]}-{ips[-1]}"]
    assert [int(ip.rsplit(".", 1)[1]) for ip in ips] == list(range(int(ips[0].rsplit(".", 1)[1]),
                                                                  int(ips[-1].rsplit(".", 1)[1]) + 1))
    denied = {ln.split("=", 1)[1] for ln in lines if ln.startswith("denied-peer-ip=")}
    assert {"0.0.0.0-255.255.255.255", "::-ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"} <= denied
    # Even without the catch-all, loopback, private, link-local (cloud metadata) and CGNAT stay denied.
    assert {"127.0.0.0-127.255.255.255", "10.0.0.0-10.255.255.255", "172.16.0.0-172.31.255.255",
            "192.168.0.0-192.168.255.255", "169.254.0.0-169.254.255.255", "100.64.0.0-100.127.255.255",
            "::1", "fc00::-fdff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"} <= denied
    for flag in ("use-auth-secret", "no-cli", "no-multicast-peers", "no-tcp-relay"):
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


def proxied_ports(services: dict[str, Any]) -> dict[str, int]:
    """App node -> the proxy's port for it, from deploy/nginx.conf (upstream address -> node's ipv4_address)."""
    conf = NGINX_CONF.read_text()
    upstreams = dict(re.findall(r"upstream (\w+)\s*{\s*server ([\d.]+):8000;", conf))
    address = {services[n]["networks"]["default"]["ipv4_address"]: n for n in APP_NODES}
    out = {}
    for port, upstream in re.findall(r"listen (\d+);.*?proxy_pass http://(\w+);", conf, flags=re.S):
        out[address[upstreams[upstream]]] = int(port)
    return out


def test_the_proxy_fronts_each_node_with_its_own_limits(config: dict[str, Any]) -> None:
    services = config["services"]
    proxy = services["proxy"]
    image, _, tag = proxy["image"].partition(":")
    assert image == "nginx" and re.match(r"\d+\.\d+", tag), proxy["image"]
    assert proxied_ports(services) == {"app": 8000, "app-2": 8001}
    assert {p["target"] for p in proxy["ports"]} == {8000, 8001}
    # The app believes X-Forwarded-For from the proxy's fixed address only, and the proxy overwrites it.
    proxy_ip = proxy["networks"]["default"]["ipv4_address"]
    for node in APP_NODES:
        assert services[node]["environment"]["TRUSTED_PROXIES"] == proxy_ip
        assert services[node]["networks"]["default"]["ipv4_address"] != proxy_ip
    conf = NGINX_CONF.read_text()
    assert "proxy_set_header X-Forwarded-For $remote_addr;" in conf
    # Slow requests and floods stop at the proxy too; bodies are streamed so the app refuses them before reading.
    for directive in ("client_header_timeout 10s;", "client_body_timeout 30s;", "limit_conn per_ip 64;",
                      "proxy_request_buffering off;", "limit_req zone=login", "server_tokens off;"):
        assert directive in conf, directive
    assert "Upgrade $http_upgrade" in conf  # signalling WebSockets pass
    limit = re.search(r"client_max_body_size (\d+)m;", conf)
    assert limit and int(limit.group(1)) >= 50 + 1, "the proxy must let the largest exhibit through"
