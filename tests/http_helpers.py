"""Small synchronous HTTP helpers for tests against a server subprocess."""

from __future__ import annotations

import io
import json
import tempfile
import time
import urllib.error
import urllib.request
import zipfile
from pathlib import Path
from typing import Any

import numpy as np


def request(url: str, token: str | None = None, body: dict[str, Any] | None = None) -> tuple[int, bytes]:
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, headers={"Content-Type": "application/json"})
    if token:
        req.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(req, timeout=30) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def login(base_url: str, username: str, password: str) -> str:
    status, body = request(f"{base_url}/api/login", body={"username": username, "password": password})
    assert status == 200, body
    token: str = json.loads(body)["token"]
    return token


def recordings(base_url: str, token: str) -> list[dict[str, Any]]:
    status, body = request(f"{base_url}/api/recordings", token)
    assert status == 200, body
    rows: list[dict[str, Any]] = json.loads(body)["recordings"]
    return rows


def wait_for_recording(base_url: str, token: str, recording_id: str, timeout_s: float = 20.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        for row in recordings(base_url, token):
            if row["id"] == recording_id:
                return row
        time.sleep(0.02)
    raise AssertionError(f"recording {recording_id} never appeared")


def export_wfdb(base_url: str, token: str, recording_id: str) -> tuple[Any, np.ndarray]:
    """Download the WFDB export and read it back with the wfdb package: (record, beat samples)."""
    import wfdb

    status, body = request(f"{base_url}/api/recordings/{recording_id}/export.zip", token)
    assert status == 200, body[:200]
    with tempfile.TemporaryDirectory() as tmp:
        zipfile.ZipFile(io.BytesIO(body)).extractall(tmp)
        record = wfdb.rdrecord(str(Path(tmp) / recording_id), physical=False)
        qrs = Path(tmp) / f"{recording_id}.qrs"
        beats = wfdb.rdann(str(Path(tmp) / recording_id), "qrs").sample if qrs.exists() else np.zeros(0, int)
    return record, np.asarray(beats, dtype=np.int64)
