"""Small helpers the format readers share: error construction, safe XML, number parsing."""

from __future__ import annotations

import xml.etree.ElementTree as StdET  # only for the Element type and ParseError
from datetime import datetime

from defusedxml import DefusedXmlException
from defusedxml import ElementTree as SafeET

from teleconsult.ecgfiles.errors import MalformedEcgFile
from teleconsult.ecgfiles.model import FORMAT_NAMES, EcgFormat

__all__ = ["Element", "children", "child_text", "local", "malformed", "parse_datetime",
           "parse_xml", "to_float"]

Element = StdET.Element


def malformed(fmt: EcgFormat, reason: str, exc: BaseException | None = None) -> MalformedEcgFile:
    """A ``MalformedEcgFile`` for ``fmt``; ``reason`` must be our own words, never file content."""
    name = FORMAT_NAMES[fmt]
    return MalformedEcgFile(
        f"The {name} file is damaged or incomplete ({reason}). Export the ECG again from the "
        "machine and upload it.",
        params={"format": name, "reason": reason},
        detail=type(exc).__name__ if exc is not None else "")


def parse_xml(data: bytes, fmt: EcgFormat) -> Element:
    """Parse untrusted XML with defusedxml: entity declarations and external references are
    refused (no billion-laughs expansion, no file or network access); a DOCTYPE without
    entities is allowed because GE MUSE files carry one.

    Raises:
        MalformedEcgFile: Not well-formed, or it declares entities.
    """
    try:
        root: Element = SafeET.fromstring(data, forbid_dtd=False, forbid_entities=True,
                                          forbid_external=True)
    except DefusedXmlException as exc:
        raise malformed(fmt, "the XML declares entities or external references, which ECG files "
                        "never need; it was refused for safety", exc) from None
    except StdET.ParseError as exc:
        raise malformed(fmt, "the XML is not well-formed, it may be cut short", exc) from None
    return root


def local(tag: str) -> str:
    """``"{urn:hl7-org:v3}sequence"`` -> ``"sequence"``."""
    return tag.rsplit("}", 1)[-1]


def children(element: Element, name: str) -> list[Element]:
    """Direct children with local name ``name``."""
    return [child for child in element if local(child.tag) == name]


def child_text(element: Element | None, name: str) -> str:
    """Stripped text of the first direct child named ``name``, or ""."""
    if element is None:
        return ""
    for child in element:
        if local(child.tag) == name:
            return (child.text or "").strip()
    return ""


def to_float(text: str | None) -> float | None:
    """``"418"`` -> 418.0; empty or non-numeric -> None."""
    if text is None:
        return None
    try:
        value = float(text.strip())
    except ValueError:
        return None
    return value if value == value and abs(value) != float("inf") else None


def parse_datetime(text: str, *formats: str) -> datetime | None:
    """The first of ``formats`` that parses ``text``, or None."""
    for fmt in formats:
        try:
            return datetime.strptime(text.strip(), fmt)
        except ValueError:
            continue
    return None
