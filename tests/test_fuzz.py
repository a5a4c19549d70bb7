"""Property-based fuzzing (hypothesis) of what qtenancy accepts from outside: OTLP request bodies and SLO specs.

Bad input tried: arbitrary bytes as protobuf, JSON and gzip; valid OTLP bodies with bytes flipped, cut or
spliced; arbitrary JSON documents, deep nesting included, as OTLP/JSON; arbitrary YAML documents and valid
specs (qtenancy's own, and Sloth's, OpenSLO's and Pyrra's example files) with fields dropped, retyped or given
random values. Each must end in a clean refusal (an HTTP 4xx status with a reason, or a SpecError naming the
file) or be taken; nothing may crash or hang, and data taken before and after the garbage must be stored intact.
"""

import gzip
import json
import urllib.error
import urllib.request
from pathlib import Path

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2

from collector.config import CollectorConfig
from collector.ingest import Ingestor
from collector.otlp_payload import (
    JSON,
    PROTOBUF,
    PayloadError,
    Signal,
    decompress,
    parse,
)
from collector.ownership import Owners
from collector.server import CollectorServer
from collector.tenancy import OPEN
from collector.wal import WriteAheadLog
from contract.tables import SPANS, scan
from slo.spec_files import load_specs
from slo.specs import SpecError

from .conftest import ROOT
from .test_collector import _span_json, _traces_json

LIMIT = 1 << 20
VALID_JSON = _traces_json(*[_span_json("fuzz", span_id=f"{i:016x}") for i in range(1, 4)])
VALID_PROTOBUF = parse(Signal.TRACES, VALID_JSON, JSON).SerializeToString()
FUZZ = settings(max_examples=1500, deadline=2000, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                         HealthCheck.too_slow])


def _mutated(valid: bytes) -> st.SearchStrategy[bytes]:
    """A valid body with bytes flipped, a slice cut out, or random bytes spliced in."""
    @st.composite
    def mutate(draw) -> bytes:
        body = bytearray(valid)
        for _ in range(draw(st.integers(1, 8))):
            at = draw(st.integers(0, len(body) - 1))
            match draw(st.sampled_from(["flip", "cut", "splice"])):
                case "flip":
                    body[at] ^= draw(st.integers(1, 255))
                case "cut":
                    del body[at:at + draw(st.integers(1, 32))]
                case "splice":
                    body[at:at] = draw(st.binary(min_size=1, max_size=32))
            if not body:
                break
        return bytes(body)
    return mutate()


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(
        st.sampled_from(["resourceSpans", "scopeSpans", "spans", "traceId", "spanId", "parentSpanId", "name",
                         "attributes", "key", "value", "stringValue", "intValue", "startTimeUnixNano", "resource",
                         "kind", "status", "events", "links"]) | st.text(max_size=8),
        children, max_size=5),
    max_leaves=40,
)


def _decode(signal: Signal, body: bytes, content_type: str, encoding: str | None, ingestor: Ingestor) -> None:
    """Decoding and flattening end in a refusal with a 4xx status, or in an outcome; never anything else."""
    try:
        message = parse(signal, decompress(body, encoding, LIMIT), content_type)
    except PayloadError as exc:
        assert 400 <= exc.status < 500 and exc.message
        return
    outcome, written = ingestor.submit(signal, message, OPEN)
    assert outcome.accepted >= 0 and outcome.rejected >= 0
    written.result(timeout=30)


def test_otlp_decoders_refuse_garbage_cleanly(tmp_path):
    wal = WriteAheadLog(tmp_path / "wal", 64 << 20)
    ingestor = Ingestor(wal, Owners())

    @FUZZ
    @given(signal=st.sampled_from(list(Signal)),
           body=st.binary(max_size=512) | _mutated(VALID_PROTOBUF) | _mutated(VALID_JSON),
           content_type=st.sampled_from([PROTOBUF, JSON, "text/plain", None]),
           gzipped=st.booleans())
    def bytes_in(signal, body, content_type, gzipped):
        _decode(signal, gzip.compress(body, mtime=0) if gzipped else body, content_type,
                "gzip" if gzipped else None, ingestor)

    @FUZZ
    @given(signal=st.sampled_from(list(Signal)), document=json_values, depth=st.integers(0, 3000))
    def json_in(signal, document, depth):
        text = json.dumps(document)
        _decode(signal, ("[" * depth + text + "]" * depth).encode(), JSON, None, ingestor)

    bytes_in()
    json_in()
    wal.close()


def _post(url: str, body: bytes, content_type: str) -> tuple[int, bytes]:
    request = urllib.request.Request(url, data=body, method="POST", headers={"Content-Type": content_type})
    try:
        with urllib.request.urlopen(request, timeout=30) as reply:
            return reply.status, reply.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


def test_garbage_over_http_is_refused_and_the_data_around_it_kept(tmp_path):
    config = CollectorConfig(data_dir=tmp_path / "data", http_port=0, grpc_port=0, insecure=True)
    before = trace_service_pb2.ExportTraceServiceRequest.FromString(VALID_PROTOBUF)
    after = _traces_json(*[_span_json("after", span_id=f"{i:016x}") for i in range(100, 103)])
    statuses: set[int] = set()
    with CollectorServer(config) as server:
        url = f"{server.http_endpoint}/v1/traces"
        assert _post(url, before.SerializeToString(), PROTOBUF)[0] == 200

        @settings(max_examples=300, deadline=5000, suppress_health_check=[HealthCheck.too_slow])
        @given(body=_mutated(VALID_PROTOBUF) | _mutated(VALID_JSON) | st.binary(max_size=256),
               content_type=st.sampled_from([PROTOBUF, JSON]))
        def garbage(body, content_type):
            status, reply = _post(url, body, content_type)
            statuses.add(status)
            assert status == 200 or 400 <= status < 500, (status, reply)

        garbage()
        assert _post(url, after, JSON)[0] == 200
    assert 400 in statuses
    stored = scan(tmp_path / "data" / "store", SPANS).collect()
    kept = {name: set(stored.filter(name=name)["span_id"]) for name in ("fuzz", "after")}
    assert kept["fuzz"] >= {f"{i:016x}" for i in range(1, 4)}
    assert kept["after"] == {f"{i:016x}" for i in range(100, 103)}


SPEC_KEYS = ["version", "slos", "name", "sli", "objective", "window", "group_by", "filter", "threshold",
             "service", "labels", "sli", "events", "error_query", "total_query", "alerting", "apiVersion", "kind",
             "metadata", "spec", "objectives", "target", "timeWindow", "duration", "indicator", "ratioMetric"]
yaml_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=12),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.sampled_from(SPEC_KEYS), children, max_size=6),
    max_leaves=30,
)
SHIPPED = sorted((Path(__file__).resolve().parent.parent / "slo" / "specs").glob("*.yaml"))


def _drop_or_retype(document, draw):
    if isinstance(document, dict) and document:
        key = draw(st.sampled_from(sorted(document)))
        choice = draw(st.sampled_from(["drop", "retype", "recurse"]))
        changed = dict(document)
        if choice == "drop":
            del changed[key]
        elif choice == "retype":
            changed[key] = draw(yaml_values)
        else:
            changed[key] = _drop_or_retype(document[key], draw)
        return changed
    if isinstance(document, list) and document:
        at = draw(st.integers(0, len(document) - 1))
        return [*document[:at], _drop_or_retype(document[at], draw), *document[at + 1:]]
    return draw(yaml_values)


def test_spec_loader_names_the_file_of_every_bad_spec(tmp_path):
    path = tmp_path / "fuzzed.yaml"

    def check(text: str) -> None:
        path.write_text(text)
        try:
            load_specs(path)
        except SpecError as exc:
            assert str(exc).startswith(str(path)), exc

    @settings(max_examples=1500, deadline=2000, suppress_health_check=[HealthCheck.too_slow])
    @given(document=yaml_values)
    def random_documents(document):
        check(yaml.safe_dump(document))

    @settings(max_examples=1500, deadline=2000, suppress_health_check=[HealthCheck.too_slow])
    @given(data=st.data(), shipped=st.sampled_from(SHIPPED))
    def mutated_specs(data, shipped):
        documents = list(yaml.safe_load_all(shipped.read_text()))
        check(yaml.safe_dump_all([_drop_or_retype(d, data.draw) for d in documents]))

    @settings(max_examples=500, deadline=2000)
    @given(text=st.text(max_size=200))
    def raw_text(text):
        check(text)

    random_documents()
    mutated_specs()
    raw_text()


FOREIGN = sorted([*(ROOT / "tests" / "fixtures").rglob("*.yaml"),
                  *(ROOT.parent / "shared" / "compat" / "sloth-examples" / "examples").glob("*.y*ml"),
                  *(ROOT.parent / "shared" / "compat" / "openslo-spec-examples").glob("*.yaml")])


def test_other_tools_specs_mutated_are_refused_by_file_or_generated(tmp_path):
    """Sloth's, OpenSLO's and Pyrra's own files with fields dropped, retyped or given random values: each is
    refused with a SpecError naming the file, or validates and generates its rules."""
    from alerts.generate import plan
    from alerts.sloth_plugins import Generation, slo_rules
    from contract.alert_catalogue import default_burn_windows

    path = tmp_path / "fuzzed.yaml"
    generation = Generation(default_burn_windows(), {}, "fuzz")

    @settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(data=st.data(), original=st.sampled_from(FOREIGN))
    def mutated(data, original):
        documents = [d for d in yaml.safe_load_all(original.read_text()) if d is not None]
        path.write_text(yaml.safe_dump_all([_drop_or_retype(d, data.draw) for d in documents]))
        try:
            for outcome in plan(load_specs(path)):
                assert outcome.describe()
                if outcome.rules is not None:
                    slo_rules(outcome.rules, generation)
        except SpecError as exc:
            assert str(exc).startswith(str(path)), exc

    assert len(FOREIGN) > 30
    mutated()
