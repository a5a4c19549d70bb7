"""``qtenancy collector``: serve OTLP, ingest file-exporter output, correlate the store into the jobs table."""

from __future__ import annotations

import signal
import threading
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from qtenancy.console import console, errors, fail, os_reason, warn
from qtenancy.options import ConfigOption, DataDirOption

app = typer.Typer(help="Receive OTLP, store it durably as Parquet, and correlate it into the jobs table.",
                  no_args_is_help=True)


def settings(config: Path | None, **overrides):
    """The collector configuration from the file and the options; a bad one exits 2 naming the field."""
    from collector.config import ConfigError, load_config

    try:
        return load_config(config, **overrides)
    except ConfigError as exc:
        fail(str(exc))


@app.command("serve")
def serve(
    config: ConfigOption = None,
    data_dir: DataDirOption = None,
    host: Annotated[str | None, typer.Option(help="listen address (default 127.0.0.1)")] = None,
    http_port: Annotated[int | None, typer.Option(help="OTLP/HTTP port (default 4318; 0: any free port)")] = None,
    grpc_port: Annotated[int | None, typer.Option(help="OTLP/gRPC port (default 4317; 0: any free port)")] = None,
    insecure: Annotated[bool, typer.Option(
        "--insecure", help="serve without tokens: every caller is the platform (single user, loopback)")] = False,
    decode_processes: Annotated[int | None, typer.Option(
        help="processes that decode requests, for a busy collector on several cores (default 0: decode on threads)",
    )] = None,
) -> None:
    """Serve OTLP/HTTP and OTLP/gRPC until interrupted; acknowledged data survives any crash."""
    from collector.config import ConfigError
    from collector.server import CollectorServer
    from collector.store import DataDirLocked
    from common.audit import AuditKeyError, AuditLogDamaged
    from slo.shipped import shipped_specs
    from slo.spec_files import load_all
    from slo.tenant_reads import StoreReads

    chosen = settings(config, data_dir=data_dir, host=host, http_port=http_port, grpc_port=grpc_port,
                      insecure=insecure or None, limits={"decode_processes": decode_processes})
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    try:
        server = CollectorServer(chosen, StoreReads(chosen.data_dir, load_all([shipped_specs()]))).start()
    except (ConfigError, AuditKeyError, AuditLogDamaged) as exc:
        fail(str(exc))
    except DataDirLocked as exc:
        fail(str(exc), 1)
    except OSError as exc:
        fail(f"cannot serve from data directory {chosen.data_dir}: {os_reason(exc)}", 1)
    recovered = server.recovered
    if recovered is not None and recovered.segments:
        console.print(f"recovered {recovered.segments} write-ahead log segment(s): {recovered.rows}")
    for corruption in recovered.quarantined if recovered else []:
        warn("quarantined", f"{corruption.segment} from byte {corruption.offset}: {corruption.reason}")
    console.print(f"OTLP/HTTP on {server.http_endpoint}, OTLP/gRPC on {server.grpc_endpoint}, data in {chosen.data_dir}",
                  highlight=False)
    stop.wait()
    try:
        final = server.stop()
    except OSError as exc:
        fail(f"stopped, but could not compact the write-ahead log ({os_reason(exc)}); it is kept and compacted at "
             "the next start", 1)
    console.print(f"stopped; compacted {final.segments} segment(s)")


@app.command("ingest")
def ingest(
    files: Annotated[list[Path], typer.Argument(help="OTLP/JSON lines files from the OpenTelemetry Collector's file exporter (.gz too)")],
    config: ConfigOption = None,
    data_dir: DataDirOption = None,
) -> None:
    """Ingest file-exporter output into the store (offline: the data directory must not be served)."""
    from collector.file_ingest import ingest_files
    from collector.store import DataDir, DataDirLocked

    chosen = settings(config, data_dir=data_dir)
    data = DataDir(chosen.data_dir)
    try:
        reports, result = ingest_files(data, files, chosen.limits.max_pending_bytes)
    except DataDirLocked as exc:
        fail(f"{exc}; send the data to the running collector instead", 1)
    except OSError as exc:
        fail(f"cannot ingest into {data.root}: {os_reason(exc)}", 1)
    table = Table(title="ingested")
    for column in ("file", "lines", "accepted", "rejected", "errors"):
        table.add_column(column, justify="left" if column == "file" else "right")
    for report in reports:
        table.add_row(str(report.path), f"{report.lines:,}", f"{report.accepted:,}", f"{report.rejected:,}",
                      f"{len(report.errors):,}")
        for error in report.errors:
            errors.print(f"[red]error:[/red] {error}", highlight=False, soft_wrap=True)
    console.print(table)
    console.print(f"stored: {result.rows}")
    if any(report.errors for report in reports):
        raise typer.Exit(1)


@app.command("correlate")
def correlate(config: ConfigOption = None, data_dir: DataDirOption = None) -> None:
    """Build or bring up to date the jobs, calibrations and backend status tables (incremental, idempotent)."""
    from collector.correlate import correlate as correlate_store
    from collector.store import DataDir, DataDirLocked, WriterLock, compact
    from contract.semconv import Span

    data = DataDir(settings(config, data_dir=data_dir).data_dir)
    try:
        try:
            with WriterLock(data):
                compact(data)
        except DataDirLocked:
            errors.print("a collector is serving this data directory: correlating what it has compacted so far")
        result = correlate_store(data.store)
    except OSError as exc:
        fail(f"cannot correlate in {data.root}: {os_reason(exc)}", 1)
    for part, reason in result.quarantined.items():
        warn("quarantined", f"{data.store / part}: {reason}")
    console.print(
        f"{result.new_parts} new store part(s); {result.jobs_rebuilt:,} jobs, {result.calibrations_rebuilt:,} calibration "
        f"runs and {result.statuses_rebuilt:,} backend status changes rebuilt; {result.jobs_total:,} jobs in "
        f"{data.store / 'jobs'}"
        + ("" if result.jobs_total else f" (no `{Span.JOB.value}` spans in the store)"),
        highlight=False,
    )
