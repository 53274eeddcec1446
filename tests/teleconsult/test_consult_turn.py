"""TURN credentials in coturn's REST-API scheme, against a vector computed here independently."""

from __future__ import annotations

import base64
import hashlib
import hmac

import pytest

from teleconsult.config import ConfigError, load_settings
from teleconsult.consults.turn import IceConfig, turn_credentials, turn_password


def test_known_vector() -> None:
    # Computed independently with OpenSSL:
    #   printf %s 1700003600:user42 | openssl dgst -sha1 -hmac north-county-turn-secret -binary | base64
    assert turn_password("north-county-turn-secret", "1700003600:user42") == "Hyl047/Aa3N2BMn3LflP+G8DyUM="
    username, password = turn_credentials("north-county-turn-secret", "user42", 1_700_000_000.0, 3600)
    assert (username, password) == ("1700003600:user42", "Hyl047/Aa3N2BMn3LflP+G8DyUM=")
    expected = base64.b64encode(hmac.new(b"s3cr3t", b"1700000100:kiosk7", hashlib.sha1).digest()).decode()
    assert turn_credentials("s3cr3t", "kiosk7", 1_700_000_000.0, 100) == ("1700000100:kiosk7", expected)


def test_no_secret_or_a_colon_is_refused() -> None:
    with pytest.raises(ValueError):
        turn_credentials("", "user1", 0.0, 60)
    with pytest.raises(ValueError):
        turn_credentials("s", "a:b", 0.0, 60)


def test_ice_servers_never_carry_the_secret() -> None:
    ice = IceConfig.from_text("stun:stun.example.org:3478", "turn:turn.example.org:3478?transport=udp, "
                              "turns:turn.example.org:443?transport=tcp", "topsecret-value", 600)
    servers = ice.servers_for("user5", 1000.0)
    assert servers[0] == {"urls": ["stun:stun.example.org:3478"]}
    assert servers[1]["urls"] == ["turn:turn.example.org:3478?transport=udp",
                                  "turns:turn.example.org:443?transport=tcp"]
    assert servers[1]["username"] == "1600:user5"
    assert "topsecret-value" not in repr(servers)
    assert IceConfig().servers_for("user5", 0.0) == []


def test_settings_read_turn_secret_and_refuse_turn_without_it(tmp_path: object) -> None:
    s = load_settings(environ={"TURN_SECRET": "from-env", "TELECONSULT_TURN_URLS": "turn:t.example:3478"})
    assert s.turn_secret == "from-env" and "from-env" not in repr(s)
    with pytest.raises(ConfigError):
        load_settings(environ={"TELECONSULT_TURN_URLS": "turn:t.example:3478"})
    with pytest.raises(ConfigError):
        load_settings(environ={"TELECONSULT_STUN_URLS": "http://nope"})
