"""The fleet view's rows, as `ground fleet` prints them and the console's fleet view shows them:
each spacecraft's link, spacecraft time, power, sun, GPU, jobs and next contact (from its latest
housekeeping, docs/icd.md section 11), and its traffic."""

from __future__ import annotations

from typing import Any

from flight import dictionary as d
from ground.console.model import utc

COLUMNS = ("spacecraft", "id", "link", "spacecraft time", "power", "sun", "GPU", "jobs",
           "contact", "packets", "commands", "files", "transfers")  # fmt: skip
NUMERIC = (1, 9, 10, 11, 12)  # the columns that read right-aligned


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


def _health(health: dict[str, Any] | None) -> tuple[str, str, str, str, str]:
    """Power, sun, GPU, jobs and contact from the latest housekeeping ("-" before any)."""
    if not health:
        return ("-",) * 5
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
    return power, sun, gpu, jobs, contact
