"""Sloth's own examples (../shared/compat/sloth-examples/examples) against the rules Sloth generated for them
(_gen, made with ``--extra-labels cmd=examplesgen.sh``): every group, record, alert, expression, label,
annotation and ``interval`` must be identical, the ``sloth_version`` label aside. Kubernetes specs are
compared as whole ``PrometheusRule`` objects (metadata too).

The two ``plugin-*`` examples use ``getting_started_availability``, the SLI plugin Sloth's examples ship as Go
source; qtenancy runs its port, so they match too. Bad input tried: an SLO plugin id that is not Sloth's (Sloth's
own integration fixture), an SLI plugin qtenancy has no port of, the example plugin without its ``job`` option
and with a filter that is no filter, a plugin with a missing required option, the denominator correction on a
raw SLI.
"""

import os
import re
import subprocess
import sys

import pytest
import yaml

from alerts.generate import prometheus_rule_objects
from alerts.sloth_plugins import Generation, groups
from contract.alert_catalogue import default_burn_windows
from slo.spec_files import load_specs
from slo.specs import SpecError

from .conftest import ROOT

EXAMPLES = ROOT.parent / "shared" / "compat" / "sloth-examples"
SLOTH_TESTDATA = ROOT.parent / "shared" / "compat" / "sloth" / "testdata"
EXAMPLE_FILES = sorted(p.name for p in (EXAMPLES / "examples").iterdir())


def _ours(path) -> list[dict]:
    """What qtenancy generates for one example, one document per input document, as Sloth writes them."""
    by_document: dict[str, list] = {}
    for spec in load_specs(path):
        by_document.setdefault(spec.source, []).append(spec.rules)
    generation = Generation(default_burn_windows(), {"cmd": "examplesgen.sh"}, "qtenancy-test")
    documents = []
    for sources in by_document.values():
        documents += (prometheus_rule_objects(sources, generation) if sources[0].kubernetes is not None
                      else [{"groups": groups(sources, generation)}])
    return list(yaml.safe_load_all(yaml.safe_dump_all(documents)))


def _rule_groups(document: dict) -> list[dict]:
    groups_ = document["spec"]["groups"] if document.get("kind") == "PrometheusRule" else document["groups"]
    for group in groups_:
        for rule in group["rules"]:
            rule.get("labels", {}).pop("sloth_version", None)
    return groups_


def test_every_example_is_covered():
    assert len(EXAMPLE_FILES) == 18 and all((EXAMPLES / "_gen" / name).exists() for name in EXAMPLE_FILES)


@pytest.mark.parametrize("name", EXAMPLE_FILES)
def test_example_matches_sloth_rule_by_rule(name):
    ours = _ours(EXAMPLES / "examples" / name)
    theirs = [d for d in yaml.safe_load_all((EXAMPLES / "_gen" / name).read_text()) if d]
    assert len(ours) == len(theirs)
    for our_document, their_document in zip(ours, theirs):
        assert {k: v for k, v in our_document.items() if k not in ("spec", "groups")} == \
            {k: v for k, v in their_document.items() if k not in ("spec", "groups")}
        our_groups, their_groups = _rule_groups(our_document), _rule_groups(their_document)
        assert [(g["name"], g.get("interval")) for g in our_groups] == [(g["name"], g.get("interval")) for g in their_groups]
        for our_group, their_group in zip(our_groups, their_groups):
            assert len(our_group["rules"]) == len(their_group["rules"]), our_group["name"]
            for ours_rule, theirs_rule in zip(our_group["rules"], their_group["rules"]):
                assert ours_rule == theirs_rule


def test_the_plugin_chains_change_what_sloth_changes():
    """The three contrib plugins each leave their mark (so the comparison above is not vacuous)."""
    corrected = _rule_groups(_ours(EXAMPLES / "examples" / "contrib-denominator-corrected.yaml")[0])
    assert sum(r["record"].startswith("slo:numerator_correction:ratio") for r in corrected[1]["rules"]) == 7
    plugged = _rule_groups(_ours(EXAMPLES / "examples" / "contrib-slo-plugins.yml")[0])
    info = next(r for r in plugged[1]["rules"] if r.get("record") == "sloth_slo_info")
    assert {k: info["labels"][k] for k in ("plug-l1", "plug-l2", "plug-l3")} == {
        "plug-l1": "in-k1", "plug-l2": "in-k2", "plug-l3": "in-k3"}
    assert [g.get("interval") for g in plugged] == [None, None, None, "5m", "5m", "5m"]
    victoria = _rule_groups(_ours(EXAMPLES / "examples" / "victoria-metrics.yml")[0])
    assert victoria[0]["rules"][0]["labels"]["generated"] == "true"
    assert victoria[2]["rules"][0]["labels"]["objective"] == "90"


def test_sli_plugins_without_a_port_or_with_bad_options_are_refused_by_name(tmp_path):
    with pytest.raises(SpecError, match=r"slos\[0\]\.sli\.plugin\.id: 'integration_test' is a Sloth SLI plugin, "
                                        r"Go code loaded by Sloth, which qtenancy does not run"):
        load_specs(SLOTH_TESTDATA / "in-sli-plugin.yaml")
    spec = yaml.safe_load((EXAMPLES / "examples" / "plugin-getting-started.yml").read_text())
    options = spec["slos"][0]["sli"]["plugin"]["options"]
    for change, reason in (({"job": None}, "job options is required"),
                           ({"filter": "not a filter"}, "invalid prometheus filter: not a filter,")):
        bad = tmp_path / "bad.yml"
        spec["slos"][0]["sli"]["plugin"]["options"] = {k: v for k, v in {**options, **change}.items() if v is not None}
        bad.write_text(yaml.safe_dump(spec))
        with pytest.raises(SpecError, match=re.escape(f"slos[0].sli.plugin.id: {reason}")):
            load_specs(bad)


def test_unknown_slo_plugin_is_refused_by_name():
    with pytest.raises(SpecError, match=r"in-slo-plugin\.yaml: document 1: slo_plugins\.chain\[0\]\.id: "
                                        r"Sloth SLO plugin 'integration-tests/plugin1' is not one qtenancy runs"):
        load_specs(SLOTH_TESTDATA / "in-slo-plugin.yaml")


def test_bad_plugin_configuration_and_raw_correction_are_refused(tmp_path):
    spec = tmp_path / "spec.yaml"
    base = {"version": "prometheus/v1", "service": "s", "slos": [{
        "name": "a", "objective": 99, "sli": {"raw": {"error_ratio_query": "rate(x[{{.window}}])"}},
        "alerting": {"page_alert": {"disable": True}, "ticket_alert": {"disable": True}}}]}
    base["slos"][0]["plugins"] = {"chain": [{"id": "sloth.dev/contrib/info_labels/v1", "config": {}}]}
    spec.write_text(yaml.safe_dump(base))
    with pytest.raises(SpecError, match=r"slos\[0\]\.plugins\.chain\[0\]\.config: plugin sloth.dev/contrib/info_labels/v1: "
                                        r"labels: Field required"):
        load_specs(spec)
    base["slos"][0]["plugins"] = {"chain": [{"id": "sloth.dev/contrib/denominator_corrected_rules/v1"}]}
    spec.write_text(yaml.safe_dump(base))
    with pytest.raises(SpecError, match=r"slos\[0\]\.sli: plugin sloth.dev/contrib/denominator_corrected_rules/v1 "
                                        r"corrects an events SLI"):
        load_specs(spec)


def test_cli_writes_a_prometheus_rule_without_anchors_and_refuses_plugins(tmp_path):
    done = subprocess.run([sys.executable, "-m", "qtenancy", "alerts", "generate",
                           str(EXAMPLES / "examples" / "contrib-denominator-corrected.yaml"), "-o", str(tmp_path / "k8s")],
                          capture_output=True, text=True, cwd=ROOT)
    assert done.returncode == 0, done.stderr
    (rule,) = yaml.safe_load_all((tmp_path / "k8s" / "kubernetes" / "prometheus-rules.yaml").read_text())
    assert (rule["kind"], rule["metadata"]["name"], rule["metadata"]["namespace"]) == ("PrometheusRule", "svc", "test-ns")
    for written in (tmp_path / "k8s").rglob("*.y*ml"):
        assert "&id0" not in written.read_text() and "*id0" not in written.read_text(), written
    refused = subprocess.run([sys.executable, "-m", "qtenancy", "alerts", "generate",
                              str(SLOTH_TESTDATA / "in-sli-plugin.yaml"), "-o", str(tmp_path / "p")],
                             capture_output=True, text=True, cwd=ROOT)
    assert refused.returncode == 2 and "'integration_test' is a Sloth SLI plugin" in refused.stderr
    assert not (tmp_path / "p").exists()


def test_validate_says_what_generate_writes(tmp_path):
    """The two verbs read one plan: what validate says each spec becomes is what generate writes or skips."""
    specs = [str(EXAMPLES / "examples" / "getting-started.yml"), str(ROOT / "slo" / "specs" / "calibration-pass.yaml"),
             str(ROOT / "slo" / "specs" / "job-success.yaml")]
    env = {**os.environ, "COLUMNS": "400"}
    said = subprocess.run([sys.executable, "-m", "qtenancy", "slo", "validate", *specs], capture_output=True, text=True,
                          cwd=ROOT, env=env)
    assert said.returncode == 0, said.stderr
    becomes = dict(line.removeprefix("ok  ").split(": ", 1) for line in said.stdout.splitlines())
    assert {slo: what.split(",")[0] for slo, what in becomes.items()} == {
        "myservice/requests-availability":
            "rules only (its events are PromQL queries; label it qtenancy_sli: M1..M8 to compute it from the jobs table)",
        "qtenancy/calibration-pass": "analytical SLI M4 only (no rules: calibration-pass: calibration runs come hours apart",
        "qtenancy/job-success-platform": "rules and analytical SLI M1", "qtenancy/job-success-tenant": "rules and analytical SLI M1"}
    written = subprocess.run([sys.executable, "-m", "qtenancy", "alerts", "generate", *specs, "-o", str(tmp_path / "o")],
                             capture_output=True, text=True, cwd=ROOT, env=env)
    assert written.returncode == 0 and "no rules: calibration-pass: calibration runs come hours apart" in written.stderr
    groups = yaml.safe_load((tmp_path / "o" / "rules" / "slo-rules.yaml").read_text())["groups"]
    assert sorted({re.sub(r"^sloth-slo-(sli-recordings|meta-recordings|alerts)-", "", g["name"]) for g in groups}) == [
        "myservice-requests-availability", "qtenancy-job-success-platform", "qtenancy-job-success-tenant"]
    alone = subprocess.run([sys.executable, "-m", "qtenancy", "alerts", "generate", specs[1], "-o", str(tmp_path / "a")],
                           capture_output=True, text=True, cwd=ROOT, env=env)
    assert alone.returncode == 2 and "no spec gives a rule: calibration-pass:" in alone.stderr
