"""The collector's data directory: the write-ahead log, quarantine, and the Parquet store it compacts into.

Compaction turns closed WAL segments into day partitions named after the segment, so compacting the
same segment twice (a crash between writing Parquet and deleting the segment) rewrites the same files,
and, since segment numbers never repeat, no other segment's part is ever written over.
"""

from __future__ import annotations

import fcntl
import os
from dataclasses import dataclass, field
from pathlib import Path

import polars as pl

from collector.wal import (
    Corruption,
    WriteAheadLog,
    quarantine,
    read_segment,
    segments,
    sequence_of,
)
from contract.data_dir import AUDIT_LOG, STORE
from contract.tables import IDENTITY, verified_arrow_row_groups, write_partitioned


@dataclass(frozen=True)
class DataDir:
    root: Path

    @property
    def wal(self) -> Path:
        return self.root / "wal"

    @property
    def store(self) -> Path:
        return self.root / STORE

    @property
    def quarantine(self) -> Path:
        return self.root / "quarantine"

    @property
    def audit(self) -> Path:
        return self.root / AUDIT_LOG

    def highest_part_sequence(self) -> int:
        """The highest segment number any compacted part is named after (0 when none is)."""
        numbers = [n for p in self.store.glob("*/day=*/*.parquet") if (n := sequence_of(p.name)) is not None]
        return max(numbers, default=0)

    def open_wal(self, max_pending_bytes: int) -> WriteAheadLog:
        """The write-ahead log, numbering its segments past every number this directory has used."""
        return WriteAheadLog(self.wal, max_pending_bytes, floor=self.highest_part_sequence())


@dataclass
class Compaction:
    segments: int = 0
    rows: dict[str, int] = field(default_factory=dict)
    quarantined: list[Corruption] = field(default_factory=list)


def compact(data: DataDir, keep: Path | None = None) -> Compaction:
    """Move every WAL segment except ``keep`` (the live one) into the Parquet store."""
    report = Compaction()
    for segment in segments(data.wal):
        if keep is not None and segment == keep:
            continue
        records, corruptions = read_segment(segment)
        for corruption in corruptions:
            quarantine(corruption, data.quarantine)
            report.quarantined.append(corruption)
        tables: dict[str, list[pl.DataFrame]] = {}
        for table, frame in records:
            tables.setdefault(table, []).append(frame)
        for table, frames in sorted(tables.items()):
            rows = pl.concat(frames, how="vertical_relaxed").unique(
                subset=list(IDENTITY[table]), keep="first", maintain_order=True
            )
            write_partitioned(rows, data.store, table, segment.stem)
            report.rows[table] = report.rows.get(table, 0) + rows.height
        os.remove(segment)
        report.segments += 1
    return report


def unreadable(path: Path) -> str | None:
    """Why a Parquet part does not read back whole (every page decoded, its CRC checked), or None if it does.

    It is read a row group at a time and the memory Arrow's allocator kept is handed back, so checking a
    store's parts costs one row group of memory, not the parts'."""
    try:
        for _ in verified_arrow_row_groups(path):
            pass
    except Exception as exc:  # noqa: BLE001 (any reader complaint means the part cannot be trusted)
        return f"{type(exc).__name__}: {exc}"
    return None


def quarantine_part(store: Path, part: str, reason: str) -> Path:
    """Move an unreadable store part under ``<data>/quarantine/store/`` with its reason beside it."""
    target = store.parent / "quarantine" / "store" / part
    target.parent.mkdir(parents=True, exist_ok=True)
    os.replace(store / part, target)
    target.with_name(f"{target.name}.reason").write_text(reason + "\n")
    return target


class DataDirLocked(RuntimeError):
    pass


class WriterLock:
    """One writer per data directory: the server, or an offline ingest, never both.

    An OS lock on the directory itself, not on a file in it: deleting a file cannot release it, and the
    kernel releases it when the holder dies.
    """

    def __init__(self, data: DataDir):
        data.root.mkdir(parents=True, exist_ok=True)
        self._path = data.root
        self._handle: int | None = None

    def acquire(self) -> WriterLock:
        handle = os.open(self._path, os.O_RDONLY | os.O_DIRECTORY)
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(handle)
            raise DataDirLocked(f"{self._path} is in use by another collector process") from None
        self._handle = handle
        return self

    def release(self) -> None:
        if self._handle is not None:
            fcntl.flock(self._handle, fcntl.LOCK_UN)
            os.close(self._handle)
            self._handle = None

    def __enter__(self) -> WriterLock:
        return self.acquire()

    def __exit__(self, *exc) -> None:
        self.release()
