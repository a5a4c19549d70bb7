"""A tamper-evident audit trail: JSON lines, each record chained to the one before it by a keyed MAC.

Every record carries its sequence number, the previous record's MAC and its own: HMAC-SHA256 under a key
the writer holds, over the record's content and the previous MAC. An edited record breaks its own MAC, a
removed or reordered one breaks the chain, and a forged record or a whole rehashed chain cannot be made
without the key. The head file (last sequence number and MAC, itself under a MAC) is required: cutting
records from the end, or deleting the head, is found.

The log is the truth and the head follows it: an append first repairs what a crash can leave (a torn
last line is cut off and recorded; a head one batch behind is moved forward), so a SIGKILL at any moment
leaves a log that verifies. A failed append (a full disk) is cut back to the last whole record.
"""

from __future__ import annotations

import fcntl
import hashlib
import hmac
import json
import os
import secrets
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from common.durable_files import append_whole, write_text_durably

GENESIS = "0" * 64
HEAD_SUFFIX = ".head"
KEY_BYTES = 32
WRITE_LINES = 4096
"""Records an append writes at once."""


class AuditKeyError(ValueError):
    """The key cannot be read or made; the message names the file."""


class AuditLogDamaged(ValueError):
    """The log's last whole line is not a record: appending would hide the damage."""


def key_path_for(log: Path) -> Path:
    """Where a log's key lives unless configured elsewhere: beside it, readable by its owner only."""
    return log.with_name(log.name + ".key")


def load_key(path: Path, create: bool = False) -> bytes:
    """The HMAC key in ``path`` (hex); with ``create``, a new random one is written there (0600) if none is."""
    if create and not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            handle = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            pass
        else:
            with os.fdopen(handle, "w") as out:
                out.write(secrets.token_hex(KEY_BYTES) + "\n")
                out.flush()
                os.fsync(out.fileno())
    try:
        key = bytes.fromhex(path.read_text().strip())
    except OSError as exc:
        raise AuditKeyError(f"{path}: cannot read the audit key: {exc.strerror or exc}") from None
    except ValueError:
        raise AuditKeyError(f"{path}: the audit key is not hex") from None
    if len(key) < 16:
        raise AuditKeyError(f"{path}: the audit key is shorter than 16 bytes")
    return key


def _canonical(value: dict) -> bytes:
    return json.dumps(value, sort_keys=True, separators=(",", ":")).encode()


def _mac(key: bytes, record: dict) -> str:
    return hmac.new(key, _canonical({k: v for k, v in record.items() if k != "hash"}), hashlib.sha256).hexdigest()


def _head_mac(key: bytes, seq: int, last: str) -> str:
    return hmac.new(key, _canonical({"head": seq, "hash": last}), hashlib.sha256).hexdigest()


@dataclass(frozen=True)
class AuditEntry:
    actor: str
    action: str
    subject: str
    detail: dict = field(default_factory=dict)
    time: str | None = None
    """When it happened (ISO 8601); the moment it is written when not given."""


class AuditLog:
    def __init__(self, path: Path, key: bytes):
        self.path = path
        self.head = path.with_name(path.name + HEAD_SUFFIX)
        self._key = key
        path.parent.mkdir(parents=True, exist_ok=True)

    def append(self, actor: str, action: str, subject: str, **detail) -> dict:
        """Append one record (under an exclusive lock, synced) and move the head to it."""
        return self.extend([AuditEntry(actor, action, subject, detail)])

    def extend(self, entries: Iterable[AuditEntry]) -> dict:
        """Append records in order under one lock and one sync; returns the last (the new head).

        The records are written as they are made, ``WRITE_LINES`` at a time, so a long trail (a broker's every
        submission) is never held whole. Raises OSError when the records cannot be made durable, or whatever
        making a record raised (a detail that is not JSON); then none of them is in the log.
        """
        fd = os.open(self.path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            seq, prev = self._repair(fd)
            last = {"seq": seq, "hash": prev}

            def chunks() -> Iterator[bytes]:
                lines = []
                for entry in entries:
                    record, line = self._chained(last["seq"] + 1, last["hash"], entry)
                    last.update(record)
                    lines.append(line)
                    if len(lines) == WRITE_LINES:
                        yield b"".join(lines)
                        lines = []
                if lines:
                    yield b"".join(lines)

            append_whole(fd, chunks(), os.fstat(fd).st_size)
            if last["seq"] > seq:
                self._write_head(last["seq"], last["hash"])
                return last
        finally:
            os.close(fd)
        return {}

    def _chained(self, seq: int, prev: str, entry: AuditEntry) -> tuple[dict, bytes]:
        """The record ``entry`` becomes at ``seq`` after the record whose MAC is ``prev``, with its own MAC, and its
        line: the canonical form the MAC covers, with the MAC added last (encoded once for both)."""
        record = {"seq": seq, "time": entry.time or datetime.now(UTC).isoformat(), "actor": entry.actor,
                  "action": entry.action, "subject": entry.subject, "detail": entry.detail, "prev": prev}
        canonical = _canonical(record)
        record["hash"] = hmac.new(self._key, canonical, hashlib.sha256).hexdigest()
        return record, canonical[:-1] + b',"hash":"' + record["hash"].encode() + b'"}\n'

    def _repair(self, fd: int) -> tuple[int, str]:
        """The last whole record's sequence number and MAC, after cutting off a torn last line."""
        size = os.fstat(fd).st_size
        if size == 0:
            return 0, GENESIS
        tail = b""
        offset = size
        while offset > 0 and tail.count(b"\n") < 2:
            offset = max(0, offset - 65536)
            tail = os.pread(fd, size - offset, offset)
        whole = tail.rfind(b"\n") + 1
        if offset + whole < size:
            torn = size - offset - whole
            os.ftruncate(fd, offset + whole)
            os.fsync(fd)
            seq, prev = self._repair(fd)
            record, line = self._chained(seq + 1, prev, AuditEntry("audit", "repair", str(self.path),
                                                                   {"torn_bytes_removed": torn}))
            append_whole(fd, [line], offset + whole)
            return record["seq"], record["hash"]
        try:
            last = json.loads(tail[:whole].splitlines()[-1])
            return int(last["seq"]), str(last["hash"])
        except (ValueError, KeyError, TypeError, IndexError):
            raise AuditLogDamaged(f"{self.path}: the last record is not an audit record, so nothing can be chained "
                                  f"to it: run `qtenancy audit verify {self.path}` and move the log aside") from None

    def _write_head(self, seq: int, last: str) -> None:
        write_text_durably(self.head, json.dumps({"seq": seq, "hash": last, "mac": _head_mac(self._key, seq, last)}))

    def last(self, action: str) -> dict | None:
        """The latest whole record of ``action``, or None."""
        if not self.path.exists():
            return None
        for line in reversed(self.path.read_text(errors="replace").splitlines()):
            try:
                record = json.loads(line)
            except json.JSONDecodeError:
                continue
            if isinstance(record, dict) and record.get("action") == action:
                return record
        return None


@dataclass(frozen=True)
class Verification:
    records: int
    problem: str = ""

    @property
    def ok(self) -> bool:
        return not self.problem


def _read_head(path: Path, key: bytes) -> tuple[int, str] | str:
    """The head's sequence number and MAC, or what is wrong with it."""
    try:
        head = json.loads(path.read_text())
        seq, last, mac = head["seq"], head["hash"], head["mac"]
    except FileNotFoundError:
        return f"{path}: the head is missing (deleted?): the end of the log cannot be trusted"
    except (OSError, ValueError, KeyError, TypeError) as exc:
        return f"{path}: the head is not a head record ({type(exc).__name__}: {exc})"
    if not isinstance(seq, int) or not isinstance(last, str) or not isinstance(mac, str):
        return f"{path}: the head is not a head record"
    if not hmac.compare_digest(mac, _head_mac(key, seq, last)):
        return f"{path}: the head was rewritten (its MAC does not match under this key)"
    return seq, last


def verify(path: Path, key: bytes) -> Verification:
    """Walk the chain under ``key``; the first problem found is named with its line and sequence number."""
    expected_seq, prev = 1, GENESIS
    count = 0
    hashes: dict[int, str] = {}
    try:
        text = path.read_bytes().decode("utf-8")
    except UnicodeDecodeError as exc:
        return Verification(0, f"{path}: not UTF-8 text (byte {exc.start})")
    for number, line in enumerate(text.splitlines(), start=1):
        where = f"{path}:{number}"
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            return Verification(count, f"{where}: not a JSON record ({exc})")
        if not isinstance(record, dict) or not {"seq", "prev", "hash"} <= record.keys() \
                or not isinstance(record["seq"], int):
            return Verification(count, f"{where}: not an audit record")
        if not hmac.compare_digest(str(record["hash"]), _mac(key, record)):
            return Verification(count, f"{where}: record {record['seq']} was edited (its hash does not match its "
                                       "content)")
        if record["seq"] != expected_seq or record["prev"] != prev:
            if record["seq"] < expected_seq:
                return Verification(count, f"{where}: record {record['seq']} is out of order (expected {expected_seq})")
            return Verification(count, f"{where}: records {expected_seq}..{record['seq'] - 1} were removed "
                                       f"(record {record['seq']} follows record {expected_seq - 1})")
        expected_seq, prev = record["seq"] + 1, record["hash"]
        hashes[record["seq"]] = record["hash"]
        count += 1
    if count == 0:
        return Verification(0)
    head = _read_head(path.with_name(path.name + HEAD_SUFFIX), key)
    if isinstance(head, str):
        return Verification(count, head)
    seq, last = head
    if seq > count:
        return Verification(count, f"{path}: the log ends at record {count} but its head says record {seq}: "
                                   "records were removed from the end")
    if hashes.get(seq) != last:
        return Verification(count, f"{path}: record {seq} is not the one the head names: the log was rewritten")
    return Verification(count)
