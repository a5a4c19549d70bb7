"""The emulator's answer key: what was injected, when, and whom it hurt, as a typed model.

Written by the emulator (``ground_truth.json``) and read by the incident scorer and the postmortems, so
both sides agree on its fields. Every fault has its own ``id``: the kind's id for its first fault
(``F1``, ``backend-outage``), then ``F1.2``, ``F1.3`` for more faults of the same kind.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, ValidationError, model_validator

FAULT_IDS = {
    "calibration_drift": "F1",
    "scheduler_starvation": "F2",
    "telemetry_loss": "F3",
    "noisy_neighbour": "F4",
    "billing_discrepancy": "F5",
    "preprocess_timeout": "hybrid-timeout",
    "backend_outage": "backend-outage",
}


class GroundTruthError(ValueError):
    """A ground-truth file that cannot be used; the message names the file and the field."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class LostJob(_Strict):
    provenance_id: str
    stages_dropped: list[str]
    delay_seconds: float


class Fault(_Strict):
    id: str
    kind: str
    start: str
    end: str
    start_offset_seconds: float
    end_offset_seconds: float
    victims: list[str]
    jobs_affected: int
    backend: str | None = None
    control_group: str | None = None
    tenant: str | None = None
    antagonist: str | None = None
    factor: float | None = None
    calibrations_failed: int | None = None
    spans_dropped: int | None = None
    delay_seconds: float | None = None
    jobs: list[LostJob] | None = None


class GroundTruth(_Strict):
    scenario: str
    seed: int
    start: str
    horizon_seconds: float
    faults: list[Fault]

    @model_validator(mode="after")
    def _unique_ids(self) -> GroundTruth:
        ids = [f.id for f in self.faults]
        if len(ids) != len(set(ids)):
            raise ValueError(f"fault ids must be unique, got {ids}")
        return self


def fault_ids(kinds: list[str]) -> list[str]:
    """A unique id for each fault, in order: the kind's id, then ``.2``, ``.3`` for repeats of a kind."""
    seen: dict[str, int] = {}
    ids = []
    for kind in kinds:
        seen[kind] = seen.get(kind, 0) + 1
        ids.append(FAULT_IDS[kind] if seen[kind] == 1 else f"{FAULT_IDS[kind]}.{seen[kind]}")
    return ids


def read_ground_truth(path: Path) -> GroundTruth:
    try:
        return GroundTruth.model_validate_json(path.read_bytes())
    except OSError as exc:
        raise GroundTruthError(f"{path}: cannot read the ground truth: {exc.strerror or exc}") from None
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(str(p) for p in e['loc']) or '(top)'}: {e['msg']}" for e in exc.errors())
        raise GroundTruthError(f"{path}: not an emulator ground-truth file: {problems}") from None
