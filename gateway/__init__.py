"""walletgate: an authentication gateway for exchange order APIs."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("walletgate")
except PackageNotFoundError:  # run from a source tree that was never installed
    __version__ = "0+unknown"
