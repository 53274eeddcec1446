"""WFDB records (PhysioNet): a ``.hea`` header and its signal file(s), uploaded as one zip.

The zip is checked before anything is unpacked: one header, the signal files it names
present, no more than ``MAX_MEMBERS`` entries, and unpacked sizes (as declared, then as
read) within ``limits.max_bytes``. Only the header and the files it names are written, by
their base names, to a private temporary directory that ``wfdb.rdrecord`` reads and that
is deleted at once; paths inside the zip are never used. Header comments (``#Age: 53``,
``#Sex: Male`` ...) go to the sensitive patient fields.
"""

from __future__ import annotations

import io
import tempfile
import zipfile
from datetime import datetime
from pathlib import Path, PurePosixPath

import numpy as np

from teleconsult.ecgfiles.assemble import RawEcg, canonical_lead_name
from teleconsult.ecgfiles.common import malformed
from teleconsult.ecgfiles.errors import EcgFileTooLarge, MalformedEcgFile
from teleconsult.ecgfiles.model import EcgFormat, ImportLimits

__all__ = ["MAX_MEMBERS", "read_wfdb_zip"]

FMT = EcgFormat.WFDB
MAX_MEMBERS = 64
_TO_MV = {"mv": 1.0, "uv": 1e-3, "µv": 1e-3, "v": 1e3, "nv": 1e-6}


def _too_large(size: int, limits: ImportLimits) -> EcgFileTooLarge:
    return EcgFileTooLarge(
        f"The zip unpacks to more than {limits.max_bytes} bytes; upload one resting ECG record "
        "(its .hea and .dat files) only.",
        params={"size_bytes": size, "limit_bytes": limits.max_bytes})


def _signal_files(header: str) -> set[str]:
    """File names the header's signal lines refer to."""
    lines = [line for line in header.splitlines() if line.strip() and not line.startswith("#")]
    if not lines:
        raise malformed(FMT, "the .hea header is empty")
    names = set()
    for line in lines[1:]:
        name = line.split()[0]
        if name != "~":  # "~": no signal file (annotations only)
            names.add(PurePosixPath(name).name)
    return names


def read_wfdb_zip(data: bytes, limits: ImportLimits) -> RawEcg:
    """Read a zip holding one WFDB record.

    Raises:
        MalformedEcgFile: Not a readable zip, no or several headers, missing signal files,
            or wfdb cannot read the record.
        EcgFileTooLarge: The contents unpack beyond ``limits.max_bytes``.
    """
    import wfdb  # imported here: only WFDB uploads need it

    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
        members = [m for m in archive.infolist() if not m.is_dir()]
    except (zipfile.BadZipFile, zipfile.LargeZipFile, ValueError, EOFError) as exc:
        raise malformed(FMT, "the zip archive cannot be opened", exc) from None
    if len(members) > MAX_MEMBERS:
        raise malformed(FMT, f"the zip holds {len(members)} files; one record has a few")
    by_name = {PurePosixPath(m.filename).name: m for m in members}
    headers = [name for name in by_name if name.lower().endswith(".hea")]
    if len(headers) != 1:
        raise MalformedEcgFile(
            "The zip must hold exactly one WFDB record: one .hea file and its .dat file. "
            f"It holds {len(headers)} .hea files.",
            params={"format": "WFDB", "headers": len(headers)})
    header_name = headers[0]
    try:
        header = archive.read(by_name[header_name]).decode("latin-1")
        wanted = {header_name} | _signal_files(header)
        missing = sorted(wanted - set(by_name))
        if missing:
            raise MalformedEcgFile(
                f"The zip lacks the signal file(s) the header names ({len(missing)} missing). "
                "Put the .hea and .dat files of the record in one zip.",
                params={"format": "WFDB", "missing": len(missing)})
        declared = sum(by_name[name].file_size for name in wanted)
        if declared > limits.max_bytes:
            raise _too_large(declared, limits)
        with tempfile.TemporaryDirectory(prefix="tc-wfdb-") as directory:
            written = 0
            for name in wanted:
                with archive.open(by_name[name]) as source:
                    content = source.read(limits.max_bytes + 1 - written)
                written += len(content)
                if written > limits.max_bytes:
                    raise _too_large(written, limits)
                (Path(directory) / name).write_bytes(content)
            record = wfdb.rdrecord(str(Path(directory) / header_name[:-4]), physical=True)
    except (MalformedEcgFile, EcgFileTooLarge):
        raise
    except Exception as exc:  # noqa: BLE001 - wfdb raises many kinds on damaged input
        raise malformed(FMT, "the record cannot be read; the .dat file may be cut short", exc) from None

    signals = np.asarray(record.p_signal, dtype=np.float64)
    raw = RawEcg(FMT, float(record.fs), {})
    units = list(record.units or [])
    for k, label in enumerate(record.sig_name or []):
        unit = str(units[k]).strip().lower() if k < len(units) else "mv"
        raw.add_lead(canonical_lead_name(str(label)), signals[:, k] * _TO_MV.get(unit, 1.0))
    if record.base_date is not None and record.base_time is not None:
        raw.acquired_at = datetime.combine(record.base_date, record.base_time)
    for comment in record.comments or []:
        key, sep, value = str(comment).partition(":")
        if sep and value.strip():
            raw.patient[key.strip().lower()] = value.strip()
    return raw
