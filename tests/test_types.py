"""The code is typed: mypy --strict (settings in pyproject.toml) finds nothing."""

from __future__ import annotations

import subprocess
import sys

from tests.conftest import REPO


def test_mypy_strict_finds_no_errors() -> None:
    result = subprocess.run([sys.executable, "-m", "mypy", "streaming", "teleconsult", "loadtest", "dsp"],
                            cwd=REPO, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout[-4000:]
