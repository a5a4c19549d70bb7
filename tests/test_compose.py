"""docker-compose.yml and deploy/ stay valid: the Compose specification's own JSON schema (from
../shared/compat/compose/; no Docker engine runs here), every file the services mount exists, the generated
rules, Alertmanager configuration and dashboards are what the generators write today, and each component's
configuration passes its own checker where one runs here (promtool, amtool).
"""

import json
import subprocess
import sys

import jsonschema
import yaml

from .conftest import ROOT, system_tool

SCHEMA = ROOT.parent / "shared" / "compat" / "compose" / "compose-spec.json"
RUNBOOK_BASE = "https://github.com/qtenancy/qtenancy/blob/main/docs/runbooks"


def _compose() -> dict:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def test_compose_file_matches_the_compose_spec():
    schema = json.loads(SCHEMA.read_text())
    compose = _compose()
    jsonschema.Draft7Validator(schema).validate(compose)
    assert set(compose["services"]) == {"emulator", "otel-collector", "qtenancy-collector", "prometheus", "alertmanager",
                                        "grafana", "tempo", "loki"}
    assert compose["services"]["emulator"]["build"] == "."


def test_every_bind_mount_exists():
    for name, service in _compose()["services"].items():
        for volume in service.get("volumes", []):
            source = volume.split(":")[0]
            if source.startswith("./"):
                assert (ROOT / source).exists(), (name, source)


def test_schema_catches_a_broken_compose_file():
    schema = json.loads(SCHEMA.read_text())
    broken = {"services": {"emulator": {"imagee": "qtenancy", "restart": 3}}}
    messages = sorted(e.message for e in jsonschema.Draft7Validator(schema).iter_errors(broken))
    assert "'imagee' does not match any of the regexes: '^x-'" in messages
    assert any("3 is not of type 'string'" in m for m in messages), messages


def test_generated_deploy_files_are_current(tmp_path):
    subprocess.run([sys.executable, "-m", "qtenancy", "alerts", "generate", str(ROOT / "slo" / "specs"), "-o", str(tmp_path),
                    "--runbook-base", RUNBOOK_BASE, "--page-url", "http://alert-sink:9095/page",
                    "--ticket-url", "http://alert-sink:9095/ticket"], check=True, capture_output=True, cwd=ROOT)
    subprocess.run([sys.executable, "-m", "qtenancy", "dashboards", "generate", "-o", str(tmp_path / "dashboards")],
                   check=True, capture_output=True, cwd=ROOT)
    committed = ROOT / "deploy" / "generated"
    fresh = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*") if p.is_file())
    assert fresh == sorted(p.relative_to(committed) for p in committed.rglob("*") if p.is_file())
    for path in fresh:
        assert (committed / path).read_bytes() == (tmp_path / path).read_bytes(), f"{path}: run `make deploy`"


def test_component_configurations_pass_their_checkers():
    done = subprocess.run([system_tool("promtool"), "check", "config", str(ROOT / "deploy" / "prometheus" / "prometheus.yml")],
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr
    rules = sorted((ROOT / "deploy" / "generated" / "rules").glob("*.yaml"))
    done = subprocess.run([system_tool("promtool"), "check", "rules", *map(str, rules)], capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr
    done = subprocess.run([system_tool("amtool"), "check-config", str(ROOT / "deploy" / "generated" / "alertmanager.yml")],
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr
    otel = yaml.safe_load((ROOT / "deploy" / "otel-collector" / "config.yaml").read_text())
    for pipeline in otel["service"]["pipelines"].values():
        assert set(pipeline["receivers"]) <= set(otel["receivers"])
        assert set(pipeline["exporters"]) <= set(otel["exporters"])
        assert "otlp_http/qtenancy" in pipeline["exporters"]
