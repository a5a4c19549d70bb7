"""Dashboards as Grafana JSON files: sorted keys and fixed IDs, so the same code writes the same bytes."""

from __future__ import annotations

import json
from pathlib import Path

from dashboards import debug, executive, oncall

BUILDERS = {"executive": executive.build, "oncall": oncall.build, "debug": debug.build}


def render(name: str) -> str:
    return json.dumps(BUILDERS[name](), sort_keys=True, indent=2) + "\n"


def write_all(out: Path) -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    for name in BUILDERS:
        path = out / f"qtenancy-{name}.json"
        tmp = path.with_name(f".{path.name}.tmp")
        tmp.write_text(render(name))
        tmp.replace(path)
        paths.append(path)
    return paths
