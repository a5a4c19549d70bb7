"""A tamper-evident audit trail: JSON lines, each record hash-chained to the one before it.

Every record carries its sequence number, the previous record's hash and its own hash over both and its
content, so an edited record breaks its own hash, a removed or reordered one breaks the chain, and the
head file (last sequence number and hash, written atomically) catches records cut from the end.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

GENESIS = "0" * 64
HEAD_SUFFIX = ".head"


def _digest(record: dict) -> str:
    body = {k: v for k, v in record.items() if k != "hash"}
    return hashlib.sha256(json.dumps(body, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


@dataclass(frozen=True)
class AuditEntry:
    actor: str
    action: str
    subject: str
    detail: dict = field(default_factory=dict)
    time: str | None = None
    """When it happened (ISO 8601); the moment it is written when not given."""


class AuditLog:
    def __init__(self, path: Path):
        self.path = path
        self.head = path.with_name(path.name + HEAD_SUFFIX)
        path.parent.mkdir(parents=True, exist_ok=True)

    def append(self, actor: str, action: str, subject: str, **detail) -> dict:
        """Append one record (under an exclusive lock, synced) and move the head to it."""
        return self.extend([AuditEntry(actor, action, subject, detail)])

    def extend(self, entries: Iterable[AuditEntry]) -> dict:
        """Append records in order under one lock and one sync; returns the last (the new head)."""
        with open(self.path, "a+") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                seq, prev = self._head()
                record: dict = {}
                for entry in entries:
                    seq += 1
                    record = {
                        "seq": seq, "time": entry.time or datetime.now(UTC).isoformat(), "actor": entry.actor,
                        "action": entry.action, "subject": entry.subject, "detail": entry.detail, "prev": prev,
                    }
                    record["hash"] = prev = _digest(record)
                    handle.write(json.dumps(record, sort_keys=True) + "\n")
                handle.flush()
                os.fsync(handle.fileno())
                if record:
                    tmp = self.head.with_name(f".{self.head.name}.tmp")
                    tmp.write_text(json.dumps({"seq": record["seq"], "hash": record["hash"]}))
                    os.replace(tmp, self.head)
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)
        return record

    def last(self, action: str) -> dict | None:
        """The latest record of ``action``, or None."""
        if not self.path.exists():
            return None
        for line in reversed(self.path.read_text().splitlines()):
            record = json.loads(line)
            if record.get("action") == action:
                return record
        return None

    def _head(self) -> tuple[int, str]:
        if not self.head.exists():
            return 0, GENESIS
        head = json.loads(self.head.read_text())
        return head["seq"], head["hash"]


@dataclass(frozen=True)
class Verification:
    records: int
    problem: str = ""

    @property
    def ok(self) -> bool:
        return not self.problem


def verify(path: Path) -> Verification:
    """Walk the chain; the first problem found is named with its line and sequence number."""
    expected_seq, prev = 1, GENESIS
    count = 0
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        where = f"{path}:{number}"
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            return Verification(count, f"{where}: not a JSON record ({exc})")
        if not isinstance(record, dict) or not {"seq", "prev", "hash"} <= record.keys():
            return Verification(count, f"{where}: not an audit record")
        if record["hash"] != _digest(record):
            return Verification(count, f"{where}: record {record['seq']} was edited (its hash does not match its content)")
        if record["seq"] != expected_seq or record["prev"] != prev:
            if record["seq"] < expected_seq:
                return Verification(count, f"{where}: record {record['seq']} is out of order (expected {expected_seq})")
            return Verification(count, f"{where}: records {expected_seq}..{record['seq'] - 1} were removed "
                                       f"(record {record['seq']} follows record {expected_seq - 1})")
        expected_seq, prev = record["seq"] + 1, record["hash"]
        count += 1
    head_path = path.with_name(path.name + HEAD_SUFFIX)
    if head_path.exists():
        head = json.loads(head_path.read_text())
        if head["seq"] != expected_seq - 1 or head["hash"] != prev:
            return Verification(count, f"{path}: the log ends at record {expected_seq - 1} but its head says record "
                                       f"{head['seq']}: records were removed from the end")
    return Verification(count)
