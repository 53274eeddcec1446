"""Did the server keep exactly what the devices sent? Checked through the server's own API.

Each recording is fetched back as its WFDB export (``GET /api/recordings/{id}/export.zip``,
which a county reader may call) and its ``.dat`` samples (format 16: little-endian int16,
sample-major, the wire layout) are compared with what the device sent. This works the
same for a server this run started and for one given with ``--url``, whatever database
or archive is behind it.
"""

from __future__ import annotations

import io
import zipfile
from dataclasses import dataclass

import aiohttp
import numpy as np


class VerifyError(Exception):
    """The export could not be fetched or read; the message is the error kind."""


@dataclass(frozen=True)
class Comparison:
    samples_stored: int
    lost_samples: int  # samples sent that are missing or differ, plus stored ones never sent


def compare(sent: bytes, stored: bytes, n_leads: int) -> Comparison:
    """Compare sample rows (all leads of one sample) of what was sent and what is stored."""
    row = 2 * n_leads
    a = np.frombuffer(sent[: len(sent) // row * row], dtype="<i2").reshape(-1, n_leads)
    b = np.frombuffer(stored[: len(stored) // row * row], dtype="<i2").reshape(-1, n_leads)
    common = min(len(a), len(b))
    differing = int(np.count_nonzero(np.any(a[:common] != b[:common], axis=1)))
    return Comparison(len(b), differing + abs(len(a) - len(b)))


async def fetch_stored(session: aiohttp.ClientSession, base_url: str, session_token: str,
                       recording_id: str) -> bytes:
    """The stored samples of ``recording_id`` as format-16 bytes (empty if nothing is stored).

    Raises:
        VerifyError: HTTP error or an export without a ``.dat`` in format 16.
    """
    url = f"{base_url.rstrip('/')}/api/recordings/{recording_id}/export.zip"
    try:
        async with session.get(url, headers={"Authorization": f"Bearer {session_token}"},
                               timeout=aiohttp.ClientTimeout(total=120)) as response:
            if response.status != 200:
                raise VerifyError(f"verify http {response.status}")
            body = await response.read()
    except aiohttp.ClientError as exc:
        raise VerifyError(f"verify {type(exc).__name__}") from None
    with zipfile.ZipFile(io.BytesIO(body)) as zf:
        names = zf.namelist()
        header = next((n for n in names if n.endswith(".hea")), None)
        dat = next((n for n in names if n.endswith(".dat")), None)
        if header is None:
            raise VerifyError("verify export without .hea")
        if dat is None:
            return b""
        lines = [ln for ln in zf.read(header).decode("ascii", "replace").splitlines() if ln and not ln.startswith("#")]
        if any(ln.split()[1].split("x")[0].split(":")[0] != "16" for ln in lines[1:] if len(ln.split()) > 1):
            raise VerifyError("verify export not in format 16")
        return zf.read(dat)


__all__ = ["Comparison", "VerifyError", "compare", "fetch_stored"]
