"""``read_ecg(data, filename)``: sniff the format from the bytes, read, check, assemble.

The content decides the format; the file name is only used to word the error for a lone
``.hea``/``.dat``. CPU-bound and synchronous: call it from the event loop through
``loop.run_in_executor`` (a 10 s, 12-lead file takes well under a second).

Sniffing, in order:

=====================  ===================================================================
zip (``PK\\x03\\x04``)  WFDB record (``.hea`` + ``.dat``)
``DICM`` at byte 128    DICOM waveform
``<`` (XML)             by root element: ``AnnotatedECG`` (HL7 aECG), ``RestingECG`` (GE
                        MUSE), ``restingecgdata`` (Philips)
SCP-ECG preamble        Section 0 right after the 6-byte CRC + size preamble
Contec header           7-digit record number, then "YYYY-MM-DD HH:MM:SS"
=====================  ===================================================================
"""

from __future__ import annotations

from teleconsult.ecgfiles.aecg import read_aecg
from teleconsult.ecgfiles.assemble import RawEcg, assemble
from teleconsult.ecgfiles.common import local, malformed, parse_xml
from teleconsult.ecgfiles.contec import looks_like_contec, read_contec
from teleconsult.ecgfiles.dicom import read_dicom
from teleconsult.ecgfiles.errors import EcgFileTooLarge, EcgImportError, UnsupportedEcgFormat
from teleconsult.ecgfiles.model import EcgFormat, ImportedEcg, ImportLimits
from teleconsult.ecgfiles.muse import read_muse
from teleconsult.ecgfiles.scp import looks_like_scp, read_scp
from teleconsult.ecgfiles.sierra import read_sierra
from teleconsult.ecgfiles.wfdb_zip import read_wfdb_zip

__all__ = ["DEFAULT_LIMITS", "read_ecg", "sniff_format"]

DEFAULT_LIMITS = ImportLimits()
_XML_ROOTS = {
    "AnnotatedECG": EcgFormat.HL7_AECG,
    "RestingECG": EcgFormat.GE_MUSE_XML,
    "restingecgdata": EcgFormat.PHILIPS_SIERRA_XML,
}
_SUPPORTED = ("DICOM waveform (12-lead or general ECG), HL7 aECG XML, SCP-ECG, GE MUSE XML, "
              "Philips XML, WFDB (.hea and .dat in one zip) or Contec ECG90A .ECG")


def _looks_like_xml(data: bytes) -> bool:
    """UTF-8 (with or without BOM) or UTF-16 (Philips writes UTF-16LE with a BOM)."""
    if data[:2] in (b"\xff\xfe", b"\xfe\xff", b"<\x00", b"\x00<"):
        return True
    return data[:64].lstrip(b"\xef\xbb\xbf \t\r\n").startswith(b"<")


def sniff_format(data: bytes) -> EcgFormat | None:
    """The format ``data`` looks like, from its first bytes (XML by its root element), or None.

    Raises:
        MalformedEcgFile: XML that cannot be parsed safely.
        UnsupportedEcgFormat: Schiller XML (recognised, not read yet).
    """
    if data.startswith(b"PK\x03\x04"):
        return EcgFormat.WFDB
    if data[128:132] == b"DICM":
        return EcgFormat.DICOM
    if _looks_like_xml(data):
        root = parse_xml(data, EcgFormat.HL7_AECG)
        fmt = _XML_ROOTS.get(local(root.tag))
        if fmt is None and "schiller" in local(root.tag).lower():
            raise UnsupportedEcgFormat(
                "Schiller XML files are not read yet. Export the ECG from the Schiller machine "
                "as SCP-ECG or DICOM and upload that.", params={"format": "Schiller XML"})
        return fmt
    if looks_like_scp(data):
        return EcgFormat.SCP_ECG
    if looks_like_contec(data):
        return EcgFormat.CONTEC_ECG90A
    return None


def _unsupported(filename: str) -> UnsupportedEcgFormat:
    suffix = filename.rsplit(".", 1)[-1].lower() if "." in filename else ""
    if suffix in ("hea", "dat", "mat"):
        return UnsupportedEcgFormat(
            "A WFDB record needs its .hea and .dat files together: put both in one zip and "
            "upload the zip.", params={"format": "WFDB"})
    return UnsupportedEcgFormat(
        f"This file is not an ECG format we can read. Export the ECG from the machine as {_SUPPORTED}.",
        params={"format": suffix[:10]})


def _read(data: bytes, fmt: EcgFormat, limits: ImportLimits) -> RawEcg:
    if fmt is EcgFormat.WFDB:
        return read_wfdb_zip(data, limits)
    if fmt is EcgFormat.DICOM:
        return read_dicom(data)
    if fmt is EcgFormat.SCP_ECG:
        return read_scp(data, limits)
    if fmt is EcgFormat.CONTEC_ECG90A:
        return read_contec(data)
    root = parse_xml(data, fmt)
    if fmt is EcgFormat.HL7_AECG:
        return read_aecg(root)
    if fmt is EcgFormat.GE_MUSE_XML:
        return read_muse(root)
    return read_sierra(data, root)


def read_ecg(data: bytes, filename: str, *, limits: ImportLimits = DEFAULT_LIMITS) -> ImportedEcg:
    """Read one uploaded ECG file into an ``ImportedEcg``, running the arrival checks.

    Args:
        data: The uploaded bytes.
        filename: The name the sender gave the file (used only to word errors).
        limits: Size, sampling-rate and length limits.

    Returns:
        The ECG, with any problems found on arrival in ``problems``.

    Raises:
        EcgFileTooLarge: ``data`` (or a zip's contents) is over ``limits.max_bytes``.
        UnsupportedEcgFormat: Not a format we read.
        MalformedEcgFile: Recognised but damaged, truncated or unsafe (XML entities).
        SamplingRateTooLow: Below ``limits.min_fs_hz``.
        RecordingTooShort / RecordingTooLong: Outside the length limits.
        All are ``EcgImportError`` (an ``ImportError``) with a ``code`` for the UI.
    """
    if len(data) > limits.max_bytes:
        raise EcgFileTooLarge(
            f"The file is {len(data)} bytes; at most {limits.max_bytes} are accepted. Upload one "
            "resting ECG at a time.", params={"size_bytes": len(data), "limit_bytes": limits.max_bytes})
    fmt = sniff_format(data)
    if fmt is None:
        raise _unsupported(filename)
    try:
        raw = _read(data, fmt, limits)
    except EcgImportError:
        raise
    except Exception as exc:  # noqa: BLE001 - a damaged file can trip any library in any way
        raise malformed(fmt, "it could not be read", exc) from None
    return assemble(raw, limits)
