"""The main job on the embedded default, as a service: emulate a game day, send it over real OTLP into a
collector, correlate, report SLOs, generate rules and dashboards, find the incidents and write a
postmortem for each. Nothing is skipped or shortened: the same path a real broker's telemetry takes.
"""

from __future__ import annotations

import multiprocessing
import shutil
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor, wait
from dataclasses import dataclass
from pathlib import Path

import polars as pl
from rich.progress import Progress

from alerts.alertmanager import Receivers
from alerts.generate import write_alerting
from collector.correlate import correlate
from collector.store import DataDir
from common.readable import count
from contract.alert_catalogue import RUNBOOK_BASE, default_burn_windows
from contract.billing import write_billing_terms
from contract.data_dir import BILLING_TERMS
from dashboards.generate import write_all as write_dashboards
from emulator.meter import billing_terms
from emulator.otlp_replay import RecordedRun, replay
from emulator.otlp_target import OtlpTarget
from emulator.run_output import write_run
from emulator.scenario import Scenario
from qtenancy.console import StepLines, stage
from qtenancy.stack import free_port, start_collector
from qtenancy.stack import stop as stop_processes
from slo.analysis import detect, operator_tables, slo_results
from slo.fault_scoring import control_groups, score
from slo.incidents import incidents
from slo.postmortem import Scope
from slo.postmortem_files import write_postmortem
from slo.report import (
    data_end,
    markdown_sections,
    markdown_table,
    to_json_with,
    to_markdown,
)
from slo.specs import SloSpec

EXPORTERS = 1
"""Exporter processes: one encodes faster than the collector takes its requests on a 2-core machine, and each
more would hold its own share of the run's jobs (about 450 MiB for the game day)."""
DECODERS = 2
"""The collector's decoding processes, so that it too uses both cores."""
OWNED = ("collector", "postmortems", "alerts", "dashboards")
"""What the demo writes afresh in its directory each time."""


@dataclass(frozen=True)
class DemoResult:
    jobs: int
    spans: int
    logs: int
    dropped: int
    correlated: int
    found: pl.DataFrame
    scored: pl.DataFrame
    where: list[tuple[str, Path]]


_PROGRESS = None
"""The emulating child's share of the work done, set when it starts."""


def _share_progress(fraction) -> None:
    global _PROGRESS
    _PROGRESS = fraction


def _emulate_and_record(scenario: Scenario, recorded: RecordedRun) -> tuple[int, list[dict]]:
    """In the emulating child only: the demo's own process never loads the simulator (qiskit and Aer)."""
    from emulator.run import emulate

    run = emulate(scenario, recorded.seed, lambda fraction: setattr(_PROGRESS, "value", fraction))
    write_run(run, recorded.directory)
    return run.jobs.height, run.ground_truth["faults"]


def _emulated(scenario: Scenario, recorded: RecordedRun, progress: Callable[[float], None]) -> tuple[int, list[dict]]:
    """Emulate and write the run in a child process: the demo's own process then never holds the run, nor the
    memory emulating it took, through the steps that follow; returns the jobs and the injected faults once the run
    is written (``progress`` hears the child's share of the emulation, which is whole before the writing ends)."""
    context = multiprocessing.get_context("spawn")
    fraction = context.Value("d", 0.0, lock=False)
    with ProcessPoolExecutor(1, mp_context=context, initializer=_share_progress, initargs=(fraction,)) as pool:
        future = pool.submit(_emulate_and_record, scenario, recorded)
        while wait([future], timeout=0.25).not_done:
            progress(fraction.value)
        return future.result()


def _short_of_done(bar: Progress | StepLines, task: int) -> Callable[[float], None]:
    """A step's progress from work that reports 1.0 before the step is over (the run is still being written, the
    last requests are still out): the demo itself says when the step is done."""
    return lambda fraction: bar.update(task, completed=min(fraction, 0.99))


def run_demo(scenario: Scenario, seed: int, specs: list[SloSpec], out: Path, bar: Progress | StepLines) -> DemoResult:
    for owned in OWNED:
        shutil.rmtree(out / owned, ignore_errors=True)
    out.mkdir(parents=True, exist_ok=True)
    task = bar.add_task(f"1/6 emulating {scenario.name}, {scenario.days:g} days", total=1.0)
    recorded = RecordedRun(out / "run", scenario.name, seed)
    emulated, faults = _emulated(scenario, recorded, _short_of_done(bar, task))
    bar.update(task, completed=1.0)
    data = DataDir(out / "collector")
    data.root.mkdir(parents=True, exist_ok=True)
    write_billing_terms(billing_terms(scenario), data.root / BILLING_TERMS)
    port = free_port()
    collector = start_collector(out, data.root, port, free_port(), DECODERS)
    try:
        description = f"2/6 OTLP/HTTP into the collector on 127.0.0.1:{port}"
        task = bar.add_task(description, total=1.0)
        stats = replay(recorded, OtlpTarget(f"http://127.0.0.1:{port}"), _short_of_done(bar, task),
                       workers=EXPORTERS, isolated=True)
        bar.update(task, completed=1.0, description=f"{description}: {count(stats.spans)} spans and "
                                                    f"{count(stats.logs)} log records")
    finally:
        stop_processes([collector])
    with stage(bar, "3/6 correlating by provenance ID") as task:
        correlated = correlate(data.store)
        bar.update(task, description=f"3/6 correlated {count(correlated.jobs_total)} jobs by provenance ID")
    with stage(bar, "4/6 SLO report") as task:
        tables = operator_tables(data.root, "demo")
        as_of = data_end(tables)
        results, analyses = slo_results(specs, tables, {t.id: t.quota_share for t in scenario.tenants}, as_of, None)
        (out / "slo-report.md").write_text(to_markdown(results, as_of) + markdown_sections(analyses))
        (out / "slo-report.json").write_text(to_json_with(results, analyses, as_of))
        bar.update(task, description=f"4/6 SLO report: {count(len(results))} SLOs as of {as_of:%Y-%m-%d %H:%M} UTC")
    with stage(bar, "5/6 rules, Alertmanager config and dashboards") as task:
        rules = write_alerting(specs, out / "alerts", default_burn_windows(), {}, RUNBOOK_BASE, Receivers()).paths
        dashboards = write_dashboards(out / "dashboards")
        bar.update(task, description=f"5/6 {count(len(rules))} rule and Alertmanager files, "
                                     f"{count(len(dashboards))} dashboards")
    task = bar.add_task("6/6 incidents and postmortems", total=None)
    detections = detect(specs, tables, as_of, analyses)
    found = incidents(detections.signals)
    bar.update(task, total=found.height + 1, completed=1,
               description=f"6/6 {count(found.height)} incidents found, each with its postmortem")
    for row in found.iter_rows(named=True):
        scope = Scope(row["start"], row["resolved_at"], incident=row["incident"])
        write_postmortem(specs, tables, detections, scope, faults, out / "postmortems" / row["incident"])
        bar.advance(task)
    scored = score(detections.signals, faults, control_groups(tables.jobs))
    (out / "incidents.md").write_text("\n".join([
        f"# Incidents in {scenario.name}", "", *markdown_table(found), "", "## Injected faults", "", *markdown_table(scored)
    ]) + "\n")
    where = [("run and ground truth", recorded.directory), ("collector store", data.store),
             ("SLO report", out / "slo-report.md"), ("Prometheus rules", rules[0].parent),
             ("Alertmanager config", rules[-1]), ("Grafana dashboards", dashboards[0].parent),
             ("incidents", out / "incidents.md"), ("postmortems", out / "postmortems")]
    return DemoResult(emulated, stats.spans, stats.logs, stats.loss.dropped, correlated.jobs_total, found,
                      scored, where)
