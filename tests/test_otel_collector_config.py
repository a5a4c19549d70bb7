"""deploy/otel-collector/config.yaml is what a current OpenTelemetry Collector accepts, and it forwards the token.

No otelcol binary runs here, so the file is checked against the Collector's own generated component schemas
(tests/fixtures/opentelemetry-collector/, v0.159.0) and, for ``service::telemetry::metrics``, the otelconf v0.3.0
MeterProvider schema the Collector decodes it into (tests/fixtures/opentelemetry-configuration/). The Collector
decodes with unused keys as errors, so a key the schema does not name is refused here as it is there.

Bad input tried: the old ``service.telemetry.metrics.address``, a misspelt exporter key, a headers value of the
wrong type, a deprecated component type, and the qtenancy collector without the forwarded token (401).
"""

import json
import re
import urllib.error
import urllib.request
from pathlib import Path

import jsonschema
import pytest
import referencing
import yaml

from collector.config import CollectorConfig, Tokens
from collector.server import CollectorServer

from .conftest import ROOT

CONFIG = ROOT / "deploy" / "otel-collector" / "config.yaml"
FIXTURES = Path(__file__).parent / "fixtures"
COLLECTOR = FIXTURES / "opentelemetry-collector"
OTELCONF = FIXTURES / "opentelemetry-configuration" / "schema"
COMPONENTS = {"receivers": "receiver/otlpreceiver", "processors": "processor/batchprocessor",
              "exporters": ("exporter/otlphttpexporter", "exporter/otlpexporter")}
TELEMETRY_LEVELS = {"none", "basic", "normal", "detailed"}  # config/configtelemetry/configtelemetry.go
JSON_TYPES = {"object": dict, "array": list, "string": str, "boolean": bool, "integer": int, "number": (int, float)}


def _schema_file(package: str) -> dict:
    return yaml.safe_load((COLLECTOR / package / "config.schema.yaml").read_text())


def _resolve(ref: str, package: str) -> tuple[dict, str]:
    """The Collector's schema refs: ``name`` (a $def here), ``/pkg/path.name`` and ``./sub.name`` (relative)."""
    if ref.startswith("/"):
        package, _, name = ref[1:].rpartition(".")
    elif ref.startswith("./"):
        sub, _, name = ref[2:].rpartition(".")
        package = f"{package}/{sub}"
    else:
        name = ref
    return _schema_file(package)["$defs"][name], package


def _properties(schema: dict, package: str) -> dict[str, tuple[dict, str]]:
    """Every key an object schema allows, its own and those of the structs it embeds (``allOf``)."""
    if "$ref" in schema:
        return _properties(*_resolve(schema["$ref"], package))
    allowed = {key: (sub, package) for key, sub in schema.get("properties", {}).items()}
    for embedded in schema.get("allOf", []):
        allowed |= _properties(embedded, package)
    return allowed


def component_problems(value, schema: dict, package: str, where: str) -> list[str]:
    """What the Collector would refuse in ``value``: unknown keys and wrong types, each with its path."""
    while "$ref" in schema:
        schema, package = _resolve(schema["$ref"], package)
    kind = schema.get("type") or ("object" if "properties" in schema or "allOf" in schema else None)
    if value is None or kind is None:
        return []
    if not isinstance(value, JSON_TYPES[kind]) or (kind in ("integer", "number") and isinstance(value, bool)):
        return [f"{where}: expected {kind}, got {value!r}"]
    if kind == "array":
        return [p for i, item in enumerate(value) for p in component_problems(item, schema.get("items", {}), package, f"{where}[{i}]")]
    if kind != "object":
        return []
    allowed = _properties(schema, package)
    problems = [f"{where}.{key}: unknown key" for key in value if key not in allowed]
    return problems + [p for key, item in value.items() if key in allowed
                       for p in component_problems(item, *allowed[key], f"{where}.{key}")]


def _types(section: str) -> dict[str, tuple[str, str]]:
    """A section's component type -> (its package, its deprecated type), from each component's metadata.yaml."""
    packages = COMPONENTS[section]
    found = {}
    for package in (packages,) if isinstance(packages, str) else packages:
        meta = yaml.safe_load((COLLECTOR / package / "metadata.yaml").read_text())
        found[meta["type"]] = (package, meta.get("deprecated_type"))
    return found


def telemetry_problems(telemetry: dict) -> list[str]:
    metrics = dict(telemetry.get("metrics", {}))
    problems = []
    level = str(metrics.pop("level", "basic")).lower()
    if level not in TELEMETRY_LEVELS:
        problems.append(f"service.telemetry.metrics.level: {level!r} is not one of {sorted(TELEMETRY_LEVELS)}")
    if level != "none" and not metrics.get("readers"):
        problems.append("service.telemetry.metrics: a reader must exist when the level is not none")
    registry = referencing.Registry().with_resources(
        (path.name, referencing.Resource.from_contents(json.loads(path.read_text()))) for path in OTELCONF.glob("*.json"))
    validator = jsonschema.Draft202012Validator({"$ref": "meter_provider.json"}, registry=registry)
    problems += [f"service.telemetry.metrics.{'.'.join(map(str, e.absolute_path))}: {e.message}"
                 for e in validator.iter_errors(metrics)]
    return problems


def config_problems(config: dict) -> list[str]:
    problems = []
    for section in COMPONENTS:
        types = _types(section)
        deprecated = {old: new for new, (_, old) in types.items() if old}
        for name, settings in config.get(section, {}).items():
            kind = name.split("/")[0]
            if kind in deprecated:
                problems.append(f"{section}.{name}: type {kind!r} is deprecated, use {deprecated[kind]!r}")
                kind = deprecated[kind]
            if kind not in types:
                problems.append(f"{section}.{name}: unknown component type {kind!r}")
                continue
            package = types[kind][0]
            problems += component_problems(settings or {}, _schema_file(package), package, f"{section}.{name}")
    service = config["service"]
    problems += telemetry_problems(service.get("telemetry", {}))
    for pipeline, parts in service["pipelines"].items():
        for section, names in parts.items():
            problems += [f"service.pipelines.{pipeline}.{section}: {n!r} is not configured"
                         for n in names if n not in config.get(section, {})]
    return problems


def _config() -> dict:
    return yaml.safe_load(CONFIG.read_text())


def test_the_shipped_configuration_passes_the_collectors_own_schemas():
    config = _config()
    assert config_problems(config) == []
    assert config["service"]["telemetry"]["metrics"]["readers"][0]["pull"]["exporter"]["prometheus"]["port"] == 8888
    assert all("otlp_http/qtenancy" in pipeline["exporters"] for pipeline in config["service"]["pipelines"].values())


def test_the_checks_refuse_what_a_current_collector_refuses():
    config = _config()
    config["service"]["telemetry"]["metrics"] = {"address": "0.0.0.0:8888"}
    config["exporters"]["otlp_http/qtenancy"]["endpont"] = "http://x"
    config["exporters"]["otlp_http/qtenancy"]["headers"] = "Authorization: Bearer x"
    config["exporters"]["otlphttp/old"] = {"endpoint": "http://x"}
    assert config_problems(config) == [
        "exporters.otlp_http/qtenancy.endpont: unknown key",
        "exporters.otlp_http/qtenancy.headers: expected array, got 'Authorization: Bearer x'",
        "exporters.otlphttp/old: type 'otlphttp' is deprecated, use 'otlp_http'",
        "service.telemetry.metrics: a reader must exist when the level is not none",
        "service.telemetry.metrics.: Additional properties are not allowed ('address' was unexpected)",
    ]


def test_the_compose_file_pins_the_checked_collector_and_passes_the_token():
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"]["otel-collector"]
    assert compose["image"] == "otel/opentelemetry-collector-contrib:0.159.0"
    assert "QTENANCY_COLLECTOR_TOKEN" in compose["environment"]


def _post(url: str, headers: dict) -> int:
    request = urllib.request.Request(url, b'{"resourceSpans": []}', {"Content-Type": "application/json", **headers})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status
    except urllib.error.HTTPError as exc:
        return exc.code


@pytest.mark.parametrize("token, status", [("admin-token-0123456789abcdef", 200), ("", 401)])
def test_a_qtenancy_collector_with_tokens_accepts_what_the_exporter_sends(tmp_path, token, status):
    """The exporter's headers as the Collector expands ``${env:...}``, sent to a real qtenancy collector."""
    exporter = _config()["exporters"]["otlp_http/qtenancy"]
    env = {"QTENANCY_COLLECTOR_TOKEN": token}
    headers = {h["name"]: re.sub(r"\$\{env:(\w+)\}", lambda m: env[m[1]], h["value"]) for h in exporter["headers"]}
    config = CollectorConfig(data_dir=tmp_path, http_port=0, grpc_port=0,
                             tokens=Tokens(admin=["admin-token-0123456789abcdef"]))
    with CollectorServer(config) as server:
        assert _post(f"{server.http_endpoint}/v1/traces", headers) == status
