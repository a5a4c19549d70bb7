"""docker-compose.yml stays valid against the Compose specification's own JSON schema.

No Docker engine runs here, so the schema (from ../shared/compat/compose/) is the checker.
"""

import json

import jsonschema
import yaml

from .conftest import ROOT

SCHEMA = ROOT.parent / "shared" / "compat" / "compose" / "compose-spec.json"


def test_compose_file_matches_the_compose_spec():
    schema = json.loads(SCHEMA.read_text())
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    jsonschema.Draft7Validator(schema).validate(compose)
    assert compose["services"]["emulator"]["build"] == "."


def test_schema_catches_a_broken_compose_file():
    schema = json.loads(SCHEMA.read_text())
    broken = {"services": {"emulator": {"imagee": "qtenancy", "restart": 3}}}
    messages = sorted(e.message for e in jsonschema.Draft7Validator(schema).iter_errors(broken))
    assert "'imagee' does not match any of the regexes: '^x-'" in messages
    assert any("3 is not of type 'string'" in m for m in messages), messages
