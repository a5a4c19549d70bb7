"""The stack without Docker: the qtenancy collector, Prometheus, Alertmanager and the emulator in real-time
mode, as processes on loopback; ``down`` stops exactly the processes ``up`` started.

What ``up`` started is recorded in ``<dir>/stack.json`` with each process's start time, so ``down`` never
signals a process that merely reused a recorded PID.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import asdict, dataclass
from pathlib import Path

import psutil
import yaml

from contract.alert_catalogue import BurnWindows
from contract.durations import format_duration

STATE = "stack.json"
ALERTMANAGER_BINARIES = ("alertmanager", "prometheus-alertmanager")


class StackError(RuntimeError):
    pass


@dataclass(frozen=True)
class Ports:
    prometheus: int
    alertmanager: int
    collector_http: int
    collector_grpc: int
    metrics: int


@dataclass(frozen=True)
class Started:
    name: str
    pid: int
    create_time: float
    log: str


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def binary(*names: str) -> str:
    for name in names:
        if found := shutil.which(name):
            return found
    raise StackError(f"{names[0]} is not installed: apt-get install prometheus prometheus-alertmanager")


def prometheus_config(ports: Ports, rules: Path, interval: str) -> dict:
    return {
        "global": {"scrape_interval": interval, "evaluation_interval": interval},
        "rule_files": [str(rules / "*.yaml")],
        "alerting": {"alertmanagers": [{"static_configs": [{"targets": [f"127.0.0.1:{ports.alertmanager}"]}]}]},
        "scrape_configs": [
            {"job_name": "qtenancy-emulator", "static_configs": [{"targets": [f"127.0.0.1:{ports.metrics}"]}]},
        ],
    }


def _spawn(name: str, args: list[str], directory: Path) -> Started:
    log = directory / f"{name}.log"
    process = subprocess.Popen(args, stdout=open(log, "w"), stderr=subprocess.STDOUT, start_new_session=True)
    return Started(name, process.pid, psutil.Process(process.pid).create_time(), str(log))


def _wait(url: str, started: Started, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not psutil.pid_exists(started.pid) or psutil.Process(started.pid).status() == psutil.STATUS_ZOMBIE:
            raise StackError(f"{started.name} exited; see {started.log}: {Path(started.log).read_text()[-1000:]}")
        try:
            with urllib.request.urlopen(url, timeout=1):
                return
        except OSError:
            time.sleep(0.2)
    raise StackError(f"{started.name} did not answer on {url} within {timeout:g} s; see {started.log}")


def start_collector(directory: Path, data_dir: Path, http_port: int, grpc_port: int,
                    decode_processes: int = 0) -> Started:
    """``qtenancy collector serve`` as a child process, returned once it answers its health check."""
    started = _spawn("collector", [
        sys.executable, "-m", "qtenancy", "collector", "serve", "--insecure", "--data-dir", str(data_dir),
        "--http-port", str(http_port), "--grpc-port", str(grpc_port), "--decode-processes", str(decode_processes)],
        directory)
    try:
        _wait(f"http://127.0.0.1:{http_port}/-/healthy", started)
    except StackError:
        stop([started])
        raise
    return started


SAMPLES_PER_WINDOW = 5
"""Scrapes within the shortest burn window, so its ``rate()`` always has points to work with."""


def evaluation_interval(windows: BurnWindows) -> str:
    """Prometheus' scrape and evaluation interval for these (possibly time-scaled) windows: 15 s at most,
    half a second at the least."""
    seconds = min(15.0, max(0.5, windows.sli_windows[0] / SAMPLES_PER_WINDOW))
    return format_duration(seconds)


def up(directory: Path, rules: Path, emulate_args: list[str], interval: str = "5s") -> tuple[Ports, list[Started]]:
    """Start everything; on any failure stop what was started and raise."""
    directory.mkdir(parents=True, exist_ok=True)
    if (directory / STATE).exists():
        raise StackError(f"{directory / STATE} exists: a stack runs there (qtenancy stack down --dir {directory})")
    ports = Ports(free_port(), free_port(), free_port(), free_port(), free_port())
    (directory / "prometheus.yml").write_text(yaml.safe_dump(prometheus_config(ports, rules, interval)))
    qtenancy = [sys.executable, "-m", "qtenancy"]
    started: list[Started] = []
    try:
        started.append(start_collector(directory, directory / "collector-data", ports.collector_http, ports.collector_grpc))
        started.append(_spawn("alertmanager", [
            binary(*ALERTMANAGER_BINARIES), f"--config.file={rules.parent / 'alertmanager.yml'}",
            f"--storage.path={directory / 'alertmanager'}", f"--web.listen-address=127.0.0.1:{ports.alertmanager}",
            "--cluster.listen-address="], directory))
        _wait(f"http://127.0.0.1:{ports.alertmanager}/-/ready", started[-1])
        started.append(_spawn("prometheus", [
            binary("prometheus"), f"--config.file={directory / 'prometheus.yml'}",
            f"--storage.tsdb.path={directory / 'prometheus'}", f"--web.listen-address=127.0.0.1:{ports.prometheus}"],
            directory))
        _wait(f"http://127.0.0.1:{ports.prometheus}/-/ready", started[-1])
        started.append(_spawn("emulator", qtenancy + [
            "emulate", *emulate_args, "--realtime", "--metrics-port", str(ports.metrics), "--out", str(directory / "run"),
            "--otlp-endpoint", f"http://127.0.0.1:{ports.collector_http}"], directory))
        _wait(f"http://127.0.0.1:{ports.metrics}/metrics", started[-1], timeout=300)
    except Exception:
        stop(started)
        raise
    (directory / STATE).write_text(json.dumps({"ports": asdict(ports), "processes": [asdict(s) for s in started]},
                                              indent=2))
    return ports, started


def _ours(started: Started) -> psutil.Process | None:
    try:
        process = psutil.Process(started.pid)
    except psutil.NoSuchProcess:
        return None
    return process if abs(process.create_time() - started.create_time) < 0.01 else None


def stop(started: list[Started]) -> list[str]:
    """SIGTERM each process we started (newest first), SIGKILL after 30 s; returns the names stopped."""
    stopped = []
    for item in reversed(started):
        process = _ours(item)
        if process is None:
            continue
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except psutil.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
        stopped.append(item.name)
    return stopped


def down(directory: Path) -> list[str]:
    """Stop the processes recorded in ``<dir>/stack.json`` (and only those); returns their names."""
    state = directory / STATE
    if not state.exists():
        raise StackError(f"no stack recorded in {directory}")
    recorded = [Started(**p) for p in json.loads(state.read_text())["processes"]]
    stopped = stop(recorded)
    state.unlink()
    return stopped
