"""Reading YAML files that people write: every failure names the file and the reason, never a traceback.

Covers what a hand-edited or hostile file can do: not exist, be a directory, not be UTF-8, not be YAML,
or nest deeply enough to exhaust the parser's recursion.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

M = TypeVar("M", bound=BaseModel)


class YamlFileError(ValueError):
    """A YAML file that cannot be read, with the file and the reason in the message."""


class _Loader(getattr(yaml, "CSafeLoader", yaml.SafeLoader)):
    """Safe YAML, as the Go tools whose files these are read it: a timestamp stays the text it was written as
    (the field that wants a date parses it; a label keeps it verbatim)."""


_Loader.yaml_implicit_resolvers = {
    first: [(tag, pattern) for tag, pattern in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def _text(path: Path, what: str) -> str:
    try:
        return path.read_bytes().decode("utf-8")
    except UnicodeDecodeError as exc:
        raise YamlFileError(f"{path}: not UTF-8 text ({what}; byte {exc.start}: {exc.reason})") from None
    except OSError as exc:
        raise YamlFileError(f"{path}: cannot read {what}: {exc.strerror or exc}") from None


def _parse(path: Path, what: str, load):
    text = _text(path, what)
    too_deep = YamlFileError(f"{path}: nested too deeply to read ({what})")
    try:
        return load(text)
    except yaml.YAMLError as exc:
        if "maximum nesting depth" in str(exc):  # libyaml's limit; the pure-Python parser recurses instead
            raise too_deep from None
        raise YamlFileError(f"{path}: not valid YAML ({what}): {exc}") from None
    except RecursionError:
        raise too_deep from None


def load_yaml(path: Path, what: str) -> Any:
    """The one document of a YAML file (None when it is empty)."""
    return _parse(path, what, lambda text: yaml.load(text, _Loader))


def load_yaml_all(path: Path, what: str) -> list[Any]:
    """Every non-empty document of a YAML file."""
    return _parse(path, what, lambda text: [d for d in yaml.load_all(text, _Loader) if d is not None])


def load_model(path: Path, model: type[M], what: str) -> M:
    """The YAML mapping in ``path`` validated into ``model``; YamlFileError names the file and every bad field."""
    document = load_yaml(path, what)
    if not isinstance(document, dict):
        raise YamlFileError(f"{path}: expected a mapping at the top level, got {type(document).__name__}")
    try:
        return model.model_validate(document)
    except ValidationError as exc:
        lines = [f"{path}: invalid {what}"]
        lines += [f"  {'.'.join(str(p) for p in e['loc']) or '(top level)'}: {e['msg']}" for e in exc.errors()]
        raise YamlFileError("\n".join(lines)) from None
