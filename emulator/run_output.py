"""Writing a run to disk: every file written beside its final name, then renamed into place."""

from __future__ import annotations

import json
import os
from pathlib import Path

from emulator.run import EmulationRun

JOBS_FILE = "jobs.parquet"
CALIBRATIONS_FILE = "calibrations.parquet"
GROUND_TRUTH_FILE = "ground_truth.json"


def _atomic(path: Path, write) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    write(tmp)
    with open(tmp, "rb+") as handle:
        os.fsync(handle.fileno())
    os.replace(tmp, path)


def write_run(run: EmulationRun, out: Path) -> dict[str, Path]:
    out.mkdir(parents=True, exist_ok=True)
    paths = {name: out / name for name in (JOBS_FILE, CALIBRATIONS_FILE, GROUND_TRUTH_FILE)}
    _atomic(paths[JOBS_FILE], lambda p: run.jobs.write_parquet(p, statistics=False))
    _atomic(paths[CALIBRATIONS_FILE], lambda p: run.calibrations.write_parquet(p, statistics=False))
    text = json.dumps(run.ground_truth, indent=2, sort_keys=True) + "\n"
    _atomic(paths[GROUND_TRUTH_FILE], lambda p: p.write_text(text))
    return paths
