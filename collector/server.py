"""The collector process: recovery, the OTLP/HTTP and OTLP/gRPC listeners, and periodic compaction.

On start it takes the data directory's writer lock and compacts whatever a previous process left in
the write-ahead log (a crash loses nothing it acknowledged); on stop it syncs, compacts and lets go.
"""

from __future__ import annotations

import asyncio
import threading

from aiohttp import web

from collector.config import CollectorConfig, fingerprint
from collector.grpc_server import grpc_server
from collector.http_server import OtlpHttpApp
from collector.ingest import Ingestor
from collector.store import Compaction, DataDir, WriterLock, compact
from collector.tenancy import TokenBook
from collector.wal import WriteAheadLog
from qtenancy.audit import AuditLog


class CollectorServer:
    def __init__(self, config: CollectorConfig):
        self.config = config
        self.data = DataDir(config.data_dir)
        self._lock = WriterLock(self.data)
        self._stop = threading.Event()
        self._compact_lock = threading.Lock()
        self.recovered: Compaction | None = None
        self.http_port = 0
        self.grpc_port = 0

    def start(self) -> CollectorServer:
        self._lock.acquire()
        audit = AuditLog(self.data.audit)
        self._audit_config(audit)
        self.recovered = compact(self.data)
        limits = self.config.limits
        self.wal = WriteAheadLog(self.data.wal, limits.max_pending_bytes)
        tokens = TokenBook(self.config.tokens)
        ingestor = Ingestor(self.wal, limits.tenant_records_per_second)
        self._grpc, self.grpc_port = grpc_server(
            ingestor, tokens, f"{self.config.host}:{self.config.grpc_port}", limits.max_request_bytes,
            limits.retry_after_seconds,
        )
        self._grpc.start()
        app = OtlpHttpApp(ingestor, tokens, limits.max_request_bytes, limits.retry_after_seconds, self.data.store,
                          audit).app()
        self._loop = asyncio.new_event_loop()
        self._runner = web.AppRunner(app, access_log=None)
        self._loop.run_until_complete(self._runner.setup())
        site = web.TCPSite(self._runner, self.config.host, self.config.http_port)
        self._loop.run_until_complete(site.start())
        self.http_port = self._runner.addresses[0][1]
        self._http_thread = threading.Thread(target=self._loop.run_forever, name="qtenancy-http", daemon=True)
        self._http_thread.start()
        self._compactor = threading.Thread(target=self._compact_periodically, name="qtenancy-compact", daemon=True)
        self._compactor.start()
        return self

    def _audit_config(self, audit: AuditLog) -> None:
        """Record the configuration this process serves with, and say whether it changed since the last start."""
        current = fingerprint(self.config)
        previous = audit.last("config")
        changed = previous is not None and previous["detail"]["digest"] != current["digest"]
        audit.append("operator", "config", str(self.config.data_dir), changed=changed, **current)

    @property
    def http_endpoint(self) -> str:
        return f"http://{self.config.host}:{self.http_port}"

    @property
    def grpc_endpoint(self) -> str:
        return f"{self.config.host}:{self.grpc_port}"

    def _compact_periodically(self) -> None:
        while not self._stop.wait(self.config.compact_interval_seconds):
            self.compact_now()

    def compact_now(self) -> Compaction:
        """Everything acknowledged so far into the Parquet store."""
        with self._compact_lock:
            live = self.wal.rotate()
            return compact(self.data, keep=self.wal.current_segment if live else None)

    def stop(self) -> Compaction:
        self._stop.set()
        self._compactor.join()
        self._grpc.stop(grace=5).wait()
        asyncio.run_coroutine_threadsafe(self._runner.cleanup(), self._loop).result(timeout=30)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._http_thread.join()
        self._loop.close()
        self.wal.close()
        final = compact(self.data)
        self._lock.release()
        return final

    def __enter__(self) -> CollectorServer:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
