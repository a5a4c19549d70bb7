"""One emulated run end to end: simulate, draw results, decide telemetry loss, build the tables."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import polars as pl

from contract.billing import meter_columns
from contract.semconv import Outcome
from contract.tables import stage_names
from emulator.ground_truth import ground_truth
from emulator.job_log import JobLog
from emulator.job_trace import present_stage_mask
from emulator.meter import declared_meter
from emulator.results import measured_fidelity
from emulator.scenario import Scenario, TelemetryLoss
from emulator.simulation import Simulation
from emulator.telemetry_loss import decide


@dataclass
class EmulationRun:
    scenario: Scenario
    seed: int
    jobs: pl.DataFrame
    calibrations: pl.DataFrame
    backend_status: pl.DataFrame
    ground_truth: dict
    distributions_computed: int
    executed_jobs: int
    simulation_seconds: float
    results_seconds: float

    @property
    def cache_hit_rate(self) -> float:
        """Share of executed jobs whose distribution came from the cache rather than a new Aer run."""
        return 1.0 - self.distributions_computed / self.executed_jobs if self.executed_jobs else 0.0


SIMULATED_SHARE = 0.5
"""Of an emulation's time, about the share the simulated clock takes; drawing the results (Aer) takes most of
the rest, up to ``DRAWN_SHARE``, and building the tables the last of it."""
DRAWN_SHARE = 0.9


def emulate(scenario: Scenario, seed: int, progress: Callable[[float], None] | None = None) -> EmulationRun:
    """``progress`` hears the share of the work done, and 1.0 only once the whole run is built."""
    report = progress or (lambda fraction: None)
    t0 = time.perf_counter()
    sim = Simulation(scenario, seed)
    sim.run(lambda fraction: report(SIMULATED_SHARE * fraction))
    t1 = time.perf_counter()
    columns = {name: np.asarray(values) for name, values in sim.log.columns.items() if name not in _OBJECT_COLUMNS}
    distributions = sim.distributions.distributions(
        [(sim.compiled(c, b), sim.b.snapshots[b], bucket) for (c, b, bucket) in sim.distribution_keys]
    )
    fidelity = measured_fidelity(
        columns["distribution"],
        columns["crosstalk"],
        columns["shots"],
        columns["circuit"],
        distributions,
        lambda c: sim.pool.circuits[c].ideal_probabilities,
        sim.result_rng,
    )
    lost, delay = decide(
        [f for f in scenario.faults if isinstance(f, TelemetryLoss)],
        columns["submitted"],
        columns["tenant"],
        columns["backend"],
        {t.id: i for i, t in enumerate(scenario.tenants)},
        sim.backend_index,
        sim.telemetry_rng,
    )
    report(DRAWN_SHARE)
    jobs = _jobs_frame(sim, sim.log, fidelity, lost, delay)
    calibrations = _calibrations_frame(sim)
    executed = int((columns["distribution"] >= 0).sum())
    run = EmulationRun(
        scenario=scenario,
        seed=seed,
        jobs=jobs,
        calibrations=calibrations,
        backend_status=_backend_status_frame(sim),
        ground_truth=ground_truth(scenario, seed, jobs, calibrations),
        distributions_computed=len(distributions),
        executed_jobs=executed,
        simulation_seconds=t1 - t0,
        results_seconds=time.perf_counter() - t1,
    )
    report(1.0)
    return run


_OBJECT_COLUMNS = {"provenance_id", "outcome", "reason", "detail"}


def _timestamp(name: str, epoch_us: int) -> pl.Expr:
    micros = (pl.col(name).fill_nan(None) * 1e6).round().cast(pl.Int64) + epoch_us
    return pl.from_epoch(micros, time_unit="us").dt.replace_time_zone("UTC")


def _named(column: str, names: list[str]) -> pl.Expr:
    return pl.col(column).replace_strict(dict(enumerate(names)), default=None, return_dtype=pl.String)


def _named_value(column: str, values: list[float]) -> pl.Expr:
    return pl.col(column).replace_strict(dict(enumerate(values)), default=None, return_dtype=pl.Float64)


def _jobs_frame(sim: Simulation, log: JobLog, fidelity: np.ndarray, lost: np.ndarray, delay: np.ndarray) -> pl.DataFrame:
    scenario = sim.scenario
    tenants = scenario.tenants
    backends = scenario.backends
    circuits = sim.pool.circuits
    epoch_us = int(scenario.start.timestamp() * 1_000_000)
    raw = pl.DataFrame({name: values for name, values in log.columns.items()}, strict=False)
    floors = [t.fidelity_floor for t in tenants]
    executed = pl.col("distribution") >= 0
    return (
        raw.lazy()
        .with_row_index("job_id")
        .with_columns(
            measured_fidelity=pl.Series(fidelity).fill_nan(None),
            lost_mask=pl.Series(lost),
            telemetry_delay_seconds=pl.Series(delay),
            floor=_named_value("tenant", floors),
        )
        .with_columns(
            usable=(pl.col("outcome") == Outcome.SUCCEEDED.value)
            & (pl.col("measured_fidelity") >= pl.col("floor")).fill_null(False),
            queue_wait_seconds=(pl.col("started") - pl.col("queued")).fill_nan(None),
            exec_seconds=(pl.col("exec_end") - pl.col("started")).fill_nan(None),
            billed_shots=pl.when(executed).then((pl.col("shots") * pl.col("billing_factor")).round().cast(pl.Int64)).otherwise(0),
        )
        .select(
            "provenance_id",
            "job_id",
            tenant=_named("tenant", [t.id for t in tenants]),
            namespace=_named("tenant", [t.namespace for t in tenants]),
            priority=_named("tenant", [t.priority.value for t in tenants]),
            workload=_named("workload", [s.spec.name for s in sim.slots]),
            backend=_named("backend", [b.name for b in backends]),
            control_group=_named("backend", [b.control_group for b in backends]),
            circuit_hash=_named("circuit", [c.hash for c in circuits]),
            circuit_family=_named("circuit", [c.family for c in circuits]),
            qubits=pl.col("circuit").replace_strict(dict(enumerate(c.num_qubits for c in circuits)), return_dtype=pl.Int64),
            shots=pl.col("shots").cast(pl.Int64),
            submitted_at=_timestamp("submitted", epoch_us),
            authorize_end=_timestamp("authorized", epoch_us),
            queue_start=_timestamp("queued", epoch_us),
            execute_start=_timestamp("started", epoch_us),
            execute_end=_timestamp("exec_end", epoch_us),
            post_process_end=_timestamp("post_end", epoch_us),
            finished_at=_timestamp("finished", epoch_us),
            queue_wait_seconds="queue_wait_seconds",
            expected_runtime_seconds=pl.col("expected_runtime").fill_nan(None),
            exec_seconds="exec_seconds",
            outcome=pl.col("outcome").cast(pl.String),
            reason=pl.col("reason").cast(pl.String),
            detail=pl.col("detail").cast(pl.String),
            usable="usable",
            measured_fidelity="measured_fidelity",
            predicted_fidelity=pl.col("predicted_fidelity").fill_nan(None),
            fidelity_floor_met="floor_met",
            reserved="reserved",
            reroutes="reroutes",
            calibration_id=pl.when(pl.col("calibration_id") >= 0).then(pl.col("calibration_id")),
            calibration_age_seconds=pl.col("calibration_age").fill_nan(None),
            drift_bucket=pl.when(executed).then(pl.col("drift_bucket")),
            crosstalk="crosstalk",
            aggressor=_named("aggressor", [t.id for t in tenants]),
            aggressor_share="aggressor_share",
            activity="activity",
            billed_seconds="billed_seconds",
            billed_shots="billed_shots",
            **{column: pl.lit(value) for column, value in meter_columns(declared_meter(scenario)).items()},
            fidelity_floor=_named_value("tenant", floors),
            queue_wait_target_seconds=_named_value("tenant", [t.queue_wait_target for t in tenants]),
            cost_policy=_named("tenant", [t.cost_policy for t in tenants]),
            billing_factor="billing_factor",
            lost_mask="lost_mask",
            telemetry_delay_seconds="telemetry_delay_seconds",
        )
        .with_columns(telemetry_lost_stages=stage_names(pl.col("lost_mask") & present_stage_mask()))
        .select(pl.exclude("lost_mask", "telemetry_delay_seconds"), "telemetry_delay_seconds")
        .collect()
    )


def _backend_status_frame(sim: Simulation) -> pl.DataFrame:
    """Every time a backend went down or came back: (backend, at, up)."""
    epoch_us = int(sim.scenario.start.timestamp() * 1_000_000)
    return (
        pl.DataFrame(sim.log.backend_status, schema={"backend": pl.Int64, "at": pl.Float64, "up": pl.Boolean})
        .lazy()
        .select(backend=_named("backend", [b.name for b in sim.scenario.backends]), at=_timestamp("at", epoch_us),
                up="up")
        .collect()
    )


def _calibrations_frame(sim: Simulation) -> pl.DataFrame:
    scenario = sim.scenario
    epoch_us = int(scenario.start.timestamp() * 1_000_000)
    backends = scenario.backends
    return (
        pl.DataFrame(sim.log.calibrations, strict=False)
        .lazy()
        .with_columns(
            backend=_named("backend", [b.name for b in backends]),
            control_group=_named("backend", [b.control_group for b in backends]),
            started_at=_timestamp("started", epoch_us),
            ended_at=_timestamp("ended", epoch_us),
        )
        .drop("started", "ended")
        .collect()
    )
