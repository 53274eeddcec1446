"""The coded statement catalogue (SCP-ECG codes with AHA/aECG/DICOM codes, zh-CN and English labels).

Built from PTB-XL's ``scp_statements.csv`` by ``scripts/build_statements.py`` into the
committed ``statements.json`` beside this module (ours to curate).
"""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

STATEMENTS_JSON = Path(__file__).with_name("statements.json")


@dataclass(frozen=True, slots=True)
class Statement:
    code: str
    description: str
    kind: str  # "diagnostic" | "form" | "rhythm"
    aha: str
    aecg: str
    dicom: str
    zh: str
    en: str
    critical: bool
    common: bool
    source: str  # "scp-ecg" | "teleconsult"

    def public(self) -> dict[str, Any]:
        return {"code": self.code, "description": self.description, "kind": self.kind, "aha": self.aha,
                "aecg": self.aecg, "dicom": self.dicom, "zh": self.zh, "en": self.en, "critical": self.critical,
                "common": self.common, "source": self.source}


@functools.lru_cache(maxsize=1)
def catalogue() -> dict[str, Statement]:
    """Every statement by code, in the file's order."""
    rows = json.loads(STATEMENTS_JSON.read_text(encoding="utf-8"))
    return {row["code"]: Statement(**row) for row in rows}


def unknown_codes(codes: list[str] | tuple[str, ...]) -> list[str]:
    known = catalogue()
    return [code for code in codes if code not in known]


__all__ = ["Statement", "catalogue", "unknown_codes"]
