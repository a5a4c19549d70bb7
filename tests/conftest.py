import contextlib
import os
import shutil
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from functools import cache
from pathlib import Path

import pytest

from emulator.run import EmulationRun, emulate
from emulator.scenario import load_scenario

ROOT = Path(__file__).resolve().parent.parent
SCENARIOS = ROOT / "scenarios"
TEST_SCENARIOS = Path(__file__).resolve().parent / "scenarios"


@cache
def run_of(path: Path, seed: int = 1, days: float | None = None) -> EmulationRun:
    """Runs are deterministic, so tests share them instead of emulating the same week twice."""
    return emulate(load_scenario(path).with_days(days), seed)


@pytest.fixture(scope="session")
def game_day() -> EmulationRun:
    return run_of(SCENARIOS / "game-day.yaml")


def system_tool(name: str) -> str:
    """Path of a binary from a Debian package the Makefile installs; CI fails without it, elsewhere the test skips."""
    path = shutil.which(name)
    if path is None:
        if os.environ.get("CI") == "true":
            pytest.fail(f"{name} is not installed: `make test` installs it when run as root (apt-get install prometheus prometheus-alertmanager chromium)")
        pytest.skip(f"{name} is not installed (Debian packages prometheus, prometheus-alertmanager, chromium; `make test` as root installs them)")
    return path


@pytest.fixture(scope="session")
def game_day_store(game_day, tmp_path_factory) -> Path:
    return _correlated_store(game_day, tmp_path_factory.mktemp("game-day-store"))


@pytest.fixture(scope="session")
def calm_week() -> EmulationRun:
    return run_of(SCENARIOS / "calm-week.yaml")


@pytest.fixture(scope="session")
def calm_store(calm_week, tmp_path_factory) -> Path:
    return _correlated_store(calm_week, tmp_path_factory.mktemp("calm-store"))


@pytest.fixture(scope="session")
def rules(tmp_path_factory) -> Path:
    """The generated Sloth-compatible and operational rules of the shipped specs."""
    out = tmp_path_factory.mktemp("e2e-rules")
    subprocess.run([sys.executable, "-m", "qtenancy", "alerts", "generate", str(ROOT / "slo" / "specs"), "-o", str(out)],
                   check=True, capture_output=True, cwd=ROOT)
    return out


@pytest.fixture(scope="session")
def backfilled(game_day, calm_week, rules, tmp_path_factory) -> dict[str, Path]:
    """The game day's and the calm week's metrics and recording rules in real Prometheus TSDBs, by scenario
    name, backfilled once per session and side by side: each is mostly promtool's work, which overlaps the
    other's Python."""
    from .backfill import backfill

    prometheus, promtool = system_tool("prometheus"), system_tool("promtool")
    with ThreadPoolExecutor(2) as pool:
        done = {run.scenario.name: pool.submit(backfill, run, rules / "rules" / "slo-rules.yaml",
                                               tmp_path_factory.mktemp(run.scenario.name), prometheus, promtool)
                for run in (game_day, calm_week)}
    return {name: future.result() for name, future in done.items()}


@pytest.fixture(scope="session")
def game_day_prometheus(game_day, backfilled):
    """A real Prometheus over the game day's metrics and recording rules."""
    from .prometheus_server import PrometheusServer

    with PrometheusServer(system_tool("prometheus"), backfilled[game_day.scenario.name]) as server:
        yield server


@pytest.fixture(scope="session")
def calm_prometheus(calm_week, backfilled):
    """A real Prometheus over the calm week's metrics and recording rules."""
    from .prometheus_server import PrometheusServer

    with PrometheusServer(system_tool("prometheus"), backfilled[calm_week.scenario.name]) as server:
        yield server


def _correlated_store(run: EmulationRun, directory: Path) -> Path:
    """The run as the collector would hold it: bulk-written store, correlated."""
    from collector.correlate import correlate
    from emulator.bulk_sink import write_bulk

    write_bulk(run, directory)
    correlate(directory)
    return directory


@contextlib.contextmanager
def small_disk(path: Path, size_bytes: int):
    """A real file system of ``size_bytes`` mounted at ``path`` (tmpfs), so a test can fill it and free it.

    Mounting needs root, as `make test` in CI runs; CI fails without it, elsewhere the test skips.
    """
    path.mkdir(parents=True, exist_ok=True)
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size_bytes}", "tmpfs", str(path)],
                             capture_output=True, text=True)
    if mounted.returncode != 0:
        reason = f"cannot mount a tmpfs to fill (needs root): {mounted.stderr.strip()}"
        if os.environ.get("CI") == "true":
            pytest.fail(reason)
        pytest.skip(reason)
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], check=True)


def promtool_checked_rules(specs: list[Path], out: Path) -> Path:
    """``qtenancy alerts generate`` of the specs into ``out``, its SLO rules checked by the real promtool."""
    done = subprocess.run([sys.executable, "-m", "qtenancy", "alerts", "generate", *map(str, specs), "-o", str(out)],
                          capture_output=True, text=True, cwd=ROOT)
    assert done.returncode == 0, done.stderr
    rules = out / "rules" / "slo-rules.yaml"
    checked = subprocess.run([system_tool("promtool"), "check", "rules", str(rules)], capture_output=True, text=True)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    return rules
