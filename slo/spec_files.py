"""Reading spec files: every YAML document goes to the first format that recognises it.

A file may mix formats and hold several documents; SLO ids are unique within a file and across all the
files read together. Anything wrong is a SpecError naming the file, the document and the field.
"""

from __future__ import annotations

from pathlib import Path

from common.yaml_files import YamlFileError, load_yaml_all
from slo.spec_formats import FORMATS, FileContext
from slo.specs import SloSpec, SpecError, Window


def load_specs(path: Path, default_window: Window = Window(30 * 86400.0)) -> list[SloSpec]:
    """Every SLO in ``path`` (one or more YAML documents); SpecError names the file, document, field and reason."""
    return load_all([path], default_window)


def _read(path: Path, context: FileContext) -> list[SloSpec]:
    try:
        documents = load_yaml_all(path, "spec")
    except YamlFileError as exc:
        raise SpecError(str(exc)) from None
    if not documents:
        raise SpecError(f"{path}: no spec in the file")
    specs: list[SloSpec] = []
    for where, document in _objects(path, documents):
        if not isinstance(document, dict):
            raise SpecError(f"{where}: a spec must be a mapping (or, as OpenSLO writes them, a list of mappings)")
        chosen = next((f for f in FORMATS if f.recognises(document)), None)
        if chosen is None:
            found = document.get("version") or document.get("apiVersion")
            raise SpecError(f"{where}: unknown spec version {found!r}: expected a version or apiVersion of "
                            f"{', '.join(f.name for f in FORMATS)}")
        specs += chosen.load(document, where, context)
    return specs


def _objects(path: Path, documents: list) -> list[tuple[str, object]]:
    """Every object of the file with where it is: a document, or an item of a document that is a list."""
    return [
        (f"{path}: document {n + 1}" + (f", item {i + 1}" if isinstance(document, list) else ""), item)
        for n, document in enumerate(documents)
        for i, item in enumerate(document if isinstance(document, list) else [document])
    ]


def _no_duplicates(specs: list[SloSpec], where: str) -> None:
    ids = [f"{s.service}-{s.name}" for s in specs]
    duplicates = sorted({i for i in ids if ids.count(i) > 1})
    if duplicates:
        raise SpecError(f"{where}: duplicate SLO ids (service-name) {duplicates}")


def load_all(paths: list[Path], default_window: Window = Window(30 * 86400.0)) -> list[SloSpec]:
    """Specs from many files (directories: their *.yaml and *.yml), with SLO ids unique across all of them.

    The files are read together: an OpenSLO SLO may name an SLI, DataSource or AlertPolicy of another file."""
    files = sorted(
        f for p in paths for f in ([p] if not p.is_dir() else [*p.glob("*.yaml"), *p.glob("*.yml")])
    )
    context = FileContext(default_window)
    specs = [spec for f in files for spec in _read(f, context)]
    specs += [spec for make in context.deferred for spec in make()]
    _no_duplicates(specs, ", ".join(str(p) for p in paths))
    return specs
