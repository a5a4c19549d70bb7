"""The audit trail detects an edited, a removed, a reordered and a truncated record, and says where; without
the writer's key it cannot be rewritten so that it verifies; a crash never leaves it unverifiable.

Bad input tried: an edited field, a deleted middle line, two swapped lines, a cut last line, a line that is
not JSON; tampering by someone who can write the files but lacks the key (a forged record with its SHA-256
recomputed, the whole chain rehashed with a new head, records cut from the end with a rewritten head, the
head deleted, a head that is not JSON); the right log under another key; a torn last line; a head left one
record behind by a crash; a SIGKILL while the collector records reads; an append whose records fail part way;
and a clean log through the CLI.
"""

import hashlib
import json
import os
import secrets
import signal
import subprocess
import sys
import threading
import urllib.request

import pytest

from collector.correlate import correlate
from common.audit import (
    WRITE_LINES,
    AuditEntry,
    AuditLog,
    Verification,
    key_path_for,
    load_key,
    verify,
)
from emulator.bulk_sink import write_bulk
from qtenancy.stack import free_port

from .conftest import ROOT, TEST_SCENARIOS, run_of
from .test_collector import _serve, _wait_healthy


@pytest.fixture
def log(tmp_path):
    path = tmp_path / "audit.log"
    audit = AuditLog(path, load_key(key_path_for(path), create=True))
    for n in range(5):
        audit.append("admin" if n % 2 else "lab", "read_jobs", f"job-{n}", rows=n)
    return audit


def _key(log):
    return load_key(key_path_for(log.path))


def _lines(log):
    return log.path.read_text().splitlines()


def _rewrite(log, lines):
    log.path.write_text("\n".join(lines) + "\n")


def test_clean_log_verifies(log):
    result = verify(log.path, _key(log))
    assert result.ok and result.records == 5


def test_an_append_that_fails_part_way_leaves_the_log_as_it_was(log):
    """Bad input tried: a record that cannot be encoded after more than one write's worth of good ones."""
    before, head = log.path.read_bytes(), log.head.read_bytes()

    def entries():
        for n in range(WRITE_LINES + 10):
            yield AuditEntry("lab", "submit", f"job-{n}", {"job_id": n})
        yield AuditEntry("lab", "submit", "job-bad", {"job_id": object()})

    with pytest.raises(TypeError):
        log.extend(entries())
    assert (log.path.read_bytes(), log.head.read_bytes()) == (before, head)
    appended = log.extend(AuditEntry("lab", "submit", f"job-{n}", {"job_id": n}) for n in range(WRITE_LINES + 10))
    assert appended["seq"] == 5 + WRITE_LINES + 10 and appended["subject"] == f"job-{WRITE_LINES + 9}"
    assert verify(log.path, _key(log)) == Verification(5 + WRITE_LINES + 10)


def test_edited_record_is_found(log):
    lines = _lines(log)
    assert '"rows":2}' in lines[2]
    lines[2] = lines[2].replace('"rows":2}', '"rows":20}')
    _rewrite(log, lines)
    assert verify(log.path, _key(log)).problem == f"{log.path}:3: record 3 was edited (its hash does not match its content)"


def test_removed_record_is_found(log):
    lines = _lines(log)
    del lines[1]
    _rewrite(log, lines)
    assert verify(log.path, _key(log)).problem == f"{log.path}:2: records 2..2 were removed (record 3 follows record 1)"


def test_reordered_records_are_found(log):
    lines = _lines(log)
    lines[1], lines[3] = lines[3], lines[1]
    _rewrite(log, lines)
    assert "records 2..3 were removed (record 4 follows record 1)" in verify(log.path, _key(log)).problem


def test_truncated_tail_is_found_by_the_head(log):
    _rewrite(log, _lines(log)[:-1])
    assert verify(log.path, _key(log)).problem.endswith("the log ends at record 4 but its head says record 5: records were removed "
                                             "from the end")


def test_garbage_line_is_named(log):
    _rewrite(log, _lines(log)[:2] + ["not json"] + _lines(log)[2:])
    assert verify(log.path, _key(log)).problem.startswith(f"{log.path}:3: not a JSON record")


def test_cli_verify(log):
    env = {**os.environ, "COLUMNS": "200"}
    ok = subprocess.run([sys.executable, "-m", "qtenancy", "audit", "verify", str(log.path)], capture_output=True,
                        text=True, cwd=ROOT, env=env)
    assert ok.returncode == 0 and "5 records, chain intact" in ok.stdout
    _rewrite(log, _lines(log)[1:])
    bad = subprocess.run([sys.executable, "-m", "qtenancy", "audit", "verify", str(log.path)], capture_output=True,
                         text=True, cwd=ROOT, env=env)
    assert bad.returncode == 1 and "records 1..1 were removed" in bad.stderr


def _sha256_chain(records: list[dict]) -> list[dict]:
    """What someone without the key can do: recompute every hash with plain SHA-256, chained."""
    prev = "0" * 64
    out = []
    for seq, record in enumerate(records, start=1):
        record = {**record, "seq": seq, "prev": prev}
        body = {k: v for k, v in record.items() if k != "hash"}
        record["hash"] = prev = hashlib.sha256(json.dumps(body, sort_keys=True, separators=(",", ":")).encode()).hexdigest()
        out.append(record)
    return out


def _write(log, records: list[dict], head_seq: int | None = None) -> None:
    log.path.write_text("".join(json.dumps(r, sort_keys=True) + "\n" for r in records))
    if head_seq is not None:
        last = records[head_seq - 1]
        log.head.write_text(json.dumps({"seq": head_seq, "hash": last["hash"], "mac": last["hash"]}))


def _records(log) -> list[dict]:
    return [json.loads(line) for line in _lines(log)]


def test_a_forged_record_with_its_hash_recomputed_is_found(log):
    records = _records(log)
    forged = {**records[-1], "seq": 6, "prev": records[-1]["hash"], "actor": "admin", "subject": "nothing happened"}
    body = {k: v for k, v in forged.items() if k != "hash"}
    forged["hash"] = hashlib.sha256(json.dumps(body, sort_keys=True, separators=(",", ":")).encode()).hexdigest()
    with open(log.path, "a") as handle:
        handle.write(json.dumps(forged, sort_keys=True) + "\n")
    assert verify(log.path, _key(log)).problem == f"{log.path}:6: record 6 was edited (its hash does not match its content)"


def test_a_rehashed_chain_with_a_new_head_is_found(log):
    records = _records(log)
    del records[2]
    _write(log, _sha256_chain(records), head_seq=4)
    assert verify(log.path, _key(log)).problem == f"{log.path}:1: record 1 was edited (its hash does not match its content)"


def test_records_cut_from_the_end_with_a_rewritten_head_are_found(log):
    records = _records(log)[:3]
    _write(log, records, head_seq=3)
    problem = verify(log.path, _key(log)).problem
    assert problem == f"{log.head}: the head was rewritten (its MAC does not match under this key)"


def test_a_deleted_head_is_found(log):
    log.head.unlink()
    assert verify(log.path, _key(log)).problem == f"{log.head}: the head is missing (deleted?): the end of the log " \
                                                  "cannot be trusted"


def test_a_malformed_head_is_named_not_a_traceback(log):
    log.head.write_text("{not a head")
    assert verify(log.path, _key(log)).problem.startswith(f"{log.head}: the head is not a head record")
    done = subprocess.run([sys.executable, "-m", "qtenancy", "audit", "verify", str(log.path)], capture_output=True,
                          text=True, cwd=ROOT, env={**os.environ, "COLUMNS": "200"})
    assert done.returncode == 1 and "the head is not a head record" in done.stderr and "Traceback" not in done.stderr


def test_another_key_does_not_verify(log):
    assert "record 1 was edited" in verify(log.path, secrets.token_bytes(32)).problem
    other = log.path.with_name("other.key")
    other.write_text(secrets.token_hex(32))
    done = subprocess.run([sys.executable, "-m", "qtenancy", "audit", "verify", str(log.path), "--key-file", str(other)],
                          capture_output=True, text=True, cwd=ROOT)
    assert done.returncode == 1
    missing = subprocess.run([sys.executable, "-m", "qtenancy", "audit", "verify", str(log.path), "--key-file",
                              str(log.path.with_name("absent.key"))], capture_output=True, text=True, cwd=ROOT,
                             env={**os.environ, "COLUMNS": "200"})
    assert missing.returncode == 2 and "absent.key: cannot read the audit key" in missing.stderr


def test_a_torn_last_line_is_cut_off_recorded_and_the_log_verifies(log):
    with open(log.path, "a") as handle:
        handle.write('{"seq": 6, "actor": "adm')
    log.append("admin", "read_jobs", "after the crash")
    records = _records(log)
    assert [(r["seq"], r["action"]) for r in records[-2:]] == [(6, "repair"), (7, "read_jobs")]
    assert records[-2]["detail"] == {"torn_bytes_removed": len('{"seq": 6, "actor": "adm')}
    assert verify(log.path, _key(log)).ok


def test_a_head_one_batch_behind_after_a_crash_verifies_and_is_moved_forward(log):
    head = json.loads(log.head.read_text())
    log.append("admin", "read_jobs", "written, then the process died before the head moved")
    log.head.write_text(json.dumps(head))
    assert verify(log.path, _key(log)).ok
    log.append("admin", "read_jobs", "next")
    assert json.loads(log.head.read_text())["seq"] == 7 and verify(log.path, _key(log)).records == 7


def test_sigkill_while_reads_are_recorded_leaves_a_log_that_verifies_and_a_collector_that_starts(tmp_path):
    data = tmp_path / "data"
    write_bulk(run_of(TEST_SCENARIOS / "telemetry.yaml"), data / "store")
    correlate(data / "store")
    http_port, grpc_port = free_port(), free_port()
    server = _serve(data, http_port, grpc_port)
    try:
        _wait_healthy(http_port, server)
        reads = [0]
        stop = threading.Event()

        def reader() -> None:
            while not stop.is_set():
                try:
                    urllib.request.urlopen(f"http://127.0.0.1:{http_port}/api/v1/jobs?limit=1", timeout=10).read()
                except OSError:
                    return
                reads[0] += 1

        threads = [threading.Thread(target=reader) for _ in range(4)]
        for thread in threads:
            thread.start()
        while reads[0] < 200:
            threading.Event().wait(0.01)
        server.send_signal(signal.SIGKILL)
        server.wait()
        stop.set()
        for thread in threads:
            thread.join()
        log = data / "audit.log"
        assert verify(log, load_key(key_path_for(log))).ok
        server = _serve(data, http_port, grpc_port)
        _wait_healthy(http_port, server)
        server.send_signal(signal.SIGTERM)
        _, err = server.communicate(timeout=60)
        assert server.returncode == 0, err
        result = verify(log, load_key(key_path_for(log)))
        assert result.ok and result.records >= 200 + 2
    finally:
        if server.poll() is None:
            server.kill()
