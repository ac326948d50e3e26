"""Shared test settings: hypothesis profiles and the paths of the repository."""

import os
import pathlib

from hypothesis import settings

REPO = pathlib.Path(__file__).resolve().parent.parent

settings.register_profile("ci", max_examples=300, deadline=None)
settings.register_profile("dev", max_examples=100, deadline=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci" if os.environ.get("CI") else "dev"))


def pytest_addoption(parser):
    parser.addoption(
        "--crash-runs",
        type=int,
        default=int(os.environ.get("CRASH_RUNS", "20")),
        help="times the crash test kills the controller with SIGKILL (200 in the full run)",
    )
