"""Decoding and checking OTLP request bodies, on more cores than one when asked.

Flattening a request is Python that holds the GIL, so a collector decoding on threads uses one core however
many it has. With ``decode_processes`` above zero, bodies are decoded and checked in that many worker
processes, in the order they arrive, and only the owner check and the write-ahead log stay in the serving
process. A worker that dies (killed, out of memory) takes the pool with it: every request in flight on it
fails with ``DecoderLost``, answered as retryable before anything is acknowledged, the other workers are
stopped, and the next request gets a fresh pool.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import signal as posix_signal
import threading
import time
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool

from collector.otlp_payload import Signal, decompress, parse
from collector.packed import Packed, pack
from collector.records import flatten

log = logging.getLogger("qtenancy.collector")
ORPHAN_CHECK_SECONDS = 1.0
"""How often a decoding process checks that the server that started it is still there."""


class DecoderLost(RuntimeError):
    """The process decoding a request died before it answered: nothing of it was kept, so it may be retried."""


def decode(signal: Signal, body: bytes, content_type: str | None, content_encoding: str | None, limit: int,
           tenant: str | None) -> Packed:
    """A request body as the store's rows, checked for a sender of ``tenant`` (None: the platform), packed for the
    log (a decoding process sends the serving process its rows as log records, not as frames)."""
    return pack(flatten(signal, parse(signal, decompress(body, content_encoding, limit), content_type), tenant))


def _leave_stopping_to_the_server() -> None:
    """Ctrl-C at a terminal reaches the whole process group: the server stops, finishing what its workers hold,
    and then stops them, so a worker does not stop (with a traceback) on its own. SIGTERM keeps its default:
    the pool stops the workers of a broken pool with it. A server killed outright cannot stop them, so each
    also leaves once its parent is gone."""
    posix_signal.signal(posix_signal.SIGINT, posix_signal.SIG_IGN)
    parent = os.getppid()

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(ORPHAN_CHECK_SECONDS)
        os._exit(0)

    threading.Thread(target=watch, name="qtenancy-decoder-watch", daemon=True).start()


class Decoders:
    """Where bodies are decoded: in the calling thread, or in a pool of ``processes`` worker processes."""

    def __init__(self, processes: int, limit: int) -> None:
        self._processes = processes
        self._limit = limit
        self._lock = threading.Lock()
        self._pool = self._new_pool() if processes else None

    def _new_pool(self) -> ProcessPoolExecutor:
        return ProcessPoolExecutor(self._processes, mp_context=multiprocessing.get_context("spawn"),
                                   initializer=_leave_stopping_to_the_server)

    def decode(self, signal: Signal, body: bytes, content_type: str | None, content_encoding: str | None,
               tenant: str | None) -> Packed:
        """Blocks the calling thread until the body is decoded; raises what ``decode`` raises, or DecoderLost."""
        if self._pool is None:
            return decode(signal, body, content_type, content_encoding, self._limit, tenant)
        pool = self._pool
        try:
            return pool.submit(decode, signal, body, content_type, content_encoding, self._limit, tenant).result()
        except BrokenProcessPool as exc:
            with self._lock:
                if self._pool is pool:
                    log.warning("a decoding process was lost (%s): the requests in flight are refused as "
                                "retryable, and a fresh pool takes the next ones", exc)
                    self._pool = self._new_pool()
                    pool.shutdown(wait=False, cancel_futures=True)
            raise DecoderLost(f"the process decoding this request was lost ({exc})") from None

    def close(self) -> None:
        """Let the workers finish what they hold, then stop them."""
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
