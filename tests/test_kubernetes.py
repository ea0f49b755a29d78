"""deploy/kubernetes/ validated against the Kubernetes schemas.

No cluster is reachable from the machines that run these tests, so schema
validation (kubernetes-validate, strict: unknown fields are errors) is as far
as a test can go here; the config file the pods get is also checked by
muxserver's own parser."""

import tomllib

import pytest
import yaml

from tests.conftest import REPO

kubernetes_validate = pytest.importorskip(
    "kubernetes_validate", reason="kubernetes-validate is not installed (pip install '.[test]')")
HERE = REPO / "deploy" / "kubernetes"
MANIFESTS = sorted(p.name for p in HERE.glob("*.yaml") if p.name != "kustomization.yaml")


@pytest.mark.parametrize("name", MANIFESTS)
def test_manifest_is_valid_for_kubernetes(name):
    docs = [doc for doc in yaml.safe_load_all((HERE / name).read_text()) if doc]
    assert docs
    for doc in docs:
        kubernetes_validate.validate(doc, kubernetes_validate.latest_version(), strict=True)


def test_kustomization_lists_every_manifest():
    kustomization = yaml.safe_load((HERE / "kustomization.yaml").read_text())
    assert sorted(kustomization["resources"]) == MANIFESTS


def test_the_pods_config_file_is_valid_for_muxserver(tmp_path):
    from muxserver.config import Config

    doc = yaml.safe_load((HERE / "configmap.yaml").read_text())
    values = tomllib.loads(doc["data"]["muxserver.toml"])
    values["tenants_dir"] = str(tmp_path)  # /tenants does not exist here
    config = Config.build(values)
    assert config.isolation == "require" and config.graceful_timeout < 35
    # What serving processes write is apart from what only the supervisor writes.
    assert config.server_root.parent == config.state_dir.parent
    assert not str(config.server_root).startswith(str(config.state_dir) + "/")
    assert config.admin_address == ("0.0.0.0", 8081) and config.port == 8080


def test_each_pod_has_its_own_data_volume_and_the_data_is_replicated(tmp_path):
    """SQLite's WAL needs shared memory on one host: no ReadWriteMany data
    volume; a StatefulSet gives each pod a ReadWriteOnce one, and the
    config names a replica a pod restores tenants from."""
    from muxserver.config import Config

    docs = [doc for path in HERE.glob("*.yaml") for doc in yaml.safe_load_all(path.read_text())
            if doc]
    kinds = {doc["kind"] for doc in docs}
    assert "Deployment" not in kinds and "StatefulSet" in kinds
    claims = [doc for doc in docs if doc["kind"] == "PersistentVolumeClaim"]
    assert all("ReadWriteMany" not in c["spec"]["accessModes"] for c in claims)
    stateful = next(doc for doc in docs if doc["kind"] == "StatefulSet")
    templates = stateful["spec"]["volumeClaimTemplates"]
    assert [t["spec"]["accessModes"] for t in templates] == [["ReadWriteOnce"]]
    mounts = stateful["spec"]["template"]["spec"]["containers"][0]["volumeMounts"]
    assert {"name": "state", "mountPath": "/state"} in mounts
    headless = [doc for doc in docs if doc["kind"] == "Service"
                and doc["metadata"]["name"] == stateful["spec"]["serviceName"]]
    assert headless and headless[0]["spec"]["clusterIP"] == "None"
    hpa = next(doc for doc in docs if doc["kind"] == "HorizontalPodAutoscaler")
    assert hpa["spec"]["scaleTargetRef"]["kind"] == "StatefulSet"
    values = tomllib.loads(next(doc for doc in docs if doc["kind"] == "ConfigMap")
                           ["data"]["muxserver.toml"])
    values["tenants_dir"] = str(tmp_path)
    assert Config.build(values).replica.startswith("s3://")
