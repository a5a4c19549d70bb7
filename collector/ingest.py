"""The ingestion core shared by OTLP/HTTP, OTLP/gRPC and file ingestion.

A request is flattened and checked, its rows appended to the write-ahead log, and it is acknowledged
when the log has synced them: a caller that got an answer never loses what it was told was kept.
"""

from __future__ import annotations

import threading
import time
from concurrent.futures import Future
from dataclasses import dataclass

from google.protobuf.message import Message

from collector.otlp_payload import Signal
from collector.records import flatten
from collector.tenancy import Principal
from collector.wal import WriteAheadLog, encode


class RateLimited(RuntimeError):
    pass


@dataclass(frozen=True)
class Outcome:
    accepted: int
    rejected: int
    message: str


class TokenBucket:
    """Per-tenant records per second, with a one-second burst."""

    def __init__(self, rate: float):
        self._rate = rate
        self._levels: dict[str, tuple[float, float]] = {}
        self._lock = threading.Lock()

    def take(self, tenant: str, amount: int) -> bool:
        now = time.monotonic()
        with self._lock:
            level, then = self._levels.get(tenant, (self._rate, now))
            level = min(self._rate, level + (now - then) * self._rate)
            if amount > level and level < self._rate:
                self._levels[tenant] = (level, now)
                return False
            self._levels[tenant] = (level - amount, now)
            return True


class Ingestor:
    def __init__(self, wal: WriteAheadLog, tenant_rate: float | None = None):
        self.wal = wal
        self._bucket = TokenBucket(tenant_rate) if tenant_rate else None

    def submit(self, signal: Signal, request: Message, principal: Principal) -> tuple[Outcome, Future]:
        """Flatten and log the request; the future resolves once its rows are synced (raises OSError if not).

        Raises RateLimited or WalFullError before anything is logged: the whole request may be retried.
        """
        flat = flatten(signal, request, None if principal.admin else principal.tenant)
        if self._bucket is not None and principal.tenant is not None:
            if not self._bucket.take(principal.tenant, flat.accepted):
                raise RateLimited(f"tenant {principal.tenant!r} is over its rate limit")
        records = [encode(table, frame) for table, frame in flat.tables.items() if frame.height]
        if records:
            future = self.wal.append(records)
        else:
            future = Future()
            future.set_result(None)
        return Outcome(flat.accepted, flat.rejected, flat.message), future
