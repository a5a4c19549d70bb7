"""A tenant writes and reads only its own data, and one client cannot stall or lock out the others.

Attacks tried, each with tenant A's token against tenant B's job: a root span with B's provenance ID,
A's tenant, a 1970 start and 777,777 billed seconds (the take-over); a stage span and a log record with
B's provenance ID; a calibration span failing a backend and taking it out of rotation; a backend status
record saying a backend went down, and one without the status attribute; metric points labelled with B and
a backend metric; the same take-over again after a restart. Load tried: one request of
20,000 spans against a 100 records/s limit; one 4 MiB OTLP/JSON request of 100,000 attributes while
another client sends one-span requests; one of two decoding processes killed while both decode such a request.
"""

import json
import shutil
import statistics
import threading
import time

import polars as pl
import psutil
import pytest

from collector.config import Limits, Tokens
from collector.correlate import correlate, read_jobs
from collector.decoding import DecoderLost, Decoders
from collector.otlp_payload import Signal
from collector.server import CollectorServer
from contract.tables import METRIC_POINTS, SPANS, scan

from .test_collector import (
    _config,
    _decoding_processes,
    _get,
    _post,
    _span_json,
    _traces_json,
)

ADMIN = "admin-token-0123456789abcdef"
TENANT_A = "tenant-a-token-0123456789"
TENANT_B = "tenant-b-token-0123456789"
B_JOB = "0af7651916cd43dd8448eb211c80319c"
A_JOB = "1bf7651916cd43dd8448eb211c80319d"
DAY_NS = 1775433600000000000


def _span(name, trace_id, span_id, start=DAY_NS, **attributes) -> dict:
    span = _span_json(name, trace_id=trace_id, span_id=span_id, **{"qtenancy.provenance_id": trace_id})
    span["startTimeUnixNano"], span["endTimeUnixNano"] = str(start), str(start + 10**9)
    span["attributes"] += [{"key": k, "value": v} for k, v in attributes.items()]
    return span


def _logs(trace_id, event, **attributes) -> bytes:
    record = {"timeUnixNano": str(DAY_NS + 5 * 10**9), "traceId": trace_id, "eventName": event,
              "body": {"stringValue": "job finished"},
              "attributes": [{"key": "qtenancy.provenance_id", "value": {"stringValue": trace_id}}]
              + [{"key": k, "value": v} for k, v in attributes.items()]}
    return json.dumps({"resourceLogs": [{"scopeLogs": [{"logRecords": [record]}]}]}).encode()


def _metrics(name, **labels) -> bytes:
    point = {"timeUnixNano": str(DAY_NS), "asDouble": 1.0,
             "attributes": [{"key": k, "value": {"stringValue": v}} for k, v in labels.items()]}
    return json.dumps({"resourceMetrics": [{"scopeMetrics": [{"metrics": [
        {"name": name, "gauge": {"dataPoints": [point]}}]}]}]}).encode()


def _send(server, signal, body, token) -> dict:
    status, _, reply = _post(f"{server.http_endpoint}/v1/{signal}", body, "application/json",
                             {"Authorization": f"Bearer {token}"})
    assert status == 200, reply
    return json.loads(reply).get("partialSuccess", {})


B_SPANS = [
    _span("qtenancy.job", B_JOB, "00000000000000b1", **{
        "qtenancy.tenant.id": {"stringValue": "b"}, "qtenancy.billing.seconds": {"doubleValue": 5.0},
        "qtenancy.job.outcome": {"stringValue": "succeeded"}, "qtenancy.result.usable": {"boolValue": True},
        "qtenancy.job.stages": {"arrayValue": {"values": [{"stringValue": "submit"}, {"stringValue": "execute"},
                                                          {"stringValue": "notify"}]}}}),
    _span("qtenancy.job.submit", B_JOB, "00000000000000b2"),
    _span("qtenancy.job.execute", B_JOB, "00000000000000b3"),
    _span("qtenancy.job.notify", B_JOB, "00000000000000b4"),
]


def _attacks(server) -> list[dict]:
    """Everything A tries against B and the platform; each answer's partial success."""
    takeover = _span("qtenancy.job", B_JOB, "00000000000000a1", start=10**9, **{
        "qtenancy.tenant.id": {"stringValue": "a"}, "qtenancy.billing.seconds": {"doubleValue": 777777.0},
        "qtenancy.job.outcome": {"stringValue": "failed"}})
    stage = _span("qtenancy.job.store", B_JOB, "00000000000000a2")
    calibration = _span_json("qtenancy.calibration", trace_id="2cf7651916cd43dd8448eb211c80319e",
                             span_id="00000000000000a3", **{"qtenancy.backend.name": "perth",
                                                            "qtenancy.calibration.verdict": "fail"})
    return [
        _send(server, "traces", _traces_json(takeover), TENANT_A),
        _send(server, "traces", _traces_json(stage), TENANT_A),
        _send(server, "logs", _logs(B_JOB, "qtenancy.job.finished"), TENANT_A),
        _send(server, "traces", _traces_json(calibration), TENANT_A),
        _send(server, "metrics", _metrics("qtenancy_jobs_total", tenant="b"), TENANT_A),
        _send(server, "metrics", _metrics("qtenancy_backend_up", backend="perth"), TENANT_A),
        _send(server, "logs", _logs(A_JOB, "qtenancy.backend.status", **{
            "qtenancy.backend.name": {"stringValue": "perth"}, "qtenancy.backend.up": {"boolValue": False}}), TENANT_A),
        _send(server, "logs", _logs(A_JOB, "qtenancy.backend.status", **{
            "qtenancy.backend.name": {"stringValue": "perth"}}), TENANT_A),
    ]


@pytest.mark.parametrize("processes", [0, 2], ids=["decoded-on-threads", "decoded-in-processes"])
def test_a_tenant_cannot_take_over_write_into_or_read_another_tenants_job(tmp_path, processes):
    tokens = Tokens(admin=[ADMIN], tenants={"a": TENANT_A, "b": TENANT_B})
    config = _config(tmp_path, tokens=tokens, limits=Limits(decode_processes=processes))
    store = config.data_dir / "store"
    with CollectorServer(config) as server:
        assert _send(server, "traces", _traces_json(*B_SPANS), TENANT_B) == {}
        assert _send(server, "logs", _logs(B_JOB, "qtenancy.job.finished"), TENANT_B) == {}
        server.compact_now()
        correlate(store)
        answers = _attacks(server)
        assert [a.get("rejectedSpans", a.get("rejectedLogRecords", a.get("rejectedDataPoints"))) for a in answers] \
            == ["1"] * 8, answers
        for answer in answers[:3]:
            assert "belongs to another tenant" in answer["errorMessage"] and "'b'" not in answer["errorMessage"]
        assert "is a platform record" in answers[3]["errorMessage"]
        assert "is labelled tenant='b' but the token is 'a''s" in answers[4]["errorMessage"]
        assert "is a platform metric" in answers[5]["errorMessage"]
        assert "is a platform record" in answers[6]["errorMessage"]
        assert "is a platform record" in answers[7]["errorMessage"]
        assert _send(server, "traces", _traces_json(_span("qtenancy.job", A_JOB, "00000000000000a9")), TENANT_A) == {}
        server.compact_now()
        correlate(store)
        status, trace = _get(f"{server.http_endpoint}/api/v1/jobs/{B_JOB}/trace", TENANT_A)
        assert status == 404 and trace == {"error": f"no job {B_JOB}"}
        status, trace = _get(f"{server.http_endpoint}/api/v1/jobs/{B_JOB}/trace", TENANT_B)
        assert status == 200 and sorted(s["span_id"] for s in trace["spans"]) == [s["spanId"] for s in B_SPANS]
        assert len(trace["logs"]) == 1 and trace["logs"][0]["ingest_tenant"] == "b"
        status, listed = _get(f"{server.http_endpoint}/api/v1/jobs", TENANT_B)
        assert [j["provenance_id"] for j in listed] == [B_JOB]
        status, listed = _get(f"{server.http_endpoint}/api/v1/jobs", TENANT_A)
        assert [(j["provenance_id"], j["tenant"]) for j in listed] == [(A_JOB, "a")]

    job = read_jobs(store).filter(pl.col("provenance_id") == B_JOB).collect().row(0, named=True)
    assert (job["tenant"], job["billed_seconds"], job["outcome"], job["span_count"]) == ("b", 5.0, "succeeded", 3)
    assert not (store / "calibrations").exists(), "a tenant-written calibration reached the calibrations table"
    assert scan(store, METRIC_POINTS).collect().height == 0
    assert scan(store, SPANS).filter(pl.col("ingest_tenant") == "a").collect()["span_id"].to_list() == ["00000000000000a9"]

    rebuilt = tmp_path / "rebuilt"
    shutil.copytree(store, rebuilt, ignore=shutil.ignore_patterns("jobs", "calibrations", "correlated.json"))
    correlate(rebuilt)
    assert read_jobs(rebuilt).collect().equals(read_jobs(store).collect())

    with CollectorServer(config) as server:
        again = _attacks(server)
        assert all("rejected" in json.dumps(a) for a in again), "a binding was forgotten across the restart"


def test_one_large_request_cannot_lock_its_tenant_out(tmp_path):
    tokens = Tokens(tenants={"lab": TENANT_A})
    limits = Limits(tenant_records_per_second=100)
    auth = {"Authorization": f"Bearer {TENANT_A}"}
    with CollectorServer(_config(tmp_path, tokens=tokens, limits=limits)) as server:
        url = f"{server.http_endpoint}/v1/traces"

        def spans(first, count):
            return _traces_json(*[_span_json("x", span_id=f"{i:016x}") for i in range(first, first + count)])

        status, _, body = _post(url, spans(1, 20_000), "application/json", auth)
        assert status == 413 and "exceeds tenant 'lab''s burst of 100 records" in json.loads(body)["message"]
        assert _post(url, spans(30_000, 60), "application/json", auth)[0] == 200
        status, headers, _ = _post(url, spans(31_000, 90), "application/json", auth)
        assert status == 429 and headers["Retry-After"] == "1"
        time.sleep(1.0)
        assert _post(url, spans(32_000, 90), "application/json", auth)[0] == 200


def _worst_case_body() -> bytes:
    """One span with 100,000 attributes: about 4 MiB of OTLP/JSON, the slowest thing to decode per byte."""
    span = _span_json("heavy", span_id="00000000000000ff")
    span["attributes"] = [{"key": f"{i:x}", "value": {"intValue": 7}} for i in range(100_000)]
    return json.dumps(json.loads(_traces_json(span)), separators=(",", ":")).encode()


def test_a_worst_case_request_does_not_stall_another_client(tmp_path):
    body = _worst_case_body()
    assert 3 << 20 < len(body) <= 4 << 20
    with CollectorServer(_config(tmp_path)) as server:
        url = f"{server.http_endpoint}/v1/traces"
        ids = iter(range(1, 10_000))

        def one_span() -> float:
            began = time.perf_counter()
            status, _, _ = _post(url, _traces_json(_span_json("small", span_id=f"{next(ids):016x}")), "application/json")
            assert status == 200
            return time.perf_counter() - began

        alone = statistics.median(one_span() for _ in range(20))
        heavy: dict = {}

        def send_heavy() -> None:
            began = time.perf_counter()
            heavy["status"] = _post(url, body, "application/json")[0]
            heavy["seconds"] = time.perf_counter() - began

        sender = threading.Thread(target=send_heavy)
        sender.start()
        time.sleep(0.05)
        during = []
        while sender.is_alive():
            during.append(one_span())
        sender.join()
    assert heavy["status"] == 200
    overlapping = during[:-1] or during
    print(json.dumps({"alone_s": round(alone, 4), "during_max_s": round(max(overlapping), 4),
                      "samples": len(overlapping), "heavy_s": round(heavy["seconds"], 2)}))
    assert heavy["seconds"] > 0.5, "the heavy request was too quick to stall anything: the test proves nothing"
    assert len(overlapping) >= 3
    assert max(overlapping) < heavy["seconds"] / 2, "a small request waited for most of the heavy one"
    assert statistics.median(overlapping) < heavy["seconds"] / 5


def test_a_decoder_lost_mid_request_fails_what_was_in_flight_and_stops_the_rest():
    """Bad event tried: one of two decoding processes SIGKILLed while both decode a worst-case request."""
    decoders = Decoders(2, 16 << 20)
    body = _worst_case_body()
    outcomes: list[str] = []

    def send() -> None:
        try:
            decoders.decode(Signal.TRACES, body, "application/json", None, None)
            outcomes.append("decoded")
        except DecoderLost:
            outcomes.append("lost")

    senders = [threading.Thread(target=send) for _ in range(2)]
    for sender in senders:
        sender.start()
    deadline = time.monotonic() + 60
    while True:
        workers = _decoding_processes()
        if len(workers) == 2 and all(sum(w.cpu_times()[:2]) > 1.0 for w in workers):
            break
        assert time.monotonic() < deadline, "the two decoding processes never got busy"
        time.sleep(0.05)
    workers[0].kill()
    for sender in senders:
        sender.join(timeout=60)
    assert outcomes == ["lost", "lost"]
    _, alive = psutil.wait_procs(workers[1:], timeout=15)
    assert not alive, "the other decoding process of the broken pool was left running"
    small = _traces_json(_span_json("small", span_id="0000000000000001"))
    assert decoders.decode(Signal.TRACES, small, "application/json", None, None).accepted == 1
    closing = threading.Thread(target=decoders.close)
    closing.start()
    closing.join(timeout=30)
    assert not closing.is_alive(), "closing the decoders hung"

