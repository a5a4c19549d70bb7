"""Acknowledged means kept, across restarts, crashes, a full disk and an operator's mistakes.

Faults tried: ten SIGKILLs under four clients sending spans of one day (so every restart writes parts
into the same day partition), a clean restart, an offline ingest into a directory a collector served
before; a real file system (tmpfs) filled by another file until writes fail, then freed; the next
write-ahead log segment that cannot be opened; the data directory deleted under a running collector;
a second collector started on a directory whose lock file an earlier version kept (deleted here).
"""

import itertools
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
import urllib.request

import polars as pl
import pytest
import yaml

from collector.store import DataDir
from collector.wal import HIGH_WATER, WriteAheadLog, encode
from contract.tables import SPANS, scan_raw
from qtenancy.stack import free_port

from .conftest import ROOT, small_disk
from .test_collector import (
    _post,
    _serve,
    _span_json,
    _traces_json,
    _verify,
    _wait_healthy,
)


@pytest.fixture
def serve():
    """``_serve``, with every collector it started killed when the test ends, passed or not."""
    started = []

    def start(*args, **kwargs):
        started.append(_serve(*args, **kwargs))
        return started[-1]

    yield start
    for process in started:
        if process.poll() is None:
            process.kill()
            process.communicate()


def _health(port: int) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/-/healthy", timeout=5) as reply:
            return reply.status, reply.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


class Load:
    """Clients sending batches of 100 same-day spans, each span ID used once; remembers what was acknowledged."""

    def __init__(self, port: int):
        self.url = f"http://127.0.0.1:{port}/v1/traces"
        self.acknowledged: list[str] = []
        self.refused: list[tuple[int, str, list[str]]] = []
        self._batches = itertools.count(1)
        self._lock = threading.Lock()

    def send_one(self) -> int:
        n = next(self._batches)
        spans = [_span_json("durable", span_id=f"{n:08x}{i:08x}") for i in range(100)]
        status, _, body = _post(self.url, _traces_json(*spans), "application/json")
        with self._lock:
            if status == 200:
                self.acknowledged += [s["spanId"] for s in spans]
            else:
                self.refused.append((status, json.loads(body)["message"], [s["spanId"] for s in spans]))
        return status

    def run(self, clients: int, until) -> None:
        """Send from ``clients`` threads until ``until()`` is true or the server goes away."""
        stop = threading.Event()

        def client() -> None:
            while not stop.is_set():
                try:
                    self.send_one()
                except OSError:
                    return

        threads = [threading.Thread(target=client) for _ in range(clients)]
        for thread in threads:
            thread.start()
        try:
            until()
        finally:
            stop.set()
            for thread in threads:
                thread.join()


def _raw_span_ids(data) -> pl.Series:
    return scan_raw(DataDir(data).store, SPANS).select("span_id").collect()["span_id"]


def test_restarts_crashes_and_an_ingest_into_a_served_directory_keep_every_acknowledged_span_once(tmp_path, serve):
    data = tmp_path / "data"
    http_port, grpc_port = free_port(), free_port()
    load = Load(http_port)
    for _ in range(10):
        server = serve(data, http_port, grpc_port)
        _wait_healthy(http_port, server)
        target = len(load.acknowledged) + 2_000

        def killed_after_enough(server=server, target=target) -> None:
            while len(load.acknowledged) < target:
                time.sleep(0.02)
            server.send_signal(signal.SIGKILL)
            server.wait()

        load.run(4, killed_after_enough)
    server = serve(data, http_port, grpc_port)
    _wait_healthy(http_port, server)
    for _ in range(5):
        assert load.send_one() == 200
    server.send_signal(signal.SIGTERM)
    _, err = server.communicate(timeout=60)
    assert server.returncode == 0, err

    exported = tmp_path / "file-exporter.json"
    offline = [_span_json("durable", span_id=f"ffff{i:012x}") for i in range(1, 301)]
    exported.write_text("\n".join(json.dumps(json.loads(_traces_json(*offline[i:i + 100])))
                                  for i in range(0, 300, 100)) + "\n")
    done = subprocess.run([sys.executable, "-m", "qtenancy", "collector", "ingest", str(exported), "--data-dir",
                           str(data)], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr

    stored = _raw_span_ids(data)
    expected = set(load.acknowledged) | {s["spanId"] for s in offline}
    assert len(load.acknowledged) >= 20_000
    assert not expected - set(stored), f"{len(expected - set(stored))} acknowledged spans lost"
    assert stored.is_duplicated().sum() == 0, "a span was stored twice"
    parts = sorted(p.name for p in (DataDir(data).store / SPANS).glob("day=*/*.parquet"))
    assert len(parts) == len(set(parts)) >= 11, parts


def _config(path, **settings) -> str:
    path.write_text(yaml.safe_dump({"insecure": True, "compact_interval_seconds": 0.3, **settings}))
    return str(path)


def test_a_full_disk_that_frees_again_loses_nothing_acknowledged_and_compaction_resumes(tmp_path, serve):
    with small_disk(tmp_path / "disk", 32 << 20) as disk:
        data = disk / "data"
        http_port = free_port()
        server = serve(data, http_port, free_port(), "--config", _config(tmp_path / "collector.yaml"))
        _wait_healthy(http_port, server)
        load = Load(http_port)
        assert load.send_one() == 200
        filler = disk / "filler"
        with open(filler, "wb") as handle:
            handle.write(b"\0" * (shutil.disk_usage(disk).free - (256 << 10)))
        while len(load.refused) < 5:
            load.send_one()
        assert {status for status, _, _ in load.refused} == {503}, load.refused
        assert all("could not persist the request" in message for _, message, _ in load.refused)
        reads = []
        while not reads or reads[-1][0] == 404 and len(reads) < 500:
            reads.append(_get_status(f"http://127.0.0.1:{http_port}/api/v1/jobs/{'a' * 32}/trace"))
        assert {status for status, _ in reads} <= {404, 503}, "the slack of the audit log's last page runs out"
        assert reads[-1][0] == 503 and "cannot record this read in the audit trail" in reads[-1][1], reads[-1]
        status, health = _health(http_port)
        assert status == 503 and health.startswith("degraded:"), health
        before_freeing = len(load.acknowledged)

        filler.unlink()
        for _ in range(30):
            assert load.send_one() == 200
        after = load.acknowledged[before_freeing:]
        deadline = time.monotonic() + 30
        while _health(http_port)[0] != 200:
            assert time.monotonic() < deadline, _health(http_port)
            time.sleep(0.2)
        assert _get_status(f"http://127.0.0.1:{http_port}/api/v1/jobs/{'a' * 32}/trace")[0] == 404
        while len(list(DataDir(data).wal.glob("segment-*.wal"))) > 1:
            assert time.monotonic() < deadline, "compaction did not resume"
            time.sleep(0.2)
        server.send_signal(signal.SIGTERM)
        _, err = server.communicate(timeout=60)
        assert server.returncode == 0, err

        stored = set(_raw_span_ids(data))
        assert len(after) == 3_000 and set(after) <= stored
        assert set(load.acknowledged) <= stored
        assert not {s for _, _, ids in load.refused for s in ids} & stored, "a refused request was stored"
        assert _verify(data / "audit.log").ok
        assert not list(DataDir(data).store.rglob(".*.tmp")), "a failed compaction left a temporary part"


def _get_status(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=10) as reply:
            return reply.status, reply.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


def test_a_segment_that_cannot_be_opened_fails_its_batch_and_the_writer_lives_on(tmp_path):
    wal = WriteAheadLog(tmp_path / "wal", 1 << 20)
    rows = pl.DataFrame({"trace_id": ["a"]})
    wal.append([encode(SPANS, rows)]).result(timeout=10)
    (tmp_path / "wal" / HIGH_WATER).unlink()
    (tmp_path / "wal" / HIGH_WATER).mkdir()
    wal.rotate()
    assert wal.problem and "cannot open the next segment" in wal.problem
    with pytest.raises(OSError):
        wal.append([encode(SPANS, rows)]).result(timeout=10)
    assert "Is a directory" in wal.problem
    (tmp_path / "wal" / HIGH_WATER).rmdir()
    wal.append([encode(SPANS, rows)]).result(timeout=10)
    assert wal.problem is None
    wal.close()
    assert [p.name for p in sorted((tmp_path / "wal").glob("segment-*.wal"))] == [
        "segment-000000000001.wal", "segment-000000000002.wal"]


def test_a_deleted_data_directory_is_refused_not_acknowledged_and_sigterm_still_stops(tmp_path, serve):
    data = tmp_path / "data"
    http_port = free_port()
    server = serve(data, http_port, free_port())
    _wait_healthy(http_port, server)
    load = Load(http_port)
    assert load.send_one() == 200
    shutil.rmtree(data)
    assert load.send_one() == 503
    assert "was removed while in use" in load.refused[-1][1]
    assert load.send_one() == 503
    status, health = _health(http_port)
    assert status == 503 and "data directory" in health and "is gone" in health
    server.send_signal(signal.SIGTERM)
    server.communicate(timeout=60)
    assert server.returncode is not None


def test_the_writer_lock_cannot_be_deleted_away(tmp_path, serve):
    data = tmp_path / "data"
    http_port = free_port()
    first = serve(data, http_port, free_port())
    _wait_healthy(http_port, first)
    for leftover in data.glob("*.lock"):
        os.remove(leftover)
    second = serve(data, free_port(), free_port())
    _, err = second.communicate(timeout=60)
    assert second.returncode == 1 and f"{data} is in use by another collector process" in err
    assert Load(http_port).send_one() == 200
    first.send_signal(signal.SIGTERM)
    first.communicate(timeout=60)
