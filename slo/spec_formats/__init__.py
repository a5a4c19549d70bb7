"""The spec formats qtenancy reads, in the order they are tried: add a format by adding its loader here."""

from slo.spec_formats.native import Native
from slo.spec_formats.openslo import OpenSloAlphaFormat
from slo.spec_formats.openslo_v1 import OpenSloFormat
from slo.spec_formats.pyrra import PyrraFormat
from slo.spec_formats.registry import FileContext, SpecFormat
from slo.spec_formats.sloth import SlothKubernetesFormat, SlothPrometheus

FORMATS: tuple[SpecFormat, ...] = (Native(), SlothPrometheus(), SlothKubernetesFormat(), OpenSloAlphaFormat(),
                                   OpenSloFormat(), PyrraFormat())

__all__ = ["FORMATS", "FileContext", "SpecFormat"]
