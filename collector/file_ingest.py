"""Ingesting OTLP/JSON files: the OpenTelemetry Collector's file exporter (one request per line), or one
request as a whole document, pretty-printed (as OpenTelemetry's own examples and most tools write it).

So qtenancy can sit behind a real OpenTelemetry Collector. Each request goes through the same checks and
write-ahead log as a network request; a bad line is reported with its file and line number and skipped,
and every good line before and after it is kept.
"""

from __future__ import annotations

import gzip
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from collector.ingest import Ingestor
from collector.otlp_payload import PayloadError, Signal, parse_json_document
from collector.ownership import Owners
from collector.store import Compaction, DataDir, WriterLock, compact
from collector.tenancy import OPEN, Principal

SIGNAL_OF_KEY = {"resourceSpans": Signal.TRACES, "resourceLogs": Signal.LOGS, "resourceMetrics": Signal.METRICS}


@dataclass
class FileReport:
    path: Path
    lines: int = 0
    accepted: int = 0
    rejected: int = 0
    errors: list[str] = field(default_factory=list)


def _text(path: Path) -> str:
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", encoding="utf-8") as handle:
        return handle.read()


def _documents(text: str) -> Iterator[tuple[int, str]]:
    """(line number, JSON text) of each request: the whole text when its first line does not hold a whole
    JSON value (a pretty-printed document), else each non-empty line."""
    lines = text.splitlines()
    first = next((i for i, line in enumerate(lines) if line.strip()), None)
    if first is None:
        return
    try:
        json.loads(lines[first])
    except json.JSONDecodeError:
        yield first + 1, "\n".join(lines[first:])
        return
    yield from ((number, line) for number, line in enumerate(lines, start=1) if line.strip())


def ingest_file(path: Path, ingestor: Ingestor, principal: Principal) -> FileReport:
    report = FileReport(path)
    try:
        documents = list(_documents(_text(path)))
    except (OSError, UnicodeDecodeError, EOFError) as exc:
        report.errors.append(f"{path}: cannot read: {exc}")
        return report
    for number, line in documents:
        report.lines += 1
        where = f"{path}:{number}"
        try:
            document = json.loads(line)
        except json.JSONDecodeError as exc:
            report.errors.append(f"{path}:{number + exc.lineno - 1}: not JSON: {exc.msg} (column {exc.colno})")
            continue
        signals = [SIGNAL_OF_KEY[k] for k in SIGNAL_OF_KEY if isinstance(document, dict) and k in document]
        if len(signals) != 1:
            report.errors.append(f"{where}: expected exactly one of {', '.join(SIGNAL_OF_KEY)}")
            continue
        try:
            request = parse_json_document(document, signals[0])
        except PayloadError as exc:
            report.errors.append(f"{where}: {exc.message}")
            continue
        outcome, written = ingestor.submit(signals[0], request, principal)
        written.result()
        report.accepted += outcome.accepted
        report.rejected += outcome.rejected
        if outcome.rejected:
            report.errors.append(f"{where}: {outcome.message}")
    return report


def ingest_files(data: DataDir, files: list[Path], max_pending_bytes: int) -> tuple[list[FileReport], Compaction]:
    """Ingest files into a data directory no collector serves (DataDirLocked if one does), as the platform."""
    with WriterLock(data):
        compact(data)
        wal = data.open_wal(max_pending_bytes)
        try:
            ingestor = Ingestor(wal, Owners.from_store(data.store))
            reports = [ingest_file(path, ingestor, OPEN) for path in files]
        finally:
            wal.close()
        return reports, compact(data)
