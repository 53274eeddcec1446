"""Uploaded ECG files: every sample in ../shared/data/ecg-files reads right, damaged ones fail clearly.

Sample files are read from the shared data folder, never copied here; the WFDB zips are
built in memory from PTB-XL and CPSC 2018 records. Expected values come from
../shared/data/ecg-files/README.md and from the files themselves.
"""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import numpy as np
import pytest

from teleconsult.ecgfiles import (
    MESSAGES_ZH,
    STANDARD_12,
    EcgFileTooLarge,
    EcgFormat,
    EcgImportError,
    ImportedEcg,
    ImportLimits,
    MalformedEcgFile,
    RecordingTooShort,
    SamplingRateTooLow,
    UnsupportedEcgFormat,
    read_ecg,
)
from teleconsult.ecgfiles.assemble import canonical_lead_name
from tests.conftest import SHARED

DATA = SHARED / "data"
FILES = DATA / "ecg-files"
LIMB_DERIVED = ("III", "aVR", "aVL", "aVF")

pytestmark = [
    pytest.mark.skipif(not FILES.is_dir(), reason="../shared/data/ecg-files is not there"),
    pytest.mark.timeout(60),
]

# path, format, leads, fs_hz, duration_s, derived leads
SAMPLES = [
    ("dicom/cardio_sample_12lead.dcm", EcgFormat.DICOM, 12, 500, 10.0, ()),
    ("dicom/mortara_el250_anonymous_ecg.dcm", EcgFormat.DICOM, 12, 1000, 10.0, ()),
    ("hl7-aecg/HL7_Example_aECG.xml", EcgFormat.HL7_AECG, 12, 500, 10.0, ()),
    ("ge-muse-xml/MUSE_20200923_093504_79000_example.xml", EcgFormat.GE_MUSE_XML, 12, 500, 10.0,
     LIMB_DERIVED),
    ("philips-sierra-xml/v1_03_129DYPRG.XML", EcgFormat.PHILIPS_SIERRA_XML, 12, 500, 10.528, ()),
    ("philips-sierra-xml/v1_04_01_2020-5-18_15-48-11.xml", EcgFormat.PHILIPS_SIERRA_XML, 12, 500, 10.6, ()),
    ("philips-sierra-xml/v1_04_3191723_ZZDEMOPTONLY_orig.xml", EcgFormat.PHILIPS_SIERRA_XML, 12, 500, 10.6, ()),
    ("philips-sierra-xml/v1_04_ad4d3d80-d165_orig.xml", EcgFormat.PHILIPS_SIERRA_XML, 12, 500, 10.6, ()),
    ("scp-ecg/ecgtoolkit_Example.scp", EcgFormat.SCP_ECG, 12, 500, 10.0, ()),
    ("scp-ecg/ecgviewer_demo.scp", EcgFormat.SCP_ECG, 12, 1000, 10.0, LIMB_DERIVED),
    # the SCP writer's 16-bit byte counts overflowed: 32767 of 37855 samples are in the file
    ("scp-ecg/contec_0000050_converted.scp", EcgFormat.SCP_ECG, 12, 800, 32767 / 800, ()),
    # limb leads only: the chest electrodes are flagged off and those leads dropped
    ("contec-ecg90a/0000037.ECG", EcgFormat.CONTEC_ECG90A, 6, 800, 8375 / 800, ("I", "aVR", "aVL", "aVF")),
    ("contec-ecg90a/0000050.ECG", EcgFormat.CONTEC_ECG90A, 6, 800, 37855 / 800, ("I", "aVR", "aVL", "aVF")),
    ("contec-ecg90a/0000053.ECG", EcgFormat.CONTEC_ECG90A, 12, 800, 29748 / 800, ("I", "aVR", "aVL", "aVF")),
]


def load(relative: str, limits: ImportLimits | None = None) -> ImportedEcg:
    path = FILES / relative
    if limits is None:
        return read_ecg(path.read_bytes(), path.name)
    return read_ecg(path.read_bytes(), path.name, limits=limits)


def wfdb_zip(*paths: Path, arcnames: list[str] | None = None) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for k, path in enumerate(paths):
            archive.write(path, arcnames[k] if arcnames else f"upload/{path.name}")
    return buffer.getvalue()


def r_wave_mv(samples: np.ndarray) -> float:
    """Largest deflection from the median (baseline): the R wave in lead II."""
    return float(np.max(np.abs(samples - np.median(samples))))


# -- every sample file --------------------------------------------------------------------

@pytest.mark.parametrize(("relative", "fmt", "n_leads", "fs_hz", "duration_s", "derived"), SAMPLES,
                         ids=[s[0].split("/")[-1] for s in SAMPLES])
def test_sample_file_reads_with_the_right_shape(relative: str, fmt: EcgFormat, n_leads: int,
                                                fs_hz: float, duration_s: float,
                                                derived: tuple[str, ...]) -> None:
    ecg = load(relative)
    assert ecg.source_format is fmt
    assert len(ecg.leads) == n_leads == ecg.samples.shape[1]
    assert ecg.leads == tuple(name for name in STANDARD_12 if name in ecg.leads)
    assert ecg.samples.dtype == np.float32 and not ecg.samples.flags.writeable
    assert ecg.fs_hz == fs_hz
    assert ecg.duration_s == pytest.approx(duration_s, abs=0.002)
    assert ecg.derived_leads == derived
    assert np.isfinite(ecg.samples).all()
    assert 0.2 <= r_wave_mv(ecg.lead("II")) <= 4.0
    # Einthoven: III = II - I (exact where derived, within two 5 uV steps where stored)
    tolerance = 1e-5 if "III" in derived or "I" in derived else 0.0101
    assert np.abs(ecg.lead("III") - (ecg.lead("II") - ecg.lead("I"))).max() <= tolerance
    assert np.abs(ecg.lead("aVF") - (ecg.lead("II") - ecg.lead("I") / 2)).max() <= tolerance + 0.005
    assert ecg.acquired_at is not None


def test_amplitudes_are_millivolts_not_counts() -> None:
    """The same 2002 ELI250 recording in HL7 aECG and in SCP-ECG reads to the same mV values."""
    aecg, scp = load("hl7-aecg/HL7_Example_aECG.xml"), load("scp-ecg/ecgtoolkit_Example.scp")
    assert aecg.leads == scp.leads
    assert np.abs(aecg.samples - scp.samples).max() < 1e-4


def test_contec_binary_and_its_scp_conversion_agree_sample_for_sample() -> None:
    binary, scp = load("contec-ecg90a/0000050.ECG"), load("scp-ecg/contec_0000050_converted.scp")
    n = scp.n_samples
    for lead in ("I", "II", "III", "aVR", "aVL", "aVF"):
        assert np.abs(binary.lead(lead)[:n] - scp.lead(lead)).max() <= 0.0026  # SCP rounds aVx to 5 uV
    assert "scp_leads_truncated" in scp.problem_codes()
    assert set(scp.problems[scp.problem_codes().index("flat_leads")].leads) == {
        "V1", "V2", "V3", "V4", "V5", "V6"}


def test_contec_limb_only_recording_names_the_missing_chest_leads() -> None:
    ecg = load("contec-ecg90a/0000037.ECG")
    codes = ecg.problem_codes()
    assert "electrodes_off" in codes and "missing_leads" in codes
    assert ecg.problems[codes.index("missing_leads")].leads == ("V1", "V2", "V3", "V4", "V5", "V6")
    assert "Niccolo" not in repr(ecg) and ecg.patient.get("name") == "Niccolo"


def test_scp_start_sample_zero_quirk_is_read_and_reported() -> None:
    assert "scp_start_sample_zero" in load("scp-ecg/ecgviewer_demo.scp").problem_codes()


def test_philips_calibration_pulse_is_cut_off() -> None:
    ecg = load("philips-sierra-xml/v1_04_01_2020-5-18_15-48-11.xml")
    assert "calibration_pulse_removed" in ecg.problem_codes()
    assert not np.all(ecg.samples[-1] == ecg.samples[-1, 0])


# -- measurements and statements carried by the files --------------------------------------

def test_muse_measurements_and_statements() -> None:
    ecg = load("ge-muse-xml/MUSE_20200923_093504_79000_example.xml")
    m = ecg.measurements
    assert (m.heart_rate_bpm, m.pr_ms, m.qrs_ms, m.qt_ms, m.qtc_ms) == (56, 330, 94, 434, 418)
    assert (m.p_axis_deg, m.qrs_axis_deg, m.t_axis_deg) == (6, -22, 2)
    assert m.other["QTcFrederica"] == 424
    assert ecg.statements[:3] == ("Sinus bradycardia", "with sinus arrhythmia", "with 1st degree A-V block")
    assert ecg.device == "GE MAC55"
    assert "checksum_mismatch" not in ecg.problem_codes()  # LeadDataCRC32 verified


@pytest.mark.parametrize(("relative", "expected", "statements"), [
    ("dicom/cardio_sample_12lead.dcm",
     {"heart_rate_bpm": 80, "rr_ms": 750, "pr_ms": 156, "qrs_ms": 86, "qt_ms": 398, "qtc_ms": 459,
      "p_axis_deg": 53, "qrs_axis_deg": 44, "t_axis_deg": 60},
     ("Normal sinus rhythm", "Normal ECG")),
    ("dicom/mortara_el250_anonymous_ecg.dcm",
     {"rr_ms": 982, "pr_ms": 161, "qrs_ms": 75, "qt_ms": 368, "qtc_ms": 370,
      "p_axis_deg": 74, "qrs_axis_deg": 52, "t_axis_deg": 57},
     ("RITMO SINUSALE", "ECG NORMALE")),
    ("hl7-aecg/HL7_Example_aECG.xml",
     {"pr_ms": 148, "p_duration_ms": 102, "qrs_ms": 120, "qt_ms": 420, "qtc_ms": 443,
      "p_axis_deg": 44, "qrs_axis_deg": -61, "t_axis_deg": 86},
     ("Sinus Rhythm",)),
    ("philips-sierra-xml/v1_04_01_2020-5-18_15-48-11.xml",
     {"heart_rate_bpm": 64, "rr_ms": 938, "pr_ms": 164, "qrs_ms": 102, "qt_ms": 399, "qtc_ms": 412,
      "p_axis_deg": 27, "qrs_axis_deg": 22, "t_axis_deg": 80},
     ("- OTHERWISE NORMAL ECG -", "Sinus rhythm (normal P axis, V-rate 50-99)")),
])
def test_device_measurements_are_parsed(relative: str, expected: dict[str, float],
                                        statements: tuple[str, ...]) -> None:
    ecg = load(relative)
    assert {name: getattr(ecg.measurements, name) for name in expected} == expected
    assert ecg.statements[:len(statements)] == statements


# -- patient data stays apart ---------------------------------------------------------------

def test_patient_fields_are_kept_apart_and_never_shown() -> None:
    ecg = load("ge-muse-xml/MUSE_20200923_093504_79000_example.xml")
    assert ecg.patient.get("PatientFirstName") == "TESTONE"
    assert ecg.patient.get("PatientID") == "201700237"
    for text in (repr(ecg), str(ecg), repr(ecg.patient), str(ecg.patient)):
        assert "TESTONE" not in text and "201700237" not in text


def test_errors_never_quote_patient_data() -> None:
    data = (FILES / "ge-muse-xml/MUSE_20200923_093504_79000_example.xml").read_bytes()
    broken = data.replace(b"<WaveFormData>", b"<WaveFormData>TESTONE!!", 1)
    for upload in (data[: len(data) // 2], broken):
        try:
            read_ecg(upload, "x.xml")
        except EcgImportError as exc:
            assert "TESTONE" not in str(exc) and "201700237" not in str(exc)
            assert exc.__cause__ is None
        else:
            pass  # base64 decoding skips the stray characters; nothing to check then


# -- WFDB, uploaded as a zip ------------------------------------------------------------------

def test_wfdb_zip_ptbxl_record() -> None:
    base = DATA / "ptbxl/records500/00000/00001_hr"
    ecg = read_ecg(wfdb_zip(base.with_suffix(".hea"), base.with_suffix(".dat")), "00001_hr.zip")
    assert ecg.source_format is EcgFormat.WFDB
    assert ecg.leads == STANDARD_12 and ecg.fs_hz == 500 and ecg.duration_s == 10.0
    assert 0.2 <= r_wave_mv(ecg.lead("II")) <= 4.0


def test_wfdb_zip_cpsc_record_with_mat_signal_file() -> None:
    base = DATA / "cpsc2018/challenge2020_wfdb/A0005"
    ecg = read_ecg(wfdb_zip(base.with_suffix(".hea"), base.with_suffix(".mat")), "A0005.zip")
    assert ecg.leads == STANDARD_12 and ecg.fs_hz == 500 and ecg.duration_s == 25.0
    assert ecg.patient.get("age") == "53" and "53" not in repr(ecg.patient)


def test_wfdb_zip_without_its_signal_file_is_refused() -> None:
    base = DATA / "ptbxl/records500/00000/00001_hr"
    with pytest.raises(MalformedEcgFile, match="lacks the signal file"):
        read_ecg(wfdb_zip(base.with_suffix(".hea")), "x.zip")


def test_wfdb_zip_with_two_records_is_refused() -> None:
    one, two = DATA / "ptbxl/records500/00000/00001_hr", DATA / "ptbxl/records500/00000/00002_hr"
    with pytest.raises(MalformedEcgFile, match="exactly one WFDB record"):
        read_ecg(wfdb_zip(one.with_suffix(".hea"), one.with_suffix(".dat"), two.with_suffix(".hea"),
                          two.with_suffix(".dat")), "x.zip")


def test_wfdb_zip_paths_inside_the_zip_are_not_used() -> None:
    base = DATA / "ptbxl/records500/00000/00001_hr"
    upload = wfdb_zip(base.with_suffix(".hea"), base.with_suffix(".dat"),
                      arcnames=["../../evil/00001_hr.hea", "/abs/00001_hr.dat"])
    assert read_ecg(upload, "x.zip").leads == STANDARD_12


def test_lone_header_tells_the_sender_to_zip_the_record() -> None:
    header = (DATA / "ptbxl/records500/00000/00001_hr.hea").read_bytes()
    with pytest.raises(UnsupportedEcgFormat, match="one zip"):
        read_ecg(header, "00001_hr.hea")


def synthetic_wfdb_zip(tmp_path: Path, fs_hz: int, seconds: float) -> bytes:
    import wfdb

    t = np.arange(int(fs_hz * seconds)) / fs_hz
    beat = np.exp(-(((t % 0.8) - 0.4) / 0.01) ** 2)  # 75 bpm, 1 mV spikes
    signal = np.stack([0.3 * beat, beat] + [0.8 * beat] * 6, axis=1)
    names = ["I", "II", "V1", "V2", "V3", "V4", "V5", "V6"]
    wfdb.wrsamp("syn", fs=fs_hz, units=["mV"] * 8, sig_name=names, p_signal=signal,
                fmt=["16"] * 8, adc_gain=[1000.0] * 8, baseline=[0] * 8, write_dir=str(tmp_path))
    return wfdb_zip(tmp_path / "syn.hea", tmp_path / "syn.dat")


# -- arrival checks ---------------------------------------------------------------------------

def test_sampling_rate_below_250_hz_is_refused() -> None:
    with pytest.raises(SamplingRateTooLow) as caught:
        load("dicom/ge_maclab_test_ecg_hemodynamic.dcm")
    assert caught.value.code == "ecg_file.sampling_rate_too_low"
    assert caught.value.params == {"fs_hz": 240.0, "min_fs_hz": 250.0}
    assert "240" in caught.value.message_zh()
    assert isinstance(caught.value, ImportError)


def test_hemodynamic_dicom_reads_when_the_limit_allows_and_is_flagged() -> None:
    ecg = load("dicom/ge_maclab_test_ecg_hemodynamic.dcm", ImportLimits(min_fs_hz=200))
    assert ecg.fs_hz == 240 and ecg.leads == STANDARD_12 and ecg.duration_s == 10.0
    assert ecg.device == "GE Marquette MACLB"
    assert ecg.measurements.heart_rate_bpm == 69
    assert "low_sampling_rate" in ecg.problem_codes()


def test_rate_between_250_and_500_hz_is_flagged(tmp_path: Path) -> None:
    ecg = read_ecg(synthetic_wfdb_zip(tmp_path, 300, 10), "syn.zip")
    assert "low_sampling_rate" in ecg.problem_codes()
    assert ecg.derived_leads == LIMB_DERIVED
    assert np.abs(ecg.lead("III") - (ecg.lead("II") - ecg.lead("I"))).max() < 1e-6


def test_recording_under_2_5_s_is_refused_and_under_10_s_flagged(tmp_path: Path) -> None:
    with pytest.raises(RecordingTooShort):
        read_ecg(synthetic_wfdb_zip(tmp_path, 500, 2.0), "syn.zip")
    assert "short_recording" in read_ecg(synthetic_wfdb_zip(tmp_path, 500, 5.0), "syn.zip").problem_codes()


def test_oversized_upload_is_refused_before_parsing() -> None:
    data = (FILES / "hl7-aecg/HL7_Example_aECG.xml").read_bytes()
    with pytest.raises(EcgFileTooLarge) as caught:
        read_ecg(data, "big.xml", limits=ImportLimits(max_bytes=100_000))
    assert caught.value.params["size_bytes"] == len(data)


def test_zip_that_unpacks_beyond_the_limit_is_refused(tmp_path: Path) -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("bomb.hea", "bomb 1 500 50000000\nbomb.dat 16 200 16 0 0 0 0 II\n")
        archive.writestr("bomb.dat", b"\x00" * 100_000_000)
    assert len(buffer.getvalue()) < 1_000_000
    with pytest.raises(EcgFileTooLarge):
        read_ecg(buffer.getvalue(), "bomb.zip")


def test_nan_and_flat_leads_are_flagged(tmp_path: Path) -> None:
    import wfdb

    fs_hz, n = 500, 5000
    t = np.arange(n) / fs_hz
    beat = np.exp(-(((t % 0.8) - 0.4) / 0.01) ** 2)
    signal = np.stack([0.3 * beat, beat] + [0.8 * beat] * 5 + [np.zeros(n)], axis=1)
    signal[100:110, 2] = np.nan
    wfdb.wrsamp("gaps", fs=fs_hz, units=["mV"] * 8, p_signal=signal, fmt=["16"] * 8,
                sig_name=["I", "II", "V1", "V2", "V3", "V4", "V5", "V6"],
                adc_gain=[1000.0] * 8, baseline=[0] * 8, write_dir=str(tmp_path))
    ecg = read_ecg(wfdb_zip(tmp_path / "gaps.hea", tmp_path / "gaps.dat"), "gaps.zip")
    problems = {p.code: p for p in ecg.problems}
    assert problems["missing_samples"].leads == ("V1",)
    assert problems["flat_leads"].leads == ("V6",)
    assert np.isfinite(ecg.samples).all()


# -- damaged and hostile uploads ----------------------------------------------------------------

ALL_FILES = [s[0] for s in SAMPLES] + ["dicom/ge_maclab_test_ecg_hemodynamic.dcm"]


@pytest.mark.timeout(20)
@pytest.mark.parametrize("relative", ALL_FILES, ids=[r.split("/")[-1] for r in ALL_FILES])
def test_a_file_cut_in_half_gives_a_clear_error(relative: str) -> None:
    data = (FILES / relative).read_bytes()
    if relative.startswith("contec"):
        # The Contec format has no length field: half a file is a shorter recording.
        ecg = read_ecg(data[: len(data) // 2], "half.ECG")
        assert ecg.duration_s == pytest.approx(load(relative).duration_s / 2, abs=0.05)
        return
    with pytest.raises(EcgImportError) as caught:
        read_ecg(data[: len(data) // 2], Path(relative).name)
    error = caught.value
    assert error.code.startswith("ecg_file.") and error.message and error.__cause__ is None


@pytest.mark.timeout(20)
@pytest.mark.parametrize("relative", ["scp-ecg/ecgtoolkit_Example.scp", "dicom/cardio_sample_12lead.dcm"])
def test_corrupted_bytes_in_the_middle_give_a_clear_error_or_a_flagged_read(relative: str) -> None:
    data = bytearray((FILES / relative).read_bytes())
    rng = np.random.default_rng(5)
    middle = len(data) // 2
    data[middle: middle + 2000] = rng.integers(0, 256, 2000, dtype=np.uint8).tobytes()
    try:
        ecg = read_ecg(bytes(data), Path(relative).name)
    except EcgImportError as exc:
        assert exc.code.startswith("ecg_file.")
    else:
        assert ecg.problems  # a checksum mismatch at least


@pytest.mark.parametrize("data", [b"", b"\x00" * 10, bytes(range(256)) * 40, b"%PDF-1.4 not an ecg",
                                  b"\x89PNG\r\n\x1a\n" + b"\x00" * 400])
def test_garbage_is_an_unsupported_format(data: bytes) -> None:
    with pytest.raises(UnsupportedEcgFormat) as caught:
        read_ecg(data, "upload.bin")
    assert caught.value.code == "ecg_file.unsupported_format"
    assert caught.value.code in MESSAGES_ZH


BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE RestingECG [
 <!ENTITY a "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa">
 <!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">
 <!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;">
 <!ENTITY d "&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;">
 <!ENTITY e "&d;&d;&d;&d;&d;&d;&d;&d;&d;&d;&d;&d;&d;&d;&d;&d;&d;&d;&d;&d;">
 <!ENTITY f "&e;&e;&e;&e;&e;&e;&e;&e;&e;&e;&e;&e;&e;&e;&e;&e;&e;&e;&e;&e;">
]>
<RestingECG><MuseInfo>&f;</MuseInfo></RestingECG>"""

EXTERNAL_ENTITY = b"""<?xml version="1.0"?>
<!DOCTYPE AnnotatedECG [<!ENTITY secret SYSTEM "file:///etc/passwd">]>
<AnnotatedECG xmlns="urn:hl7-org:v3"><id>&secret;</id></AnnotatedECG>"""


@pytest.mark.timeout(10)
@pytest.mark.parametrize("data", [BILLION_LAUGHS, EXTERNAL_ENTITY], ids=["xml-bomb", "external-entity"])
def test_xml_entities_are_refused(data: bytes) -> None:
    with pytest.raises(MalformedEcgFile, match="entities") as caught:
        read_ecg(data, "evil.xml")
    assert "passwd" not in str(caught.value)


def test_unknown_xml_and_schiller_are_unsupported() -> None:
    with pytest.raises(UnsupportedEcgFormat):
        read_ecg(b"<?xml version='1.0'?><html><body/></html>", "page.xml")
    with pytest.raises(UnsupportedEcgFormat, match="Schiller"):
        read_ecg((FILES / "schiller-xml/schiller_edi_sample.xml").read_bytes(), "s.xml")


def test_every_error_code_has_a_chinese_message() -> None:
    codes = {cls.code for cls in (EcgImportError, EcgFileTooLarge, UnsupportedEcgFormat,
                                  MalformedEcgFile, SamplingRateTooLow, RecordingTooShort)}
    assert codes <= set(MESSAGES_ZH)


def test_limits_are_validated() -> None:
    with pytest.raises(ValueError):
        ImportLimits(min_fs_hz=600, flag_fs_hz=500)
    with pytest.raises(ValueError):
        ImportLimits(max_bytes=0)


@pytest.mark.parametrize(("label", "name"), [
    ("MDC_ECG_LEAD_AVR", "aVR"), ("Lead I (Einthoven)", "I"), ("avl", "aVL"), ("V4R", "V4R"),
    ("Lead III", "III"), ("X", None), ("", None)])
def test_lead_labels_are_normalised(label: str, name: str | None) -> None:
    assert canonical_lead_name(label) == name
