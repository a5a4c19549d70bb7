"""Scenario files: tenants, backends, policies and faults, validated into typed models.

A scenario is what an operator would write to rehearse a week of their platform; every
error names the file, the path of the field and the reason, so a typo never runs silently.
"""

from __future__ import annotations

import re
from datetime import datetime, timezone
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Literal, Union

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    model_validator,
)

from common.yaml_files import YamlFileError, load_yaml
from contract.semconv import Priority
from emulator.shipped import scenario_path

_OFFSET = re.compile(r"^(?:(\d+(?:\.\d+)?)d)?(?:(\d+(?:\.\d+)?)h)?(?:(\d+(?:\.\d+)?)m)?(?:(\d+(?:\.\d+)?)s)?$")


def parse_offset(value: object) -> float:
    """Seconds from an offset such as ``2d6h``, ``90m`` or a plain number of seconds."""
    if isinstance(value, bool):
        raise ValueError("expected a duration such as '2d6h', '90m' or seconds")
    if isinstance(value, int | float):
        if value < 0:
            raise ValueError("a duration cannot be negative")
        return float(value)
    text = str(value).strip()
    match = _OFFSET.match(text)
    if not text or not match or not any(match.groups()):
        raise ValueError(f"{value!r} is not a duration such as '2d6h', '90m', '45s'")
    days, hours, minutes, seconds = (float(g) if g else 0.0 for g in match.groups())
    return days * 86400 + hours * 3600 + minutes * 60 + seconds


Offset = Annotated[float, BeforeValidator(parse_offset)]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Window(Strict):
    start: Offset
    end: Offset

    @model_validator(mode="after")
    def _ordered(self) -> Window:
        if self.end <= self.start:
            raise ValueError(f"end ({self.end:.0f}s) must be after start ({self.start:.0f}s)")
        return self

    def contains(self, t: float) -> bool:
        return self.start <= t < self.end


class Backend(Strict):
    name: str = Field(pattern=r"^[a-z][a-z0-9_-]*$")
    device: str = Field(description="a qiskit-ibm-runtime fake backend whose snapshot seeds the calibration")
    control_group: str
    price_per_second: float = Field(gt=0)


class SchedulerPolicy(Strict):
    fairshare_half_life: Offset = 86400.0
    aging_per_tier: Offset = Field(1800.0, description="waiting this long promotes a job one priority tier")
    wait_weight_per_hour: float = Field(1.0, ge=0, description="expected fidelity traded per hour of backlog")


class DriftModel(Strict):
    tick: Offset = 900.0
    step: float = Field(0.03, gt=0, lt=1, description="relative change of error rates per drift step")
    up_per_hour: float = Field(0.3, ge=0)
    down_per_hour: float = Field(0.05, ge=0)


class CalibrationSpec(Strict):
    max_error_factor: float = Field(1.25, gt=1, description="median gate/readout error over the reference")
    min_t1_factor: float = Field(0.8, gt=0, lt=1)


class CalibrationPolicy(Strict):
    interval: Offset = 6 * 3600.0
    duration: Offset = 600.0
    retry_after: Offset = 1200.0
    max_retries: int = Field(2, ge=0)
    recovery_interval: Offset = 3600.0
    retune_failure_probability: float = Field(0.03, ge=0, le=1)
    measurement_noise: float = Field(0.05, ge=0, lt=1)
    spec: CalibrationSpec = CalibrationSpec()
    drift: DriftModel = DriftModel()


class CrosstalkModel(Strict):
    coefficient: float = Field(0.05, ge=0, description="depolarizing weight per unit of neighbour activity")


class Metering(Strict):
    granularity: Offset = Field(5.0, gt=0, description="the meter samples backend use this often")


class PostProcess(Strict):
    median: Offset = 0.5
    sigma: float = Field(0.6, ge=0)
    timeout: Offset = 30.0


class Execution(Strict):
    job_overhead: Offset = 2.0
    rep_delay_us: float = Field(250.0, gt=0)
    post_process: PostProcess = PostProcess()


class Limits(Strict):
    max_queued_jobs: int = Field(10_000, gt=0)
    max_shots_per_day: int = Field(10**9, gt=0)


class Arrival(Strict):
    process: Literal["poisson", "periodic"] = "poisson"
    rate_per_hour: float = Field(gt=0)
    diurnal_amplitude: float = Field(0.0, ge=0, lt=1, description="0: flat; 0.5: busy days are 3x quiet nights")


class CircuitFamily(StrEnum):
    GHZ = "ghz"
    QFT = "qft"
    RANDOM_LAYERED = "random_layered"


class CircuitMix(Strict):
    family: CircuitFamily
    qubits: list[Annotated[int, Field(ge=1, le=12)]] = Field(min_length=1)
    variants: int = Field(1, ge=1, description="distinct circuits per width (random_layered seeds)")
    layers: int = Field(4, ge=1, le=64)


class Preprocess(Strict):
    median: Offset = 1.0
    timeout: Offset = 60.0


class Workload(Strict):
    name: str
    arrival: Arrival
    circuits: CircuitMix
    shots: list[Annotated[int, Field(ge=1, le=1_000_000)]] = Field([1000], min_length=1)
    repetitions: int = Field(1, ge=1, description="identical submissions per arrival, for reproducibility")
    backends: list[str] | None = Field(None, description="restrict routing to these backends")
    preprocess: Preprocess | None = None
    bad_key_fraction: float = Field(0.0, ge=0, le=1)
    malformed_fraction: float = Field(0.0, ge=0, le=1)
    activity: float = Field(1.0, gt=0, description="drive strength relative to a nominal job")


class Reservation(Window):
    backend: str


class Tenant(Strict):
    id: str = Field(pattern=r"^[a-z][a-z0-9_-]*$")
    namespace: str
    api_key: str = Field(min_length=16)
    quota_share: float = Field(gt=0, le=1)
    priority: Priority = Priority.STANDARD
    queue_wait_target: Offset = 300.0
    fidelity_floor: float = Field(0.5, ge=0, le=1)
    cost_policy: Literal["best_fidelity", "balanced", "cheapest"] = "balanced"
    limits: Limits = Limits()
    reservations: list[Reservation] = []
    workloads: list[Workload] = Field(min_length=1)


class CalibrationDrift(Window):
    """F1: a hardware defect drives errors up faster than recalibration can undo."""

    kind: Literal["calibration_drift"]
    backend: str
    steps_per_hour: float = Field(2.0, gt=0)


class SchedulerStarvation(Window):
    """F2: a tenant's priority class is misconfigured to weight zero: the scheduler never picks it."""

    kind: Literal["scheduler_starvation"]
    tenant: str


class TelemetryLoss(Window):
    """F3: spans of matching jobs are dropped or delayed between SDK and exporter."""

    kind: Literal["telemetry_loss"]
    backend: str | None = None
    tenant: str | None = None
    drop_probability: float = Field(0.5, ge=0, le=1)
    delay: Offset = 0.0


class NoisyNeighbour(Window):
    """F4: an antagonist floods one backend with heavy circuits, driving its control group hard."""

    kind: Literal["noisy_neighbour"]
    tenant: str
    backend: str
    rate_per_hour: float = Field(240.0, gt=0)
    activity: float = Field(10.0, gt=0)
    qubits: int = Field(5, ge=1, le=12)
    layers: int = Field(12, ge=1, le=64)


class BillingDiscrepancy(Window):
    """F5: the meter closes a tenant's entries with the wrong amount."""

    kind: Literal["billing_discrepancy"]
    tenant: str
    factor: float = Field(0.5, ge=0, description="billed = factor x metered; 0 drops the entry")


class PreprocessTimeout(Window):
    """Hybrid jobs' classical pre-processing slows down past its timeout."""

    kind: Literal["preprocess_timeout"]
    tenant: str
    slowdown: float = Field(100.0, gt=1)


class BackendOutage(Window):
    kind: Literal["backend_outage"]
    backend: str


Fault = Annotated[
    Union[
        CalibrationDrift,
        SchedulerStarvation,
        TelemetryLoss,
        NoisyNeighbour,
        BillingDiscrepancy,
        PreprocessTimeout,
        BackendOutage,
    ],
    Field(discriminator="kind"),
]


class Scenario(Strict):
    name: str
    start: datetime = datetime(2026, 1, 5, tzinfo=timezone.utc)
    days: float = Field(7.0, gt=0)
    backends: list[Backend] = Field(min_length=1)
    tenants: list[Tenant] = Field(min_length=1)
    scheduler: SchedulerPolicy = SchedulerPolicy()
    calibration: CalibrationPolicy = CalibrationPolicy()
    crosstalk: CrosstalkModel = CrosstalkModel()
    metering: Metering = Metering()
    execution: Execution = Execution()
    faults: list[Fault] = []

    @model_validator(mode="after")
    def _references(self) -> Scenario:
        backends = {b.name for b in self.backends}
        tenants = {t.id for t in self.tenants}
        _unique("backends", [b.name for b in self.backends])
        _unique("tenants", [t.id for t in self.tenants])
        _unique("api keys", [t.api_key for t in self.tenants])
        if sum(t.quota_share for t in self.tenants) > 1.0 + 1e-9:
            raise ValueError("tenants' quota_share must sum to at most 1")
        if self.start.tzinfo is None:
            raise ValueError("start must carry a timezone, e.g. 2026-01-05T00:00:00Z")
        for t in self.tenants:
            for r in t.reservations:
                _known("reservation backend", r.backend, backends)
            for w in t.workloads:
                for b in w.backends or []:
                    _known(f"workload {w.name!r} backend", b, backends)
        for f in self.faults:
            if getattr(f, "backend", None) is not None:
                _known(f"{f.kind} backend", f.backend, backends)
            if getattr(f, "tenant", None) is not None:
                _known(f"{f.kind} tenant", f.tenant, tenants)
        return self

    def with_days(self, days: float | None) -> Scenario:
        return self if days is None else self.model_copy(update={"days": days})

    @property
    def horizon(self) -> float:
        return self.days * 86400.0


def _unique(what: str, values: list[str]) -> None:
    dupes = sorted({v for v in values if values.count(v) > 1})
    if dupes:
        raise ValueError(f"duplicate {what}: {', '.join(dupes)}")


def _known(what: str, name: str, known: set[str]) -> None:
    if name not in known:
        raise ValueError(f"{what} {name!r} is not defined (known: {', '.join(sorted(known))})")


class ScenarioError(ValueError):
    """A scenario file that cannot be used; the message names the file, the field and the reason."""


def load_scenario(path: Path) -> Scenario:
    """A scenario file, or the shipped scenario of that name; ScenarioError names the file, field and reason."""
    path = scenario_path(path)
    try:
        raw = load_yaml(path, "scenario")
    except YamlFileError as exc:
        raise ScenarioError(str(exc)) from None
    if not isinstance(raw, dict):
        raise ScenarioError(f"{path}: expected a mapping at the top level, got {type(raw).__name__}")
    try:
        scenario = Scenario.model_validate(raw)
    except ValidationError as exc:
        lines = [f"{path}: invalid scenario"]
        for err in exc.errors():
            where = ".".join(str(p) for p in err["loc"]) or "(top level)"
            lines.append(f"  {where}: {err['msg']}")
        raise ScenarioError("\n".join(lines)) from None
    if problems := _device_problems(scenario):
        raise ScenarioError("\n".join([f"{path}: invalid scenario", *problems]))
    return scenario


def _device_problems(scenario: Scenario) -> list[str]:
    """Each backend's device is one the emulator can model (it reads the device's snapshot to know)."""
    from emulator.devices import UnsupportedDevice, check_device

    problems = []
    for i, backend in enumerate(scenario.backends):
        try:
            check_device(backend.device)
        except UnsupportedDevice as exc:
            problems.append(f"  backends.{i}.device: {exc}")
    return problems
