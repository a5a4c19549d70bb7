"""The collector process: recovery, the OTLP/HTTP and OTLP/gRPC listeners, and periodic compaction.

On start it takes the data directory's writer lock, compacts whatever a previous process left in the
write-ahead log (a crash loses nothing it acknowledged) and rebuilds who owns which job from the store;
on stop it syncs, compacts and lets go. Compaction that fails (a full disk) is retried every interval
and reported by ``/-/healthy``, as is a write-ahead log that cannot write.
"""

from __future__ import annotations

import asyncio
import logging
import resource
import threading
import time
from concurrent.futures import ThreadPoolExecutor

from aiohttp import web

from collector.config import CollectorConfig, fingerprint
from collector.decoding import Decoders
from collector.grpc_server import grpc_server
from collector.http_server import OtlpHttpApp
from collector.ingest import Ingestor, TokenBucket
from collector.ownership import Owners
from collector.store import Compaction, DataDir, WriterLock, compact
from collector.tenancy import TokenBook
from collector.tenant_reads import TenantReads
from common.audit import AuditLog, load_key

log = logging.getLogger("qtenancy.collector")
ACCEPT_ERROR_EVERY_SECONDS = 60.0


def _raise_open_file_limit() -> None:
    """Use the hard limit on open files: each client connection holds one."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


class _QuietAcceptErrors:
    """asyncio logs a traceback for every refused accept at the file limit; say it once a minute instead."""

    def __init__(self) -> None:
        self._last = 0.0
        self._count = 0

    def __call__(self, loop: asyncio.AbstractEventLoop, context: dict) -> None:
        exception = context.get("exception")
        if isinstance(exception, OSError) and "accept" in str(context.get("message", "")):
            self._count += 1
            now = time.monotonic()
            if now - self._last >= ACCEPT_ERROR_EVERY_SECONDS:
                log.error("refusing connections: %s (%d refusals since the last report)", exception, self._count)
                self._last, self._count = now, 0
            return
        loop.default_exception_handler(context)


class CollectorServer:
    def __init__(self, config: CollectorConfig, reads: TenantReads | None = None):
        """``reads``: the analysis' answers to serve on the read API (explain, billing, SLO report, incidents)."""
        config.check_serving()
        self.config = config
        self._reads = reads
        self.data = DataDir(config.data_dir)
        self._lock = WriterLock(self.data)
        self._stop = threading.Event()
        self._compact_lock = threading.Lock()
        self.recovered: Compaction | None = None
        self.compaction_problem: str | None = None
        self.http_port = 0
        self.grpc_port = 0

    def start(self) -> CollectorServer:
        _raise_open_file_limit()
        self._lock.acquire()
        try:
            self._start()
        except BaseException:
            self._lock.release()
            raise
        return self

    def _start(self) -> None:
        audit = AuditLog(self.data.audit, load_key(self.config.audit_key, create=True))
        self._audit_config(audit)
        self.recovered = compact(self.data)
        limits = self.config.limits
        self.wal = self.data.open_wal(limits.max_pending_bytes)
        tokens = TokenBook(self.config.tokens)
        bucket = None
        if limits.tenant_records_per_second:
            bucket = TokenBucket(limits.tenant_records_per_second,
                                 limits.tenant_burst_records or limits.tenant_records_per_second)
        self._decoding = Decoders(limits.decode_processes, limits.max_request_bytes)
        ingestor = Ingestor(self.wal, Owners.from_store(self.data.store), bucket, self._decoding)
        self._decoders = ThreadPoolExecutor(limits.decode_workers, thread_name_prefix="qtenancy-decode")
        self._grpc, self.grpc_port = grpc_server(
            ingestor, tokens, f"{self.config.host}:{self.config.grpc_port}", limits,
        )
        self._grpc.start()
        app = OtlpHttpApp(ingestor, tokens, limits, self.data.store, audit, self._decoders, self.health,
                          self._reads).app()
        self._loop = asyncio.new_event_loop()
        self._loop.set_exception_handler(_QuietAcceptErrors())
        self._runner = web.AppRunner(app, access_log=None, keepalive_timeout=limits.header_timeout_seconds)
        self._loop.run_until_complete(self._runner.setup())
        site = web.TCPSite(self._runner, self.config.host, self.config.http_port)
        self._loop.run_until_complete(site.start())
        self.http_port = self._runner.addresses[0][1]
        self._http_thread = threading.Thread(target=self._loop.run_forever, name="qtenancy-http", daemon=True)
        self._http_thread.start()
        self._compactor = threading.Thread(target=self._compact_periodically, name="qtenancy-compact", daemon=True)
        self._compactor.start()

    def _audit_config(self, audit: AuditLog) -> None:
        """Record the configuration this process serves with, and say whether it changed since the last start."""
        current = fingerprint(self.config)
        previous = audit.last("config")
        changed = previous is not None and previous["detail"].get("digest") != current["digest"]
        audit.append("operator", "config", str(self.config.data_dir), changed=changed, **current)

    def health(self) -> list[str]:
        """What keeps the collector from doing its work now; empty when it is healthy."""
        problems = []
        if not self.data.root.is_dir():
            problems.append(f"data directory {self.data.root} is gone")
        if self.wal.problem:
            problems.append(self.wal.problem)
        if self.compaction_problem:
            problems.append(self.compaction_problem)
        if not self._compactor.is_alive() and not self._stop.is_set():
            problems.append("compaction thread stopped")
        return problems

    @property
    def http_endpoint(self) -> str:
        return f"http://{self.config.host}:{self.http_port}"

    @property
    def grpc_endpoint(self) -> str:
        return f"{self.config.host}:{self.grpc_port}"

    def _compact_periodically(self) -> None:
        while not self._stop.wait(self.config.compact_interval_seconds):
            try:
                self.compact_now()
            except Exception as exc:  # noqa: BLE001 (reported by health and retried next interval)
                if self.compaction_problem is None:
                    log.error("compaction failed, retrying every %gs: %s", self.config.compact_interval_seconds, exc)
                self.compaction_problem = f"compaction: {exc}"
            else:
                self.compaction_problem = None

    def compact_now(self) -> Compaction:
        """Everything acknowledged so far into the Parquet store."""
        with self._compact_lock:
            self.wal.rotate()
            return compact(self.data, keep=self.wal.current_segment)

    def stop(self) -> Compaction:
        self._stop.set()
        self._compactor.join()
        self._grpc.stop(grace=5).wait()
        asyncio.run_coroutine_threadsafe(self._runner.cleanup(), self._loop).result(timeout=30)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._http_thread.join()
        self._loop.close()
        self._decoders.shutdown(wait=True)
        self._decoding.close()
        self.wal.close()
        try:
            final = compact(self.data)
        finally:
            self._lock.release()
        return final

    def __enter__(self) -> CollectorServer:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
