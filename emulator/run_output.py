"""Writing a run to disk: every file written beside its final name, then renamed into place."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import TYPE_CHECKING

import polars as pl

from common.audit import AuditEntry, AuditLog, key_path_for, load_key
from contract.semconv import Outcome

if TYPE_CHECKING:
    from emulator.run import EmulationRun

JOBS_FILE = "jobs.parquet"
CALIBRATIONS_FILE = "calibrations.parquet"
BACKEND_STATUS_FILE = "backend_status.parquet"
GROUND_TRUTH_FILE = "ground_truth.json"
AUDIT_FILE = "audit.log"


def _atomic(path: Path, write) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    write(tmp)
    with open(tmp, "rb+") as handle:
        os.fsync(handle.fileno())
    os.replace(tmp, path)


def write_run(run: EmulationRun, out: Path, audit_key: bytes | None = None) -> dict[str, Path]:
    """The run's tables, ground truth and audit trail; the trail is keyed by ``audit_key``, or by the key kept
    beside it (made on first use), so the same run and key give the same bytes."""
    out.mkdir(parents=True, exist_ok=True)
    paths = {name: out / name for name in (JOBS_FILE, CALIBRATIONS_FILE, BACKEND_STATUS_FILE, GROUND_TRUTH_FILE)}
    _atomic(paths[JOBS_FILE], lambda p: run.jobs.write_parquet(p, statistics=False))
    _atomic(paths[CALIBRATIONS_FILE], lambda p: run.calibrations.write_parquet(p, statistics=False))
    _atomic(paths[BACKEND_STATUS_FILE], lambda p: run.backend_status.write_parquet(p, statistics=False))
    text = json.dumps(run.ground_truth, indent=2, sort_keys=True) + "\n"
    _atomic(paths[GROUND_TRUTH_FILE], lambda p: p.write_text(text))
    paths[AUDIT_FILE] = write_submissions(run, out / AUDIT_FILE, audit_key)
    return paths


def write_submissions(run: EmulationRun, path: Path, key: bytes | None = None) -> Path:
    """The broker's audit trail: every submission, admitted or refused, at its virtual time, chained by MACs."""
    key = key or load_key(key_path_for(path), create=True)
    fresh = AuditLog(path.with_name(f".{path.name}.tmp"), key)
    for stale in (fresh.path, fresh.head):
        stale.unlink(missing_ok=True)
    rows = run.jobs.lazy().sort("submitted_at", "job_id").select(
        "provenance_id", "job_id", "outcome", "reason",
        actor=pl.when(pl.col("tenant").is_null()).then(pl.lit("unknown-key")).otherwise(pl.format("tenant:{}", "tenant")),
        time=pl.col("submitted_at").dt.strftime("%Y-%m-%dT%H:%M:%S%.6f+00:00"),
    ).collect()
    fresh.extend(
        AuditEntry(actor, "submit", pid, {"job_id": job_id, "admitted": outcome != Outcome.REJECTED.value, "reason": reason},
                   time)
        for pid, job_id, outcome, reason, actor, time in rows.iter_rows()
    )
    final = AuditLog(path, key)
    os.replace(fresh.head, final.head)
    os.replace(fresh.path, final.path)
    return path
