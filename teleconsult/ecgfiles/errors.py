"""Why an uploaded ECG file was refused: one exception tree, each with a stable code.

Every error is an ``ImportError`` subclass (the brief of issue 5 asks for it) carrying

* ``code``: a stable key such as ``"ecg_file.sampling_rate_too_low"`` that the UI translates,
* ``message``: the English text, written for the village doctor who sent the file
  (what is wrong and what to do),
* ``params``: the numbers the message quotes (sizes, rates, lead names), never patient data.

Messages are built only from our own wording and from those parameters. The text of a
third-party library's exception is never copied into them, because such text can quote
file contents (a patient's name in a DICOM element, for instance); only the library
exception's class name is kept, in ``detail``, and the original is not chained
(``raise ... from None``) so a traceback logger cannot leak it either.

``MESSAGES_ZH`` gives the zh-CN template for each code; ``message_zh()`` fills it in.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

__all__ = [
    "MESSAGES_ZH",
    "EcgFileTooLarge",
    "EcgImportError",
    "MalformedEcgFile",
    "RecordingTooLong",
    "RecordingTooShort",
    "SamplingRateTooLow",
    "UnsupportedEcgFormat",
]

ParamValue = str | int | float


class EcgImportError(ImportError):
    """Base class: the uploaded file cannot be turned into an ECG we can read.

    Attributes:
        code: Stable machine-readable key, e.g. ``"ecg_file.malformed"``.
        message: English explanation with the action to take.
        params: Values quoted by the message (no patient data).
        detail: Class name of the underlying library error, if any (for operators).
    """

    code = "ecg_file.error"

    def __init__(self, message: str, *, params: Mapping[str, ParamValue] | None = None,
                 detail: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.params: Mapping[str, ParamValue] = MappingProxyType(dict(params or {}))
        self.detail = detail

    def __str__(self) -> str:
        return f"{self.code}: {self.message}"

    def message_zh(self) -> str:
        """The zh-CN message for this error, filled in with ``params``."""
        template = MESSAGES_ZH.get(self.code, MESSAGES_ZH[EcgImportError.code])
        try:
            return template.format(**self.params)
        except (KeyError, IndexError, ValueError):
            return MESSAGES_ZH[EcgImportError.code]


class EcgFileTooLarge(EcgImportError):
    """The upload (or a zip member once unpacked) is over the size limit."""

    code = "ecg_file.too_large"


class UnsupportedEcgFormat(EcgImportError):
    """The bytes are not any ECG format we read."""

    code = "ecg_file.unsupported_format"


class MalformedEcgFile(EcgImportError):
    """The format was recognised but the file is damaged, truncated or inconsistent."""

    code = "ecg_file.malformed"


class SamplingRateTooLow(EcgImportError):
    """The sampling rate is below the refusal threshold (default 250 Hz)."""

    code = "ecg_file.sampling_rate_too_low"


class RecordingTooShort(EcgImportError):
    """The recording is shorter than the minimum length (default 2.5 s)."""

    code = "ecg_file.too_short"


class RecordingTooLong(EcgImportError):
    """The recording is longer than a resting ECG upload may be (default 300 s)."""

    code = "ecg_file.too_long"


MESSAGES_ZH: Mapping[str, str] = MappingProxyType({
    EcgImportError.code: "无法读取该心电图文件，请重新导出后再上传。",
    EcgFileTooLarge.code: "文件过大（{size_bytes} 字节，上限 {limit_bytes} 字节）。请只上传一份静息心电图。",
    UnsupportedEcgFormat.code: "无法识别的文件格式。请从心电图机导出 DICOM、HL7 aECG、SCP-ECG、"
                               "GE MUSE XML、飞利浦 XML、WFDB（zip）或康泰 .ECG 文件。",
    MalformedEcgFile.code: "{format} 文件已损坏或不完整，请在心电图机上重新导出后再上传。",
    SamplingRateTooLow.code: "采样率 {fs_hz} Hz 过低（至少 {min_fs_hz} Hz），无法用于诊断。"
                             "请在心电图机上提高采样率后重新采集。",
    RecordingTooShort.code: "记录时长仅 {duration_s} 秒（至少 {min_duration_s} 秒）。请重新采集一份完整的心电图。",
    RecordingTooLong.code: "记录时长 {duration_s} 秒超过上限 {max_duration_s} 秒。这里只接收静息心电图，"
                           "动态心电图请另行处理。",
})
