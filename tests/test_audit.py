"""The audit trail detects an edited, a removed, a reordered and a truncated record, and says where.

Bad input tried: an edited field, a deleted middle line, two swapped lines, a cut last line, a line that is
not JSON; and a clean log through the CLI.
"""

import os
import subprocess
import sys

import pytest

from qtenancy.audit import AuditLog, verify

from .conftest import ROOT


@pytest.fixture
def log(tmp_path):
    audit = AuditLog(tmp_path / "audit.log")
    for n in range(5):
        audit.append("admin" if n % 2 else "lab", "read_jobs", f"job-{n}", rows=n)
    return audit


def _lines(log):
    return log.path.read_text().splitlines()


def _rewrite(log, lines):
    log.path.write_text("\n".join(lines) + "\n")


def test_clean_log_verifies(log):
    result = verify(log.path)
    assert result.ok and result.records == 5


def test_edited_record_is_found(log):
    lines = _lines(log)
    lines[2] = lines[2].replace('"rows": 2', '"rows": 20')
    _rewrite(log, lines)
    assert verify(log.path).problem == f"{log.path}:3: record 3 was edited (its hash does not match its content)"


def test_removed_record_is_found(log):
    lines = _lines(log)
    del lines[1]
    _rewrite(log, lines)
    assert verify(log.path).problem == f"{log.path}:2: records 2..2 were removed (record 3 follows record 1)"


def test_reordered_records_are_found(log):
    lines = _lines(log)
    lines[1], lines[3] = lines[3], lines[1]
    _rewrite(log, lines)
    assert "records 2..3 were removed (record 4 follows record 1)" in verify(log.path).problem


def test_truncated_tail_is_found_by_the_head(log):
    _rewrite(log, _lines(log)[:-1])
    assert verify(log.path).problem.endswith("the log ends at record 4 but its head says record 5: records were removed "
                                             "from the end")


def test_garbage_line_is_named(log):
    _rewrite(log, _lines(log)[:2] + ["not json"] + _lines(log)[2:])
    assert verify(log.path).problem.startswith(f"{log.path}:3: not a JSON record")


def test_cli_verify(log):
    env = {**os.environ, "COLUMNS": "200"}
    ok = subprocess.run([sys.executable, "-m", "qtenancy", "audit", "verify", str(log.path)], capture_output=True,
                        text=True, cwd=ROOT, env=env)
    assert ok.returncode == 0 and "5 records, chain intact" in ok.stdout
    _rewrite(log, _lines(log)[1:])
    bad = subprocess.run([sys.executable, "-m", "qtenancy", "audit", "verify", str(log.path)], capture_output=True,
                         text=True, cwd=ROOT, env=env)
    assert bad.returncode == 1 and "records 1..1 were removed" in bad.stderr
