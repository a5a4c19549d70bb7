"""Game-day rehearsals: scenarios emulated under several seeds, their incidents found and scored strictly against
what was injected, so a team can check its detectors on platforms, devices and faults they were not built on.

Each run is emulated, written into a collector store of its own (the bulk sink: the same rows OTLP would
carry), correlated, and read through the same analysis service as ``incidents list``; runs go to worker
processes, so the memory one run took is gone before the next.
"""

from __future__ import annotations

import multiprocessing
import tempfile
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path

import polars as pl

from collector.correlate import correlate
from emulator.bulk_sink import write_bulk
from emulator.meter import billing_terms
from emulator.run import emulate
from emulator.scenario import load_scenario
from slo.analysis import detect, store_tables
from slo.fault_scoring import control_groups, false_positives, score, summary
from slo.report import data_end
from slo.specs import SloSpec


@dataclass(frozen=True)
class Rehearsal:
    """One scenario under one seed: every injected fault scored, and the incidents that found none."""

    scenario: str
    seed: int
    faults: pl.DataFrame
    false_positives: pl.DataFrame
    incidents: int


@dataclass(frozen=True)
class Verdict:
    """Every rehearsal together: per kind of fault, and precision (incidents that found a fault) and recall."""

    runs: list[Rehearsal]
    by_kind: pl.DataFrame
    incidents: int
    matched: int
    faults: int
    found: int

    @property
    def precision(self) -> float | None:
        return self.matched / self.incidents if self.incidents else None

    @property
    def recall(self) -> float | None:
        return self.found / self.faults if self.faults else None


def rehearse(scenario_path: Path, seed: int, days: float | None, specs: list[SloSpec]) -> Rehearsal:
    """Emulate one scenario under one seed, find its incidents and score them against its ground truth."""
    scenario = load_scenario(scenario_path).with_days(days)
    with tempfile.TemporaryDirectory(prefix=f"qtenancy-{scenario.name}-") as work:
        store = Path(work) / "store"
        run = emulate(scenario, seed)
        faults = run.ground_truth["faults"]
        write_bulk(run, store)
        del run
        correlate(store)
        tables = store_tables(store, billing_terms(scenario))
        signals = detect(specs, tables, data_end(tables)).signals
        groups = control_groups(tables.jobs)
        run_of = {"scenario": pl.lit(scenario.name), "seed": pl.lit(seed)}
        return Rehearsal(scenario.name, seed, score(signals, faults, groups).with_columns(**run_of),
                         false_positives(signals, faults, groups).with_columns(**run_of),
                         signals["incident"].drop_nulls().n_unique())


def rehearse_all(scenarios: list[Path], seeds: list[int], days: float | None, specs: list[SloSpec], workers: int,
                 done: Callable[[Rehearsal], None]) -> Verdict:
    """Every scenario under every seed, ``workers`` at a time; ``done`` hears of each run as it ends."""
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(workers, mp_context=context) as pool:
        pending = [pool.submit(rehearse, path, seed, days, specs) for path in scenarios for seed in seeds]
        for future in as_completed(pending):
            done(future.result())
    runs = sorted((f.result() for f in pending), key=lambda r: (r.scenario, r.seed))
    faults = pl.concat([r.faults for r in runs], how="vertical_relaxed")
    spurious = pl.concat([r.false_positives for r in runs], how="vertical_relaxed")
    incidents = sum(r.incidents for r in runs)
    return Verdict(runs, summary(faults, spurious), incidents, incidents - spurious.height, faults.height,
                   int(faults["found"].sum()))
