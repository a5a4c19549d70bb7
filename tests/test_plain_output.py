"""Output without a terminal: plain step lines, tables at full width, numbers as people read them."""

from __future__ import annotations

import subprocess
import sys

import pytest

from common.readable import count, duration, money, number, percent, rate, size
from slo.report import format_cell


@pytest.mark.parametrize(("value", "text"), [
    (1234567.8, "1,234,568"), (1234.0, "1,234"), (12.34567, "12.35"), (0.000012345, "0.00001234"),
    (-0.5, "-0.5"), (3e-9, "0.000000003"), (0.0, "0"), (float("inf"), "∞"), (float("nan"), "n/a"),
])
def test_numbers_are_positional_with_separators(value, text):
    assert number(value) == text
    assert "e" not in number(value).replace("n/a", "")


def test_counts_percentages_durations_money():
    assert count(1234) == "1,234"
    assert percent(0.125) == "12.5%"
    assert percent(0.99951, 2) == "99.95%"
    assert duration(370 * 60) == "6 h 10 min"
    assert duration(45) == "45 s"
    assert duration(1.23) == "1.2 s"
    assert duration(0) == "0 s"
    assert duration(100) == "1 min 40 s"
    assert duration(120.4) == "2 min"
    assert duration(650) == "11 min"
    assert duration(3 * 86400 + 4 * 3600 + 60) == "3 d 4 h"
    assert money(1234.5, "USD") == "1,234.50 USD"
    assert rate(1_060_000, 10, "spans") == "106,000 spans/s"
    assert size(1.5 * 1024**3) == "1.5 GiB"


def test_report_cells_never_use_scientific_notation():
    assert format_cell(123456.7) == "123,457"
    assert format_cell(1.5e-7) == "0.00000015"


def test_without_a_terminal_each_step_is_a_line_and_tables_keep_their_width(tmp_path):
    done = subprocess.run(
        [sys.executable, "-m", "qtenancy", "emulate", "--scenario", "game-day", "--days", "0.05", "--no-openmetrics",
         "--out", str(tmp_path / "run")],
        capture_output=True, text=True, check=True, env={"PATH": "/usr/bin:/bin", "TERM": "dumb"},
    )
    lines = done.stdout.splitlines()
    assert lines[0].startswith("emulating game-day, 0.05 days (") and lines[0].endswith(" s)")
    header = next(line for line in lines if "tenant" in line and "jobs" in line)
    for column in ("median queue wait", "backend time share", "quota"):
        assert column in header
    assert max(len(line) for line in lines) > 80
    assert "e+" not in done.stdout and "e-0" not in done.stdout
