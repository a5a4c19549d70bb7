"""The qtenancy command line: the one place where the packages are wired together."""

from __future__ import annotations

import contextlib
import getpass
import json
import shutil
import signal
import threading
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import polars as pl
import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    Progress,
    TaskProgressColumn,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Table

from alerts.alertmanager import Receivers, alertmanager_config
from alerts.native_sli import RUNBOOKS, NotGeneratable, rule_source
from alerts.operational import operational_group
from alerts.rule_files import HEADER as RULES_HEADER
from alerts.rule_files import dump, write
from alerts.sloth_rules import Generation, default_windows, groups, load_windows
from collector.config import CollectorConfig, ConfigError, load_config
from collector.correlate import correlate, read_calibrations, read_jobs
from collector.file_ingest import ingest_file
from collector.ingest import Ingestor
from collector.ownership import Owners
from collector.server import CollectorServer
from collector.store import DataDir, DataDirLocked, WriterLock, compact
from collector.tenancy import OPEN
from dashboards.generate import write_all as write_dashboards
from emulator.blocking_batch import ExportFailed
from emulator.bulk_sink import write_bulk
from emulator.metrics import MetricsReplay
from emulator.openmetrics_file import write_openmetrics
from emulator.otlp_sink import OtlpTarget, Protocol, export_run
from emulator.realtime import LiveMetrics, VirtualClock
from emulator.run import emulate as run_emulation
from emulator.run_output import write_run
from emulator.scenario import ScenarioError, load_scenario
from emulator.summary import tenant_summary
from qtenancy import __version__
from qtenancy.audit import (
    AuditKeyError,
    AuditLog,
    AuditLogDamaged,
    key_path_for,
    load_key,
)
from qtenancy.audit import verify as verify_audit
from qtenancy.semconv_doc import render as render_semconv
from qtenancy.stack import StackError, free_port, start_collector
from qtenancy.stack import down as stop_stack
from qtenancy.stack import stop as stop_processes
from qtenancy.stack import up as start_stack
from qtenancy.yaml_files import load_yaml
from slo.billing import per_tenant as billing_per_tenant
from slo.catalogue import SliParameters
from slo.drift import detect, unexplained
from slo.fairness import jain_index, shares, starvation_episodes
from slo.incidents import find as find_signals
from slo.incidents import incidents as incidents_of
from slo.incidents import score as score_faults
from slo.incidents import within
from slo.noisy_neighbour import NeighbourParameters, attribute
from slo.postmortem import Scope
from slo.postmortem import build as build_postmortem
from slo.postmortem_plots import all_plots
from slo.postmortem_render import format_minutes
from slo.postmortem_render import write as write_postmortem
from slo.report import (
    HEADER,
    Analyses,
    data_end,
    evaluate,
    format_cell,
    markdown_sections,
    markdown_table,
    rows_for_display,
    to_json_with,
    to_markdown,
)
from slo.reproducibility import repeats
from slo.sli import Tables, window_start
from slo.specs import SpecError, Window, load_all, parse_duration, parse_window

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


def _parse_headers(pairs: list[str], option: str = "--otlp-header") -> tuple[tuple[str, str], ...]:
    headers = []
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name.strip():
            raise typer.BadParameter(f"expected NAME=VALUE, got {pair!r}", param_hint=option)
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
    try:
        spec = load_scenario(scenario).with_days(days)
    except ScenarioError as exc:
        errors.print(f"[red]error:[/red] {exc}", highlight=False, soft_wrap=True)
        raise typer.Exit(2) from None
    if realtime and otlp_workers > 1:
        raise typer.BadParameter("real time paces one stream of telemetry: it cannot be split", param_hint="--otlp-workers")
    target = None
    if otlp_endpoint is not None:
        target = OtlpTarget(otlp_endpoint, otlp_protocol, _parse_headers(otlp_header), otlp_gzip, otlp_timeout)
    with _progress() as progress:
        task = progress.add_task(f"emulating {spec.name}, {spec.days:g} days", total=1.0)
        run = run_emulation(spec, seed, lambda fraction: progress.update(task, completed=fraction))
    paths = write_run(run, out)
    if bulk is not None:
        written = write_bulk(run, bulk)
        console.print(f"bulk sink: {written['spans']:,} spans and {written['logs']:,} log records into {bulk}")
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
                stats = export_run(run, target, lambda fraction: progress.update(task, completed=fraction),
                                   workers=otlp_workers)
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


collector_app = typer.Typer(help="Receive OTLP, store it durably as Parquet, and correlate it into the jobs table.",
                            no_args_is_help=True)
app.add_typer(collector_app, name="collector")

ConfigOption = Annotated[Path | None, typer.Option("--config", help="collector config YAML (tokens, limits, ports)")]
DataDirOption = Annotated[Path | None, typer.Option("--data-dir", help="data directory (default: runs/collector)")]


def _os_reason(exc: OSError) -> str:
    """An OS error as a person reads it: the reason and the file it concerns."""
    where = f": {exc.filename}" if exc.filename else ""
    return f"{exc.strerror or exc}{where}"


def _collector_config(config: Path | None, **overrides) -> CollectorConfig:
    try:
        return load_config(config, **overrides)
    except ConfigError as exc:
        errors.print(f"[red]error:[/red] {exc}", highlight=False, soft_wrap=True)
        raise typer.Exit(2) from None


@collector_app.command("serve")
def collector_serve(
    config: ConfigOption = None,
    data_dir: DataDirOption = None,
    host: Annotated[str | None, typer.Option(help="listen address (default 127.0.0.1)")] = None,
    http_port: Annotated[int | None, typer.Option(help="OTLP/HTTP port (default 4318; 0: any free port)")] = None,
    grpc_port: Annotated[int | None, typer.Option(help="OTLP/gRPC port (default 4317; 0: any free port)")] = None,
    insecure: Annotated[bool, typer.Option(
        "--insecure", help="serve without tokens: every caller is the platform (single user, loopback)")] = False,
) -> None:
    """Serve OTLP/HTTP and OTLP/gRPC until interrupted; acknowledged data survives any crash."""
    settings = _collector_config(config, data_dir=data_dir, host=host, http_port=http_port, grpc_port=grpc_port,
                                 insecure=insecure or None)
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    try:
        server = CollectorServer(settings).start()
    except (ConfigError, AuditKeyError, AuditLogDamaged) as exc:
        errors.print(f"[red]error:[/red] {exc}", highlight=False, soft_wrap=True)
        raise typer.Exit(2) from None
    except DataDirLocked as exc:
        errors.print(f"[red]error:[/red] {exc}", highlight=False, soft_wrap=True)
        raise typer.Exit(1) from None
    except OSError as exc:
        errors.print(f"[red]error:[/red] cannot serve from data directory {settings.data_dir}: {_os_reason(exc)}",
                     highlight=False, soft_wrap=True)
        raise typer.Exit(1) from None
    recovered = server.recovered
    if recovered is not None and recovered.segments:
        console.print(f"recovered {recovered.segments} write-ahead log segment(s): {recovered.rows}")
    for corruption in recovered.quarantined if recovered else []:
        errors.print(f"[yellow]quarantined[/yellow] {corruption.segment} from byte {corruption.offset}: {corruption.reason}")
    console.print(f"OTLP/HTTP on {server.http_endpoint}, OTLP/gRPC on {server.grpc_endpoint}, data in {settings.data_dir}",
                  highlight=False)
    stop.wait()
    try:
        final = server.stop()
    except OSError as exc:
        errors.print(f"[red]error:[/red] stopped, but could not compact the write-ahead log ({_os_reason(exc)}); it "
                     "is kept and compacted at the next start", highlight=False, soft_wrap=True)
        raise typer.Exit(1) from None
    console.print(f"stopped; compacted {final.segments} segment(s)")


@collector_app.command("ingest")
def collector_ingest(
    files: Annotated[list[Path], typer.Argument(help="OTLP/JSON lines files from the OpenTelemetry Collector's file exporter (.gz too)")],
    config: ConfigOption = None,
    data_dir: DataDirOption = None,
) -> None:
    """Ingest file-exporter output into the store (offline: the data directory must not be served)."""
    settings = _collector_config(config, data_dir=data_dir)
    data = DataDir(settings.data_dir)
    try:
        lock = WriterLock(data).acquire()
    except DataDirLocked as exc:
        errors.print(f"[red]error:[/red] {exc}; send the data to the running collector instead", highlight=False,
                     soft_wrap=True)
        raise typer.Exit(1) from None
    failed = False
    try:
        compact(data)
        wal = data.open_wal(settings.limits.max_pending_bytes)
        ingestor = Ingestor(wal, Owners.from_store(data.store))
        table = Table(title="ingested")
        for column in ("file", "lines", "accepted", "rejected", "errors"):
            table.add_column(column, justify="left" if column == "file" else "right")
        for path in files:
            report = ingest_file(path, ingestor, OPEN)
            table.add_row(str(path), f"{report.lines:,}", f"{report.accepted:,}", f"{report.rejected:,}", f"{len(report.errors):,}")
            for error in report.errors:
                errors.print(f"[red]error:[/red] {error}", highlight=False, soft_wrap=True)
            failed |= bool(report.errors)
        wal.close()
        result = compact(data)
    except OSError as exc:
        errors.print(f"[red]error:[/red] cannot ingest into {data.root}: {_os_reason(exc)}", highlight=False,
                     soft_wrap=True)
        raise typer.Exit(1) from None
    finally:
        lock.release()
    console.print(table)
    console.print(f"stored: {result.rows}")
    if failed:
        raise typer.Exit(1)


@collector_app.command("correlate")
def collector_correlate(config: ConfigOption = None, data_dir: DataDirOption = None) -> None:
    """Build or bring up to date the jobs and calibrations tables (incremental, idempotent)."""
    settings = _collector_config(config, data_dir=data_dir)
    data = DataDir(settings.data_dir)
    try:
        try:
            with WriterLock(data):
                compact(data)
        except DataDirLocked:
            errors.print("a collector is serving this data directory: correlating what it has compacted so far")
        result = correlate(data.store)
    except OSError as exc:
        errors.print(f"[red]error:[/red] cannot correlate in {data.root}: {_os_reason(exc)}", highlight=False,
                     soft_wrap=True)
        raise typer.Exit(1) from None
    for part, reason in result.quarantined.items():
        errors.print(f"[yellow]quarantined[/yellow] {data.store / part}: {reason}", highlight=False, soft_wrap=True)
    console.print(
        f"{result.new_parts} new store part(s); {result.jobs_rebuilt:,} jobs and "
        f"{result.calibrations_rebuilt:,} calibration runs rebuilt; {result.jobs_total:,} jobs in {data.store / 'jobs'}",
        highlight=False,
    )


slo_app = typer.Typer(help="SLOs over the correlated jobs table: SLIs, budgets, burn rates.", no_args_is_help=True)
app.add_typer(slo_app, name="slo")
DEFAULT_SPECS = Path(__file__).resolve().parent.parent / "slo" / "specs"
STARVATION_BOUND_SECONDS = 3600.0
METER_GRANULARITY_SECONDS = 5.0


class ReportFormat(StrEnum):
    TABLE = "table"
    JSON = "json"
    MARKDOWN = "markdown"


def _specs(paths: list[Path]):
    try:
        return load_all(paths or [DEFAULT_SPECS])
    except SpecError as exc:
        errors.print(f"[red]error:[/red] {exc}", highlight=False, soft_wrap=True)
        raise typer.Exit(2) from None


@slo_app.command("validate")
def slo_validate(specs: Annotated[list[Path], typer.Argument(help="spec files or directories")]) -> None:
    """Validate SLO specs (qtenancy/v1, Sloth prometheus/v1, OpenSLO); exit 2 with the reason if one is bad."""
    loaded = _specs(specs)
    for spec in loaded:
        what = f"SLI {spec.sli.value}" if spec.sli else "PromQL SLI (alerts only)"
        console.print(f"ok  {spec.service}/{spec.name}: {what}, objective {spec.objective:.4%}, window {spec.window.label}"
                      f"  ({spec.source})", highlight=False)


@slo_app.command("report")
def slo_report(
    data_dir: DataDirOption = None,
    spec: Annotated[list[Path], typer.Option(help="spec files or directories (default: the shipped slo/specs)")] = [],  # noqa: B006
    tenant: Annotated[str | None, typer.Option(help="only this tenant's jobs")] = None,
    window: Annotated[str | None, typer.Option(help="override every spec's window, e.g. 7d or 30d")] = None,
    at: Annotated[str | None, typer.Option(help="evaluate at this ISO instant (default: the end of the data)")] = None,
    output: Annotated[ReportFormat, typer.Option("--format", help="table, json or markdown")] = ReportFormat.TABLE,
    quotas: Annotated[
        Path | None, typer.Option(help="tenant quotas for fairness: a scenario file, or a YAML mapping tenant: share")
    ] = None,
) -> None:
    """SLIs, error budgets, burn rates and forecasts; fairness, billing, reproducibility, drift and noisy neighbours."""
    specs = _specs(spec)
    tables = _store_tables(data_dir, "slo_report", tenant)
    try:
        as_of = _instant(at, "--at") if at else data_end(tables)
        chosen = parse_window(window) if window else None
        shares_of = _quotas(quotas)
    except (ValueError, OSError, ScenarioError) as exc:
        errors.print(f"[red]error:[/red] {exc}", highlight=False, soft_wrap=True)
        raise typer.Exit(2) from None
    results, analyses = _slo_results(specs, tables, shares_of, as_of, chosen)
    if output is ReportFormat.JSON:
        console.out(to_json_with(results, analyses, as_of), end="", highlight=False)
    elif output is ReportFormat.MARKDOWN:
        console.out(to_markdown(results, as_of) + markdown_sections(analyses), end="", highlight=False)
    else:
        table = Table(title=f"SLOs as of {as_of:%Y-%m-%d %H:%M} UTC")
        for column in HEADER:
            table.add_column(column, justify="left" if column in ("SLO", "group", "state") else "right")
        for row in rows_for_display(results):
            table.add_row(*row)
        console.print(table)
        for name, frame in analyses.sections().items():
            title = name.replace("_", " ")
            if name == "fairness" and analyses.jain is not None:
                title += f" (Jain's index {analyses.jain:.3f})"
            console.print(_rich_table(title, frame))


def _rich_table(title: str, frame: pl.DataFrame) -> Table:
    table = Table(title=title)
    for column in frame.columns:
        table.add_column(column)
    for row in frame.iter_rows():
        table.add_row(*(format_cell(v) for v in row))
    if frame.is_empty():
        table.add_row(*(["none"] + [""] * (len(frame.columns) - 1)))
    return table


def _quotas(path: Path | None) -> dict[str, float]:
    if path is None:
        return {}
    document = load_yaml(path, "quotas")
    if isinstance(document, dict) and "tenants" in document:
        return {t.id: t.quota_share for t in load_scenario(path).tenants}
    if not isinstance(document, dict) or not all(isinstance(v, (int, float)) for v in document.values()):
        raise ValueError(f"{path}: quotas must be a scenario file or a mapping of tenant to share")
    return {str(k): float(v) for k, v in document.items()}


def _slo_results(specs, tables: Tables, quotas: dict[str, float], as_of: datetime, window: Window | None):
    repeated = repeats(tables.jobs)
    results = evaluate(specs, Tables(tables.jobs, tables.calibrations, repeated.lazy()), as_of, window)
    start = window_start(window or Window(30 * 86400.0), as_of)
    return results, _analyses(tables.jobs, repeated, quotas, start, as_of)


def _analyses(jobs: pl.LazyFrame, repeated: pl.DataFrame, quotas: dict[str, float], start: datetime, end: datetime) -> Analyses:
    table = shares(jobs, quotas, start, end)
    incidents = attribute(jobs)
    return Analyses(
        shares=table,
        jain=jain_index(table),
        starvation=starvation_episodes(jobs, STARVATION_BOUND_SECONDS, start, end),
        billing=billing_per_tenant(jobs, METER_GRANULARITY_SECONDS, start, end),
        repeats=repeated,
        drifts=unexplained(detect(jobs), incidents),
        incidents=incidents,
    )


alerts_app = typer.Typer(help="Prometheus rules (Sloth-compatible SLO rules, operational alerts) and Alertmanager.",
                         no_args_is_help=True)
app.add_typer(alerts_app, name="alerts")


@alerts_app.command("generate")
def alerts_generate(
    specs: Annotated[list[Path], typer.Argument(help="SLO spec files or directories (qtenancy/v1, Sloth, OpenSLO)")],
    out: Annotated[Path, typer.Option("--out", "-o", help="directory for the rule files and alertmanager.yml")],
    period: Annotated[str, typer.Option(help="SLO period for Sloth specs and the burn windows: 30d or 28d")] = "30d",
    windows: Annotated[Path | None, typer.Option(help="a Sloth AlertWindows file for other periods")] = None,
    label: Annotated[list[str], typer.Option(help="NAME=VALUE added to every SLO rule (repeatable)")] = [],  # noqa: B006
    runbook_base: Annotated[str, typer.Option(help="where docs/runbooks is published")] = RUNBOOKS,
    page_url: Annotated[str, typer.Option(help="Alertmanager webhook for pages")] = "http://127.0.0.1:9095/page",
    ticket_url: Annotated[str, typer.Option(help="Alertmanager webhook for tickets")] = "http://127.0.0.1:9095/ticket",
) -> None:
    """Write slo-rules.yaml, operational-rules.yaml and alertmanager.yml from the specs."""
    try:
        loaded = load_all(specs, parse_window(period))
        burn_windows = load_windows(windows) if windows else default_windows(parse_duration(period))
        extra = dict(_parse_headers(label, "--label"))
        receivers = Receivers(page_url=page_url, ticket_url=ticket_url)
    except (SpecError, ValueError, OSError) as exc:
        errors.print(f"[red]error:[/red] {exc}", highlight=False, soft_wrap=True)
        raise typer.Exit(2) from None
    try:
        written = _write_alerts(loaded, out, burn_windows, extra, runbook_base, receivers)
    except OSError as exc:
        errors.print(f"[red]error:[/red] cannot write the rules under {out} (it must be a directory): "
                     f"{_os_reason(exc)}", highlight=False, soft_wrap=True)
        raise typer.Exit(2) from None
    for path in written:
        console.print(f"  {path}", highlight=False)


dashboards_app = typer.Typer(help="Grafana dashboards (executive, on-call, debug) generated with grafanalib.",
                             no_args_is_help=True)
app.add_typer(dashboards_app, name="dashboards")


@dashboards_app.command("generate")
def dashboards_generate(
    out: Annotated[Path, typer.Option("--out", "-o", help="directory for the dashboards' JSON files")],
) -> None:
    """Write the executive, on-call and debug dashboards as Grafana JSON."""
    try:
        written = write_dashboards(out)
    except OSError as exc:
        errors.print(f"[red]error:[/red] cannot write the dashboards under {out} (it must be a directory): "
                     f"{_os_reason(exc)}", highlight=False, soft_wrap=True)
        raise typer.Exit(2) from None
    for path in written:
        console.print(f"  {path}", highlight=False)


def _write_alerts(loaded, out: Path, burn_windows, extra: dict, runbook_base: str, receivers: Receivers,
                  report_skipped: bool = True) -> list[Path]:
    sources = []
    for spec in loaded:
        try:
            sources.append(rule_source(spec, runbook_base))
        except NotGeneratable as exc:
            if report_skipped:
                errors.print(f"[yellow]no rules:[/yellow] {exc}", highlight=False, soft_wrap=True)
    generation = Generation(burn_windows, extra, __version__)
    return [
        write(out / "rules" / "slo-rules.yaml", dump({"groups": groups(sources, generation)}, RULES_HEADER)),
        write(out / "rules" / "operational-rules.yaml", dump({"groups": [operational_group(runbook_base)]}, RULES_HEADER)),
        write(out / "alertmanager.yml", dump(alertmanager_config(receivers))),
    ]


stack_app = typer.Typer(help="The stack without Docker: collector, Prometheus, Alertmanager, real-time emulator.",
                        no_args_is_help=True)
app.add_typer(stack_app, name="stack")
StackDir = Annotated[Path, typer.Option("--dir", help="where the stack keeps its configuration, data and logs")]


@stack_app.command("up")
def stack_up(
    directory: StackDir = Path("runs/stack"),
    scenario: Annotated[Path, typer.Option(help="scenario the emulator runs in real time")] = Path("scenarios/calm-week.yaml"),
    days: Annotated[float | None, typer.Option(help="override the scenario's length in days", min=0.001)] = None,
    speedup: Annotated[float, typer.Option(help="virtual seconds per wall second", min=0.001)] = 60.0,
    spec: Annotated[list[Path], typer.Option(help="SLO specs for the rules (default: slo/specs)")] = [],  # noqa: B006
) -> None:
    """Start the stack on loopback and print where everything is; `qtenancy stack down` stops it."""
    try:
        loaded = load_all(spec or [DEFAULT_SPECS])
        _write_alerts(loaded, directory, default_windows(30 * 86400.0), {}, RUNBOOKS, Receivers())
        emulate_args = ["--scenario", str(scenario.resolve()), "--speedup", str(speedup), "--no-openmetrics"]
        if days is not None:
            emulate_args += ["--days", str(days)]
        ports, started = start_stack(directory.resolve(), (directory / "rules").resolve(), emulate_args)
    except (SpecError, StackError) as exc:
        errors.print(f"[red]error:[/red] {exc}", highlight=False, soft_wrap=True)
        raise typer.Exit(1) from None
    table = Table(title=f"qtenancy stack in {directory}")
    for column in ("component", "pid", "address", "log"):
        table.add_column(column)
    address = {"collector": f"http://127.0.0.1:{ports.collector_http}", "alertmanager": f"http://127.0.0.1:{ports.alertmanager}",
               "prometheus": f"http://127.0.0.1:{ports.prometheus}", "emulator": f"http://127.0.0.1:{ports.metrics}/metrics"}
    for item in started:
        table.add_row(item.name, str(item.pid), address[item.name], item.log)
    console.print(table)


@stack_app.command("down")
def stack_down(directory: StackDir = Path("runs/stack")) -> None:
    """Stop exactly the processes `qtenancy stack up` started in this directory."""
    try:
        stopped = stop_stack(directory)
    except StackError as exc:
        errors.print(f"[red]error:[/red] {exc}", highlight=False)
        raise typer.Exit(1) from None
    console.print(f"stopped: {', '.join(stopped) or 'nothing was still running'}")


audit_app = typer.Typer(help="The tamper-evident audit trail.", no_args_is_help=True)
app.add_typer(audit_app, name="audit")


@audit_app.command("verify")
def audit_verify(
    log: Annotated[Path, typer.Argument(help="an audit log (JSON lines, chained by keyed MACs)")],
    key_file: Annotated[Path | None, typer.Option(help="the log's HMAC key (default: LOG.key beside it)")] = None,
) -> None:
    """Check the chain under the writer's key; exit 1 naming the first edited, forged, removed or reordered record."""
    try:
        result = verify_audit(log, load_key(key_file or key_path_for(log)))
    except AuditKeyError as exc:
        errors.print(f"[red]error:[/red] {exc}", highlight=False, soft_wrap=True)
        raise typer.Exit(2) from None
    except OSError as exc:
        errors.print(f"[red]error:[/red] {_os_reason(exc)}", highlight=False, soft_wrap=True)
        raise typer.Exit(2) from None
    if not result.ok:
        errors.print(f"[red]tampered:[/red] {result.problem}", highlight=False, soft_wrap=True)
        raise typer.Exit(1)
    console.print(f"{log}: {result.records} records, chain intact", highlight=False)


def _store_tables(data_dir: Path | None, action: str, tenant: str | None = None) -> Tables:
    """The correlated tables, the read recorded in the data directory's audit trail as the operator's."""
    settings = _collector_config(None, data_dir=data_dir)
    data = DataDir(settings.data_dir)
    try:
        jobs, calibrations = read_jobs(data.store), read_calibrations(data.store)
        AuditLog(data.audit, load_key(settings.audit_key, create=True)).append(
            f"cli:{getpass.getuser()}", action, tenant or "all tenants")
    except FileNotFoundError as exc:
        errors.print(f"[red]error:[/red] {exc}", highlight=False)
        raise typer.Exit(1) from None
    except (OSError, AuditKeyError, AuditLogDamaged) as exc:
        reason = _os_reason(exc) if isinstance(exc, OSError) else str(exc)
        errors.print(f"[red]error:[/red] cannot record this read in {data.audit}: {reason}", highlight=False,
                     soft_wrap=True)
        raise typer.Exit(1) from None
    if tenant is not None:
        jobs = jobs.filter(pl.col("tenant") == tenant)
    return Tables(jobs, calibrations)


def _instant(value: str, option: str) -> datetime:
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise typer.BadParameter(f"expected an ISO 8601 instant such as 2026-11-03T10:00Z, got {value!r}",
                                 param_hint=option) from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _ground_truth(path: Path | None) -> list[dict] | None:
    if path is None:
        return None
    try:
        return json.loads(path.read_text())["faults"]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        errors.print(f"[red]error:[/red] {path}: not an emulator ground-truth file ({exc})", highlight=False)
        raise typer.Exit(2) from None


@dataclass(frozen=True)
class Detections:
    signals: pl.DataFrame
    neighbours: pl.DataFrame


def _detect(specs, tables: Tables, as_of: datetime, analyses: Analyses | None = None) -> Detections:
    """Every detector over the tables (or those the report's analyses already ran), and their signals."""
    if analyses is None:
        neighbours = attribute(tables.jobs)
        drifts = unexplained(detect(tables.jobs), neighbours)
        starvation = starvation_episodes(tables.jobs, STARVATION_BOUND_SECONDS, as_of - timedelta(days=30), as_of)
    else:
        neighbours, drifts, starvation = analyses.incidents, analyses.drifts, analyses.starvation
    signals = find_signals(
        specs, tables, as_of, drifts, neighbours, starvation,
        timedelta(seconds=parse_duration(NeighbourParameters().every)), METER_GRANULARITY_SECONDS,
        SliParameters().billing_tolerance_seconds,
    )
    return Detections(signals, neighbours)


incidents_app = typer.Typer(help="Incidents found in the jobs table: burn-rate episodes and detector findings.",
                            no_args_is_help=True)
app.add_typer(incidents_app, name="incidents")
SpecOption = Annotated[list[Path], typer.Option(help="spec files or directories (default: the shipped slo/specs)")]
FromOption = Annotated[str | None, typer.Option("--from", help="window start, ISO 8601 (UTC unless it says)")]
ToOption = Annotated[str | None, typer.Option("--to", help="window end, ISO 8601 (default: the end of the data)")]
GroundTruthOption = Annotated[
    Path | None, typer.Option(help="an emulator ground_truth.json: score the incidents against what was injected")
]


@incidents_app.command("list")
def incidents_list(
    data_dir: DataDirOption = None,
    spec: SpecOption = [],  # noqa: B006
    start: FromOption = None,
    end: ToOption = None,
    backend: Annotated[str | None, typer.Option(help="only incidents on this backend")] = None,
    tenant: Annotated[str | None, typer.Option(help="only incidents that hurt this tenant")] = None,
    alert: Annotated[str | None, typer.Option(help="only incidents in which this alert fired")] = None,
    ground_truth: GroundTruthOption = None,
    output: Annotated[ReportFormat, typer.Option("--format", help="table, json or markdown")] = ReportFormat.TABLE,
) -> None:
    """List incidents with their scope, alerts, time to detect and time to resolve (M10)."""
    specs, faults = _specs(spec), _ground_truth(ground_truth)
    tables = _store_tables(data_dir, "incidents_list")
    as_of = _instant(end, "--to") if end else data_end(tables)
    begin = _instant(start, "--from") if start else as_of - timedelta(days=30)
    found = incidents_of(within(_detect(specs, tables, as_of).signals, begin, as_of, backend, tenant, alert))
    scored = score_faults(found, faults) if faults is not None else None
    if output is ReportFormat.JSON:
        body = {"from": begin.isoformat(), "to": as_of.isoformat(), "incidents": json.loads(found.write_json())}
        if scored is not None:
            body["faults"] = json.loads(scored.write_json())
        console.out(json.dumps(body, indent=2, sort_keys=True) + "\n", end="", highlight=False)
        return
    shown = found.select("incident", "severity", "start", "detected_at", "resolved_at", "minutes_to_detect",
                         "minutes_to_resolve", "alerts", "backends", "tenants", "suspects")
    if output is ReportFormat.MARKDOWN:
        lines = [f"# Incidents from {begin:%Y-%m-%d %H:%M} to {as_of:%Y-%m-%d %H:%M} UTC", "", *markdown_table(shown)]
        if scored is not None:
            lines += ["", "## Injected faults", "", *markdown_table(scored)]
        console.out("\n".join(lines) + "\n", end="", highlight=False)
        return
    console.print(_incidents_table(f"incidents from {begin:%Y-%m-%d %H:%M} to {as_of:%Y-%m-%d %H:%M} UTC", found, scored))


@app.command()
def postmortem(
    out: Annotated[Path, typer.Option("--out", "-o", help="directory for postmortem.md, postmortem.html and plots")],
    start: FromOption = None,
    end: ToOption = None,
    incident: Annotated[str | None, typer.Option(help="an incident ID from `qtenancy incidents list`: its window")] = None,
    backend: Annotated[str | None, typer.Option(help="only this backend")] = None,
    tenant: Annotated[str | None, typer.Option(help="only this tenant's jobs")] = None,
    alert: Annotated[str | None, typer.Option(help="only incidents in which this alert fired")] = None,
    data_dir: DataDirOption = None,
    spec: SpecOption = [],  # noqa: B006
    ground_truth: GroundTruthOption = None,
) -> None:
    """Write a postmortem of a window: timeline, impact, budget, suspects, billing, time to detect and resolve."""
    specs, faults = _specs(spec), _ground_truth(ground_truth)
    tables = _store_tables(data_dir, "postmortem")
    as_of = data_end(tables)
    detections = _detect(specs, tables, as_of)
    if incident is not None:
        chosen = incidents_of(detections.signals).filter(pl.col("incident") == incident)
        if chosen.is_empty():
            errors.print(f"[red]error:[/red] no incident {incident} in {data_dir or 'the data directory'}; "
                         "`qtenancy incidents list` shows them", highlight=False)
            raise typer.Exit(2)
        window = chosen.row(0, named=True)
        start = start or window["start"].isoformat()
        end = end or window["resolved_at"].isoformat()
    if start is None or end is None:
        raise typer.BadParameter("give --from and --to, or --incident", param_hint="--from/--to")
    scope = Scope(_instant(start, "--from"), _instant(end, "--to"), backend, tenant, alert)
    if scope.end <= scope.start:
        raise typer.BadParameter(f"--to ({end}) must be after --from ({start})", param_hint="--to")
    paths = _write_postmortem(specs, tables, detections, scope, faults, out)
    for path in paths.values():
        console.print(f"  {path}", highlight=False)


def _write_postmortem(specs, tables: Tables, detections: Detections, scope: Scope, faults: list[dict] | None,
                      out: Path) -> dict[str, Path]:
    report = build_postmortem(tables, scope, detections.signals, specs, detections.neighbours,
                              METER_GRANULARITY_SECONDS, SliParameters().billing_tolerance_seconds, faults)
    return write_postmortem(report, all_plots(report, specs), out)


DEMO_EXPORTERS = 2
"""Exporter processes in the demo: one per core of the 2-core machine it must finish on in 5 minutes."""
DEMO_SCENARIO = Path(__file__).resolve().parent.parent / "scenarios" / "game-day.yaml"


@app.command()
def demo(
    out: Annotated[Path, typer.Option("--out", "-o", help="directory for everything the demo makes")] = Path("runs/demo"),
    scenario: Annotated[Path, typer.Option(help="scenario to emulate")] = DEMO_SCENARIO,
    days: Annotated[float | None, typer.Option(help="override the scenario's length in days", min=0.001)] = None,
    seed: Annotated[int, typer.Option(help="random seed")] = 1,
) -> None:
    """The main job on the embedded default: emulate a game day, collect it over OTLP, report SLOs, generate rules
    and dashboards, find the incidents and write a postmortem for each."""
    try:
        spec = load_scenario(scenario).with_days(days)
    except ScenarioError as exc:
        errors.print(f"[red]error:[/red] {exc}", highlight=False, soft_wrap=True)
        raise typer.Exit(2) from None
    specs = _specs([])
    for owned in ("collector", "postmortems", "alerts", "dashboards"):
        shutil.rmtree(out / owned, ignore_errors=True)
    out.mkdir(parents=True, exist_ok=True)
    with _progress() as progress:
        task = progress.add_task(f"1/6 emulating {spec.name}, {spec.days:g} days", total=1.0)
        run = run_emulation(spec, seed, lambda fraction: progress.update(task, completed=fraction))
        paths = write_run(run, out / "run")
        data = DataDir(out / "collector")
        port = free_port()
        collector = start_collector(out, data.root, port, free_port())
        try:
            task = progress.add_task(f"2/6 OTLP/HTTP into the collector on 127.0.0.1:{port}", total=1.0)
            stats = export_run(run, OtlpTarget(f"http://127.0.0.1:{port}"),
                               lambda fraction: progress.update(task, completed=fraction), workers=DEMO_EXPORTERS)
        finally:
            stop_processes([collector])
        with _stage(progress, "3/6 correlating by provenance ID"):
            correlated = correlate(data.store)
        with _stage(progress, "4/6 SLO report"):
            tables = _store_tables(data.root, "demo")
            as_of = data_end(tables)
            results, analyses = _slo_results(specs, tables, {t.id: t.quota_share for t in spec.tenants}, as_of, None)
            (out / "slo-report.md").write_text(to_markdown(results, as_of) + markdown_sections(analyses))
            (out / "slo-report.json").write_text(to_json_with(results, analyses, as_of))
        with _stage(progress, "5/6 rules, Alertmanager config and dashboards"):
            rule_files = _write_alerts(specs, out / "alerts", default_windows(30 * 86400.0), {}, RUNBOOKS, Receivers(),
                                       report_skipped=False)
            dashboard_files = write_dashboards(out / "dashboards")
        detections = _detect(specs, tables, as_of, analyses)
        found = incidents_of(detections.signals)
        task = progress.add_task("6/6 postmortems", total=max(found.height, 1))
        for row in found.iter_rows(named=True):
            scope = Scope(row["start"], row["resolved_at"])
            _write_postmortem(specs, tables, detections, scope, run.ground_truth["faults"], out / "postmortems" / row["incident"])
            progress.advance(task)
    scored = score_faults(found, run.ground_truth["faults"])
    (out / "incidents.md").write_text("\n".join([
        f"# Incidents in {spec.name}", "", *markdown_table(found), "", "## Injected faults", "", *markdown_table(scored)
    ]) + "\n")
    console.print(
        f"{run.jobs.height:,} jobs emulated; {stats.spans:,} spans and {stats.logs:,} log records over OTLP "
        f"({stats.loss.dropped:,} dropped by fault F3); {correlated.jobs_total:,} jobs correlated", highlight=False,
    )
    console.print(_incidents_table("incidents found, each with its postmortem", found, scored))
    where = Table(title="where everything is", show_header=False)
    for name, path in [("run and ground truth", paths["ground_truth.json"].parent), ("collector store", data.store),
                       ("SLO report", out / "slo-report.md"), ("Prometheus rules", rule_files[0].parent),
                       ("Alertmanager config", rule_files[-1]), ("Grafana dashboards", dashboard_files[0].parent),
                       ("incidents", out / "incidents.md"), ("postmortems", out / "postmortems")]:
        where.add_row(name, str(path))
    console.print(where)


@contextlib.contextmanager
def _stage(progress: Progress, description: str):
    """A step without a measure of its own: shown while it runs, complete when it ends."""
    task = progress.add_task(description, total=None)
    yield
    progress.update(task, total=1, completed=1)


def _incidents_table(title: str, found: pl.DataFrame, scored: pl.DataFrame | None) -> Table:
    """One line per incident (its first alert by name, and how many more fired); with ground truth, the
    injected faults each one found."""
    table = Table(title=title)
    columns = ["incident", "severity", "began", "time to detect", "time to resolve", "scope", "alerts"]
    if scored is not None:
        faults = scored.explode("incidents").group_by("incidents").agg(pl.col("fault").sort())
        found = found.join(faults, left_on="incident", right_on="incidents", how="left")
        columns.append("injected fault")
    for column in columns:
        table.add_column(column, justify="right" if column.startswith("time") else "left",
                         no_wrap=column in ("incident", "began"), overflow="fold")
    for row in found.iter_rows(named=True):
        cells = [row["incident"], row["severity"], f"{row['start']:%a %d %H:%M}", format_minutes(row["minutes_to_detect"]),
                 format_minutes(row["minutes_to_resolve"]), ", ".join(row["backends"] or row["tenants"]),
                 row["alerts"][0] + (f" +{len(row['alerts']) - 1}" if len(row["alerts"]) > 1 else "")]
        if scored is not None:
            cells.append(", ".join(row["fault"] or ["(none)"]))
        table.add_row(*cells)
    if scored is not None:
        for row in scored.filter(pl.col("incidents").list.len() == 0).iter_rows(named=True):
            table.add_row("(missed)", "", f"{row['fault_start']:%a %d %H:%M}", "", "", row["backend"] or "",
                          "", row["fault"])
    return table


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
