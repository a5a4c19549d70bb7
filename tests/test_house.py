"""The house: a fast command line, facts written once, declared tables, and a package that installs.

Bad input tried: none here; this is about where things live. The checks read the source and the installed
package the way a reviewer or a new user would: which modules a command imports, where an alert's name is
spelled, what a wheel installed into a clean environment can do from another directory.
"""

import ast
import os
import re
import shutil
import subprocess
import sys
import venv
from datetime import UTC, datetime, timedelta
from pathlib import Path

import polars as pl
import pytest
import yaml

from contract import alert_catalogue
from contract.tables import CALIBRATION_SCHEMA, JOB_SCHEMA
from emulator.run import EmulationRun
from slo.spec_files import load_all

from .conftest import ROOT, SCENARIOS, run_of

SOURCES = [p for p in ROOT.glob("*/**/*.py") if p.parts[len(ROOT.parts)] not in {"tests", ".venv", "runs", "bench"}]
HEAVY = ("qiskit", "qiskit_aer", "opentelemetry.sdk", "matplotlib")


def _imports(*args: str) -> set[str]:
    done = subprocess.run([sys.executable, "-X", "importtime", "-m", "qtenancy", *args], capture_output=True, text=True,
                          cwd=ROOT, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    return {line.split("|")[-1].strip() for line in done.stderr.splitlines() if line.startswith("import time:")}


@pytest.mark.parametrize("command", [["--help"], ["slo", "report", "--help"], ["incidents", "list", "--help"],
                                     ["postmortem", "--help"], ["audit", "verify", "--help"]])
def test_help_and_read_commands_do_not_load_qiskit_the_sdk_or_matplotlib(command):
    loaded = _imports(*command)
    assert "qtenancy.cli" in loaded
    heavy = sorted(m for m in loaded if m.startswith(HEAVY))
    assert not heavy, heavy


ALLOWED = {
    "common": set(),
    "contract": {"common"},
    "emulator": {"common", "contract"},
    "collector": {"common", "contract"},
    "slo": {"common", "contract"},
    "alerts": {"common", "contract", "slo"},
    "dashboards": {"common", "contract"},
}


def test_each_room_imports_only_the_rooms_below_it():
    crossing = set()
    for path in SOURCES:
        room = path.relative_to(ROOT).parts[0]
        if room not in ALLOWED:
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else \
                [node.module] if isinstance(node, ast.ImportFrom) and node.module and not node.level else []
            for name in names:
                top = name.split(".")[0]
                if top in ALLOWED.keys() | {"qtenancy"} and top != room and top not in ALLOWED[room]:
                    crossing.add(f"{path.relative_to(ROOT)} imports {name}")
    assert not crossing, sorted(crossing)


def test_version():
    done = subprocess.run([sys.executable, "-m", "qtenancy", "--version"], capture_output=True, text=True, cwd=ROOT)
    assert done.returncode == 0 and re.fullmatch(r"qtenancy \d+\.\d+\.\d+\S*\n", done.stdout)


def _string_literals(path: Path) -> list[str]:
    return [n.value for n in ast.walk(ast.parse(path.read_text())) if isinstance(n, ast.Constant)
            and isinstance(n.value, str)]


def test_alert_names_and_thresholds_are_written_in_exactly_one_module():
    names = {a.name for a in alert_catalogue.OPERATIONAL}
    spelled = {p.relative_to(ROOT).as_posix() for p in SOURCES
               if any(name in text for text in _string_literals(p) for name in names)}
    assert spelled == {"contract/alert_catalogue.py"}, spelled
    generated = yaml.safe_load((ROOT / "deploy" / "generated" / "rules" / "operational-rules.yaml").read_text())
    rules = {r["alert"]: r for r in generated["groups"][0]["rules"]}
    assert set(rules) == names
    for alert in alert_catalogue.OPERATIONAL:
        assert rules[alert.name]["for"] == alert.hold and rules[alert.name]["labels"]["severity"] == alert.severity
    starvation = alert_catalogue.STARVATION.bound_seconds
    assert rules[alert_catalogue.SCHEDULER_STARVATION.name]["expr"].endswith(f"> {starvation:g}")
    billing = rules[alert_catalogue.BILLING_DELTA.name]["expr"]
    assert f"> {alert_catalogue.BILLING.relative_bound:g} and" in billing
    assert billing.endswith(f"> {alert_catalogue.BILLING.volume_floor_seconds:g}")
    assert f"[{int(alert_catalogue.BILLING.window_seconds // 3600)}h]" in billing


def test_period_28d_changes_the_windows_of_both_paths_alike(tmp_path, calm_store):
    from alerts.sloth_rules import go_float
    from contract.alert_catalogue import default_burn_windows
    from contract.durations import format_duration
    from slo.burn_rate import alert_label, burn_rates

    out = tmp_path / "alerts"
    done = subprocess.run([sys.executable, "-m", "qtenancy", "alerts", "generate", str(ROOT / "slo" / "specs"), "-o",
                           str(out), "--period", "28d"], capture_output=True, text=True, cwd=ROOT)
    assert done.returncode == 0, done.stderr
    text = (out / "rules" / "slo-rules.yaml").read_text()
    windows = default_burn_windows(28 * 86400)
    assert set(re.findall(r"> \(([0-9.e+-]+) \* ", text)) == {go_float(a.factor(windows.period_seconds))
                                                              for a in windows.pairs}
    assert set(re.findall(r"slo:sli_error:ratio_rate(\w+)\{", text)) == {format_duration(w) for w in
                                                                      [*windows.sli_windows, windows.period_seconds]}

    end = datetime(2026, 1, 2, tzinfo=UTC)
    minutes = pl.datetime_range(end - timedelta(hours=8), end, "1m", eager=True, time_zone="UTC")
    events = pl.LazyFrame({"time": minutes}).join(
        pl.LazyFrame({"good": [False] * 14 + [True] * 86}), how="cross").with_columns(group=pl.lit("all"))
    quick = alert_label(windows.page_quick)
    last = {period: burn_rates(events, 0.99, end - timedelta(hours=1), end, default_burn_windows(period * 86400))
            .filter(pl.col("at") == end).row(0, named=True) for period in (28, 30)}
    assert 13.44 < last[28]["burn_1h"] < 14.4
    assert last[28][quick] and not last[30][quick], "a 1h burn of 14 pages over 28 days (13.44), not over 30 (14.4)"

    data = tmp_path / "data"
    data.mkdir()
    (data / "store").symlink_to(calm_store, target_is_directory=True)
    listed = subprocess.run([sys.executable, "-m", "qtenancy", "incidents", "list", "--data-dir", str(data),
                             "--period", "28d", "--format", "json"], capture_output=True, text=True, cwd=ROOT,
                            timeout=600)
    assert listed.returncode == 0, listed.stderr[-2000:]
    refused = subprocess.run([sys.executable, "-m", "qtenancy", "incidents", "list", "--data-dir", str(data),
                              "--period", "a fortnight"], capture_output=True, text=True, cwd=ROOT)
    assert refused.returncode == 2 and "is not a duration" in refused.stderr


def test_the_jobs_and_calibrations_tables_have_their_declared_schemas(calm_store):
    from contract.tables import read_calibrations, read_jobs

    assert dict(read_jobs(calm_store).collect_schema()) == JOB_SCHEMA
    assert dict(read_calibrations(calm_store).collect_schema()) == CALIBRATION_SCHEMA
    first = sorted((calm_store / "jobs").rglob("*.parquet"))[0]
    assert dict(pl.read_parquet_schema(first)) == JOB_SCHEMA


def test_the_emulators_run_table_names_its_times_as_the_jobs_table_does():
    run: EmulationRun = run_of(SCENARIOS / "game-day.yaml", days=0.2)
    shared = {"submitted_at", "finished_at", "execute_start", "execute_end", "queue_start", "post_process_end",
              "authorize_end"}
    assert shared <= set(run.jobs.columns) and shared <= set(JOB_SCHEMA)
    assert not {"started_at", "exec_end_at", "queued_at", "post_end_at", "authorized_at"} & set(run.jobs.columns)


def test_two_faults_of_one_kind_have_their_own_ids(tmp_path):
    from contract.ground_truth import GroundTruth
    from emulator.run import emulate
    from emulator.scenario import load_scenario

    scenario = yaml.safe_load((SCENARIOS / "game-day.yaml").read_text())
    drift = next(f for f in scenario["faults"] if f["kind"] == "calibration_drift")
    scenario["faults"] = [{**drift, "start": "2h", "end": "4h"}, {**drift, "backend": "quito", "start": "6h", "end": "8h"}]
    path = tmp_path / "two-drifts.yaml"
    path.write_text(yaml.safe_dump(scenario))
    truth = GroundTruth.model_validate(emulate(load_scenario(path).with_days(0.5), 1).ground_truth)
    assert [(f.id, f.backend) for f in truth.faults] == [("F1", "perth"), ("F1.2", "quito")]


def test_modules_stay_small_or_say_why():
    long = {p.relative_to(ROOT).as_posix(): len(p.read_text().splitlines()) for p in SOURCES
            if len(p.read_text().splitlines()) > 420 and "past 400 lines because" not in p.read_text()[:2000]}
    assert not long, long


def test_the_wheel_installs_into_a_clean_venv_and_runs_from_another_directory(tmp_path):
    dist = tmp_path / "dist"
    source = tmp_path / "source"
    shutil.copytree(ROOT, source, symlinks=True, ignore=shutil.ignore_patterns(
        ".git", ".venv", "runs", "__pycache__", "*.egg-info", "build", "dist", ".pytest_cache"))
    built = subprocess.run([sys.executable, "-m", "build", "--wheel", "--no-isolation", "--outdir", str(dist),
                            str(source)], capture_output=True, text=True, timeout=600)
    assert built.returncode == 0, built.stderr[-3000:]
    wheel = next(dist.glob("qtenancy-*.whl"))
    env_dir = tmp_path / "venv"
    venv.EnvBuilder(with_pip=False).create(env_dir)
    python = env_dir / "bin" / "python"
    site = subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                          capture_output=True, text=True, check=True).stdout.strip()
    installed = subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "--target", site, str(wheel)],
                               capture_output=True, text=True, timeout=600)
    assert installed.returncode == 0, installed.stderr[-3000:]
    dependencies = Path(pl.__file__).resolve().parent.parent
    (Path(site) / "dependencies.pth").write_text(f"{dependencies}\n")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH",)}
    qtenancy = [str(python), "-m", "qtenancy"]
    where = subprocess.run([str(python), "-c", "import qtenancy, slo; print(qtenancy.__file__, slo.__file__)"],
                           capture_output=True, text=True, cwd=elsewhere, env=env)
    assert site in where.stdout and str(ROOT) not in where.stdout, where.stdout + where.stderr
    validate = subprocess.run([*qtenancy, "slo", "validate", str(Path(site) / "slo" / "specs")], capture_output=True,
                              text=True, cwd=elsewhere, env={**env, "COLUMNS": "200"})
    shipped = len(load_all([ROOT / "slo" / "specs"]))
    assert validate.returncode == 0 and validate.stdout.count("ok  ") == shipped >= 6, validate.stdout + validate.stderr
    emulated = subprocess.run([*qtenancy, "emulate", "--scenario", "calm-week", "--days", "1", "--out", "run",
                               "--no-openmetrics"], capture_output=True, text=True, cwd=elsewhere, env=env,
                              timeout=600)
    assert emulated.returncode == 0, emulated.stderr[-3000:]
    assert (elsewhere / "run" / "jobs.parquet").exists() and (elsewhere / "run" / "ground_truth.json").exists()
    version = subprocess.run([*qtenancy, "--version"], capture_output=True, text=True, cwd=elsewhere, env=env)
    assert version.stdout.startswith("qtenancy 0.")


@pytest.mark.parametrize("module", ["bench.correlate_scale", "bench.demo", "bench.collector"])
def test_a_benchmark_of_qtenancy_commands_does_not_pin_them_to_one_thread(module):
    """bench.emulator runs polars on one thread on purpose; a benchmark that times qtenancy's commands in child
    processes must not inherit that through an import (correlate_scale did, and measured them 40% slow)."""
    env = {k: v for k, v in os.environ.items() if k != "POLARS_MAX_THREADS"}
    shown = subprocess.run([sys.executable, "-c", f"import os, {module}; print(os.environ.get('POLARS_MAX_THREADS'))"],
                           cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert shown.returncode == 0, shown.stderr[-2000:]
    assert shown.stdout.strip() == "None"
