"""qtenancy: observability and SLO analytics for multi-tenant quantum clouds."""

from common.version import VERSION as __version__

__all__ = ["__version__"]
