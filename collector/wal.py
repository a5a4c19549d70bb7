"""The write-ahead log: accepted rows are on disk (fsync) before a request is acknowledged.

Records are Arrow IPC streams of one request's rows for one table, framed as
``magic | table | length | crc32 | payload`` and appended to numbered segment files. One writer thread
does group commit: everything queued while the previous fsync ran is written and synced together, so
concurrent clients share the cost of a sync.

Segment numbers never repeat in a data directory, across restarts and offline ingests: the highest
number ever opened is kept in ``HIGH_WATER`` (synced before the segment is created), and compaction
names Parquet parts after segments, so a part is never written over by a later one.

A failed write is cut back to the last synced byte before anything else is written, so a torn record
never sits in front of acknowledged ones. Reading a segment skips a torn or corrupt record to the next
intact one: only the bad bytes go to quarantine, never the good records after them.
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

from common.durable_files import append_whole, fsync_directory, write_text_durably

MAGIC = b"QTW1"
HEADER = struct.Struct(">4sBII")
TABLE_CODES = {"spans": 1, "logs": 2, "metric_points": 3}
TABLES = {code: name for name, code in TABLE_CODES.items()}
SEGMENT_BYTES = 64 * 1024 * 1024
HIGH_WATER = "HIGH_WATER"
SEGMENT_PREFIX = "segment-"


@dataclass(frozen=True)
class Corruption:
    segment: Path
    offset: int
    end: int
    reason: str


def segment_name(sequence: int) -> str:
    return f"{SEGMENT_PREFIX}{sequence:012d}.wal"


def sequence_of(name: str) -> int | None:
    """The segment number in a segment's or a compacted part's file name, or None for other names."""
    stem = name.split(".", 1)[0]
    if not stem.startswith(SEGMENT_PREFIX):
        return None
    digits = stem[len(SEGMENT_PREFIX):]
    return int(digits) if digits.isdigit() else None


def segments(directory: Path) -> list[Path]:
    return sorted(directory.glob(f"{SEGMENT_PREFIX}*.wal"))


def encode(table: str, frame: pl.DataFrame) -> bytes:
    buffer = io.BytesIO()
    frame.write_ipc_stream(buffer)
    payload = buffer.getvalue()
    return HEADER.pack(MAGIC, TABLE_CODES[table], len(payload), zlib.crc32(payload)) + payload


def decode(record: bytes) -> pl.DataFrame:
    """The rows of one record made by ``encode``."""
    found = _record_at(record, 0)
    if isinstance(found, str):
        raise ValueError(found)
    return found[1]


def _record_at(data: bytes, offset: int) -> tuple[str, pl.DataFrame, int] | str:
    """The record starting at ``offset`` and where the next one starts, or why there is none."""
    if len(data) - offset < HEADER.size:
        return "torn record header at the end of the segment"
    magic, code, length, crc = HEADER.unpack_from(data, offset)
    if magic != MAGIC or code not in TABLES:
        return "bad record header"
    payload = data[offset + HEADER.size: offset + HEADER.size + length]
    if len(payload) < length:
        return "torn record: the segment ends inside it"
    if zlib.crc32(payload) != crc:
        return "record checksum mismatch"
    try:
        frame = pl.read_ipc_stream(io.BytesIO(payload))
    except Exception as exc:  # noqa: BLE001 (a payload that passed its checksum but is not Arrow IPC)
        return f"record is not Arrow IPC: {exc}"
    return TABLES[code], frame, offset + HEADER.size + length


def read_segment(path: Path) -> tuple[list[tuple[str, pl.DataFrame]], list[Corruption]]:
    """Every intact record of a segment, and each stretch of bad bytes skipped with the reason."""
    data = path.read_bytes()
    records: list[tuple[str, pl.DataFrame]] = []
    corruptions: list[Corruption] = []
    offset = 0
    while offset < len(data):
        found = _record_at(data, offset)
        if not isinstance(found, str):
            table, frame, offset = found
            records.append((table, frame))
            continue
        resume = data.find(MAGIC, offset + 1)
        while resume != -1 and isinstance(_record_at(data, resume), str):
            resume = data.find(MAGIC, resume + 1)
        end = len(data) if resume == -1 else resume
        corruptions.append(Corruption(path, offset, end, found))
        offset = end
    return records, corruptions


def quarantine(corruption: Corruption, directory: Path) -> Path:
    """Copy a segment's bad bytes aside with the reason (the segment itself is removed once compacted)."""
    directory.mkdir(parents=True, exist_ok=True)
    target = directory / f"{corruption.segment.stem}-at-{corruption.offset}.bad"
    with open(corruption.segment, "rb") as source:
        source.seek(corruption.offset)
        target.write_bytes(source.read(corruption.end - corruption.offset))
    (directory / f"{target.name}.reason").write_text(corruption.reason + "\n")
    return target


def high_water(directory: Path) -> int:
    """The highest segment number ever opened in this WAL directory (0 for a new one)."""
    try:
        recorded = int((directory / HIGH_WATER).read_text().strip() or 0)
    except (OSError, ValueError):
        recorded = 0
    numbers = [n for p in segments(directory) if (n := sequence_of(p.name)) is not None]
    return max([recorded, *numbers])


class WalFullError(RuntimeError):
    """More bytes are waiting to be synced than the limit allows: the client should retry later."""


class WalFailedError(OSError):
    """The log cannot take writes until an operator acts (its directory or segment was removed)."""


class WriteAheadLog:
    """Appends records with group commit; ``append`` returns a future resolved once they are synced.

    Only the writer thread touches the segment file: rotation is a request queued like any write. The
    thread never dies of an I/O error: the batch fails (the clients hear 503), ``problem`` says why, and
    the next batch tries again.
    """

    def __init__(self, directory: Path, max_pending_bytes: int, segment_bytes: int = SEGMENT_BYTES, floor: int = 0):
        """``floor``: the highest segment number already used elsewhere (by parts compacted from it)."""
        self.directory = directory
        directory.mkdir(parents=True, exist_ok=True)
        self._max_pending = max_pending_bytes
        self._segment_bytes = segment_bytes
        self._sequence = max(high_water(directory), floor)
        self._fd: int | None = None
        self._path: Path | None = None
        self._end = 0
        self._failed: str | None = None
        self.problem: str | None = None
        self._open_next()
        self._queue: queue.Queue[tuple[bytes, Future, bool] | None] = queue.Queue()
        self._pending = 0
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._run, name="qtenancy-wal", daemon=True)
        self._thread.start()

    @property
    def pending_bytes(self) -> int:
        return self._pending

    @property
    def current_segment(self) -> Path | None:
        return self._path

    def append(self, records: list[bytes]) -> Future:
        data = b"".join(records)
        with self._lock:
            if self._pending + len(data) > self._max_pending and self._pending > 0:
                raise WalFullError(f"{self._pending:,} bytes wait for the disk (limit {self._max_pending:,})")
            self._pending += len(data)
        future: Future = Future()
        self._queue.put((data, future, False))
        return future

    def rotate(self) -> Path | None:
        """Sync what is queued, close the current segment (it becomes compactable), start the next."""
        future: Future = Future()
        self._queue.put((b"", future, True))
        return future.result()

    def _open_next(self) -> None:
        """Close the current segment and open the next number, recorded as used before it exists."""
        self._close_segment()
        sequence = self._sequence + 1
        write_text_durably(self.directory / HIGH_WATER, f"{sequence}\n")
        self._sequence = sequence
        path = self.directory / segment_name(sequence)
        self._fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        self._path = path
        self._end = os.fstat(self._fd).st_size
        fsync_directory(self.directory)

    def _close_segment(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
            self._path = None

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
            try:
                closed = self._commit(batch)
            except Exception as exc:  # noqa: BLE001 (any failure fails this batch; the thread lives on)
                self.problem = f"write-ahead log: {exc}"
                for _, future, _ in batch:
                    future.set_exception(exc if isinstance(exc, OSError) else OSError(str(exc)))
            else:
                if self._fd is not None:
                    self.problem = None
                for _, future, rotate in batch:
                    future.set_result(closed if rotate else None)
            finally:
                with self._lock:
                    self._pending -= sum(len(data) for data, _, _ in batch)

    def _commit(self, batch: list[tuple[bytes, Future, bool]]) -> Path | None:
        """Write and sync the batch; returns the segment it closed, if it rotated."""
        if self._failed is not None:
            raise WalFailedError(self._failed)
        if self._fd is None:
            self._open_next()
        assert self._fd is not None and self._path is not None
        fd = self._fd
        if os.fstat(fd).st_size != self._end:
            os.ftruncate(fd, self._end)
        append_whole(fd, (data for data, _, _ in batch), self._end)
        if os.fstat(fd).st_nlink == 0:
            self._failed = (f"{self._path} was removed while in use (was the data directory deleted?): "
                            "restart the collector")
            raise WalFailedError(self._failed)
        self._end = os.fstat(fd).st_size
        if any(rotate for _, _, rotate in batch) or self._end >= self._segment_bytes:
            closed = self._path
            self._close_segment()
            try:
                self._open_next()
            except OSError as exc:
                self.problem = f"write-ahead log: cannot open the next segment: {exc}"
            return closed
        return None

    def close(self) -> None:
        self._queue.put(None)
        self._thread.join()
        self._close_segment()
