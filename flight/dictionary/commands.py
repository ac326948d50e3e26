"""The telecommands: every command the payload accepts, its PUS service and subtype, its
arguments, and who may send it."""

from __future__ import annotations

from flight.protocol.fields import Field
from flight.dictionary.base import (
    Command,
    SOURCE_BUS,
    _JOB_ID,
    _KEY_ID,
    _NONE,
    _NO_YES,
    _PDU,
)

# --- Telecommands
COMMANDS: tuple[Command, ...] = (
    Command("PING", 17, 1, "Are-you-alive test; answered by PING_REPORT."),
    Command("NOOP", 128, 1, "Does nothing but report acceptance and completion."),
    Command(
        "RESET_COUNTERS",
        128,
        2,
        "Sets the command and error counters of housekeeping to zero "
        "(tc_*, frames_bad, packets_*, manifests_rejected, tm_dropped).",
    ),
    Command(
        "SUBMIT_JOB",
        140,
        1,
        "Queues a job described by a msgpack manifest (see Job manifest).",
        args=(Field("manifest", "msgpack", description="the job manifest, a msgpack map"),),
    ),
    Command("REPORT_JOBS", 140, 2, "Asks for a JOB_LIST report of every job the controller knows."),
    Command(
        "CANCEL_JOB",
        140,
        4,
        "Cancels a queued, held or running job (a running one gets SIGTERM, then SIGKILL after "
        "its grace period); final state CANCELLED.",
        args=(_JOB_ID,),
        hazardous=True,
    ),
    Command("HOLD_JOB", 140, 5, "Keeps a queued job from starting until RELEASE_JOB.", (_JOB_ID,)),
    Command("RELEASE_JOB", 140, 6, "Lets a held job be scheduled again.", (_JOB_ID,)),
    Command(
        "REPRIORITISE_JOB",
        140,
        7,
        "Sets a waiting job's priority (higher runs first).",
        (Field("priority", "u8", description="0-255, higher first"), _JOB_ID),
    ),
    Command("REPORT_JOB", 140, 8, "Asks for a JOB_DETAIL report of one job.", (_JOB_ID,)),
    Command(
        "BUS_TICK",
        200,
        1,
        "One bus second: the bus time, the payload's power allowance and what the bus knows of "
        "its environment and the orbit ahead. The payload answers each with one housekeeping "
        "report.",
        args=(
            Field("time", "cuc", "s", "bus time, seconds since 1970-01-01 UTC"),
            Field("power_allowance_w", "f32", "W", "power the payload may draw", 0.0, 5000.0),
            Field("battery_soc", "f32", "", "battery state of charge, 0 to 1", 0.0, 1.0),
            Field("sink_temp_c", "f32", "C", "payload radiator sink temperature", -200.0, 200.0),
            Field("sunlit", "u8", description="1 in sunlight, 0 in eclipse", enum=_NO_YES),
            Field("eclipse_in_s", "u32", "s", f"seconds to the next eclipse: 0 in one, {_NONE}"),
            Field(
                "eclipse_s", "u32", "s", "seconds left in this eclipse, or the next one's length"
            ),
            Field("link_in_s", "u32", "s", f"seconds to the next link window: 0 in one, {_NONE}"),
            Field(
                "link_s", "u32", "s", "seconds left in this link window, or the next one's length"
            ),
        ),
        source=SOURCE_BUS,
    ),
    Command(
        "GPU_POWER_STATE",
        200,
        2,
        "The bus has switched the GPU's supply (its answer to GPU_POWER_REQUEST; a power "
        "cycle is an off, then an on).",
        args=(Field("on", "u8", description="1: the GPU is powered, 0: it is off", enum=_NO_YES),),
        source=SOURCE_BUS,
    ),
    Command(
        "CFDP_PDU",
        210,
        1,
        "One CFDP PDU for the payload's CFDP entity (section 12): file data, EOF, ACK, NAK or "
        "Finished of the ground's transactions. The ground sends these with no acknowledgement "
        "flags set.",
        args=(_PDU,),
    ),
    Command(
        "DOWNLINK_FILE",
        210,
        2,
        "Queues a file of the payload's state directory for downlink by CFDP class 2 "
        "(job results are queued by themselves when their job ends). On a payload with a "
        "relay, the file is copied as it stands and routed across the laser mesh as "
        "_file/DIGEST/PATH (section 12).",
        args=(
            Field("path", "str", description="the file, relative to the state directory"),
            Field("priority", "u8", description="0-255, 0 sent first"),
        ),
    ),
    Command(
        "KEY_ACTIVATE",
        220,
        1,
        "Puts an authentication key on board in use for its source (section 13); the ground "
        "then signs with it.",
        args=(_KEY_ID,),
        hazardous=True,
    ),
    Command(
        "KEY_DEACTIVATE",
        220,
        2,
        "Takes an authentication key out of use: telecommands signed with it are refused "
        "(AUTH_UNKNOWN_KEY). Refused for the last key in use for its source.",
        args=(_KEY_ID,),
        hazardous=True,
    ),
    Command("REPORT_KEYS", 220, 3, "Asks for a KEY_LIST report."),
    Command(
        "IMAGE_INSTALL",
        230,
        1,
        "Verifies a flight image bundle uplinked to the file store (section 15) and installs it "
        "into the inactive slot; IMAGE_INSTALLED or IMAGE_INSTALL_FAILED follows.",
        args=(Field("file", "str", description="the bundle, relative to the file store"),),
    ),
    Command(
        "IMAGE_ACTIVATE",
        230,
        2,
        "Makes the inactive slot's version current on trial and restarts the controller into "
        "it. The new version commits after health_s bus seconds of healthy service; it is "
        "rolled back if it fails to start three times, or has not committed within trial_s.",
        args=(
            Field("trial_s", "u32", "s", "wall-clock seconds the new version has to commit"),
            Field("health_s", "u32", "s", "bus seconds of healthy service before it commits"),
        ),
        hazardous=True,
    ),
    Command(
        "SAFE_MODE_ENTER",
        128,
        3,
        "Puts the payload in safe mode (section 14): no job runs, the GPU at its lowest power "
        "limit. Nothing happens if it is in safe mode already.",
    ),
    Command(
        "SAFE_MODE_EXIT",
        128,
        4,
        "Takes the payload out of safe mode; the fault count starts again. Nothing happens if "
        "it is not in safe mode.",
        hazardous=True,
    ),
    Command(
        "TABLE_LOAD",
        240,
        1,
        "Replaces a parameter table (section 17) with a table file uplinked to the file store, "
        "once the file validates; a file that does not is refused with TABLE_INVALID and its "
        "reason, and the table in use stays. TABLE_LOADED follows.",
        args=(
            Field("table", "str", description="the table: governor, downlink or safe_mode"),
            Field("file", "str", description="the table file, relative to the file store"),
        ),
        hazardous=True,
    ),
    Command(
        "RESET_TABLES",
        240,
        2,
        "Puts every parameter table back to the one the flight image ships; TABLES_RESET follows.",
        hazardous=True,
    ),
    Command(
        "CONTACT_PLAN_LOAD",
        240,
        3,
        "Puts in use a contact plan (docs/constellation.md) uplinked to the file store, once it "
        "validates: the files this satellite holds for the ground are routed over it from the "
        "next bus second. A plan that does not validate is refused with CONTACT_PLAN_INVALID "
        "and its reason, and the plan in use stays. CONTACT_PLAN_LOADED follows.",
        args=(Field("file", "str", description="the plan's JSON, relative to the file store"),),
    ),
    Command(
        "CONSIGNMENT_ACCEPT",
        240,
        4,
        "The head of a consignment the ground sent this satellite across the laser mesh "
        "(section 19); valid only there. Its files are put in the file store when they are "
        "the ones it names; the consignment's telecommands then run in order. Refused with "
        "CONSIGNMENT_INVALID otherwise.",
        args=(
            Field("files", "u8", description="how many files the consignment carries"),
            Field(
                "files_sha256",
                "str",
                description="SHA-256 (hex) of the consignment's file sections, names included",
            ),
        ),
    ),
)
