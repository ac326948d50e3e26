"""The job manifest (a msgpack map uplinked with SUBMIT_JOB): validation into a JobSpec.

Every rule below is in docs/icd.md (Job manifest); a manifest that breaks one is refused with a
reason naming the field, never half-accepted. A malformed field is MANIFEST_INVALID; fields that
each validate but cannot all hold together are MANIFEST_CONTRADICTORY.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from flight.dictionary import FailureCode

JOB_ID_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
OWNER_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._@-]{0,31}")
EXECUTABLE_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")
# a relative path of plain names: no absolute paths, no "..", no hidden components
RELATIVE_PATH_PATTERN = re.compile(r"[A-Za-z0-9_][A-Za-z0-9._-]*(/[A-Za-z0-9_][A-Za-z0-9._-]*)*")
MAX_ARGS = 64
MAX_ARG_LEN = 1024
MAX_ENV = 32
MAX_FILES = 32
MAX_PATH_LEN = 255
MAX_PRIORITY = 255
DEFAULT_PRIORITY = 100
MAX_RETRIES = 5
MAX_TIME_LIMIT_S = 7 * 24 * 3600
DEFAULT_TIME_LIMIT_S = 3600
MAX_GPU_MEMORY_MIB = 1 << 20
MAX_SIMULATED_WORK_S = MAX_TIME_LIMIT_S
# how the payload checks what a job computes (docs/jobs.md, Integrity): none; abft (the job checks
# its own matrix products, and exits SDC_EXIT when one disagrees); redundant (the whole job run
# again, its results' digests compared); checkpoint-replay (a sample of the intervals between its
# checkpoints run again, the digests of the model state compared)
INTEGRITY_POLICIES = ("none", "abft", "redundant", "checkpoint-replay")
VERIFIED_POLICIES = ("redundant", "checkpoint-replay")  # checked by runs of their own
DEFAULT_REPLAY_SAMPLE = 0.1  # checkpoint-replay: the fraction of intervals run again
MANIFEST_KEYS = {  # every key a manifest may have
    "id",
    "owner",
    "command",
    "simulated",
    "inputs",
    "gpu_memory_mib",
    "expected_runtime_s",
    "expected_energy_j",
    "priority",
    "deadline",
    "time_limit_s",
    "max_retries",
    "checkpoint",
    "results",
    "env",
    "integrity",
    "signature",  # checked before the manifest is parsed (flight/security/job_auth.py)
}


class ManifestError(ValueError):
    """The manifest does not validate; the message names the field and the rule."""

    def __init__(self, reason: str, code: FailureCode = FailureCode.MANIFEST_INVALID):
        super().__init__(reason)
        self.code = code


@dataclass(frozen=True)
class CheckpointPolicy:
    """How a job checkpoints: every ``interval_s`` bus seconds of run time (0: only when asked),
    each taking about ``cost_s``. A job without a policy cannot checkpoint."""

    interval_s: float = 0.0
    cost_s: float = 0.0


@dataclass(frozen=True)
class ResultFile:
    """A file the job leaves in its directory, to be downlinked at ``priority`` (0 first)."""

    path: str
    priority: int


@dataclass(frozen=True)
class JobSpec:
    """A validated job."""

    job_id: str
    executable: str | None  # None for a simulated job
    args: tuple[str, ...] = ()
    owner: str = "ground"
    simulated_work_s: float = 0.0  # declared GPU work of a simulated job (full-power seconds)
    inputs: tuple[str, ...] = ()
    gpu_memory_mib: int = 0
    expected_runtime_s: float = 0.0
    expected_energy_j: float = 0.0
    priority: int = DEFAULT_PRIORITY
    deadline: float | None = None  # bus time
    time_limit_s: float = DEFAULT_TIME_LIMIT_S
    max_retries: int = 0
    checkpoint: CheckpointPolicy | None = None
    results: tuple[ResultFile, ...] = ()
    env: dict[str, str] = field(default_factory=dict)
    integrity: str = "none"
    replay_sample: float = DEFAULT_REPLAY_SAMPLE  # checkpoint-replay's sampling

    @property
    def simulated(self) -> bool:
        """Declared GPU work and no process (lockstep bench runs)."""
        return self.executable is None


def parse_manifest(manifest: Any) -> JobSpec:
    """Validate a decoded manifest; ManifestError says what is wrong."""
    if not isinstance(manifest, dict):
        raise ManifestError(f"manifest must be a map, not {type(manifest).__name__}")
    unknown = set(manifest) - MANIFEST_KEYS
    if unknown:
        raise ManifestError(f"unknown key(s): {', '.join(sorted(map(str, unknown)))}")
    job_id = manifest.get("id")
    if not isinstance(job_id, str) or not JOB_ID_PATTERN.fullmatch(job_id):
        raise ManifestError("id: 1-64 characters of A-Z a-z 0-9 . _ -, starting alphanumeric")
    owner = manifest.get("owner", "ground")
    if not isinstance(owner, str) or not OWNER_PATTERN.fullmatch(owner):
        raise ManifestError("owner: 1-32 characters of A-Z a-z 0-9 . _ @ -, starting alphanumeric")
    if ("command" in manifest) == ("simulated" in manifest):
        raise ManifestError(
            "command and simulated: exactly one of them (a process, or declared GPU work)",
            FailureCode.MANIFEST_CONTRADICTORY,
        )
    executable, args, work = None, (), 0.0
    if "command" in manifest:
        executable, args = _command(manifest["command"])
    else:
        work = _simulated(manifest["simulated"])
    limit = _number(manifest, "time_limit_s", DEFAULT_TIME_LIMIT_S, 0, MAX_TIME_LIMIT_S, open_=True)
    runtime = _number(manifest, "expected_runtime_s", 0.0, 0, MAX_TIME_LIMIT_S)
    checkpoint = _checkpoint(manifest.get("checkpoint"))
    integrity, sample = _integrity(manifest.get("integrity", {"policy": "none"}))
    spec = JobSpec(
        job_id=job_id,
        executable=executable,
        args=args,
        owner=owner,
        simulated_work_s=work,
        inputs=_paths(manifest.get("inputs", []), "inputs"),
        gpu_memory_mib=int(
            _number(manifest, "gpu_memory_mib", 0, 0, MAX_GPU_MEMORY_MIB, int_=True)
        ),
        expected_runtime_s=runtime,
        expected_energy_j=_number(manifest, "expected_energy_j", 0.0, 0, 1e12),
        priority=int(_number(manifest, "priority", DEFAULT_PRIORITY, 0, MAX_PRIORITY, int_=True)),
        deadline=_deadline(manifest.get("deadline")),
        time_limit_s=limit,
        max_retries=int(_number(manifest, "max_retries", 0, 0, MAX_RETRIES, int_=True)),
        checkpoint=checkpoint,
        results=_results(manifest.get("results", [])),
        env=_env(manifest.get("env", {})),
        integrity=integrity,
        replay_sample=sample,
    )
    _consistent(spec)
    return spec


def _command(command: Any) -> tuple[str, tuple[str, ...]]:
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
    return command[0], tuple(command[1:])


def _simulated(simulated: Any) -> float:
    if not isinstance(simulated, dict) or set(simulated) != {"work_s"}:
        raise ManifestError("simulated: a map with work_s, the declared full-power GPU seconds")
    return _number(simulated, "work_s", None, 0, MAX_SIMULATED_WORK_S, open_=True, name="simulated")


def _is_number(value: Any) -> bool:
    return not isinstance(value, bool) and isinstance(value, (int, float)) and value == value


def _number(
    m: dict,
    key: str,
    default: float | None,
    low: float,
    high: float,
    *,
    open_: bool = False,
    int_: bool = False,
    name: str = "",
) -> float:
    """m[key] as a number in [low, high] ((low, high] if open_), or default when absent."""
    label = f"{name}.{key}" if name else key
    if key not in m and default is not None:
        return float(default)
    value = m.get(key)
    kind = "an integer" if int_ else "a number"
    ok = _is_number(value) and (not int_ or isinstance(value, int))
    if not ok or not ((low < value) if open_ else (low <= value)) or value > high:
        interval = f"({low:g}, {high:g}]" if open_ else f"[{low:g}, {high:g}]"
        raise ManifestError(f"{label}: {kind} in {interval}")
    return float(value)


def _deadline(value: Any) -> float | None:
    if value is None:
        return None
    if not _is_number(value) or value <= 0 or value >= 2**32:
        raise ManifestError("deadline: bus time in seconds since 1970-01-01 UTC, below 2^32")
    return float(value)


def _checkpoint(policy: Any) -> CheckpointPolicy | None:
    if policy is None:
        return None
    if not isinstance(policy, dict) or not set(policy) <= {"interval_s", "cost_s"}:
        raise ManifestError("checkpoint: a map of interval_s and cost_s (bus seconds)")
    interval = _number(policy, "interval_s", 0.0, 0, MAX_TIME_LIMIT_S, name="checkpoint")
    cost = _number(policy, "cost_s", 0.0, 0, 3600, name="checkpoint")
    if interval and cost >= interval:
        raise ManifestError(
            "checkpoint: cost_s must be shorter than interval_s", FailureCode.MANIFEST_CONTRADICTORY
        )
    return CheckpointPolicy(interval, cost)


def _path(value: Any, label: str) -> str:
    if (
        not isinstance(value, str)
        or len(value) > MAX_PATH_LEN
        or not RELATIVE_PATH_PATTERN.fullmatch(value)
    ):
        raise ManifestError(
            f"{label}: a relative path of names of A-Z a-z 0-9 . _ - "
            f"(no leading dot, no ..), at most {MAX_PATH_LEN} characters"
        )
    return value


def _paths(values: Any, label: str) -> tuple[str, ...]:
    if not isinstance(values, list) or len(values) > MAX_FILES:
        raise ManifestError(f"{label}: a list of at most {MAX_FILES} paths")
    paths = tuple(_path(v, f"{label}[{i}]") for i, v in enumerate(values))
    if len(set(paths)) != len(paths):
        raise ManifestError(f"{label}: a path is named twice", FailureCode.MANIFEST_CONTRADICTORY)
    return paths


def _results(values: Any) -> tuple[ResultFile, ...]:
    if not isinstance(values, list) or len(values) > MAX_FILES:
        raise ManifestError(f"results: a list of at most {MAX_FILES} maps of path and priority")
    results = []
    for i, r in enumerate(values):
        if not isinstance(r, dict) or not set(r) <= {"path", "priority"} or "path" not in r:
            raise ManifestError(f"results[{i}]: a map of path and priority (0-255, 0 first)")
        priority = _number(r, "priority", 128, 0, 255, int_=True, name=f"results[{i}]")
        results.append(ResultFile(_path(r["path"], f"results[{i}].path"), int(priority)))
    if len({r.path for r in results}) != len(results):
        raise ManifestError("results: a path is named twice", FailureCode.MANIFEST_CONTRADICTORY)
    return tuple(results)


def _env(env: Any) -> dict[str, str]:
    if (
        not isinstance(env, dict)
        or len(env) > MAX_ENV
        or not all(isinstance(k, str) and isinstance(v, str) for k, v in env.items())
        or not all(re.fullmatch(r"[A-Z_][A-Z0-9_]*", k) for k in env)
        or any(k.startswith("JOB_") for k in env)
        or any("\x00" in v for v in env.values())
    ):
        raise ManifestError(
            f"env: a map of at most {MAX_ENV} NAME=value strings, "
            "upper-case names not starting with JOB_"
        )
    return dict(env)


def _integrity(integrity: Any) -> tuple[str, float]:
    """The policy, and checkpoint-replay's sampling (the fraction of intervals run again)."""
    if (
        not isinstance(integrity, dict)
        or not {"policy"} <= set(integrity) <= {"policy", "sample"}
        or integrity["policy"] not in INTEGRITY_POLICIES
    ):
        raise ManifestError(
            f"integrity: a map with policy, one of {', '.join(INTEGRITY_POLICIES)} "
            "(and sample, for checkpoint-replay)"
        )
    if "sample" in integrity and integrity["policy"] != "checkpoint-replay":
        raise ManifestError("integrity.sample: only for checkpoint-replay")
    sample = _number(integrity, "sample", DEFAULT_REPLAY_SAMPLE, 0, 1, open_=True, name="integrity")
    return integrity["policy"], sample


def _consistent(spec: JobSpec) -> None:
    contradictions = []
    if spec.expected_runtime_s > spec.time_limit_s:
        contradictions.append("expected_runtime_s is longer than time_limit_s")
    if spec.simulated and (spec.args or spec.env or spec.inputs or spec.results):
        contradictions.append("a simulated job has no process: no env, inputs or results")
    if spec.simulated and spec.integrity != "none":
        contradictions.append("a simulated job has no process to check: integrity none")
    if spec.integrity == "checkpoint-replay" and spec.checkpoint is None:
        contradictions.append("checkpoint-replay replays the intervals between checkpoints")
    if spec.integrity == "redundant" and not spec.results:
        contradictions.append("redundant compares the results: declare them")
    if spec.simulated and spec.simulated_work_s > spec.time_limit_s:
        contradictions.append("simulated.work_s is longer than time_limit_s")
    if {r.path for r in spec.results} & {"stdout.log", "stderr.log"}:
        contradictions.append("results: stdout.log and stderr.log are always results")
    if contradictions:
        raise ManifestError("; ".join(contradictions), FailureCode.MANIFEST_CONTRADICTORY)
