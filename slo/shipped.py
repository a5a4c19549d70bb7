"""The SLO specs that ship with qtenancy, as package data, found wherever the package is installed."""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path


def shipped_specs() -> Path:
    """The directory of the default specs (installed wheels unpack it on the file system)."""
    return Path(str(files("slo") / "specs"))
