"""Build teleconsult/reading/statements.json from PTB-XL's SCP-ECG statement table.

The catalogue is ours to curate: this script keeps each SCP code with the AHA, aECG
(HL7 MDC) and DICOM codes the table carries, adds zh-CN and English labels for the
statements readers use most, adds the few statements a county service needs that
PTB-XL's table lacks (ventricular tachycardia, pauses, extreme rates; marked
``"source": "teleconsult"``), and marks the critical ones. Run it again after editing the
labels below, and commit the JSON:

    python scripts/build_statements.py [--csv ../shared/data/ptbxl/scp_statements.csv]
"""

from __future__ import annotations

import argparse
import csv
import json
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
DEFAULT_CSV = REPO.parent / "shared" / "data" / "ptbxl" / "scp_statements.csv"
OUT = REPO / "teleconsult" / "reading" / "statements.json"

# code -> (zh-CN, English). English defaults to the SCP description where not given here.
LABELS: dict[str, tuple[str, str]] = {
    "NORM": ("正常心电图", "normal ECG"),
    "SR": ("窦性心律", "sinus rhythm"),
    "STACH": ("窦性心动过速", "sinus tachycardia"),
    "SBRAD": ("窦性心动过缓", "sinus bradycardia"),
    "SARRH": ("窦性心律不齐", "sinus arrhythmia"),
    "AFIB": ("心房颤动", "atrial fibrillation"),
    "AFLT": ("心房扑动", "atrial flutter"),
    "SVTAC": ("室上性心动过速", "supraventricular tachycardia"),
    "PSVT": ("阵发性室上性心动过速", "paroxysmal supraventricular tachycardia"),
    "PAC": ("房性早搏", "atrial premature complex"),
    "PVC": ("室性早搏", "ventricular premature complex"),
    "BIGU": ("二联律", "bigeminy"),
    "TRIGU": ("三联律", "trigeminy"),
    "1AVB": ("一度房室传导阻滞", "first degree AV block"),
    "2AVB": ("二度房室传导阻滞", "second degree AV block"),
    "3AVB": ("三度房室传导阻滞", "third degree (complete) AV block"),
    "CRBBB": ("完全性右束支传导阻滞", "complete right bundle branch block"),
    "CLBBB": ("完全性左束支传导阻滞", "complete left bundle branch block"),
    "IRBBB": ("不完全性右束支传导阻滞", "incomplete right bundle branch block"),
    "ILBBB": ("不完全性左束支传导阻滞", "incomplete left bundle branch block"),
    "LAFB": ("左前分支阻滞", "left anterior fascicular block"),
    "LPFB": ("左后分支阻滞", "left posterior fascicular block"),
    "WPW": ("预激综合征", "Wolff-Parkinson-White pattern"),
    "LVH": ("左心室肥厚", "left ventricular hypertrophy"),
    "RVH": ("右心室肥厚", "right ventricular hypertrophy"),
    "LAO/LAE": ("左心房扩大", "left atrial enlargement"),
    "RAO/RAE": ("右心房扩大", "right atrial enlargement"),
    "STE_": ("ST段抬高", "ST elevation"),
    "STD_": ("ST段压低", "ST depression"),
    "NST_": ("非特异性ST段改变", "non-specific ST changes"),
    "NT_": ("非特异性T波改变", "non-specific T-wave changes"),
    "INVT": ("T波倒置", "inverted T waves"),
    "LNGQT": ("QT间期延长", "long QT interval"),
    "LPR": ("PR间期延长", "prolonged PR interval"),
    "LVOLT": ("低电压", "low QRS voltage"),
    "QWAVE": ("异常Q波", "Q waves present"),
    "IMI": ("下壁心肌梗死", "inferior myocardial infarction"),
    "ASMI": ("前间壁心肌梗死", "anteroseptal myocardial infarction"),
    "AMI": ("前壁心肌梗死", "anterior myocardial infarction"),
    "ALMI": ("前侧壁心肌梗死", "anterolateral myocardial infarction"),
    "LMI": ("侧壁心肌梗死", "lateral myocardial infarction"),
    "PMI": ("后壁心肌梗死", "posterior myocardial infarction"),
    "ISC_": ("心肌缺血", "myocardial ischaemia"),
    "PACE": ("起搏心律", "paced rhythm (normal pacemaker function)"),
}

# Statements PTB-XL's table lacks. (code, description, zh-CN, English, aECG/MDC code, kind)
LOCAL: list[tuple[str, str, str, str, str, str]] = [
    ("MI", "myocardial infarction", "心肌梗死", "myocardial infarction", "", "diagnostic"),
    ("STEMI", "acute ST-elevation myocardial infarction", "急性ST段抬高型心肌梗死",
     "acute ST-elevation myocardial infarction", "", "diagnostic"),
    ("VTAC", "ventricular tachycardia", "室性心动过速", "ventricular tachycardia", "MDC_ECG_RHY_VEN_TACHY", "rhythm"),
    ("VFIB", "ventricular fibrillation", "心室颤动", "ventricular fibrillation", "MDC_ECG_RHY_VEN_FIB", "rhythm"),
    ("AFRVR", "atrial fibrillation with rapid ventricular response", "心房颤动伴快速心室率",
     "atrial fibrillation with rapid ventricular rate", "", "rhythm"),
    ("PAUSE", "pause longer than 3 s", "长间歇（>3秒）", "pause > 3 s", "MDC_ECG_RHY_PAUSE", "rhythm"),
    ("XTACH", "extreme tachycardia (rate > 150/min)", "极度心动过速（>150次/分）", "extreme tachycardia (> 150/min)",
     "", "rhythm"),
    ("XBRAD", "extreme bradycardia (rate < 40/min)", "极度心动过缓（<40次/分）", "extreme bradycardia (< 40/min)",
     "", "rhythm"),
]

# Critical findings: the village doctor must acknowledge them (see teleconsult/reading/findings.py).
CRITICAL = {"STE_", "STEMI", "VTAC", "VFIB", "AFRVR", "PAUSE", "XTACH", "XBRAD", "3AVB"}


def build(csv_path: Path) -> list[dict[str, object]]:
    out: list[dict[str, object]] = []
    with open(csv_path, newline="", encoding="utf-8") as fh:
        for row in csv.DictReader(fh):
            code = row[""].strip()
            kinds = [k for k in ("diagnostic", "form", "rhythm") if row[k].strip()]
            zh, en = LABELS.get(code, ("", row["description"].strip()))
            out.append({"code": code, "description": row["description"].strip(), "kind": kinds[0] if kinds else "",
                        "aha": row["AHA code"].strip(), "aecg": row["aECG REFID"].strip(),
                        "dicom": row["DICOM Code"].strip(), "zh": zh, "en": en, "critical": code in CRITICAL,
                        "common": code in LABELS, "source": "scp-ecg"})
    for code, description, zh, en, aecg, kind in LOCAL:
        out.append({"code": code, "description": description, "kind": kind, "aha": "", "aecg": aecg, "dicom": "",
                    "zh": zh, "en": en, "critical": code in CRITICAL, "common": True, "source": "teleconsult"})
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--csv", type=Path, default=DEFAULT_CSV)
    args = parser.parse_args()
    statements = build(args.csv)
    OUT.write_text(json.dumps(statements, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    print(f"{len(statements)} statements -> {OUT.relative_to(REPO)}")


if __name__ == "__main__":
    main()
