"""The payload controller: runs on the satellite computer beside the GPU.

It owns the single dictionary of commands, telemetry and events (flight.dictionary) and the
protocol (flight.protocol, documented in docs/icd.md). It never imports hil or ground.
"""

from importlib.metadata import PackageNotFoundError, version

DISTRIBUTIONS = ("payload-flight", "orbital-gpu-payload")  # the flight image's wheel, the project


def _installed_version() -> str:
    """The version of the installed flight software: the flight image's (with its commit), or
    the development package's."""
    for name in DISTRIBUTIONS:
        try:
            return version(name)
        except PackageNotFoundError:
            continue
    return "0+unknown"


__version__ = _installed_version()
