"""The installed qtenancy's version, stamped into what it generates and exports."""

from importlib.metadata import PackageNotFoundError, version

try:
    VERSION = version("qtenancy")
except PackageNotFoundError:
    VERSION = "0.0.0+source"
