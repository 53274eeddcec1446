"""The live detector listens to lead II (or MLII) when the device sends it."""

from __future__ import annotations

from teleconsult.services.ingest import detection_lead


def test_lead_ii_of_a_12_lead_ecg() -> None:
    assert detection_lead(("I", "II", "III", "aVR", "aVL", "aVF", "V1", "V2", "V3", "V4", "V5", "V6")) == 1


def test_mlii_of_a_holter_record() -> None:
    assert detection_lead(("V1", "MLII")) == 1


def test_a_precordial_lead_when_there_is_no_limb_lead() -> None:
    assert detection_lead(("V1", "V2", "V5")) == 2


def test_the_first_lead_when_none_is_known() -> None:
    assert detection_lead(("ECG1", "ECG2")) == 0
