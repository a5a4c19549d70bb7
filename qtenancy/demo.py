"""The main job on the embedded default, as a service: emulate a game day, send it over real OTLP into a
collector, correlate, report SLOs, generate rules and dashboards, find the incidents and write a
postmortem for each. Nothing is skipped or shortened: the same path a real broker's telemetry takes.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

import polars as pl
from rich.progress import Progress

from alerts.alertmanager import Receivers
from alerts.generate import write_alerting
from collector.correlate import correlate
from collector.store import DataDir
from contract.alert_catalogue import RUNBOOK_BASE, default_burn_windows
from dashboards.generate import write_all as write_dashboards
from emulator.otlp_sink import export_run
from emulator.otlp_target import OtlpTarget
from emulator.run import emulate
from emulator.run_output import write_run
from emulator.scenario import Scenario
from qtenancy.console import stage
from qtenancy.stack import free_port, start_collector
from qtenancy.stack import stop as stop_processes
from slo.analysis import detect, operator_tables, slo_results
from slo.incidents import incidents, score
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

EXPORTERS = 2
"""Exporter processes: one per core of the 2-core machine the demo must finish on."""
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


def run_demo(scenario: Scenario, seed: int, specs: list[SloSpec], out: Path, bar: Progress) -> DemoResult:
    for owned in OWNED:
        shutil.rmtree(out / owned, ignore_errors=True)
    out.mkdir(parents=True, exist_ok=True)
    task = bar.add_task(f"1/6 emulating {scenario.name}, {scenario.days:g} days", total=1.0)
    run = emulate(scenario, seed, lambda fraction: bar.update(task, completed=fraction))
    paths = write_run(run, out / "run")
    data = DataDir(out / "collector")
    port = free_port()
    collector = start_collector(out, data.root, port, free_port())
    try:
        task = bar.add_task(f"2/6 OTLP/HTTP into the collector on 127.0.0.1:{port}", total=1.0)
        stats = export_run(run, OtlpTarget(f"http://127.0.0.1:{port}"),
                           lambda fraction: bar.update(task, completed=fraction), workers=EXPORTERS)
    finally:
        stop_processes([collector])
    with stage(bar, "3/6 correlating by provenance ID"):
        correlated = correlate(data.store)
    with stage(bar, "4/6 SLO report"):
        tables = operator_tables(data.root, "demo")
        as_of = data_end(tables)
        results, analyses = slo_results(specs, tables, {t.id: t.quota_share for t in scenario.tenants}, as_of, None)
        (out / "slo-report.md").write_text(to_markdown(results, as_of) + markdown_sections(analyses))
        (out / "slo-report.json").write_text(to_json_with(results, analyses, as_of))
    with stage(bar, "5/6 rules, Alertmanager config and dashboards"):
        rules = write_alerting(specs, out / "alerts", default_burn_windows(), {}, RUNBOOK_BASE, Receivers()).paths
        dashboards = write_dashboards(out / "dashboards")
    detections = detect(specs, tables, as_of, analyses)
    found = incidents(detections.signals)
    faults = run.ground_truth["faults"]
    task = bar.add_task("6/6 postmortems", total=max(found.height, 1))
    for row in found.iter_rows(named=True):
        scope = Scope(row["start"], row["resolved_at"], incident=row["incident"])
        write_postmortem(specs, tables, detections, scope, faults, out / "postmortems" / row["incident"])
        bar.advance(task)
    scored = score(found, faults)
    (out / "incidents.md").write_text("\n".join([
        f"# Incidents in {scenario.name}", "", *markdown_table(found), "", "## Injected faults", "", *markdown_table(scored)
    ]) + "\n")
    where = [("run and ground truth", paths["ground_truth.json"].parent), ("collector store", data.store),
             ("SLO report", out / "slo-report.md"), ("Prometheus rules", rules[0].parent),
             ("Alertmanager config", rules[-1]), ("Grafana dashboards", dashboards[0].parent),
             ("incidents", out / "incidents.md"), ("postmortems", out / "postmortems")]
    return DemoResult(run.jobs.height, stats.spans, stats.logs, stats.loss.dropped, correlated.jobs_total, found,
                      scored, where)
