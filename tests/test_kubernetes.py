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
