"""The qtenancy command line: the one place where the packages are wired together."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from emulator.blocking_batch import ExportFailed
from emulator.metrics import MetricsReplay
from emulator.openmetrics_file import write_openmetrics
from emulator.otlp_sink import OtlpTarget, Protocol, export_run
from emulator.realtime import LiveMetrics, VirtualClock
from emulator.run import emulate as run_emulation
from emulator.run_output import write_run
from emulator.scenario import ScenarioError, load_scenario
from emulator.summary import tenant_summary
from qtenancy.semconv_doc import render as render_semconv

app = typer.Typer(help="Observability and SLO analytics for multi-tenant quantum clouds.", no_args_is_help=True)
console = Console()
errors = Console(stderr=True)


@app.callback()
def main() -> None:
    """qtenancy: emulate, collect, and turn quantum cloud telemetry into SLOs."""


def _progress() -> Progress:
    return Progress(
        TextColumn("[bold]{task.description}[/bold]"),
        BarColumn(),
        TaskProgressColumn(),
        TimeElapsedColumn(),
        console=errors,
        transient=True,
    )


def _parse_headers(pairs: list[str]) -> tuple[tuple[str, str], ...]:
    headers = []
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name.strip():
            raise typer.BadParameter(f"expected NAME=VALUE, got {pair!r}", param_hint="--otlp-header")
        headers.append((name.strip(), value.strip()))
    return tuple(headers)


@app.command()
def emulate(
    scenario: Annotated[Path, typer.Option(help="scenario YAML file")],
    days: Annotated[float | None, typer.Option(help="override the scenario's length in days", min=0.001)] = None,
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
    try:
        spec = load_scenario(scenario).with_days(days)
    except ScenarioError as exc:
        errors.print(f"[red]error:[/red] {exc}", highlight=False, soft_wrap=True)
        raise typer.Exit(2) from None
    target = None
    if otlp_endpoint is not None:
        target = OtlpTarget(otlp_endpoint, otlp_protocol, _parse_headers(otlp_header), otlp_gzip, otlp_timeout)
    with _progress() as progress:
        task = progress.add_task(f"emulating {spec.name}, {spec.days:g} days", total=1.0)
        run = run_emulation(spec, seed, lambda fraction: progress.update(task, completed=fraction))
    paths = write_run(run, out)
    if openmetrics and not realtime:
        with _progress() as progress:
            task = progress.add_task("writing metrics.om", total=1.0)
            paths["metrics.om"] = out / "metrics.om"
            write_openmetrics(
                MetricsReplay(run), paths["metrics.om"], scrape_interval,
                lambda fraction: progress.update(task, completed=fraction),
            )
    try:
        if realtime:
            _replay_live(run, target, speedup, metrics_host, metrics_port)
        elif target is not None:
            with _progress() as progress:
                task = progress.add_task(f"exporting over OTLP to {target.endpoint}", total=1.0)
                stats = export_run(run, target, lambda fraction: progress.update(task, completed=fraction))
            console.print(
                f"OTLP: {stats.spans:,} spans and {stats.logs:,} log records exported, "
                f"{stats.loss.dropped:,} spans dropped and {stats.loss.delayed:,} delayed by fault F3"
            )
    except ExportFailed as exc:
        errors.print(
            f"[red]error:[/red] OTLP export to {target.endpoint} ({target.protocol.value}) failed: {exc}; "
            f"the run itself is in {out}",
            highlight=False,
            soft_wrap=True,
        )
        raise typer.Exit(1) from None
    console.print(_summary_table(run))
    console.print(
        f"{run.jobs.height} jobs, {run.calibrations.height} calibration runs; "
        f"simulated in {run.simulation_seconds:.1f}s, results in {run.results_seconds:.1f}s; "
        f"Aer distribution cache hit rate {run.cache_hit_rate:.1%}"
    )
    for name, path in paths.items():
        console.print(f"  {name}: {path}")


def _replay_live(run, target: OtlpTarget | None, speedup: float, host: str, port: int) -> None:
    clock = VirtualClock(int(run.scenario.start.timestamp() * 1e9), speedup)
    with LiveMetrics(MetricsReplay(run), clock, host, port) as live:
        errors.print(
            f"real time: {speedup:g}x, metrics on http://{host}:{live.port}/metrics"
            + (f", OTLP to {target.endpoint}" if target else "")
        )
        if target is not None:
            export_run(run, target, pace=clock.wait_until)
        live.wait_done()


@app.command()
def semconv(
    out: Annotated[Path | None, typer.Option("--out", "-o", help="write the Markdown here instead of stdout")] = None,
) -> None:
    """Print the telemetry contract (span, attribute, log and metric names) as Markdown."""
    text = render_semconv()
    if out is None:
        console.out(text, end="", highlight=False)
    else:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(text)


def _summary_table(run) -> Table:
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
            f"{row['jobs']:,}",
            "-" if row["success_rate"] is None else f"{row['success_rate']:.1%}",
            f"{row['rejected']:,}",
            "-" if wait is None else f"{wait:.1f}s",
            f"{row['backend_share']:.1%}",
            f"{row['quota_share']:.0%}",
        )
    return table
