"""The emulator's own record of every job, calibration run and backend status change, kept as growing columns.

Rows are appended at submission and updated in place as the job moves through its stages, so
the event loop never allocates a job object beyond what the scheduler queues.
"""

from __future__ import annotations

import math

NAN = math.nan

JOB_COLUMNS: dict[str, object] = {
    "provenance_id": "",
    "tenant": -1,
    "workload": -1,
    "circuit": -1,
    "shots": 0,
    "submitted": NAN,
    "authorized": NAN,
    "queued": NAN,
    "expected_runtime": NAN,
    "started": NAN,
    "exec_end": NAN,
    "post_end": NAN,
    "finished": NAN,
    "backend": -1,
    "reroutes": 0,
    "predicted_fidelity": NAN,
    "floor_met": False,
    "reserved": False,
    "calibration_id": -1,
    "calibration_age": NAN,
    "drift_bucket": 0,
    "outcome": None,
    "reason": None,
    "detail": None,
    "crosstalk": 0.0,
    "aggressor": -1,
    "aggressor_share": 0.0,
    "activity": 0.0,
    "billed_seconds": 0.0,
    "billing_factor": 1.0,
    "distribution": -1,
}

CALIBRATION_COLUMNS = (
    "calibration_id",
    "backend",
    "started",
    "ended",
    "attempt",
    "t1",
    "t2",
    "error_1q",
    "error_2q",
    "readout_error",
    "error_factor",
    "verdict",
    "reason",
    "true_drift_bucket",
    "in_rotation",
)


class JobLog:
    def __init__(self) -> None:
        self.columns: dict[str, list] = {name: [] for name in JOB_COLUMNS}
        self._defaults = list(JOB_COLUMNS.items())
        self.calibrations: dict[str, list] = {name: [] for name in CALIBRATION_COLUMNS}
        self.backend_status: dict[str, list] = {"backend": [], "at": [], "up": []}

    def __len__(self) -> int:
        return len(self.columns["provenance_id"])

    def new_row(self) -> int:
        for name, default in self._defaults:
            self.columns[name].append(default)
        return len(self) - 1

    def add_calibration(self, **values: object) -> None:
        for name in CALIBRATION_COLUMNS:
            self.calibrations[name].append(values[name])

    def add_backend_status(self, backend: int, at: float, up: bool) -> None:
        for name, value in (("backend", backend), ("at", at), ("up", up)):
            self.backend_status[name].append(value)
