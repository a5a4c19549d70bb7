"""Sloth compatibility: each of Sloth's own generation fixtures (../shared/compat/sloth) is generated here and
compared with Sloth's expected output rule by rule: group names, record and alert names, expressions (whitespace
aside), labels and annotations. The SLI and SLO plugin cases use plugins of Sloth's integration tests (Go code),
which qtenancy does not run: they are checked for being refused naming the plugin, in the test below.
"""

import re

import pytest
import yaml

from alerts.sloth_plugins import Generation, groups
from alerts.sloth_rules import go_float
from contract.alert_catalogue import default_burn_windows
from contract.burn_windows_file import load_burn_windows
from contract.durations import format_duration
from slo.spec_files import load_specs
from slo.specs import SpecError, scalar_text

from .conftest import ROOT

SLOTH = ROOT.parent / "shared" / "compat" / "sloth"
DATA = SLOTH / "testdata"
VERSION = "qtenancy-test"

CASES = {
    "base": ("in-base.yaml", "out-base.yaml.tpl", {}),
    "k8s": ("in-base-k8s.yaml", "out-base-k8s.yaml.tpl", {}),
    "no-alerts": ("in-base.yaml", "out-base-no-alerts.yaml.tpl", {"alerting": False}),
    "no-recordings": ("in-base.yaml", "out-base-no-recordings.yaml.tpl", {"recordings": False}),
    "extra-labels": ("in-base.yaml", "out-base-extra-labels.yaml.tpl", {"extra": {"exk1": "exv1", "exk2": "exv2"}}),
    "multifile": ("in-multifile.yaml", "out-multifile.yaml.tpl", {}),
    "multifile-k8s": ("in-multifile-k8s.yaml", "out-multifile-k8s.yaml.tpl", {}),
    "openslo": ("in-openslo.yaml", "out-openslo.yaml.tpl", {}),
    "28d": ("in-base.yaml", "out-base-28d.yaml.tpl", {"period": 28 * 86400}),
    "7d-custom-windows": ("in-base.yaml", "out-base-custom-windows-7d.yaml.tpl", {"windows": "7d.yaml"}),
}


def _expected(name: str) -> list[dict]:
    text = (DATA / name).read_text().replace("{{ .version }}", VERSION)
    text = re.sub(r'\{\{"(\{\{[^"]*\}\})"\}\}', r"\1", text)
    return [d for d in yaml.safe_load_all(text) if d]


def _normal(rule: dict) -> tuple:
    return (rule.get("record"), rule.get("alert"), "".join(str(rule["expr"]).split()),
            rule.get("labels", {}), rule.get("annotations", {}))


def _groups(document: dict) -> list[dict]:
    return document["spec"]["groups"] if document.get("kind") == "PrometheusRule" else document["groups"]


@pytest.mark.parametrize("case", sorted(CASES))
def test_generation_matches_sloth(case):
    source, expected_file, options = CASES[case]
    windows = (load_burn_windows(SLOTH / "windows" / options["windows"]) if "windows" in options
               else default_burn_windows(options.get("period", 30 * 86400)))
    specs = load_specs(DATA / source)
    documents = {}
    for spec in specs:
        documents.setdefault(spec.source, []).append(spec.rules)
    generation = Generation(windows, options.get("extra", {}), VERSION, options.get("recordings", True),
                            options.get("alerting", True))
    produced = [groups(sources, generation) for sources in documents.values()]
    expected = [_groups(d) for d in _expected(expected_file)]
    assert len(produced) == len(expected)
    for ours, theirs in zip(produced, expected):
        assert [g["name"] for g in ours] == [g["name"] for g in theirs]
        for our_group, their_group in zip(ours, theirs):
            assert [_normal(r) for r in our_group["rules"]] == [_normal(r) for r in their_group["rules"]], our_group["name"]


@pytest.mark.parametrize(("source", "refusal"), [
    ("in-sli-plugin.yaml", r"slos\[0\]\.sli\.plugin\.id: 'integration_test' is a Sloth SLI plugin"),
    ("in-slo-plugin.yaml", r"slo_plugins\.chain\[0\]\.id: Sloth SLO plugin 'integration-tests/plugin1' is not one"),
    ("in-slo-plugin-k8s.yaml", r"spec\.sloPlugins\.chain\[0\]\.id: Sloth SLO plugin 'integration-tests/plugin1' is not one"),
])
def test_go_plugins_are_refused_by_name(source, refusal):
    with pytest.raises(SpecError, match=refusal):
        load_specs(DATA / source)


def test_invalid_version_is_refused():
    with pytest.raises(SpecError, match="unknown spec version 'prometheus/v999'"):
        load_specs(DATA / "in-invalid-version.yaml")


def test_label_values_are_any_scalar_as_sloths_loader_reads_it(tmp_path):
    """Sloth reads specs through sigs.k8s.io/yaml: booleans and numbers become strings as Go formats them (a float
    as a float32, shortest), a timestamp stays as written."""
    assert [scalar_text(v) for v in (True, 10, 1.0, 0.2, 1e6, 123456.0, 0.00001, 3.14159265)] == [
        "true", "10", "1", "0.2", "1e+06", "123456", "1e-05", "3.1415927"]
    path = tmp_path / "labels.yaml"
    path.write_text("version: prometheus/v1\nservice: api\nlabels: {released: 2024-01-01 12:00:00, ratio: 1.0, enabled: yes}\n"
                    "slos:\n  - name: errors\n    objective: 99\n    sli: {events: {error_query: 'sum(rate(e[{{.window}}]))', "
                    "total_query: 'sum(rate(t[{{.window}}]))'}}\n    alerting: {name: ApiErrors}\n")
    (spec,) = load_specs(path)
    assert {k: spec.labels[k] for k in ("released", "ratio", "enabled")} == {
        "released": "2024-01-01 12:00:00", "ratio": "1", "enabled": "true"}


def test_go_number_and_duration_formats():
    assert [go_float(x) for x in (0.999 + 1e-16, 30.0, 0.05, 1e-05, (100 - 99.9) / 100)] == [
        "0.9990000000000001", "30", "0.05", "1e-05", "0.0009999999999999432"]
    assert [format_duration(s) for s in (300, 86400, 7 * 86400, 28 * 86400, 30 * 86400, 5400)] == [
        "5m", "1d", "1w", "4w", "30d", "1h30m"]
