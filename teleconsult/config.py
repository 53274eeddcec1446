"""Settings from (in rising priority) defaults, a TOML file, TELECONSULT_* env vars and CLI flags."""

from __future__ import annotations

import os
import socket
import tomllib
import uuid
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

REPO_ROOT = Path(__file__).resolve().parent.parent


class ConfigError(Exception):
    pass


@dataclass(frozen=True)
class Settings:
    host: str = "127.0.0.1"
    port: int = 8080
    data_dir: Path = Path("./teleconsult-data")
    redis_url: str = ""
    # Records engine: "" = SQLite file in data_dir (embedded default); "postgresql://user@host:port/db"
    # for several nodes (a password is better kept in PGPASSFILE / ~/.pgpass than in the URL).
    database_url: str = ""
    node_id: str = ""
    web_root: Path = REPO_ROOT / "web_client"
    commit_interval_s: float = 0.02
    backlog_s: float = 10.0
    shutdown_timeout_s: float = 5.0
    # Bearer token Prometheus sends to GET /metrics; empty = /metrics is off.
    metrics_token: str = ""
    # On SIGTERM, /readyz answers 503 for this long before draining, so that a load
    # balancer stops sending new connections first.
    drain_delay_s: float = 0.0
    # Reading and reporting (docs/reporting.md): how long a reader's lock on a study lasts
    # without activity, when an unacknowledged critical report escalates (and how often
    # that is checked), the turnaround target and the time zone of the TAT figures' days.
    claim_ttl_s: float = 300.0
    escalate_after_s: float = 600.0
    escalation_check_s: float = 5.0
    tat_target_s: float = 180.0
    report_timezone: str = "Asia/Shanghai"
    # Video consults (docs/consults.md): ICE servers handed to both parties (comma-separated
    # stun:/turn:/turns: URLs), the coturn shared secret for ephemeral TURN credentials
    # (TELECONSULT_TURN_SECRET, TURN_SECRET, or a file: turn_secret_file) and their lifetime;
    # how long a request waits for a doctor, a call may take to connect, a dropped party has
    # to rejoin; a doctor's heartbeat lifetime; the sweeper's period; shared files' size limit.
    stun_urls: str = ""
    turn_urls: str = ""
    turn_secret: str = field(default="", repr=False)
    turn_secret_file: str = ""
    turn_ttl_s: float = 3600.0
    consult_answer_timeout_s: float = 120.0
    consult_connect_timeout_s: float = 60.0
    consult_reconnect_grace_s: float = 30.0
    presence_ttl_s: float = 45.0
    consult_check_s: float = 1.0
    consult_file_max_bytes: int = 10 * 1024 * 1024
    demo: bool = False
    demo_record: str = ""
    demo_speed: float = 1.0

    @property
    def db_path(self) -> Path:
        return self.data_dir / "teleconsult.sqlite3"

    def resolved(self) -> "Settings":
        if self.database_url and urlsplit(self.database_url).scheme not in ("postgresql", "postgres"):
            raise ConfigError("setting 'database_url': expected a postgresql:// URL "
                              "(or nothing, for SQLite in data_dir)")
        node_id = self.node_id or f"{socket.gethostname()}-{self.port}-{uuid.uuid4().hex[:6]}"
        turn_secret = self.turn_secret
        if not turn_secret and self.turn_secret_file:
            try:
                turn_secret = Path(self.turn_secret_file).read_text(encoding="utf-8").strip()
            except OSError as exc:
                raise ConfigError(f"setting 'turn_secret_file': cannot read it ({exc.strerror})") from None
        for name in ("consult_answer_timeout_s", "consult_connect_timeout_s", "consult_reconnect_grace_s",
                     "presence_ttl_s", "consult_check_s", "turn_ttl_s"):
            if getattr(self, name) <= 0:
                raise ConfigError(f"setting {name!r}: must be positive")
        from teleconsult.consults.turn import IceConfig

        try:
            IceConfig.from_text(self.stun_urls, self.turn_urls, turn_secret, self.turn_ttl_s)
        except ValueError as exc:
            raise ConfigError(f"settings 'stun_urls'/'turn_urls': {exc}") from None
        return replace(self, data_dir=Path(self.data_dir).resolve(), node_id=node_id, turn_secret=turn_secret)


def _cast(name: str, value: Any) -> Any:
    kinds = {f.name: f.type for f in fields(Settings)}
    if name not in kinds:
        raise ConfigError(f"unknown setting {name!r}")
    kind = kinds[name]
    try:
        if kind in ("int", int):
            return int(value)
        if kind in ("float", float):
            return float(value)
        if kind in ("bool", bool):
            return value if isinstance(value, bool) else str(value).lower() in ("1", "true", "yes", "on")
        if kind in ("Path", Path):
            return Path(value)
        return str(value)
    except (TypeError, ValueError):
        raise ConfigError(f"setting {name!r}: cannot use {value!r} as {kind}") from None


def load_settings(config_file: str | None = None, overrides: dict[str, Any] | None = None,
                  environ: dict[str, str] | None = None) -> Settings:
    values: dict[str, Any] = {}
    config_file = config_file or (environ or os.environ).get("TELECONSULT_CONFIG")
    if config_file:
        with open(config_file, "rb") as fh:
            for key, value in tomllib.load(fh).items():
                values[key] = _cast(key, value)
    env = os.environ if environ is None else environ
    for f in fields(Settings):
        key = "TELECONSULT_" + f.name.upper()
        if key in env:
            values[f.name] = _cast(f.name, env[key])
    if "turn_secret" not in values and env.get("TURN_SECRET"):  # the name coturn's own tooling uses
        values["turn_secret"] = env["TURN_SECRET"]
    for key, value in (overrides or {}).items():
        if value is not None:
            values[key] = _cast(key, value)
    return Settings(**values).resolved()
