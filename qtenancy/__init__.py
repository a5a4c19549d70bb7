"""qtenancy: observability and SLO analytics for multi-tenant quantum clouds."""

__version__ = "0.1.0"
