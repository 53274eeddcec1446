"""Demo mode: a county with one village clinic, a reader login, and a MIT-BIH record streaming live.

Only for trying the product on a laptop: the demo reader's password is printed and the
records are real but anonymous PhysioNet recordings.
"""

from __future__ import annotations

import asyncio
import json
import logging
import secrets
from collections.abc import AsyncIterator

from aiohttp import web

from teleconsult import auth
from teleconsult.keys import db_key, settings_key
from teleconsult.storage.sql import Database

log = logging.getLogger(__name__)
DEMO_READER = "reader"
DEMO_DOCTOR = "village"
DEMO_PASSWORD = "teleconsult-demo"


def seed(db: Database) -> str:
    """Create the demo organisations, users and a device token (idempotent); returns the token."""
    if db.get_user_by_name(DEMO_READER) is None:
        county = db.create_org("示范县医院 Demo County Hospital", "county")
        township = db.create_org("示范镇卫生院 Demo Township Centre", "township", county.id)
        village = db.create_org("示范村卫生室 Demo Village Clinic", "village", township.id)
        db.create_user(DEMO_READER, auth.hash_password(DEMO_PASSWORD), "county_reader", county.id, "心电诊断医生")
        db.create_user(DEMO_DOCTOR, auth.hash_password(DEMO_PASSWORD), "village_doctor", village.id, "村医")
    village_id = db.get_user_by_name(DEMO_DOCTOR).org_id  # type: ignore[union-attr]
    token = auth.new_device_token()
    db.create_device(village_id, "demo ECG cart", auth.token_hash(token), None)
    return token


async def _stream_forever(url: str, token: str, record: str, speed: float) -> None:
    from teleconsult.device import DeviceSimulator, load_wfdb

    signal = await asyncio.to_thread(load_wfdb, record)
    while True:
        sim = DeviceSimulator(url, token, signal, speed=speed, recording_id="demo-" + secrets.token_hex(6),
                              patient="demo")
        try:
            await sim.run()
        except Exception:
            log.exception("demo stream failed; restarting in 5 s")
            await asyncio.sleep(5)


async def demo_ctx(app: web.Application) -> AsyncIterator[None]:
    from teleconsult.device import default_demo_record

    settings = app[settings_key]
    db = app[db_key]
    token = await db.call(seed, db.db)
    record = settings.demo_record or default_demo_record()
    task = None
    if record:
        url = f"ws://{settings.host if settings.host not in ('0.0.0.0', '::') else '127.0.0.1'}:{settings.port}/ws/device"
        task = asyncio.create_task(_stream_forever(url, token, record, settings.demo_speed))
    print(json.dumps({"event": "demo", "open": f"http://{settings.host}:{settings.port}/",
                      "login": DEMO_READER, "password": DEMO_PASSWORD,
                      "record": record or "none found: pass --demo-record PATH"}), flush=True)
    yield
    if task is not None:
        task.cancel()
