"""Replaying a recorded run over OTLP/HTTP at the speed of numpy: the SDK's requests, without the SDK's cost.

The SDK's exporter builds a Python object per span and per attribute (about 15,000 records a second on one
core); here a stretch of the run is encoded a column at a time (``otlp_wire``) and sent in the batches the
SDK's blocking batch processor would send, in the same order, so the collector receives the same requests
(several at a time from each process, so neighbouring batches may arrive swapped).
The run is read from its files one stretch of time at a time, so memory holds one stretch, not the run.

Fault F3 is carried out as ``span_loss.TelemetryLossProcessor`` does: a dropped stage's span is never sent, a
delayed job's spans go out once a span ending ``delay`` later has gone by. That processor releases a held
span just before the first span ending at or after its release, so each span's place in the stream is
fixed by its emission time (its end, plus the delay when held), held spans first on a tie.
"""

from __future__ import annotations

import gzip
import http.client
import multiprocessing
import queue
import time
import urllib.parse
from collections.abc import Callable
from concurrent.futures import Future, ProcessPoolExecutor, ThreadPoolExecutor, wait
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import polars as pl

from common import protobuf_columns as pc
from emulator.job_trace import stage_bounds
from emulator.otlp_target import (
    BATCH_SIZE,
    ExportFailed,
    ExportStats,
    LossCounts,
    OtlpTarget,
)
from emulator.otlp_wire import Envelope, log_entries, span_entries
from emulator.run_output import BACKEND_STATUS_FILE, CALIBRATIONS_FILE, JOBS_FILE
from emulator.telemetry_records import (
    calibration_rows,
    log_rows,
    span_rows,
    status_rows,
)

IN_FLIGHT = 4
"""Requests a replaying process has out at once: enough to keep a collector's decoding processes busy."""
STRETCH_JOBS = 2_048
"""Jobs submitted per stretch of the replay: what is held in memory at once (with the jobs still open)."""
RETRY_STATUSES = {429, 502, 503, 504}
"""Answers the OTLP specification says to retry, after the ``Retry-After`` the server gives."""
BACKOFF_SECONDS = (1, 2, 4, 8, 16, 32)


@dataclass(frozen=True)
class RecordedRun:
    """A run written by ``write_run``: its directory, and the scenario and seed that name its telemetry."""

    directory: Path
    scenario: str
    seed: int


class _Connection:
    """POSTs requests on one keep-alive connection; retries what the server asks to be retried."""

    def __init__(self, target: OtlpTarget):
        url = urllib.parse.urlsplit(target.endpoint.rstrip("/"))
        self._target = target
        self._https = url.scheme == "https"
        self._netloc = url.netloc
        self._base = url.path
        self._headers = {**dict(target.headers), "Content-Type": "application/x-protobuf"}
        if target.gzip:
            self._headers["Content-Encoding"] = "gzip"
        self._connection: http.client.HTTPConnection | None = None

    def _connect(self) -> http.client.HTTPConnection:
        kind = http.client.HTTPSConnection if self._https else http.client.HTTPConnection
        return kind(self._netloc, timeout=self._target.timeout)

    def post(self, path: str, body: bytes, what: str) -> None:
        if self._target.gzip:
            body = gzip.compress(body, compresslevel=6)
        deadline = time.monotonic() + self._target.timeout
        for wait_seconds in (*BACKOFF_SECONDS, None):
            try:
                self._connection = self._connection or self._connect()
                self._connection.request("POST", self._base + path, body, self._headers)
                answer = self._connection.getresponse()
                answer.read()
            except OSError as exc:
                self.close()
                status, reason, retry_after = None, str(exc), None
            else:
                if 200 <= answer.status < 300:
                    return
                status, reason, retry_after = answer.status, answer.reason, answer.getheader("Retry-After")
                if status not in RETRY_STATUSES:
                    break
            pause = float(retry_after) if retry_after and retry_after.isdigit() else wait_seconds
            if pause is None or time.monotonic() + pause > deadline:
                break
            time.sleep(pause)
        raise ExportFailed(f"the collector refused a batch of {what} on {path}: "
                           + (f"HTTP {status} {reason}" if status else reason))

    def close(self) -> None:
        if self._connection is not None:
            self._connection.close()
            self._connection = None


class _Sender:
    """Up to ``IN_FLIGHT`` requests at once, each on a connection of its own, so the next batch is encoded while
    the collector takes the last; ``post`` waits for the oldest when that many are out, and raises its failure."""

    def __init__(self, target: OtlpTarget):
        self._idle = queue.SimpleQueue()
        self._connections = [_Connection(target) for _ in range(IN_FLIGHT)]
        for connection in self._connections:
            self._idle.put(connection)
        self._pool = ThreadPoolExecutor(IN_FLIGHT, thread_name_prefix="otlp-replay")
        self._out: list[Future] = []

    def _post(self, path: str, body: bytes, what: str) -> None:
        connection = self._idle.get()
        try:
            connection.post(path, body, what)
        finally:
            self._idle.put(connection)

    def post(self, path: str, body: bytes, what: str) -> None:
        if len(self._out) == IN_FLIGHT:
            self._out.pop(0).result()
        self._out.append(self._pool.submit(self._post, path, body, what))

    def drain(self) -> None:
        """Wait for every request sent; raises the first failure."""
        while self._out:
            self._out.pop(0).result()

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)
        for connection in self._connections:
            connection.close()


class _Batches:
    """Records in batches of ``BATCH_SIZE``, across stretches; the last batch goes when the replay ends."""

    def __init__(self, sender: _Sender, envelope: Envelope, path: str, what: str):
        self._sender = sender
        self._envelope = envelope
        self._path = path
        self._what = what
        self._pending: list[bytes] = []
        self._count = 0
        self.sent = 0

    def add(self, entries: pc.Bytes) -> None:
        start, rows = 0, len(entries)
        while start < rows:
            take = min(BATCH_SIZE - self._count, rows - start)
            self._pending.append(entries.row_bytes(start, start + take))
            self._count += take
            start += take
            if self._count == BATCH_SIZE:
                self.flush()

    def flush(self) -> None:
        if self._count:
            self._sender.post(self._path, self._envelope.request(b"".join(self._pending)), self._what)
            self.sent += self._count
            self._pending, self._count = [], 0


def _job_end(jobs: pl.LazyFrame) -> pl.Expr:
    """The last instant any span of the job is emitted: its latest stage end, plus F3's delay."""
    ends = [end.dt.epoch("ns") for _, end in stage_bounds().values()]
    return pl.max_horizontal(ends) + (pl.col("telemetry_delay_seconds") * 1e9).cast(pl.Int64)


def _stretches(submitted_ns: np.ndarray) -> list[tuple[int, int]]:
    """Emission-time intervals each opening with ``STRETCH_JOBS`` submissions; together they cover all time."""
    cuts = [int(t) for t in np.sort(submitted_ns)[STRETCH_JOBS::STRETCH_JOBS]]
    bounds = [np.iinfo(np.int64).min, *cuts, np.iinfo(np.int64).max]
    return [(lo, hi) for lo, hi in zip(bounds, bounds[1:]) if lo < hi]


def _share(trace_id: pl.Expr, worker: int, workers: int) -> pl.Expr:
    return trace_id.str.slice(24).str.to_integer(base=16) % workers == worker


def _replay_share(run: RecordedRun, target: OtlpTarget, worker: int, workers: int,
                  progress: Callable[[float], None] | None) -> ExportStats:
    """The traces of one share of the run (all of it for one worker), stretch by stretch, in emission order."""
    from emulator.otlp_sink import resource

    envelope = Envelope.of(dict(resource(run.scenario, run.seed).attributes))
    jobs = (pl.scan_parquet(run.directory / JOBS_FILE).filter(_share(pl.col("provenance_id"), worker, workers))
            .with_columns(_submitted=pl.col("submitted_at").dt.epoch("ns")))
    jobs = jobs.with_columns(_end=_job_end(jobs)).collect()
    calibrations = calibration_rows(pl.read_parquet(run.directory / CALIBRATIONS_FILE), run.scenario, run.seed)
    calibrations = calibrations.filter(_share(pl.col("trace_id"), worker, workers)).collect().lazy()
    statuses = status_rows(pl.read_parquet(run.directory / BACKEND_STATUS_FILE), run.scenario, run.seed)
    statuses = statuses.filter(_share(pl.col("trace_id"), worker, workers)).collect().lazy()
    sender = _Sender(target)
    spans = _Batches(sender, envelope, "/v1/traces", "spans")
    logs = _Batches(sender, envelope, "/v1/logs", "log records")
    loss = LossCounts()
    stretches = _stretches(jobs["_submitted"].to_numpy())
    try:
        for done, (lo, hi) in enumerate(stretches, start=1):
            open_jobs = jobs.lazy().filter(pl.col("_submitted") < hi, pl.col("_end") >= lo).drop("_submitted", "_end")
            emitted = pl.col("end_ns") + pl.col("delay_ns").fill_null(0)
            stretch = (span_rows(open_jobs, calibrations)
                       .with_columns(_emitted=emitted).filter(pl.col("_emitted") >= lo, pl.col("_emitted") < hi)
                       .collect())
            dropped = stretch["dropped"].sum()
            sent = stretch.filter(~pl.col("dropped")).sort(
                "_emitted", pl.col("delay_ns").fill_null(0) == 0, "end_ns", "order", "seq")
            loss.dropped += dropped
            loss.delayed += sent.filter(pl.col("delay_ns") > 0).height
            loss.forwarded += sent.height
            if sent.height:
                spans.add(span_entries(sent))
            stretch_logs = (log_rows(open_jobs, calibrations, statuses).filter(pl.col("time_ns") >= lo, pl.col("time_ns") < hi)
                            .sort("time_ns", "order", "seq").collect())
            if stretch_logs.height:
                logs.add(log_entries(stretch_logs))
            if progress is not None:
                progress(done / len(stretches))
        spans.flush()
        logs.flush()
        sender.drain()
    finally:
        sender.close()
    return ExportStats(spans.sent, logs.sent, loss)


_PROGRESS = None
"""The shared progress slots of the worker processes, set when each starts."""


def _start_worker(fractions) -> None:
    global _PROGRESS
    _PROGRESS = fractions


def _replay_worker(run: RecordedRun, target: OtlpTarget, worker: int, workers: int) -> ExportStats:
    def report(fraction: float) -> None:
        _PROGRESS[worker] = fraction

    return _replay_share(run, target, worker, workers, report)


def replay(run: RecordedRun, target: OtlpTarget, progress: Callable[[float], None] | None = None,
           workers: int = 1, isolated: bool = False) -> ExportStats:
    """Send the run's traces and logs to ``target`` over OTLP/HTTP (protobuf); returns what went and what F3 took.

    With ``workers`` > 1, that many processes send a share of the traces each (whole traces, split by ID); with
    ``isolated``, even one worker runs in a process of its own, so the caller never holds the run's jobs.
    """
    if workers == 1 and not isolated:
        return _replay_share(run, target, 0, 1, progress)
    context = multiprocessing.get_context("spawn")
    fractions = context.Array("d", workers, lock=False)
    with ProcessPoolExecutor(workers, mp_context=context, initializer=_start_worker, initargs=(fractions,)) as pool:
        futures = [pool.submit(_replay_worker, run, target, k, workers) for k in range(workers)]
        while wait(futures, timeout=0.25).not_done:
            if progress is not None:
                progress(sum(fractions) / workers)
        results = [f.result() for f in futures]
    return ExportStats(
        spans=sum(r.spans for r in results), logs=sum(r.logs for r in results),
        loss=LossCounts(*(sum(getattr(r.loss, f) for r in results) for f in ("dropped", "delayed", "forwarded"))),
    )
