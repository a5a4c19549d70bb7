"""The scenarios that ship with qtenancy, as package data: ``--scenario game-day`` works from any directory."""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path


def shipped_scenarios() -> Path:
    return Path(str(files("emulator") / "scenarios"))


def scenario_path(value: Path) -> Path:
    """``value`` itself when it exists, else the shipped scenario of that name (``game-day``, ``calm-week.yaml``)."""
    if value.exists() or value.parent != Path("."):
        return value
    shipped = shipped_scenarios() / (value.name if value.suffix else f"{value.name}.yaml")
    return shipped if shipped.exists() else value
