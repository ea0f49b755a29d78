"""Settings: one table, validated once, from flags and a TOML file."""

import argparse

import pytest

from muxserver.config import SETTINGS
from muxserver.config import Config
from muxserver.config import add_arguments
from muxserver.config import read_config_file
from muxserver.errors import ConfigError


def test_every_setting_is_a_config_field_and_flags_come_from_the_table():
    fields = set(Config.__dataclass_fields__)
    assert {s.name for s in SETTINGS} <= fields
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    flags = {a.dest for a in parser._actions}
    assert {s.name for s in SETTINGS if s.flag != ""} <= flags
    assert "max_limits" not in flags and "hosts" not in flags  # config file only


@pytest.mark.parametrize("values, message", [
    ({}, "tenants_dir is required"),
    ({"port": 70000}, "port: 70000 is not a port number"),
    ({"workers": 0}, "workers: 0 is too small"),
    ({"log_format": "xml"}, "log_format: 'xml' is not one of text, json"),
    ({"cpu_ms": 0}, "limit 'cpu_ms'=0 is outside"),
    ({"max_limits": {"cpu_ms": 500}}, "max_limits: cpu_ms = 500 is below the default cpu_ms = 1000"),
    ({"max_limits": {"cpu": 5}}, "unknown limit 'cpu'"),
    ({"hosts": {"a": ["x.test"], "b": ["x.test"]}}, "'x.test' is assigned to both a and b"),
    ({"hosts": {"a": ["not a host"]}}, "is not a valid host name"),
])
def test_bad_values_name_the_setting(tmp_path, values, message):
    if values:
        values = {"tenants_dir": tmp_path, **values}
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace("'", "'")):
        Config.build(values)


def test_config_file_paths_are_relative_to_the_file(tmp_path):
    (tmp_path / "conf").mkdir()
    path = tmp_path / "conf" / "mux.toml"
    path.write_text('tenants_dir = "t"\ncache-dir = "c"\n[limits]\ncpu_ms = 50\n'
                    '[hosts]\nacme = ["API.acme.test", "*.acme.test"]\n')
    values = read_config_file(path)
    assert values["tenants_dir"] == str(tmp_path / "conf" / "t")
    assert values["cache_dir"] == str(tmp_path / "conf" / "c")
    (tmp_path / "conf" / "t").mkdir()
    config = Config.build(values)
    assert config.limits.cpu_ms == 50
    assert config.hosts["acme"] == ("api.acme.test", "*.acme.test")


def test_unknown_key_in_the_file_is_refused(tmp_path):
    path = tmp_path / "mux.toml"
    path.write_text("tenant_dir = 'x'\n")
    with pytest.raises(ConfigError, match="unknown key 'tenant_dir'"):
        read_config_file(path)


def test_readme_settings_table_is_the_one_the_settings_make():
    from muxserver.config import settings_table
    from tests.conftest import REPO

    readme = (REPO / "README.md").read_text()
    start = readme.index("<!-- settings:")
    table = readme[readme.index("\n", start) + 1:readme.index("<!-- /settings -->")].strip()
    assert table == settings_table()
