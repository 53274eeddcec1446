"""Settings come from defaults < TOML file < TELECONSULT_* environment < command-line flags."""

from __future__ import annotations

from pathlib import Path

import pytest

from teleconsult.config import ConfigError, load_settings


def test_flags_beat_environment_beat_file_beat_defaults(tmp_path: Path) -> None:
    config = tmp_path / "teleconsult.toml"
    config.write_text('port = 9000\nhost = "0.0.0.0"\nredis_url = "redis://file:6379/0"\nbacklog_s = 5\n')
    env = {"TELECONSULT_PORT": "9100", "TELECONSULT_REDIS_URL": "redis://env:6379/0"}
    settings = load_settings(str(config), {"port": 9200}, environ=env)
    assert settings.port == 9200
    assert settings.redis_url == "redis://env:6379/0"
    assert settings.host == "0.0.0.0"
    assert settings.backlog_s == 5.0
    assert settings.commit_interval_s == 0.02  # default
    assert settings.data_dir.is_absolute()


def test_unknown_or_malformed_settings_name_the_key(tmp_path: Path) -> None:
    config = tmp_path / "bad.toml"
    config.write_text('prot = 9000\n')
    with pytest.raises(ConfigError, match="prot"):
        load_settings(str(config), environ={})
    with pytest.raises(ConfigError, match="port"):
        load_settings(None, environ={"TELECONSULT_PORT": "eighty"})


def test_each_process_gets_its_own_node_id_unless_named() -> None:
    a, b = load_settings(None, environ={}), load_settings(None, environ={})
    assert a.node_id != b.node_id
    assert load_settings(None, {"node_id": "county-1"}, environ={}).node_id == "county-1"
