"""ECG files uploaded for reading: decode, check, store as an (ended) recording in the archive.

Decoding: one file goes through the file-import module when it is installed
(``teleconsult.ecgfiles.read_ecg(data, filename)``: DICOM, HL7 aECG, SCP-ECG, vendor XML,
WFDB zip; it derives missing limb leads and runs its own arrival checks); without it, and
for a WFDB record sent as separate ``.hea`` + ``.dat`` files, the WFDB reader here.
:func:`decode_upload` is the only place that knows the formats: everything after it
(checks, archive, study) works on a :class:`DecodedEcg`.

The file's patient id (DICOM ``PatientID``, SCP-ECG ``patient_id``, HL7 aECG subject id,
MUSE/Sierra patient id, a WFDB header comment ``# Patient ID: …``) becomes the recording's
``patient_ref``, which finds the patient's previous ECGs; it is never logged.
"""

from __future__ import annotations

import io
import tempfile
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from teleconsult.reading.errors import BadRequest
from teleconsult.storage.archive_files import FileArchive

MIN_FS_HZ = 100.0  # below this an ECG cannot be read: refused
LOW_FS_HZ = 250.0  # below this QRS/ST detail suffers: accepted, flagged for the sender and the reader
MAX_UPLOAD_BYTES = 32 * 1024 * 1024
MAX_PATIENT_REF_CHARS = 128
# Field names of a patient id, compared lower-case without spaces, "_" or "-".
_PATIENT_ID_KEYS = ("patientid", "subjectid")
UPLOAD_BLOCK = 500  # samples per archive frame


@dataclass(frozen=True)
class DecodedEcg:
    """Samples in ADC units: ``samples[i, k]`` = ``gain`` units per mV of lead ``leads[k]``."""

    fs_hz: float
    leads: tuple[str, ...]
    gain: float
    samples: np.ndarray
    flags: tuple[str, ...] = field(default=())
    patient_ref: str = field(default="", repr=False)

    @property
    def sample_type(self) -> str:
        fits16 = (not self.samples.size or
                  (int(self.samples.min()) >= -32768 and int(self.samples.max()) <= 32767))
        return "int16" if fits16 else "int32"


def patient_ref(fields: Mapping[str, str]) -> str:
    """The patient id among a file's patient fields (``""`` when there is none)."""
    for key, value in fields.items():
        if "".join(c for c in key.lower() if c.isalnum()) in _PATIENT_ID_KEYS:
            ref = " ".join(str(value).split())[:MAX_PATIENT_REF_CHARS]
            if ref:
                return ref
    return ""


def _comment_fields(comments: list[str]) -> dict[str, str]:
    """WFDB header comments ``Key: value`` as fields."""
    out: dict[str, str] = {}
    for comment in comments:
        key, sep, value = str(comment).partition(":")
        if sep and value.strip():
            out.setdefault(key.strip(), value.strip())
    return out


def _wfdb_files(files: dict[str, bytes]) -> dict[str, bytes]:
    out: dict[str, bytes] = {}
    for name, data in files.items():
        base = Path(name).name
        if base.lower().endswith(".zip"):
            try:
                with zipfile.ZipFile(io.BytesIO(data)) as zf:
                    for info in zf.infolist():
                        if not info.is_dir() and info.file_size <= MAX_UPLOAD_BYTES:
                            out[Path(info.filename).name] = zf.read(info)
            except zipfile.BadZipFile:
                raise BadRequest("the .zip file is damaged") from None
        else:
            out[base] = data
    return out


def decode_upload(files: dict[str, bytes]) -> DecodedEcg:
    """Decode an uploaded ECG (blocking).

    Raises:
        BadRequest: not a readable WFDB record (with the reason, shown to the sender).
    """
    import wfdb

    if len(files) == 1 and not next(iter(files)).lower().endswith(".hea"):
        imported = _read_with_ecgfiles(*next(iter(files.items())))
        if imported is not None:
            return check(imported)
    named = _wfdb_files(files)
    headers = [n for n in named if n.lower().endswith(".hea")]
    if len(headers) != 1:
        raise BadRequest("upload one WFDB record: a .hea header with its .dat file(s), or a .zip of them "
                         "(other formats arrive with the file-import module)")
    record_name = headers[0][:-4]
    if not record_name or any(c in record_name for c in "/\\") or record_name.startswith("."):
        raise BadRequest("bad record name")
    with tempfile.TemporaryDirectory(prefix="tc-upload-") as tmp:
        for name, data in named.items():
            if "/" not in name and not name.startswith("."):
                (Path(tmp) / name).write_bytes(data)
        try:
            record = wfdb.rdrecord(str(Path(tmp) / record_name), physical=False)
        except Exception as exc:
            raise BadRequest(f"cannot read the WFDB record: {type(exc).__name__}") from None
    d = np.asarray(record.d_signal)
    if d.ndim != 2 or d.shape[0] == 0:
        raise BadRequest("the record has no samples")
    fs_hz = float(record.fs)
    leads = tuple(str(n) for n in record.sig_name)
    gains = [float(g) for g in record.adc_gain]
    baselines = [int(b) for b in record.baseline]
    if len(set(gains)) == 1 and gains[0] > 0 and not any(baselines):
        samples, gain = d.astype(np.int64), gains[0]
    else:  # leads with their own gains: one common scale of 1 µV per unit
        physical = (d.astype(np.float64) - np.asarray(baselines)) / np.asarray(gains)
        samples, gain = np.round(physical * 1000.0).astype(np.int64), 1000.0
    ref = patient_ref(_comment_fields(list(record.comments or [])))
    return check(DecodedEcg(fs_hz, leads, gain, samples, patient_ref=ref))


def _read_with_ecgfiles(filename: str, data: bytes) -> DecodedEcg | None:
    """The file-import module's reading (samples in mV -> 1 µV units); None when it is not installed."""
    try:
        from teleconsult import ecgfiles
    except ModuleNotFoundError:
        return None
    try:
        ecg = ecgfiles.read_ecg(data, Path(filename).name)
    except ecgfiles.EcgImportError as exc:
        raise BadRequest(str(exc)) from None
    samples = np.nan_to_num(np.asarray(ecg.samples, dtype=np.float64), nan=0.0)
    flags = tuple(f"import:{code}" for code in ecg.problem_codes())
    return DecodedEcg(float(ecg.fs_hz), tuple(ecg.leads), 1000.0, np.round(samples * 1000.0).astype(np.int64), flags,
                      patient_ref(ecg.patient.fields))


def check(ecg: DecodedEcg) -> DecodedEcg:
    """Refuse what cannot be read; flag what is readable but poor.

    Raises:
        BadRequest: sampling rate below 100 Hz, no leads, duplicate lead names, under 2 s of signal.
    """
    if ecg.fs_hz < MIN_FS_HZ:
        raise BadRequest(f"sampling rate {ecg.fs_hz:g} Hz is too low to read an ECG (at least {MIN_FS_HZ:g} Hz)")
    if not ecg.leads or len(set(ecg.leads)) != len(ecg.leads):
        raise BadRequest("the record needs distinct lead names")
    if ecg.samples.shape[0] < 2 * ecg.fs_hz:
        raise BadRequest("the record is shorter than 2 s")
    flags = list(ecg.flags)
    if ecg.fs_hz < LOW_FS_HZ:
        flags.append("low_sampling_rate")
    if len(ecg.leads) < 12:
        flags.append("fewer_than_12_leads")
    return DecodedEcg(ecg.fs_hz, ecg.leads, ecg.gain, ecg.samples, tuple(flags), ecg.patient_ref)


def store(archive: FileArchive, recording_id: str, ecg: DecodedEcg) -> np.ndarray:
    """Write the samples as archive frames, detect beats, sync; returns the beats (blocking)."""
    from dsp.qrs import detect

    dtype = "<i2" if ecg.sample_type == "int16" else "<i4"
    data = ecg.samples.astype(dtype)
    writer = archive.open_writer(recording_id)
    try:
        for seq, i0 in enumerate(range(0, len(data), UPLOAD_BLOCK)):
            chunk = data[i0:i0 + UPLOAD_BLOCK]
            writer.append(seq, i0, len(chunk), chunk.tobytes())
        beats = detect(ecg.samples.astype(np.float64) / ecg.gain, ecg.fs_hz)
        writer.append_beats(beats)
        writer.sync()
    finally:
        writer.close()
    return np.asarray(beats, dtype=np.int64)


__all__ = ["DecodedEcg", "LOW_FS_HZ", "MAX_PATIENT_REF_CHARS", "MAX_UPLOAD_BYTES", "MIN_FS_HZ", "UPLOAD_BLOCK", "check",
           "decode_upload", "patient_ref", "store"]
