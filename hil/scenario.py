"""Scenario files: TOML under hil/scenarios/ with the environment, a timeline of operator actions
and faults, and the checks that decide the run. docs/hil.md is the reference for every key.

Loading validates everything before the bench starts; an error names the file, the line and the
key, e.g. ``nominal-day.toml:12: orbit.beta_deg: a number from -90 to 90``.
"""

from __future__ import annotations

import datetime as dt
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from flight import dictionary as d
from flight.gpu.silent_upsets import TARGETS as UPSET_TARGETS
from flight.spacelink.profile import DEFAULT_SCID
from hil.environment import EnvironmentConfig
from hil.models.constellation import MIN_SEPARATION_KM, Satellite, Walker, closest_approach
from hil.models.isl import Flap, IslConfig
from hil.models.orbit import GroundStation, OrbitConfig, compute_track
from hil.models.power import PowerConfig
from hil.models.thermal import ThermalConfig
from hil.radiation import RadiationConfig
from hil.radio import RadioConfig

SCENARIO_DIR = Path(__file__).resolve().parent / "scenarios"
ACTIONS = ("command", "submit_job", "relay", "note", "fault", "upload")
RELAY_FILES = 32  # a consignment's files at most (flight/relay/consignment.py)
BYTE_FAULTS = ("flip", "drop", "insert", "burst", "delimiter")
GPU_FAULTS = ("gpu_ecc_corrected", "gpu_ecc_uncorrected", "gpu_lost", "gpu_overheat")
FAULTS = (
    *BYTE_FAULTS,
    "ber",
    "outage",
    "bus_reset",
    "brownout",
    "clock_jump",
    "hang_controller",
    "kill_controller",
    *GPU_FAULTS,
)
WORKLOAD_KEYS = {
    "name",
    "start_s",
    "every_s",
    "count",
    "work_s",
    "expected_runtime_s",
    "deadline_s",
    "priority",
    "checkpoint_interval_s",
    "checkpoint_cost_s",
}
ENV_SERIES = ("battery_soc", "sink_temp_c", "power_allowance_w")
HK_NAMES = {f.name for f in d.HK_FIELDS}
# check kind -> the keys it takes (besides kind and name)
CHECK_KEYS = {
    "hk_min": ("field", "value"),
    "hk_max": ("field", "value"),
    "hk_dips_to": ("field", "value"),
    "hk_peaks_at": ("field", "value"),
    "env_min": ("series", "value"),
    "env_max": ("series", "value"),
    "event_count": ("event", "min", "max", "job"),
    "job_state": ("job", "state"),
    "figure_max": ("figure", "value"),
    "figure_min": ("figure", "value"),
}


MAX_SATELLITES = 64  # the most a constellation scenario may have
SATELLITE_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_-]{0,31}")  # as the ground's fleet file takes
_FILE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")  # a job input's, as manifests take


class ScenarioError(ValueError):
    """A scenario file that does not load; the message names file, line and key."""


@dataclass(frozen=True)
class Step:
    """One timeline entry: at a bus second from the start, an action."""

    at_s: float
    action: str
    params: dict[str, Any]


@dataclass(frozen=True)
class CheckSpec:
    """One check, evaluated when the run ends."""

    kind: str
    params: dict[str, Any]

    @property
    def label(self) -> str:
        """The check in words."""
        p = self.params
        return (
            p.get("name")
            or {
                "hk_min": f"housekeeping {p.get('field')} never below {p.get('value')}",
                "hk_max": f"housekeeping {p.get('field')} never above {p.get('value')}",
                "hk_dips_to": f"housekeeping {p.get('field')} falls to {p.get('value')} or less",
                "hk_peaks_at": f"housekeeping {p.get('field')} rises to {p.get('value')} or more",
                "env_min": f"{p.get('series')} never below {p.get('value')}",
                "env_max": f"{p.get('series')} never above {p.get('value')}",
                "event_count": f"event {p.get('event')} seen {p.get('min', 1)} to "
                f"{p.get('max', 'any')} times",
                "job_state": f"job {p.get('job')} ends {p.get('state')}",
                "figure_max": f"{p.get('figure')} at most {p.get('value')}",
                "figure_min": f"{p.get('figure')} at least {p.get('value')}",
            }[self.kind]
        )


@dataclass(frozen=True)
class Scenario:
    """A loaded, validated scenario."""

    name: str
    description: str
    duration_s: int
    speed: float | None  # None: lockstep
    seed: int
    start: float
    environment: EnvironmentConfig
    baud: int = 115_200
    ber: float = 0.0
    relay_windows: bool = False  # the bus relays telemetry only while a station is in view
    radio: RadioConfig = field(default_factory=RadioConfig)
    spacecraft_id: int = DEFAULT_SCID  # in the space link's USLP frames
    timeline: tuple[Step, ...] = ()
    checks: tuple[CheckSpec, ...] = ()
    source: Path | None = None
    gpu_ecc_per_hour: float = 0.0  # the simulated GPU's background of corrected ECC errors
    watchdog_s: float | None = None  # the controller under a systemd-like watchdog (wall seconds)
    workload: tuple[Step, ...] = ()  # simulated jobs submitted through the ground station
    constellation: tuple[Satellite, ...] = ()  # none: one spacecraft, in [orbit]
    isl: IslConfig = field(default_factory=IslConfig)  # a constellation's laser terminals
    radiation: RadiationConfig | None = None  # silent upsets in the simulated GPU (radiation.py)


class _Lines:
    """Which line of a TOML file defines each key (tables, arrays of tables, dotted paths)."""

    _header = re.compile(r"^\s*(\[\[?)\s*([A-Za-z0-9_.\-]+)\s*\]\]?")
    _key = re.compile(r"^\s*([A-Za-z0-9_\-]+)\s*=")

    def __init__(self, text: str) -> None:
        self.lines: dict[tuple, int] = {}
        prefix: tuple = ()
        counts: dict[str, int] = {}
        for number, line in enumerate(text.splitlines(), start=1):
            header = self._header.match(line)
            if header:
                name = header.group(2)
                parts = tuple(name.split("."))  # [[isl.flap]]: ("isl", "flap", k)
                if header.group(1) == "[[":
                    counts[name] = counts.get(name, -1) + 1
                    prefix = (*parts, counts[name])
                else:
                    prefix = parts
                self.lines.setdefault(prefix, number)
                continue
            key = self._key.match(line)
            if key:
                self.lines.setdefault(prefix + (key.group(1),), number)

    def line(self, path: tuple) -> int:
        """The line of the nearest defined ancestor of path (1 if none)."""
        while path:
            if path in self.lines:
                return self.lines[path]
            path = path[:-1]
        return 1


def _dotted(path: tuple) -> str:
    return ".".join(f"[{p}]" if isinstance(p, int) else p for p in path).replace(".[", "[")


class _Reader:
    """Typed access to the parsed document; every failure raises _Bad with the key's path."""

    def __init__(self, doc: dict[str, Any]) -> None:
        self.doc = doc

    def table(self, path: tuple, allowed: set[str], required: bool = False) -> dict[str, Any]:
        value = self._get(path)
        if value is None:
            if required:
                raise _Bad(path, "this table is required")
            return {}
        if not isinstance(value, dict):
            raise _Bad(path, "must be a table")
        unknown = sorted(set(value) - allowed)
        if unknown:
            raise _Bad(path + (unknown[0],), f"unknown key; expected one of {sorted(allowed)}")
        return value

    def _get(self, path: tuple) -> Any:
        value: Any = self.doc
        for part in path:
            if isinstance(part, int):
                value = value[part]
            elif isinstance(value, dict):
                value = value.get(part)
            else:
                return None
        return value


class _Bad(Exception):
    def __init__(self, path: tuple, message: str) -> None:
        super().__init__(message)
        self.path = path


def _number(
    table: dict,
    path: tuple,
    key: str,
    default: float | None = None,
    *,
    low: float = float("-inf"),
    high: float = float("inf"),
    integer: bool = False,
) -> Any:
    value = table.get(key, default)
    if value is None:
        raise _Bad(path + (key,), "is required")
    kind = int if integer else (int, float)
    if isinstance(value, bool) or not isinstance(value, kind) or not low <= value <= high:
        what = "an integer" if integer else "a number"
        raise _Bad(path + (key,), f"{what} from {low:g} to {high:g}")
    return value


def _text(
    table: dict,
    path: tuple,
    key: str,
    default: str | None = None,
    choices: tuple[str, ...] | set[str] | None = None,
) -> str:
    value = table.get(key, default)
    if not isinstance(value, str) or not value:
        raise _Bad(path + (key,), "a non-empty string is required")
    if choices is not None and value not in choices:
        raise _Bad(path + (key,), f"{value!r} is not one of {sorted(choices)}")
    return value


def _start(value: Any, path: tuple) -> float:
    if value is None:
        return 1_767_225_600.0
    if isinstance(value, str):
        try:
            value = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            raise _Bad(path, "an ISO 8601 UTC time, e.g. 2026-03-20T00:00:00Z") from None
    if not isinstance(value, dt.datetime) or value.tzinfo is None:
        raise _Bad(path, "a date-time with its offset, e.g. 2026-03-20T00:00:00Z")
    return value.timestamp()


def _environment(r: _Reader) -> EnvironmentConfig:
    o = r.table(("orbit",), {"altitude_km", "inclination_deg", "beta_deg", "raan_deg", "tle"})
    tle = o.get("tle")
    if tle is not None and (
        not isinstance(tle, list) or len(tle) != 2 or not all(isinstance(x, str) for x in tle)
    ):
        raise _Bad(("orbit", "tle"), "the two lines of a TLE, as an array of two strings")
    orbit = OrbitConfig(
        altitude_km=_number(o, ("orbit",), "altitude_km", 550.0, low=160, high=2000),
        inclination_deg=_number(o, ("orbit",), "inclination_deg", 97.6, low=0, high=180),
        beta_deg=_number(o, ("orbit",), "beta_deg", 0.0, low=-90, high=90),
        raan_deg=_number(o, ("orbit",), "raan_deg", 0.0, low=-360, high=360),
        tle=tuple(tle) if tle else None,
    )
    defaults = PowerConfig()
    p = r.table(("power",), set(defaults.__dataclass_fields__))
    power = PowerConfig(
        **{
            k: _number(
                p,
                ("power",),
                k,
                getattr(defaults, k),
                low=0,
                high=1 if k in ("floor", "soc_start", "margin", "charge_efficiency") else 1e6,
            )
            for k in defaults.__dataclass_fields__
        }
    )
    tdef = ThermalConfig()
    t = r.table(("thermal",), set(tdef.__dataclass_fields__))
    thermal = ThermalConfig(
        **{
            k: _number(t, ("thermal",), k, getattr(tdef, k), low=-273, high=1e6)
            for k in tdef.__dataclass_fields__
        }
    )
    stations = []
    raw = r.doc.get("ground_stations", [])
    if not isinstance(raw, list):
        raise _Bad(("ground_stations",), "an array of tables ([[ground_stations]])")
    for i in range(len(raw)):
        path = ("ground_stations", i)
        s = r.table(path, {"name", "lat_deg", "lon_deg", "min_elevation_deg", "kind"})
        stations.append(
            GroundStation(
                _text(s, path, "name"),
                _number(s, path, "lat_deg", low=-90, high=90),
                _number(s, path, "lon_deg", low=-180, high=360),
                _number(s, path, "min_elevation_deg", 5.0, low=0, high=90),
                _text(s, path, "kind", "rf", ("rf", "optical")),
            )
        )
    return EnvironmentConfig(orbit, power, thermal, tuple(stations))


def _constellation(r: _Reader, start: float, duration: int) -> tuple[Satellite, ...]:
    """[constellation] (Walker planes) or [[satellites]] (TLEs): the satellites, each checked
    to fly (a TLE sgp4 can propagate over the run) and to keep clear of every other."""
    walker, listed = r.doc.get("constellation"), r.doc.get("satellites")
    if walker is None and listed is None:
        return ()
    if walker is not None and listed is not None:
        raise _Bad(("satellites", 0), "a constellation is Walker planes ([constellation]) or a "
                   "list of TLEs ([[satellites]]), not both")  # fmt: skip
    if "orbit" in r.doc:
        raise _Bad(("orbit",), "a constellation gives each satellite its own orbit: no [orbit]")
    if walker is not None:
        path = ("constellation",)
        w = r.table(path, {"planes", "per_plane", "phasing", "altitude_km", "inclination_deg",
                           "raan_deg", "pattern"})  # fmt: skip
        planes = _number(w, path, "planes", low=1, high=MAX_SATELLITES, integer=True)
        per_plane = _number(w, path, "per_plane", low=1, high=MAX_SATELLITES, integer=True)
        if planes * per_plane > MAX_SATELLITES:
            total = planes * per_plane
            raise _Bad(path + ("per_plane",), f"{planes} planes of {per_plane} are {total} "
                       f"satellites; the bench runs at most {MAX_SATELLITES}")  # fmt: skip
        satellites = Walker(
            planes,
            per_plane,
            _number(w, path, "phasing", 0, low=0, high=planes - 1, integer=True),
            _number(w, path, "altitude_km", low=160, high=2000),
            _number(w, path, "inclination_deg", low=0, high=180),
            _number(w, path, "raan_deg", 0.0, low=-360, high=360),
            _text(w, path, "pattern", "delta", ("delta", "star")),
        ).satellites()
        blame: dict[str, tuple] = {}
    else:
        if not isinstance(listed, list) or not listed:
            raise _Bad(("satellites",), "an array of tables ([[satellites]]), name and tle each")
        if len(listed) > MAX_SATELLITES:
            raise _Bad(("satellites",), f"{len(listed)} satellites; at most {MAX_SATELLITES}")
        satellites, blame = [], {}
        for i in range(len(listed)):
            path = ("satellites", i)
            s = r.table(path, {"name", "tle"})
            name = _text(s, path, "name")
            if not SATELLITE_NAME.fullmatch(name):
                raise _Bad(path + ("name",), "a letter, then up to 31 letters, digits, _ or -")
            if name in blame:
                raise _Bad(path + ("name",), f"{name!r} names another satellite too")
            tle = s.get("tle")
            if not (
                isinstance(tle, list) and len(tle) == 2 and all(isinstance(x, str) for x in tle)
            ):
                raise _Bad(path + ("tle",), "the two lines of a TLE, as an array of two strings")
            satellite = Satellite(name, OrbitConfig(tle=(tle[0], tle[1])))
            try:
                compute_track(satellite.orbit, start, duration)
            except ValueError as exc:
                raise _Bad(path + ("tle",), f"not a TLE this run can fly: {exc}") from None
            satellites.append(satellite)
            blame[name] = path + ("tle",)
    gap, a, b, at = closest_approach(satellites, start, min(duration, 2 * 86_400))
    if gap < MIN_SEPARATION_KM:
        raise _Bad(blame.get(b, ("constellation", "phasing")),
                   f"{a} and {b} come within {gap:.1f} km of each other {at} s into the run: "
                   "they would collide")  # fmt: skip
    return tuple(satellites)


def _isl(r: _Reader, names: list[str], duration: int) -> IslConfig:
    path = ("isl",)
    i = r.table(path, set(IslConfig.__dataclass_fields__) - {"flaps"} | {"flap"})
    defaults = IslConfig()
    config = IslConfig(
        max_range_km=_number(i, path, "max_range_km", defaults.max_range_km, low=1, high=100_000),
        grazing_km=_number(i, path, "grazing_km", defaults.grazing_km, low=0, high=1_000),
        acquisition_s=_number(
            i, path, "acquisition_s", defaults.acquisition_s, low=0, high=3_600, integer=True
        ),  # fmt: skip
        terminals=_number(i, path, "terminals", defaults.terminals, low=1, high=16, integer=True),
        rate_bps=_number(i, path, "rate_bps", defaults.rate_bps, low=1e3, high=1e12),
        carried_bps=_number(i, path, "carried_bps", defaults.carried_bps, low=1e3, high=1e9),
        loss=_number(i, path, "loss", defaults.loss, low=0, high=0.5),
        flaps=_flaps(r, i.get("flap", []), names, duration),
    )
    if config.carried_bps > config.rate_bps:
        raise _Bad(path + ("carried_bps",), "the bench carries at most the terminals' rate_bps")
    return config


def _flaps(r: _Reader, raw: Any, names: list[str], duration: int) -> tuple[Flap, ...]:
    """[[isl.flap]]: laser links that come and go (hil/models/isl.py Flap)."""
    if not isinstance(raw, list):
        raise _Bad(("isl", "flap"), "an array of tables ([[isl.flap]])")
    flaps = []
    for k in range(len(raw)):
        path = ("isl", "flap", k)
        f = r.table(path, {"between", "start_s", "duration_s", "every_s"}, required=True)
        pair = f.get("between")
        if not (isinstance(pair, list) and len(pair) == 2 and set(pair) <= set(names)
                and pair[0] != pair[1]):  # fmt: skip
            raise _Bad(path + ("between",), f"two different satellites of {', '.join(names)}")
        flaps.append(Flap(
            pair[0], pair[1], _number(f, path, "start_s", low=0, high=duration, integer=True),
            _number(f, path, "duration_s", low=1, high=duration, integer=True),
            _number(f, path, "every_s", low=1, high=3600, integer=True),
        ))  # fmt: skip
    return tuple(flaps)


def _timeline(r: _Reader, duration: int, scids: dict[str, int]) -> tuple[Step, ...]:
    """[[timeline]]: each step for every spacecraft of the run, or, in a constellation, for the
    one its ``spacecraft`` names (``scids``: each satellite's id)."""
    raw = r.doc.get("timeline", [])
    if not isinstance(raw, list):
        raise _Bad(("timeline",), "an array of tables ([[timeline]])")
    steps = []
    for i in range(len(raw)):
        path = ("timeline", i)
        s = r.table(
            path,
            {
                "at_s",
                "action",
                "command",
                "args",
                "manifest",
                "expect",
                "failure",
                "text",
                "fault",
                "direction",
                "count",
                "ber",
                "duration_s",
                "seconds",
                "confirm",
                "spacecraft",
                "during_transfer",
                "files",
                "via",
            },
        )
        at = _number(s, path, "at_s", low=0, high=duration)
        action = _text(s, path, "action", choices=ACTIONS)
        params: dict[str, Any] = {}
        if "spacecraft" in s:
            if not scids:
                raise _Bad(path + ("spacecraft",), "names a satellite of a constellation: "
                           "declare one ([constellation] or [[satellites]])")  # fmt: skip
            params["spacecraft_id"] = scids[_text(s, path, "spacecraft", choices=set(scids))]
        if action == "command":
            params["command"] = _text(s, path, "command", choices=set(d.COMMANDS_BY_NAME))
            params["args"] = s.get("args", {})
            confirm = s.get("confirm", False)
            if not isinstance(confirm, bool):
                raise _Bad(path + ("confirm",), "true or false")
            if d.COMMANDS_BY_NAME[params["command"]].hazardous and not confirm:
                raise _Bad(
                    path + ("command",),
                    f"{params['command']} is hazardous: the step goes up only with confirm = true",
                )
            params["confirm"] = confirm
        elif action == "submit_job":
            if not isinstance(s.get("manifest"), dict):
                raise _Bad(path + ("manifest",), "a table: the job manifest")
            params["command"], params["args"] = "SUBMIT_JOB", {"manifest": s["manifest"]}
        elif action == "relay":
            params.update(_relay(s, path, scids))
        elif action == "fault":
            params.update(_fault(s, path))
        elif action == "upload":
            params["files"] = _files(s, path)
            if not params["files"]:
                raise _Bad(path + ("files",), "an upload step carries at least one file")
        else:
            params["text"] = _text(s, path, "text")
        if action in ("command", "submit_job"):
            params["expect"] = _text(s, path, "expect", "completed", ("completed", "rejected"))
            if "failure" in s:
                params["failure"] = _text(
                    s, path, "failure", choices={c.name for c in d.FailureCode}
                )
        steps.append(Step(float(at), action, params))
    return tuple(sorted(steps, key=lambda step: step.at_s))


def _relay(s: dict, path: tuple, scids: dict[str, int]) -> dict[str, Any]:
    """A consignment for the step's satellite (out of contact), by way of ``via`` (default: the
    station's choice) and the laser mesh: ``files`` (each a table of its name on board and its
    text), then ``command`` and ``args``, then a job ``manifest`` to submit."""
    if "spacecraft" not in s:
        raise _Bad(path + ("spacecraft",), "names the satellite the consignment is for")
    for key in ("expect", "failure"):
        if key in s:
            raise _Bad(path + (key,), "a relay step's commands are all to complete")
    params: dict[str, Any] = {"files": _files(s, path), "commands": []}
    if "command" in s:
        command = _text(s, path, "command", choices=set(d.COMMANDS_BY_NAME))
        params["commands"].append((command, s.get("args", {})))
    if "manifest" in s:
        if not isinstance(s["manifest"], dict):
            raise _Bad(path + ("manifest",), "a table: the job manifest")
        params["commands"].append(("SUBMIT_JOB", {"manifest": s["manifest"]}))
    if not params["files"] and not params["commands"]:
        raise _Bad(path, "a relay step carries files, a command or a manifest")
    if "via" in s:
        params["via"] = _text(s, path, "via", choices=set(scids))
    return params


def _files(s: dict, path: tuple) -> list[tuple[str, str]]:
    """A step's ``files``: each a table of its name on board (in the file store) and its text."""
    files = s.get("files", [])
    if not isinstance(files, list) or len(files) > RELAY_FILES:
        raise _Bad(path + ("files",), f"an array of at most {RELAY_FILES} tables")
    named = []
    for i, f in enumerate(files):
        if not isinstance(f, dict) or set(f) != {"name", "text"}:
            raise _Bad(path + ("files", i), "a table of name and text")
        name = _text(f, path + ("files", i), "name")
        if not _FILE_NAME.fullmatch(name):
            raise _Bad(path + ("files", i, "name"), "a plain file name (A-Z a-z 0-9 . _ -)")
        named.append((name, _text(f, path + ("files", i), "text")))
    return named


def _radiation(r: _Reader) -> RadiationConfig | None:
    """[radiation]: the simulated GPU's silent upsets, per bus hour, and their targets."""
    if "radiation" not in r.doc:
        return None
    table = r.table(("radiation",), {"upsets_per_hour", "targets"})
    rate = _number(table, ("radiation",), "upsets_per_hour", low=0, high=3600)
    targets = table.get("targets", list(UPSET_TARGETS))
    if (
        not isinstance(targets, list)
        or not targets
        or not set(targets) <= set(UPSET_TARGETS)
        or len(set(targets)) != len(targets)
    ):
        raise _Bad(("radiation", "targets"), f"distinct targets of {', '.join(UPSET_TARGETS)}")
    return RadiationConfig(float(rate), tuple(targets))


def _fault(s: dict, path: tuple) -> dict[str, Any]:
    fault = _text(s, path, "fault", choices=FAULTS)
    params: dict[str, Any] = {"fault": fault}
    if fault in BYTE_FAULTS or fault == "ber":
        params["direction"] = _text(s, path, "direction", "up", ("up", "down", "both"))
    if fault in BYTE_FAULTS or fault in ("gpu_ecc_corrected", "gpu_ecc_uncorrected"):
        params["count"] = _number(s, path, "count", 1, low=1, high=4096, integer=True)
    if fault == "ber":
        params["ber"] = _number(s, path, "ber", low=0, high=0.01)
    if fault in ("outage", "bus_reset", "brownout"):
        params["duration_s"] = _number(s, path, "duration_s", low=1, high=86_400, integer=True)
    if fault == "clock_jump":
        params["seconds"] = _number(s, path, "seconds", low=-86_400, high=86_400)
    if "during_transfer" in s:
        if fault != "kill_controller" or not isinstance(s["during_transfer"], bool):
            raise _Bad(path + ("during_transfer",), "true or false, for kill_controller only")
        params["during_transfer"] = s["during_transfer"]
    return params


def _workload(r: _Reader, duration: int) -> tuple[Step, ...]:
    """[[workload]]: series of simulated jobs, each submitted ``every_s`` from ``start_s``, with
    a deadline ``deadline_s`` after its submission."""
    raw = r.doc.get("workload", [])
    if not isinstance(raw, list):
        raise _Bad(("workload",), "an array of tables ([[workload]])")
    steps = []
    for i in range(len(raw)):
        path = ("workload", i)
        w = r.table(path, WORKLOAD_KEYS)
        name = _text(w, path, "name")
        start = _number(w, path, "start_s", 0, low=0, high=duration)
        every = _number(w, path, "every_s", low=1, high=duration)
        work = _number(w, path, "work_s", low=1, high=86_400)
        manifest: dict[str, Any] = {
            "simulated": {"work_s": work},
            "expected_runtime_s": _number(w, path, "expected_runtime_s", work, low=0, high=86_400),
            "priority": _number(w, path, "priority", 100, low=0, high=255, integer=True),
            "time_limit_s": 7 * 86_400,
        }
        deadline = _number(w, path, "deadline_s", 0, low=0, high=30 * 86_400)
        if "checkpoint_interval_s" in w or "checkpoint_cost_s" in w:
            manifest["checkpoint"] = {
                "interval_s": _number(w, path, "checkpoint_interval_s", 0, low=0, high=86_400),
                "cost_s": _number(w, path, "checkpoint_cost_s", 0, low=0, high=3600),
            }
        count = _number(w, path, "count", low=1, high=10_000, integer=True)
        for n in range(count):
            at = start + n * every
            if at > duration:
                break
            job = manifest | {"id": f"{name}-{n:04d}"}
            steps.append(Step(float(at), "workload", {"manifest": job, "deadline_s": deadline}))
    return tuple(sorted(steps, key=lambda step: step.at_s))


def _checks(r: _Reader) -> tuple[CheckSpec, ...]:
    raw = r.doc.get("checks", [])
    if not isinstance(raw, list):
        raise _Bad(("checks",), "an array of tables ([[checks]])")
    checks = []
    for i in range(len(raw)):
        path = ("checks", i)
        kind = _text(
            raw[i] if isinstance(raw[i], dict) else {}, path, "kind", choices=set(CHECK_KEYS)
        )
        c = r.table(path, {"kind", "name", *CHECK_KEYS[kind]})
        params: dict[str, Any] = {k: c[k] for k in c if k != "kind"}
        if kind.startswith("hk_"):
            _text(c, path, "field", choices=HK_NAMES)
            _number(c, path, "value")
        if kind.startswith("env_"):
            _text(c, path, "series", choices=set(ENV_SERIES))
        if kind.startswith(("env_", "figure_")):
            _number(c, path, "value")
        if kind.startswith("figure_"):
            _text(c, path, "figure")
        if kind == "event_count":
            _text(c, path, "event", choices=set(d.EVENTS_BY_NAME))
            _number(c, path, "min", 1, low=0, integer=True)
            if "max" in c:
                _number(c, path, "max", low=0, integer=True)
        if kind == "job_state":
            _text(c, path, "job")
            _text(c, path, "state", choices={s.name for s in d.JobState})
        checks.append(CheckSpec(kind, params))
    return tuple(checks)


def parse_scenario(text: str, source: Path) -> Scenario:
    """Validate a scenario document; ScenarioError names the file, line and key at fault."""
    lines = _Lines(text)
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ScenarioError(f"{source}: not valid TOML: {exc}") from None
    r = _Reader(doc)
    try:
        unknown = sorted(
            set(doc)
            - {
                "scenario",
                "orbit",
                "power",
                "thermal",
                "ground_stations",
                "link",
                "timeline",
                "checks",
                "gpu",
                "workload",
                "constellation",
                "satellites",
                "isl",
                "radiation",
            }
        )
        if unknown:
            raise _Bad((unknown[0],), "unknown table")
        head = r.table(
            ("scenario",),
            {"name", "description", "duration_s", "speed", "seed", "start", "watchdog_s"},
            required=True,
        )
        duration = _number(head, ("scenario",), "duration_s", low=1, high=30 * 86_400, integer=True)
        speed = head.get("speed", "max")
        if speed != "max" and (
            isinstance(speed, bool) or not isinstance(speed, (int, float)) or speed <= 0
        ):
            raise _Bad(("scenario", "speed"), '"max" (lockstep) or bus seconds per wall second')
        link = r.table(
            ("link",),
            {
                "baud",
                "ber",
                "relay",
                "radio_rate_bps",
                "radio_delay_s",
                "radio_loss",
                "spacecraft_id",
            },
        )
        relay = link.get("relay", "always")
        if relay not in ("always", "windows"):
            raise _Bad(("link", "relay"), '"always" or "windows" (only while a station is in view)')
        gpu = r.table(("gpu",), {"corrected_ecc_per_hour"})
        start = _start(head.get("start"), ("scenario", "start"))
        constellation = _constellation(r, start, duration)
        first_id = _number(
            link, ("link",), "spacecraft_id", DEFAULT_SCID, low=0, high=0xFFFF, integer=True
        )
        scids = {sat.name: first_id + i for i, sat in enumerate(constellation)}
        if "isl" in doc and not constellation:
            raise _Bad(("isl",), "laser terminals link the satellites of a constellation: "
                       "declare one ([constellation] or [[satellites]])")  # fmt: skip
        return Scenario(
            name=_text(head, ("scenario",), "name"),
            description=head.get("description", ""),
            duration_s=duration,
            speed=None if speed == "max" else float(speed),
            seed=_number(head, ("scenario",), "seed", 0, low=0, integer=True),
            start=start,
            environment=_environment(r),
            baud=_number(link, ("link",), "baud", 115_200, low=300, high=10_000_000, integer=True),
            ber=_number(link, ("link",), "ber", 0.0, low=0, high=0.01),
            relay_windows=relay == "windows",
            radio=RadioConfig(
                rate_bps=_number(link, ("link",), "radio_rate_bps", low=100, high=1e10)
                if "radio_rate_bps" in link
                else None,
                delay_s=_number(link, ("link",), "radio_delay_s", 0.0, low=0, high=600),
                loss=_number(link, ("link",), "radio_loss", 0.0, low=0, high=0.5),
            ),
            spacecraft_id=first_id,
            timeline=_timeline(r, duration, scids),
            checks=_checks(r),
            source=source,
            gpu_ecc_per_hour=_number(gpu, ("gpu",), "corrected_ecc_per_hour", 0.0, low=0, high=1e5),
            workload=_workload(r, duration),
            watchdog_s=_number(head, ("scenario",), "watchdog_s", low=0.2, high=600)
            if "watchdog_s" in head
            else None,
            constellation=constellation,
            isl=_isl(r, list(scids), duration),
            radiation=_radiation(r),
        )
    except _Bad as bad:
        raise ScenarioError(
            f"{source}:{lines.line(bad.path)}: {_dotted(bad.path)}: {bad}"
        ) from None


def load_scenario(name_or_path: str) -> Scenario:
    """A shipped scenario by name, or a scenario file by path."""
    path = Path(name_or_path)
    by_name = not path.suffix and len(path.parts) == 1
    if by_name:
        path = SCENARIO_DIR / f"{name_or_path}.toml"
    try:
        text = path.read_text()
    except OSError as exc:
        if by_name and isinstance(exc, FileNotFoundError):
            names = ", ".join(p.stem for p in shipped())
            raise ScenarioError(
                f"unknown scenario {name_or_path!r}: one of default, {names}, or a scenario "
                "file's path (python -m hil list shows them)"
            ) from None
        raise ScenarioError(f"{path}: {exc.strerror}") from None
    return parse_scenario(text, path)


def shipped() -> list[Path]:
    """The scenario files that come with the bench."""
    return sorted(SCENARIO_DIR.glob("*.toml"))
