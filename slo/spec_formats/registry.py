"""What a spec format is to the loader: it recognises its own documents and turns them into ``SloSpec``."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from slo.specs import SloSpec, Window


@dataclass
class FileContext:
    """What the documents of one file share: the default window, OpenSLO's named indicators, and SLOs that
    can only be made once every document of the file has been read."""

    default_window: Window
    indicators: dict[str, Any] = field(default_factory=dict)
    deferred: list[Callable[[], list[SloSpec]]] = field(default_factory=list)


class SpecFormat(Protocol):
    name: str

    def recognises(self, document: dict) -> bool: ...

    def load(self, document: dict, where: str, context: FileContext) -> list[SloSpec]: ...
