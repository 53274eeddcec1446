"""Command line: ``teleconsult serve | admin … | device … | kiosk …``."""

from __future__ import annotations

import argparse
import asyncio
import getpass
import json
import logging
import sys
import time
from pathlib import Path
from typing import Any

from teleconsult.config import ConfigError, Settings, load_settings
from teleconsult.storage.dialects import DatabaseUnavailable


def _settings(args: argparse.Namespace) -> Settings:
    return load_settings(getattr(args, "config", None), {
        "host": getattr(args, "host", None), "port": getattr(args, "port", None),
        "data_dir": getattr(args, "data_dir", None), "database_url": getattr(args, "database_url", None),
        "redis_url": getattr(args, "redis", None),
        "node_id": getattr(args, "node_id", None), "demo": True if getattr(args, "demo", False) else None,
        "demo_record": getattr(args, "demo_record", None), "demo_speed": getattr(args, "demo_speed", None),
    })


def cmd_serve(args: argparse.Namespace) -> int:
    from teleconsult.server import serve

    return serve(_settings(args))


def _open_db(args: argparse.Namespace) -> Any:
    from teleconsult.storage.sql import open_database

    return open_database(_settings(args))


def cmd_create_org(args: argparse.Namespace) -> int:
    org = _open_db(args).create_org(args.name, args.kind, args.parent)
    print(json.dumps({"id": org.id, "name": org.name, "kind": org.kind, "county_id": org.county_id}))
    return 0


def _read_password(args: argparse.Namespace) -> str:
    if args.password_stdin:
        return sys.stdin.readline().rstrip("\n")
    if args.password_file:
        return Path(args.password_file).read_text(encoding="utf-8").strip()
    return getpass.getpass("password: ")


def cmd_create_user(args: argparse.Namespace) -> int:
    from teleconsult import auth

    db = _open_db(args)
    user = db.create_user(args.username, auth.hash_password(_read_password(args)), args.role, args.org,
                          args.display_name or "")
    db.audit("cli", "user.create", f"user:{user.id}", "ok")
    print(json.dumps(user.public()))
    return 0


def cmd_device_token(args: argparse.Namespace) -> int:
    from teleconsult import auth

    db = _open_db(args)
    token = auth.new_device_token()
    expires_at = None if args.expires_days is None else time.time() + args.expires_days * 86400
    device = db.create_device(args.org, args.name, auth.token_hash(token), expires_at)
    db.audit("cli", "device.create", f"device:{device.id}", "ok")
    print(json.dumps({"device_id": device.id, "org_id": device.org_id, "token": token, "expires_at": expires_at}))
    return 0


def cmd_kiosk_token(args: argparse.Namespace) -> int:
    from teleconsult import auth
    from teleconsult.storage.consults import ConsultStore

    db = _open_db(args)
    org = db.get_org(args.org)
    if org.kind != "village":
        raise ValueError("a kiosk belongs to a village organisation")
    token = auth.new_kiosk_token()
    expires_at = None if args.expires_days is None else time.time() + args.expires_days * 86400
    kiosk_id = ConsultStore(db.engine).create_kiosk(args.org, args.name, auth.token_hash(token), expires_at,
                                                    time.time())
    db.audit("cli", "kiosk.create", f"kiosk:{kiosk_id}", "ok")
    print(json.dumps({"kiosk_id": kiosk_id, "org_id": args.org, "token": token, "expires_at": expires_at}))
    return 0


def cmd_revoke_kiosk(args: argparse.Namespace) -> int:
    from teleconsult.storage.consults import ConsultStore

    db = _open_db(args)
    ConsultStore(db.engine).revoke_kiosk(args.kiosk_id)
    db.audit("cli", "kiosk.revoke", f"kiosk:{args.kiosk_id}", "ok")
    return 0


def cmd_kiosk(args: argparse.Namespace) -> int:
    from teleconsult.kiosk import run_kiosk

    token = args.token or _token_from_file(args.token_file)
    if args.ecg_record and not args.device_token:
        raise ValueError("--ecg-record needs --device-token (the kiosk's ECG device, from `admin device-token`)")
    return run_kiosk(args.url, token, urgency=args.urgency, reason=args.reason or "", recording_id=args.recording,
                     media=args.media, camera=args.camera, duration_s=args.duration_s, wait_s=args.wait_s,
                     ice_loopback=args.ice_loopback, ecg_record=args.ecg_record, device_token=args.device_token)


def cmd_revoke_device(args: argparse.Namespace) -> int:
    db = _open_db(args)
    db.revoke_device(args.device_id)
    db.audit("cli", "device.revoke", f"device:{args.device_id}", "ok")
    return 0


def cmd_list_orgs(args: argparse.Namespace) -> int:
    for org in _open_db(args).list_orgs():
        print(json.dumps({"id": org.id, "name": org.name, "kind": org.kind, "parent_id": org.parent_id}))
    return 0


def cmd_device(args: argparse.Namespace) -> int:
    from teleconsult.device import DeviceRejected, DeviceSimulator, load_wfdb

    signal = load_wfdb(args.record, leads=args.leads, seconds=args.seconds, start_s=args.start_s)
    token = args.token or _token_from_file(args.token_file)
    sim = DeviceSimulator(args.url, token, signal, speed=args.speed, frame_s=args.frame_s,
                          recording_id=args.recording, patient=args.patient or "")
    print(json.dumps({"recording": sim.recording_id, "fs_hz": signal.fs_hz, "leads": list(signal.leads),
                      "samples": len(signal.samples)}), flush=True)
    try:
        stats = asyncio.run(sim.run())
    except DeviceRejected as exc:
        print(json.dumps({"error": exc.code, "reason": exc.reason}), flush=True)
        return 2
    lat = sorted(stats.ack_latencies_s)

    def p(q: float) -> float | None:
        return round(lat[min(len(lat) - 1, int(q * len(lat)))] * 1000, 2) if lat else None

    print(json.dumps({"recording": sim.recording_id, "frames": sim.client.n_frames, "samples": stats.samples,
                      "connections": stats.connections, "ack_p50_ms": p(0.5), "ack_p99_ms": p(0.99)}), flush=True)
    return 0


def _token_from_file(path: str | None) -> str:
    if not path:
        raise SystemExit("--token or --token-file is required")
    return Path(path).read_text(encoding="utf-8").strip()


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="teleconsult", description=__doc__)
    parser.add_argument("--log-level", default="INFO")
    sub = parser.add_subparsers(dest="command", required=True)

    def common(p: argparse.ArgumentParser) -> None:
        p.add_argument("--config", help="TOML file with settings (also TELECONSULT_CONFIG)")
        p.add_argument("--data-dir", help="data directory (TELECONSULT_DATA_DIR)")
        p.add_argument("--database-url", help="postgresql://user@host:port/db for the records "
                       "(TELECONSULT_DATABASE_URL; default: SQLite in the data directory)")

    serve = sub.add_parser("serve", help="run the server")
    common(serve)
    serve.add_argument("--host", help="bind address (TELECONSULT_HOST, default 127.0.0.1)")
    serve.add_argument("--port", type=int, help="port (TELECONSULT_PORT, default 8080)")
    serve.add_argument("--redis", help="Redis URL: use Redis as the bus (TELECONSULT_REDIS_URL)")
    serve.add_argument("--node-id", help="name of this server process (default host-port-random)")
    serve.add_argument("--demo", action="store_true", help="create demo users and stream a MIT-BIH record")
    serve.add_argument("--demo-record", help="WFDB record for the demo (default ../shared/data/mitdb/101)")
    serve.add_argument("--demo-speed", type=float, help="demo playback speed (default 1.0)")
    serve.set_defaults(func=cmd_serve)

    admin = sub.add_parser("admin", help="organisations, users, device tokens")
    admin_sub = admin.add_subparsers(dest="admin_command", required=True)
    p = admin_sub.add_parser("create-org")
    common(p)
    p.add_argument("--name", required=True)
    p.add_argument("--kind", required=True, choices=["county", "township", "village"])
    p.add_argument("--parent", type=int)
    p.set_defaults(func=cmd_create_org)
    p = admin_sub.add_parser("create-user")
    common(p)
    p.add_argument("--username", required=True)
    p.add_argument("--role", required=True, choices=["village_doctor", "county_reader", "admin"])
    p.add_argument("--org", type=int, required=True)
    p.add_argument("--display-name")
    p.add_argument("--password-stdin", action="store_true", help="read the password from standard input")
    p.add_argument("--password-file")
    p.set_defaults(func=cmd_create_user)
    p = admin_sub.add_parser("device-token", help="register a device and print its token (shown once)")
    common(p)
    p.add_argument("--org", type=int, required=True)
    p.add_argument("--name", required=True)
    p.add_argument("--expires-days", type=float)
    p.set_defaults(func=cmd_device_token)
    p = admin_sub.add_parser("revoke-device")
    common(p)
    p.add_argument("--device-id", type=int, required=True)
    p.set_defaults(func=cmd_revoke_device)
    p = admin_sub.add_parser("kiosk-token", help="register a consult kiosk of a village and print its token (once)")
    common(p)
    p.add_argument("--org", type=int, required=True)
    p.add_argument("--name", required=True)
    p.add_argument("--expires-days", type=float)
    p.set_defaults(func=cmd_kiosk_token)
    p = admin_sub.add_parser("revoke-kiosk")
    common(p)
    p.add_argument("--kiosk-id", type=int, required=True)
    p.set_defaults(func=cmd_revoke_kiosk)
    p = admin_sub.add_parser("list-orgs")
    common(p)
    p.set_defaults(func=cmd_list_orgs)

    device = sub.add_parser("device", help="stream a WFDB record like an ECG device")
    device.add_argument("--url", default="ws://127.0.0.1:8080/ws/device")
    device.add_argument("--token")
    device.add_argument("--token-file")
    device.add_argument("--record", required=True, help="WFDB record path without extension")
    device.add_argument("--speed", type=float, default=1.0, help="× real time")
    device.add_argument("--leads", nargs="+", help="lead names to stream (default: all)")
    device.add_argument("--seconds", type=float, help="stream only this many seconds")
    device.add_argument("--start-s", type=float, default=0.0)
    device.add_argument("--frame-s", type=float, default=0.04, help="frame duration (default 40 ms)")
    device.add_argument("--recording", help="recording id (default random); reuse to resume")
    device.add_argument("--patient", help="patient reference sent to the server")
    device.set_defaults(func=cmd_device)

    kiosk = sub.add_parser("kiosk", help="a headless consult kiosk: request a consult, join it, stream media")
    kiosk.add_argument("--url", default="http://127.0.0.1:8080", help="the server's base URL")
    kiosk.add_argument("--token", help="kiosk token (tck_…, from `admin kiosk-token`)")
    kiosk.add_argument("--token-file")
    kiosk.add_argument("--urgency", default="urgent", choices=["stat", "urgent", "routine"])
    kiosk.add_argument("--reason", help="why (shown to the county doctors)")
    kiosk.add_argument("--recording", help="id of the live ECG recording to show to the doctor")
    kiosk.add_argument("--ecg-record", help="stream this WFDB record as the kiosk's ECG device during the consult "
                       "(linked to it, so the doctor watches it live); needs --device-token")
    kiosk.add_argument("--device-token", help="the kiosk's ECG device token (tcd_…)")
    kiosk.add_argument("--media", help="audio/video file to send (default: synthetic test tones and frames)")
    kiosk.add_argument("--camera", help="camera device (e.g. /dev/video0, v4l2), instead of --media")
    kiosk.add_argument("--duration-s", type=float, help="hang up after this long in the call (default: until the doctor does)")
    kiosk.add_argument("--wait-s", type=float, default=300.0, help="give up waiting for a doctor after this long")
    kiosk.add_argument("--ice-loopback", action="store_true", help="gather ICE candidates on 127.0.0.1 only "
                       "(tests with server and peers on one machine)")
    kiosk.set_defaults(func=cmd_kiosk)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        result: int = args.func(args)
        return result
    except ConfigError as exc:
        print(f"configuration error: {exc}", file=sys.stderr)
        return 2
    except (ValueError, LookupError, DatabaseUnavailable) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
