"""Settings from (in rising priority) defaults, a TOML file, TELECONSULT_* env vars and CLI flags."""

from __future__ import annotations

import os
import socket
import tomllib
import uuid
from dataclasses import dataclass, fields, replace
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
        return replace(self, data_dir=Path(self.data_dir).resolve(), node_id=node_id)


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
    for key, value in (overrides or {}).items():
        if value is not None:
            values[key] = _cast(key, value)
    return Settings(**values).resolved()
