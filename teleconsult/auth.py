"""Credentials and authorisation rules (pure functions plus password hashing).

Passwords are hashed with Argon2id (argon2-cffi). Device and session tokens are 256-bit
random strings; only their SHA-256 is stored, so a database leak yields no usable token.
"""

from __future__ import annotations

import hashlib
import secrets

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from teleconsult.reading.model import Study
from teleconsult.storage.sql import Device, Recording, User

_hasher = PasswordHasher()
SESSION_TTL_S = 12 * 3600
_dummy_hash: str | None = None


def _dummy() -> str:
    """A hash verified against when the user does not exist, so both cases take as long."""
    global _dummy_hash
    if _dummy_hash is None:
        _dummy_hash = _hasher.hash(secrets.token_hex(16))
    return _dummy_hash


def hash_password(password: str) -> str:
    if len(password) < 8:
        raise ValueError("password must be at least 8 characters")
    return _hasher.hash(password)


def verify_password(password_hash: str | None, password: str) -> bool:
    try:
        return _hasher.verify(password_hash or _dummy(), password) and password_hash is not None
    except (VerificationError, InvalidHashError):
        return False


def new_device_token() -> str:
    return "tcd_" + secrets.token_urlsafe(32)


def new_session_token() -> str:
    return "tcs_" + secrets.token_urlsafe(32)


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def device_problem(device: Device | None, now: float) -> str | None:
    """Why a device token is not acceptable, or None when it is."""
    if device is None:
        return "unknown device token"
    if device.revoked:
        return "device token revoked"
    if device.expires_at is not None and device.expires_at <= now:
        return "device token expired"
    return None


def may_stream_into(device: Device, recording: Recording) -> bool:
    """A device may resume only recordings of its own organisation."""
    return recording.org_id == device.org_id


def may_view(user: User, recording: Recording) -> bool:
    """County readers and admins see their county's recordings; village doctors their own org's."""
    if user.role in ("county_reader", "admin"):
        return recording.county_id == user.county_id
    return recording.org_id == user.org_id


def may_export(user: User, recording: Recording) -> bool:
    return user.role in ("county_reader", "admin") and may_view(user, recording)


# -- reading and reporting (docs/reporting.md) -------------------------------------------------


def may_see_study(user: User, study: Study) -> bool:
    """County readers and admins: their county's studies; village doctors: their own organisation's."""
    if user.role in ("county_reader", "admin"):
        return study.county_id == user.county_id
    return study.org_id == user.org_id


def may_read_study(user: User, study: Study) -> bool:
    """Claim, annotate, write, sign and amend: county readers of the study's county only."""
    return user.role == "county_reader" and study.county_id == user.county_id


def may_manage_claims(user: User, study: Study) -> bool:
    """Release anyone's lock or reassign a study: admins of the study's county."""
    return user.role == "admin" and study.county_id == user.county_id


def may_request_reading(user: User, org_id: int) -> bool:
    """Submit an ECG for reading, set its priority: village doctors of the organisation that recorded it."""
    return user.role == "village_doctor" and user.org_id == org_id


def may_acknowledge(user: User, study: Study) -> bool:
    """Confirm receipt of and acknowledge a report: village doctors of the study's organisation."""
    return user.role == "village_doctor" and study.org_id == user.org_id


def may_see_drafts(user: User, study: Study) -> bool:
    """Unsigned report versions stay inside the county's reading room."""
    return user.role in ("county_reader", "admin") and study.county_id == user.county_id


# -- video consults (docs/consults.md) ------------------------------------------------------------


def new_kiosk_token() -> str:
    """A kiosk's token (``tck_…``): like a device token, stored only as its SHA-256."""
    return "tck_" + secrets.token_urlsafe(32)


def kiosk_problem(revoked: bool, expires_at: float | None, now: float) -> str | None:
    """Why a (known) kiosk token is not acceptable, or None when it is."""
    if revoked:
        return "kiosk token revoked"
    if expires_at is not None and expires_at <= now:
        return "kiosk token expired"
    return None
