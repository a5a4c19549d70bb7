"""Tenants' submissions over the whole run, drawn up front as columns.

Drawing every arrival, circuit choice and classical run time before the simulation starts keeps
the event loop free of random draws, so the run is reproducible whatever order events tie in.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from emulator.circuits import Circuit, build, malformed_example
from emulator.scenario import (
    Arrival,
    CircuitFamily,
    CircuitMix,
    NoisyNeighbour,
    Scenario,
    Workload,
)


@dataclass
class CircuitPool:
    """Every distinct circuit of the scenario, indexed; identical circuits share one entry."""

    circuits: list[Circuit]
    by_hash: dict[str, int]

    @classmethod
    def empty(cls) -> CircuitPool:
        return cls([], {})

    def add(self, circuit: Circuit) -> int:
        found = self.by_hash.get(circuit.hash)
        if found is not None:
            return found
        self.by_hash[circuit.hash] = len(self.circuits)
        self.circuits.append(circuit)
        return len(self.circuits) - 1

    def add_mix(self, mix: CircuitMix) -> np.ndarray:
        return np.array(
            [self.add(build(mix.family, n, mix.layers, v)) for n in mix.qubits for v in range(mix.variants)],
            dtype=np.int64,
        )


@dataclass
class Submissions:
    """One row per submission, sorted by time; repetitions of an arrival are consecutive rows."""

    time: np.ndarray
    tenant: np.ndarray
    workload: np.ndarray
    circuit: np.ndarray
    shots: np.ndarray
    bad_key: np.ndarray
    preprocess: np.ndarray
    preprocess_timeout: np.ndarray
    postprocess: np.ndarray
    activity: np.ndarray

    def __len__(self) -> int:
        return self.time.size


def arrival_times(arrival: Arrival, start: float, end: float, rng: np.random.Generator) -> np.ndarray:
    """Arrival instants in [start, end); diurnal load peaks at 14:00 by thinning a Poisson process."""
    span = end - start
    if arrival.process == "periodic":
        period = 3600.0 / arrival.rate_per_hour
        times = start + rng.uniform(0, period) + np.arange(0.0, span, period)
        return times[times < end]
    peak = arrival.rate_per_hour * (1 + arrival.diurnal_amplitude) / 3600.0
    count = rng.poisson(peak * span)
    times = np.sort(rng.uniform(start, end, count))
    if arrival.diurnal_amplitude > 0:
        phase = 2 * np.pi * ((times % 86400.0) / 86400.0 - 14 / 24)
        keep_probability = (1 + arrival.diurnal_amplitude * np.cos(phase)) / (1 + arrival.diurnal_amplitude)
        times = times[rng.uniform(size=times.size) < keep_probability]
    return times


@dataclass(frozen=True)
class WorkloadSlot:
    """A workload with where it may run; fault-injected workloads are slots too."""

    tenant: int
    spec: Workload
    start: float
    end: float
    pinned: tuple[str, ...] | None


def slots(scenario: Scenario) -> list[WorkloadSlot]:
    index = {t.id: i for i, t in enumerate(scenario.tenants)}
    out = [
        WorkloadSlot(i, w, 0.0, scenario.horizon, tuple(w.backends) if w.backends else None)
        for i, t in enumerate(scenario.tenants)
        for w in t.workloads
    ]
    for fault in scenario.faults:
        if isinstance(fault, NoisyNeighbour) and fault.start < scenario.horizon:
            heavy = Workload(
                name=f"noisy-neighbour-{fault.backend}",
                arrival=Arrival(rate_per_hour=fault.rate_per_hour),
                circuits=CircuitMix(family=CircuitFamily.RANDOM_LAYERED, qubits=[fault.qubits], layers=fault.layers),
                shots=[4000],
                activity=fault.activity,
            )
            out.append(WorkloadSlot(index[fault.tenant], heavy, fault.start, min(fault.end, scenario.horizon), (fault.backend,)))
    return out


def generate(scenario: Scenario, pool: CircuitPool, rng: np.random.Generator) -> tuple[Submissions, list[WorkloadSlot]]:
    workload_slots = slots(scenario)
    post = scenario.execution.post_process
    parts: list[dict[str, np.ndarray]] = []
    for s, slot in enumerate(workload_slots):
        w = slot.spec
        circuits = pool.add_mix(w.circuits)
        malformed = pool.add(malformed_example(min(w.circuits.qubits))) if w.malformed_fraction > 0 else -1
        times = arrival_times(w.arrival, slot.start, slot.end, rng)
        n = times.size
        chosen = circuits[rng.integers(0, circuits.size, n)]
        if malformed >= 0:
            chosen = np.where(rng.uniform(size=n) < w.malformed_fraction, malformed, chosen)
        reps = w.repetitions
        size = n * reps
        preprocess = (
            rng.lognormal(np.log(w.preprocess.median), 0.5, size) if w.preprocess else np.zeros(size)
        )
        parts.append(
            {
                "time": np.repeat(times, reps),
                "tenant": np.full(size, slot.tenant, dtype=np.int64),
                "workload": np.full(size, s, dtype=np.int64),
                "circuit": np.repeat(chosen, reps),
                "shots": np.repeat(np.asarray(w.shots)[rng.integers(0, len(w.shots), n)], reps),
                "bad_key": np.repeat(rng.uniform(size=n) < w.bad_key_fraction, reps),
                "preprocess": preprocess,
                "preprocess_timeout": np.full(size, w.preprocess.timeout if w.preprocess else np.inf),
                "postprocess": rng.lognormal(np.log(post.median), post.sigma, size),
                "activity": np.full(size, w.activity),
            }
        )
    columns = {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}
    order = np.lexsort((columns["workload"], columns["time"]))
    return Submissions(**{k: v[order] for k, v in columns.items()}), workload_slots
