"""The write-ahead log: accepted rows are on disk (fsync) before a request is acknowledged.

Records are Arrow IPC streams of one request's rows for one table, framed as
``magic | table | length | crc32 | payload`` and appended to numbered segment files. One writer thread
does group commit: everything queued while the previous fsync ran is written and synced together, so
concurrent clients share the cost of a sync. Reading a segment stops at the first torn or corrupt
record; what follows it is moved to quarantine, never silently dropped.
"""

from __future__ import annotations

import io
import os
import queue
import struct
import threading
import zlib
from concurrent.futures import Future
from dataclasses import dataclass
from pathlib import Path

import polars as pl

MAGIC = b"QTW1"
HEADER = struct.Struct(">4sBII")
TABLE_CODES = {"spans": 1, "logs": 2, "metric_points": 3}
TABLES = {code: name for name, code in TABLE_CODES.items()}
SEGMENT_BYTES = 64 * 1024 * 1024


@dataclass(frozen=True)
class Corruption:
    segment: Path
    offset: int
    reason: str


def segment_name(sequence: int) -> str:
    return f"segment-{sequence:012d}.wal"


def segments(directory: Path) -> list[Path]:
    return sorted(directory.glob("segment-*.wal"))


def encode(table: str, frame: pl.DataFrame) -> bytes:
    buffer = io.BytesIO()
    frame.write_ipc_stream(buffer)
    payload = buffer.getvalue()
    return HEADER.pack(MAGIC, TABLE_CODES[table], len(payload), zlib.crc32(payload)) + payload


def read_segment(path: Path) -> tuple[list[tuple[str, pl.DataFrame]], Corruption | None]:
    """Every intact record of a segment, and where and why reading stopped early, if it did."""
    data = path.read_bytes()
    records, offset = [], 0
    while offset < len(data):
        if len(data) - offset < HEADER.size:
            return records, Corruption(path, offset, "torn record header at the end of the segment")
        magic, code, length, crc = HEADER.unpack_from(data, offset)
        if magic != MAGIC or code not in TABLES:
            return records, Corruption(path, offset, "bad record header")
        payload = data[offset + HEADER.size : offset + HEADER.size + length]
        if len(payload) < length:
            return records, Corruption(path, offset, "torn record: the segment ends inside it")
        if zlib.crc32(payload) != crc:
            return records, Corruption(path, offset, "record checksum mismatch")
        try:
            frame = pl.read_ipc_stream(io.BytesIO(payload))
        except Exception as exc:  # noqa: BLE001 (a payload that passed its checksum but is not Arrow IPC)
            return records, Corruption(path, offset, f"record is not Arrow IPC: {exc}")
        records.append((TABLES[code], frame))
        offset += HEADER.size + length
    return records, None


def quarantine(corruption: Corruption, directory: Path) -> Path:
    """Move the unreadable tail of a segment aside and cut the segment to its readable prefix."""
    directory.mkdir(parents=True, exist_ok=True)
    target = directory / f"{corruption.segment.stem}-at-{corruption.offset}.bad"
    with open(corruption.segment, "rb") as source:
        source.seek(corruption.offset)
        target.write_bytes(source.read())
    (directory / f"{target.name}.reason").write_text(corruption.reason + "\n")
    with open(corruption.segment, "rb+") as segment:
        segment.truncate(corruption.offset)
        os.fsync(segment.fileno())
    return target


class WalFullError(RuntimeError):
    """More bytes are waiting to be synced than the limit allows: the client should retry later."""


class WriteAheadLog:
    """Appends records with group commit; ``append`` returns a future resolved once they are synced.

    Only the writer thread touches the segment file: rotation is a request queued like any write.
    """

    def __init__(self, directory: Path, max_pending_bytes: int, segment_bytes: int = SEGMENT_BYTES):
        self.directory = directory
        directory.mkdir(parents=True, exist_ok=True)
        self._max_pending = max_pending_bytes
        self._segment_bytes = segment_bytes
        existing = segments(directory)
        self._sequence = int(existing[-1].stem.split("-")[1]) + 1 if existing else 1
        self._file = open(directory / segment_name(self._sequence), "ab")
        self._queue: queue.Queue[tuple[bytes, Future, bool] | None] = queue.Queue()
        self._pending = 0
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._run, name="qtenancy-wal", daemon=True)
        self._thread.start()

    @property
    def pending_bytes(self) -> int:
        return self._pending

    @property
    def current_segment(self) -> Path:
        return Path(self._file.name)

    def append(self, records: list[bytes]) -> Future:
        data = b"".join(records)
        with self._lock:
            if self._pending + len(data) > self._max_pending and self._pending > 0:
                raise WalFullError(f"{self._pending:,} bytes wait for the disk (limit {self._max_pending:,})")
            self._pending += len(data)
        future: Future = Future()
        self._queue.put((data, future, False))
        return future

    def rotate(self) -> Path:
        """Sync what is queued, close the current segment (it becomes compactable), start the next."""
        future: Future = Future()
        self._queue.put((b"", future, True))
        return future.result()

    def _run(self) -> None:
        while True:
            item = self._queue.get()
            if item is None:
                return
            batch = [item]
            while True:
                try:
                    more = self._queue.get_nowait()
                except queue.Empty:
                    break
                if more is None:
                    self._queue.put(None)
                    break
                batch.append(more)
            self._commit(batch)

    def _commit(self, batch: list[tuple[bytes, Future, bool]]) -> None:
        size = sum(len(data) for data, _, _ in batch)
        try:
            start = self._file.tell()
            try:
                for data, _, _ in batch:
                    self._file.write(data)
                self._file.flush()
                os.fsync(self._file.fileno())
            except OSError:
                self._file.truncate(start)
                raise
        except OSError as exc:
            for _, future, _ in batch:
                future.set_exception(exc)
            return
        finally:
            with self._lock:
                self._pending -= size
        closed = self._next_segment() if any(r for _, _, r in batch) or self._file.tell() >= self._segment_bytes else None
        for _, future, rotate in batch:
            future.set_result(closed if rotate else None)

    def _next_segment(self) -> Path:
        closed = Path(self._file.name)
        self._file.close()
        self._sequence += 1
        self._file = open(self.directory / segment_name(self._sequence), "ab")
        return closed

    def close(self) -> None:
        self._queue.put(None)
        self._thread.join()
        self._file.close()
