"""Durations as SLO files and Prometheus write them: one parser and one formatter for every room.

Burn-rate labels, Sloth rule windows, spec windows and detector bins all go through these two, so a window
reads the same in a rule file, a report and an incident.
"""

from __future__ import annotations

import re
from typing import Any

_UNITS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800, "y": 365 * 86400}


def parse_duration(value: Any) -> float:
    """``30s``, ``5m``, ``1h30m``, ``30d`` (Prometheus' units, ``200ms`` to ``1y``) or a number of seconds."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    if not isinstance(value, str) or not re.fullmatch(r"(\d+(\.\d+)?(ms|[smhdwy]))+", value.strip()):
        raise ValueError(f"{value!r} is not a duration such as 30s, 5m, 6h or 30d")
    return sum(float(n) * _UNITS[u] for n, _, u in re.findall(r"(\d+(\.\d+)?)(ms|[smhdwy])", value))


def format_duration(seconds: float) -> str:
    """Prometheus' duration format: years and weeks only when exact (so 30d, 4w, 1d, 1h30m)."""
    ms = int(round(seconds * 1000))
    if ms == 0:
        return "0s"
    out = ""
    for unit, size, exact in (("y", 365 * 86_400_000, True), ("w", 7 * 86_400_000, True), ("d", 86_400_000, False),
                              ("h", 3_600_000, False), ("m", 60_000, False), ("s", 1000, False), ("ms", 1, False)):
        if exact and ms % size:
            continue
        if ms // size:
            out += f"{ms // size}{unit}"
            ms -= (ms // size) * size
    return out
