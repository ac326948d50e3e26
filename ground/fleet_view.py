"""The fleet view's rows, as `ground fleet` prints them and the console's fleet view shows them:
each spacecraft's link, spacecraft time, power, sun, GPU, jobs, next contact and laser links
(from its latest housekeeping, docs/icd.md section 11), and its traffic; and the fleet job
broker's jobs, as `ground fleet jobs` prints them and the console lists them under the fleet."""

from __future__ import annotations

from typing import Any

from flight import dictionary as d
from ground.console.model import utc

COLUMNS = ("spacecraft", "id", "link", "spacecraft time", "power", "sun", "GPU", "jobs",
           "contact", "laser links", "packets", "commands", "files", "transfers")  # fmt: skip
NUMERIC = (1, 10, 11, 12, 13)  # the columns that read right-aligned


def fleet_row(craft: dict[str, Any]) -> tuple[str, ...]:
    """One spacecraft of the station's fleet answer, as the view's cells."""
    return (
        craft["name"],
        str(craft["scid"]),
        "up" if craft["link_up"] else "down",
        utc(craft["spacecraft_time"]) if craft["spacecraft_time"] else "-",
        *_health(craft.get("health")),
        str(craft["tm_received"]),
        str(craft["tc_sent"]),
        str(craft["files"]),
        str(craft["transfers"]),
    )


def _health(health: dict[str, Any] | None) -> tuple[str, str, str, str, str, str]:
    """Power, sun, GPU, jobs, contact and laser links from the latest housekeeping ("-" before
    any)."""
    if not health:
        return ("-",) * 6
    power = f"{health['power_allowance_w']:.0f} W {100 * health['battery_soc']:.0f}%"
    sun = "sun" if health["sunlit"] else "shadow"
    if health["safe_mode"]:
        gpu = "SAFE MODE"
    elif not health["gpu_valid"]:
        gpu = "off"
    else:
        gpu = f"{health['gpu_temp_c']:.0f} C {health['gpu_power_w']:.0f} W"
    jobs = f"{health['jobs_queued']} queued, {str(health['job_state']).lower()}"
    link_in = health["link_in_s"]
    if link_in == 0:
        contact = "now"
    elif link_in >= d.NONE_AHEAD:
        contact = "none ahead"
    else:
        contact = f"in {link_in // 60} min"
    laser = "-"
    if health.get("isl_links") is not None:  # a dictionary before laser links has none
        laser = f"{health['isl_links']} up, {health['relay_files']} files held"
    return power, sun, gpu, jobs, contact, laser


JOB_COLUMNS = ("job", "state", "spacecraft", "placed", "deadline", "finish (predicted)",
               "on the ground (predicted)", "completed", "note")  # fmt: skip


def _when(t: float | None) -> str:
    return utc(t) if t is not None and t != float("inf") and t > 0 else "-"


def job_row(job: dict[str, Any]) -> tuple[str, ...]:
    """One of the broker's jobs (its ``fleet_jobs`` answer) as the view's cells."""
    done = job["completed_at"]
    late = job["deadline"] is not None and done is not None and done > job["deadline"]
    return (
        job["job_id"],
        job["state"],
        job["spacecraft"] or "-",
        f"{job['placements']}x",
        _when(job["deadline"]),
        _when(job["predicted_finish"]),
        _when(job["predicted_ground"]),
        _when(done) + (" LATE" if late else ""),
        job["note"],
    )


def describe_placement(job: dict[str, Any]) -> str:
    """One line for a job the broker took."""
    going = "sent up" if job["state"] == "sent" else "waits for its contact"
    return (
        f"fleet job {job['job_id']} placed on {job['spacecraft']} ({going}): finish predicted "
        f"{_when(job['predicted_finish'])}, results on the ground {_when(job['predicted_ground'])}"
    )


def describe_broker(broker: dict[str, Any]) -> str:
    """The broker's counts in one line."""
    if not broker:
        return "fleet job broker: -"
    states = ", ".join(f"{n} {s}" for s, n in sorted(broker["jobs"].items())) or "no jobs"
    return (
        f"fleet job broker ({broker['policy']} placement): {states}; "
        f"{broker['replaced']} placed again"
    )
