"""The job manifest (a msgpack map uplinked with SUBMIT_JOB): validation into a JobSpec.

Every rule below is in docs/icd.md (Job manifest); a manifest that breaks one is refused with a
reason naming the field, never half-accepted.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

JOB_ID_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
EXECUTABLE_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")
MAX_ARGS = 64
MAX_ARG_LEN = 1024
MAX_ENV = 32
MAX_TIME_LIMIT_S = 7 * 24 * 3600
DEFAULT_TIME_LIMIT_S = 3600
_KEYS = {"id", "command", "time_limit_s", "env"}


class ManifestError(ValueError):
    """The manifest does not validate; the message names the field and the rule."""


@dataclass(frozen=True)
class JobSpec:
    """A validated job: what to run and for how long."""

    job_id: str
    executable: str
    args: tuple[str, ...]
    time_limit_s: float = DEFAULT_TIME_LIMIT_S
    env: dict[str, str] = field(default_factory=dict)


def parse_manifest(manifest: Any) -> JobSpec:
    """Validate a decoded manifest; ManifestError says what is wrong."""
    if not isinstance(manifest, dict):
        raise ManifestError(f"manifest must be a map, not {type(manifest).__name__}")
    unknown = set(manifest) - _KEYS
    if unknown:
        raise ManifestError(f"unknown key(s): {', '.join(sorted(map(str, unknown)))}")
    job_id = manifest.get("id")
    if not isinstance(job_id, str) or not JOB_ID_PATTERN.fullmatch(job_id):
        raise ManifestError("id: 1-64 characters of A-Z a-z 0-9 . _ -, starting alphanumeric")
    command = manifest.get("command")
    if (
        not isinstance(command, list)
        or not command
        or len(command) > MAX_ARGS + 1
        or not all(isinstance(a, str) and len(a) <= MAX_ARG_LEN for a in command)
    ):
        raise ManifestError(
            f"command: a list of 1-{MAX_ARGS + 1} strings of at most {MAX_ARG_LEN} characters"
        )
    if not EXECUTABLE_PATTERN.fullmatch(command[0]):
        raise ManifestError("command[0]: the name of an executable in the job area, no path")
    if any("\x00" in a for a in command):
        raise ManifestError("command: arguments may not contain NUL")
    limit = manifest.get("time_limit_s", DEFAULT_TIME_LIMIT_S)
    if (
        isinstance(limit, bool)
        or not isinstance(limit, (int, float))
        or not (0 < limit <= MAX_TIME_LIMIT_S)
    ):
        raise ManifestError(f"time_limit_s: a number of seconds in (0, {MAX_TIME_LIMIT_S}]")
    env = manifest.get("env", {})
    if (
        not isinstance(env, dict)
        or len(env) > MAX_ENV
        or not all(isinstance(k, str) and isinstance(v, str) for k, v in env.items())
        or not all(re.fullmatch(r"[A-Z_][A-Z0-9_]*", k) for k in env)
        or any(k.startswith("JOB_") for k in env)
    ):
        raise ManifestError(
            f"env: a map of at most {MAX_ENV} NAME=value strings, "
            "upper-case names not starting with JOB_"
        )
    return JobSpec(job_id, command[0], tuple(command[1:]), float(limit), dict(env))
