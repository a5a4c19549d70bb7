"""Fault F3 decided per job: which lifecycle stages' spans are lost, and how late the rest arrive.

The decision is part of the run (seeded, recorded in the jobs table and the ground truth); the
telemetry sinks carry it out between the SDK and the exporter.
"""

from __future__ import annotations

import numpy as np

from contract.semconv import STAGES
from emulator.scenario import TelemetryLoss


def decide(
    faults: list[TelemetryLoss],
    submitted: np.ndarray,
    tenant: np.ndarray,
    backend: np.ndarray,
    tenant_index: dict[str, int],
    backend_index: dict[str, int],
    rng: np.random.Generator,
) -> tuple[np.ndarray, np.ndarray]:
    """Per job: a bitmask of dropped stages (bit i is ``STAGES[i]``), and the export delay in seconds."""
    dropped = np.zeros((submitted.size, len(STAGES)), dtype=bool)
    delay = np.zeros(submitted.size)
    for fault in faults:
        hit = (submitted >= fault.start) & (submitted < fault.end)
        if fault.tenant is not None:
            hit &= tenant == tenant_index[fault.tenant]
        if fault.backend is not None:
            hit &= backend == backend_index[fault.backend]
        rows = np.flatnonzero(hit)
        dropped[rows] |= rng.uniform(size=(rows.size, len(STAGES))) < fault.drop_probability
        delay[rows] = np.maximum(delay[rows], fault.delay)
    return dropped @ (1 << np.arange(len(STAGES), dtype=np.int64)), delay
