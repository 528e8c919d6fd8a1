"""The Kubernetes manifests (deploy/k8s/): every document validates against the Kubernetes schemas shipped in
`kubernetes-validate` (offline, strict: an unknown field is an error), and the pieces fit together — the
StatefulSet's spool volume, the headless service for the media nodes, probes on the app's own endpoints, the
disruption budget over the same pods, the external services the settings name, settings that exist."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from tests.test_compose import setting_env_names

K8S = Path(__file__).resolve().parent.parent / "deploy" / "k8s"
VERSION = kubernetes_validate.latest_version()


def documents() -> list[tuple[str, dict[str, Any]]]:
    out = []
    for path in sorted(K8S.glob("*.yaml")):
        out += [(path.name, doc) for doc in yaml.safe_load_all(path.read_text()) if doc]
    return out


def only(kind: str, name: str | None = None) -> dict[str, Any]:
    found = [d for _, d in documents() if d["kind"] == kind and name in (None, d["metadata"]["name"])]
    assert len(found) == 1, (kind, name, len(found))
    return found[0]


@pytest.mark.parametrize(("source", "doc"), documents(), ids=lambda v: v if isinstance(v, str) else v["kind"])
def test_manifest_validates_against_the_schema(source: str, doc: dict[str, Any]) -> None:
    kubernetes_validate.validate(doc, VERSION, strict=True)


def test_a_broken_manifest_is_refused() -> None:
    """The validator is not a formality: a misspelt field and a wrong type both fail."""
    pdb = only("PodDisruptionBudget")
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate({**pdb, "spec": {**pdb["spec"], "maxUnavialable": 1}}, VERSION, strict=True)
    sts = only("StatefulSet")
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate({**sts, "spec": {**sts["spec"], "replicas": "two"}}, VERSION, strict=True)


def test_statefulset_spool_probes_and_headless_service() -> None:
    sts = only("StatefulSet", "hearing")
    spec = sts["spec"]
    pod = spec["template"]["spec"]
    (app,) = pod["containers"]
    config = only("ConfigMap", "hearing-config")["data"]
    # The spool volume is per node and is where HEARING_VAR_DIR points.
    (claim,) = spec["volumeClaimTemplates"]
    mounts = {m["name"]: m["mountPath"] for m in app["volumeMounts"]}
    assert mounts[claim["metadata"]["name"]] == config["HEARING_VAR_DIR"]
    # Governed by a headless service selecting the same pods.
    media = only("Service", spec["serviceName"])
    assert media["spec"]["clusterIP"] == "None"
    assert media["spec"]["selector"] == spec["selector"]["matchLabels"] == {
        k: v for k, v in spec["template"]["metadata"]["labels"].items() if k in media["spec"]["selector"]}
    # Probes on the app's own endpoints, on the port it serves.
    port = {p["name"]: p["containerPort"] for p in app["ports"]}["http"]
    assert str(port) == config["HEARING_PORT"]
    assert app["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert app["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert app["startupProbe"]["httpGet"]["path"] == "/healthz"
    # The integrity key is a file from its own Secret, mounted where the setting points, on every node.
    key_dir, key_name = config["INTEGRITY_SIGNING_KEY_FILE"].rsplit("/", 1)
    assert mounts["secrets"] == key_dir
    (secret_volume,) = [v for v in pod["volumes"] if v["name"] == "secrets"]
    assert [i["path"] for i in secret_volume["secret"]["items"]] == [key_name]
    assert pod["securityContext"]["runAsUser"] == 10001  # the image's `hearing` user
    # Draining after SIGTERM ends before Kubernetes kills the pod.
    assert float(config["HEARING_DRAIN_SECONDS"]) < pod["terminationGracePeriodSeconds"]
    env = {e["name"]: e for e in app["env"]}
    assert "$(POD_NAME)" in env["HEARING_NODE_URL"]["value"] and env["HEARING_NODE_URL"]["value"].startswith("wss://")


def test_disruption_budget_covers_the_app_pods() -> None:
    pdb = only("PodDisruptionBudget")
    sts = only("StatefulSet", "hearing")
    assert pdb["spec"]["selector"]["matchLabels"] == sts["spec"]["selector"]["matchLabels"]
    assert pdb["spec"]["maxUnavailable"] == 1 < sts["spec"]["replicas"]


def test_postgres_redis_and_s3_are_external_services_the_settings_name() -> None:
    config = only("ConfigMap", "hearing-config")["data"]
    secret = only("Secret", "hearing-secrets")["stringData"]
    for name, port in (("postgres", 5432), ("redis", 6379), ("s3", 8333)):
        svc = only("Service", name)
        assert svc["spec"]["type"] == "ExternalName"
        assert [p["port"] for p in svc["spec"]["ports"]] == [port]
    assert "@postgres:5432/" in secret["DATABASE_URL"]
    assert config["REDIS_URL"].startswith("redis://redis:6379/")
    assert config["S3_ENDPOINT"] == "s3:8333"


def test_environment_names_real_settings() -> None:
    known = setting_env_names()
    names = set(only("ConfigMap", "hearing-config")["data"]) | set(only("Secret", "hearing-secrets")["stringData"])
    for container in (only("StatefulSet")["spec"]["template"]["spec"]["containers"]
                      + only("Job")["spec"]["template"]["spec"]["containers"]):
        names |= {e["name"] for e in container.get("env", [])}
        assert {r.get("configMapRef", r.get("secretRef"))["name"] for r in container["envFrom"]} == {
            "hearing-config", "hearing-secrets"}
    unknown = sorted(names - set(known) - {"POD_NAME"})  # POD_NAME only feeds $(POD_NAME) in HEARING_NODE_URL
    assert not unknown, f"the manifests set {unknown}, which app/settings.py does not read"
    assert only("ConfigMap")["data"]["HEARING_ENV"] == "production"
