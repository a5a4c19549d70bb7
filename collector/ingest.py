"""The ingestion core shared by OTLP/HTTP, OTLP/gRPC and file ingestion.

A request is flattened and checked, its rows appended to the write-ahead log, and it is acknowledged
when the log has synced them: a caller that got an answer never loses what it was told was kept.
Flattening and encoding the rows as log records (``collector/packed.py``) run in the caller's worker thread, or
in a decoding process (``collector/decoding.py``); only the owner check and the append are serialised.
"""

from __future__ import annotations

import math
import threading
import time
from concurrent.futures import Future
from dataclasses import dataclass

from google.protobuf.message import Message

from collector.config import Limits
from collector.decoding import Decoders
from collector.otlp_payload import Signal
from collector.ownership import Owners
from collector.packed import Packed, pack
from collector.records import flatten
from collector.tenancy import Principal
from collector.wal import WriteAheadLog


class RateLimited(RuntimeError):
    """The tenant is over its rate now; ``retry_after`` seconds from now the request would fit."""

    def __init__(self, message: str, retry_after: int):
        super().__init__(message)
        self.retry_after = retry_after


class OverBurst(ValueError):
    """One request holds more records than the tenant may ever send at once: retrying cannot help."""


@dataclass(frozen=True)
class Outcome:
    accepted: int
    rejected: int
    message: str


class TokenBucket:
    """Per-tenant records per second with a burst of ``burst`` records; the level never goes below zero.

    A request is taken whole or not at all, so one large request cannot overdraw the bucket and lock its
    tenant out afterwards; a request larger than the burst could never fit and is refused outright.
    """

    def __init__(self, rate: float, burst: float):
        self.rate = rate
        self.burst = burst
        self._levels: dict[str, tuple[float, float]] = {}
        self._lock = threading.Lock()

    def _level(self, tenant: str, now: float) -> float:
        level, then = self._levels.get(tenant, (self.burst, now))
        return min(self.burst, level + (now - then) * self.rate)

    def _refuse(self, tenant: str, missing: float) -> RateLimited:
        """The refusal of a request that lacks ``missing`` records of room, with the wait until it would fit."""
        return RateLimited(f"tenant {tenant!r} is over its rate limit of {self.rate:g} records/s",
                           math.ceil(missing / self.rate))

    def check(self, tenant: str) -> None:
        """Refuse before any decoding while the tenant's bucket is empty."""
        with self._lock:
            level = self._level(tenant, time.monotonic())
        if level < 1:
            raise self._refuse(tenant, 1 - level)

    def take(self, tenant: str, amount: int) -> None:
        if amount > self.burst:
            raise OverBurst(f"request of {amount:,} records exceeds tenant {tenant!r}'s burst of {self.burst:,.0f} "
                            f"records ({self.rate:g} records/s): send smaller batches")
        now = time.monotonic()
        with self._lock:
            level = self._level(tenant, now)
            if amount > level:
                self._levels[tenant] = (level, now)
                raise self._refuse(tenant, amount - level)
            self._levels[tenant] = (level - amount, now)


class Ingestor:
    def __init__(self, wal: WriteAheadLog, owners: Owners, bucket: TokenBucket | None = None,
                 decoders: Decoders | None = None):
        self.wal = wal
        self.owners = owners
        self.bucket = bucket
        self.decoders = decoders or Decoders(0, Limits().max_request_bytes)

    def precheck(self, principal: Principal) -> None:
        """What can be refused before the body is decoded (raises RateLimited)."""
        if self.bucket is not None and principal.tenant is not None:
            self.bucket.check(principal.tenant)

    def submit(self, signal: Signal, request: Message, principal: Principal) -> tuple[Outcome, Future]:
        """Flatten and log a decoded request, as ``accept`` does."""
        return self.accept(pack(flatten(signal, request, principal.tenant)), principal)

    def submit_body(self, signal: Signal, body: bytes, content_type: str | None, content_encoding: str | None,
                    principal: Principal) -> tuple[Outcome, Future]:
        """Decode (on the decoders), flatten and log a request body, as ``accept`` does; raises PayloadError for a
        body that cannot be taken and DecoderLost when its decoding process died (retryable)."""
        return self.accept(self.decoders.decode(signal, body, content_type, content_encoding, principal.tenant),
                           principal)

    def accept(self, packed: Packed, principal: Principal) -> tuple[Outcome, Future]:
        """Log a packed request; the future resolves once its rows are synced (raises OSError if not).

        Raises RateLimited, OverBurst or WalFullError before anything is logged: the request may be retried.
        """
        with self.owners.lock:
            claims = self.owners.admit(packed)
            if self.bucket is not None and principal.tenant is not None:
                self.bucket.take(principal.tenant, packed.accepted)
            if packed.records:
                future = self.wal.append(list(packed.records.values()))
            else:
                future = Future()
                future.set_result(None)
            self.owners.bind(claims)
        return Outcome(packed.accepted, packed.rejected, packed.message), future
