"""``qtenancy emulate``: run the emulator over a scenario, write the run, and optionally export it."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from common.readable import count, duration, percent
from emulator.otlp_target import ExportFailed, OtlpTarget, Protocol
from qtenancy.console import console, errors, fail, name_value_pairs, progress
from qtenancy.options import DaysOption


def emulate(
    scenario: Annotated[Path, typer.Option(help="scenario YAML file, or the name of a shipped one (game-day, calm-week)")],
    days: DaysOption = None,
    seed: Annotated[int, typer.Option(help="random seed; the same seed gives the same run bit for bit")] = 1,
    out: Annotated[Path, typer.Option(help="directory for the run's tables, ground truth and metrics")] = Path(
        "runs/latest"
    ),
    otlp_endpoint: Annotated[
        str | None,
        typer.Option(help="export traces and logs over OTLP: http://host:4318 (HTTP) or host:4317 (gRPC)"),
    ] = None,
    otlp_protocol: Annotated[Protocol, typer.Option(help="OTLP transport")] = Protocol.HTTP,
    otlp_header: Annotated[
        list[str], typer.Option(help="NAME=VALUE header on every export request (repeatable), e.g. a tenant token")
    ] = [],  # noqa: B006 (typer reads the default)
    otlp_gzip: Annotated[bool, typer.Option(help="gzip-compress export requests")] = False,
    otlp_timeout: Annotated[float, typer.Option(help="seconds the exporter keeps retrying one batch", min=0.1)] = 30.0,
    otlp_workers: Annotated[
        int, typer.Option(help="exporter processes, each sending a share of the traces (not with --realtime)", min=1)
    ] = 1,
    bulk: Annotated[
        Path | None, typer.Option(help="also write the run's spans and logs into this collector store directory")
    ] = None,
    openmetrics: Annotated[
        bool, typer.Option(help="write metrics.om: every scrape of the run, for promtool's backfill")
    ] = True,
    scrape_interval: Annotated[float, typer.Option(help="virtual seconds between scrapes in metrics.om", min=1)] = 60.0,
    realtime: Annotated[
        bool, typer.Option(help="replay the run's telemetry on a virtual clock, serving /metrics live")
    ] = False,
    speedup: Annotated[float, typer.Option(help="virtual seconds per wall second in real-time mode", min=0.001)] = 60.0,
    metrics_host: Annotated[str, typer.Option(help="address of the live /metrics endpoint")] = "127.0.0.1",
    metrics_port: Annotated[int, typer.Option(help="port of the live /metrics endpoint (0: any free port)")] = 9464,
) -> None:
    """Run the multi-tenant quantum cloud emulator over a scenario and print a per-tenant summary."""
    from emulator.scenario import ScenarioError, load_scenario

    try:
        spec = load_scenario(scenario).with_days(days)
    except ScenarioError as exc:
        fail(str(exc))
    if realtime and otlp_workers > 1:
        raise typer.BadParameter("real time paces one stream of telemetry: it cannot be split", param_hint="--otlp-workers")
    from contract.billing import write_billing_terms
    from contract.data_dir import BILLING_TERMS
    from emulator.bulk_sink import write_bulk
    from emulator.meter import billing_terms
    from emulator.metrics import MetricsReplay
    from emulator.openmetrics_file import write_openmetrics
    from emulator.otlp_replay import RecordedRun, replay
    from emulator.otlp_sink import export_run
    from emulator.run import emulate as run_emulation
    from emulator.run_output import JOBS_FILE, write_run
    target = None
    if otlp_endpoint is not None:
        target = OtlpTarget(otlp_endpoint, otlp_protocol, name_value_pairs(otlp_header, "--otlp-header"), otlp_gzip,
                            otlp_timeout)
    with progress() as bar:
        task = bar.add_task(f"emulating {spec.name}, {spec.days:g} days", total=1.0)
        run = run_emulation(spec, seed, lambda fraction: bar.update(task, completed=fraction))
    paths = write_run(run, out)
    if bulk is not None:
        written = write_bulk(run, bulk)
        console.print(f"bulk sink: {written['spans']:,} spans and {written['logs']:,} log records into {bulk}")
        terms_file = bulk.parent / BILLING_TERMS
        if not terms_file.exists():
            write_billing_terms(billing_terms(run.scenario), terms_file)
            console.print(f"billing terms of {run.scenario.name} (meter and prices): {terms_file}")
    if openmetrics and not realtime:
        with progress() as bar:
            task = bar.add_task("writing metrics.om", total=1.0)
            paths["metrics.om"] = out / "metrics.om"
            write_openmetrics(
                MetricsReplay(run), paths["metrics.om"], scrape_interval,
                lambda fraction: bar.update(task, completed=fraction),
            )
    try:
        if realtime:
            _replay_live(run, target, speedup, metrics_host, metrics_port)
        elif target is not None:
            with progress() as bar:
                task = bar.add_task(f"exporting over OTLP to {target.endpoint}", total=1.0)
                def report(fraction: float) -> None:
                    bar.update(task, completed=fraction)

                if target.protocol is Protocol.HTTP:
                    recorded = RecordedRun(paths[JOBS_FILE].parent, run.scenario.name, run.seed)
                    stats = replay(recorded, target, report, workers=otlp_workers)
                else:
                    stats = export_run(run, target, report, workers=otlp_workers)
            console.print(
                f"OTLP: {stats.spans:,} spans and {stats.logs:,} log records exported, "
                f"{stats.loss.dropped:,} spans dropped and {stats.loss.delayed:,} delayed by fault F3"
            )
    except ExportFailed as exc:
        fail(f"OTLP export to {target.endpoint} ({target.protocol.value}) failed: {exc}; the run itself is in {out}", 1)
    console.print(_summary_table(run))
    console.print(
        f"{count(run.jobs.height)} jobs, {count(run.calibrations.height)} calibration runs; "
        f"simulated in {duration(run.simulation_seconds)}, results in {duration(run.results_seconds)}; "
        f"Aer distribution cache hit rate {percent(run.cache_hit_rate)}"
    )
    for name, path in paths.items():
        console.print(f"  {name}: {path}")


def _replay_live(run, target: OtlpTarget | None, speedup: float, host: str, port: int) -> None:
    from emulator.metrics import MetricsReplay
    from emulator.otlp_sink import export_run
    from emulator.realtime import LiveMetrics, VirtualClock

    clock = VirtualClock(int(run.scenario.start.timestamp() * 1e9), speedup)
    with LiveMetrics(MetricsReplay(run), clock, host, port) as live:
        errors.print(
            f"real time: {speedup:g}x, metrics on http://{host}:{live.port}/metrics"
            + (f", OTLP to {target.endpoint}" if target else "")
        )
        if target is not None:
            export_run(run, target, pace=clock.wait_until)
        live.wait_done()


def _summary_table(run) -> Table:
    from emulator.summary import tenant_summary

    summary = tenant_summary(run.jobs, run.scenario)
    table = Table(title=f"{run.scenario.name}: {run.scenario.days:g} days, seed {run.seed}")
    for column, justify in (
        ("tenant", "left"),
        ("jobs", "right"),
        ("success", "right"),
        ("rejected", "right"),
        ("median queue wait", "right"),
        ("backend time share", "right"),
        ("quota", "right"),
    ):
        table.add_column(column, justify=justify)
    for row in summary.iter_rows(named=True):
        wait = row["median_queue_wait_seconds"]
        table.add_row(
            row["tenant"],
            count(row["jobs"]),
            "-" if row["success_rate"] is None else percent(row["success_rate"]),
            count(row["rejected"]),
            "-" if wait is None else duration(wait),
            percent(row["backend_share"]),
            percent(row["quota_share"], 0),
        )
    return table
