"""What a spec format is to the loader: it recognises its own documents and turns them into ``SloSpec``."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from slo.specs import SloSpec, Window


@dataclass
class FileContext:
    """What the documents read together share: the default window, OpenSLO's named objects (by kind, then
    name), and SLOs that can only be made once every document has been read."""

    default_window: Window
    named: dict[str, dict[str, Any]] = field(default_factory=dict)
    deferred: list[Callable[[], list[SloSpec]]] = field(default_factory=list)


class SpecFormat(Protocol):
    name: str

    def recognises(self, document: dict) -> bool: ...

    def load(self, document: dict, where: str, context: FileContext) -> list[SloSpec]: ...
