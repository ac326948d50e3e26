"""The events (PUS 5): each event's id, severity, meaning and fields."""

from __future__ import annotations

from flight.protocol.fields import Field
from flight.dictionary.base import (
    Event,
    GOVERNOR_MODE_NAMES,
    GPU_POWER_NAMES,
    Severity,
    _GPU_OPERATION,
    _IMAGE_SLOT,
    _JOB_ID,
    _KEY_ID,
    _NO_YES,
    _RELAYED,
    _TRANSFER,
)

# --- Events (PUS 5: event id u16, then the event's fields)
EVENTS: tuple[Event, ...] = (
    Event(
        "CONTROLLER_STARTED",
        1,
        Severity.INFO,
        "The controller started.",
        (Field("version", "str", description="flight software version"),),
    ),
    Event(
        "TIME_SYNCHRONISED",
        2,
        Severity.INFO,
        "The first bus tick set the on-board time.",
        (Field("time", "cuc", "s", "bus time"),),
    ),
    Event(
        "TIME_JUMP",
        3,
        Severity.LOW,
        "A bus tick's time was not one second after the last one's (bus reset, clock step).",
        (
            Field("expected", "cuc", "s", "the time one second after the last tick"),
            Field("received", "cuc", "s", "the time this tick carried"),
        ),
    ),
    Event(
        "EVENT_REPEATED",
        4,
        Severity.INFO,
        "A throttled event repeated: its repeats since it was last sent or summarised, sent when "
        "it stops (throttle_s without it) and at most once a throttle_s while it goes on.",
        (
            Field("event", "str", description="the repeated event's name"),
            Field("repeats", "u32", description="occurrences counted and not sent"),
            Field("first", "cuc", "s", "bus time of the first of them"),
            Field("last", "cuc", "s", "bus time of the last of them"),
            Field("latest", "str", description="the last one's fields, as name=value"),
        ),
    ),
    Event("JOB_QUEUED", 10, Severity.INFO, "A job was accepted into the queue.", (_JOB_ID,)),
    Event(
        "JOB_STARTED",
        11,
        Severity.INFO,
        "A job's process started.",
        (_JOB_ID, Field("pid", "u32", description="process id")),
    ),
    Event(
        "JOB_COMPLETED",
        12,
        Severity.INFO,
        "A job's process exited with status 0.",
        (_JOB_ID, Field("runtime_s", "f32", "s", "bus seconds it ran")),
    ),
    Event(
        "JOB_FAILED",
        13,
        Severity.MEDIUM,
        "A job's process exited with a non-zero status "
        "or was killed by a signal (negative exit code).",
        (
            _JOB_ID,
            Field("exit_code", "i32", description="exit status, or -signal"),
            Field("runtime_s", "f32", "s", "bus seconds it ran"),
        ),
    ),
    Event(
        "JOB_TIMED_OUT",
        14,
        Severity.MEDIUM,
        "A job ran past its time limit and was stopped.",
        (_JOB_ID, Field("runtime_s", "f32", "s", "bus seconds it ran")),
    ),
    Event("JOB_CANCELLED", 15, Severity.INFO, "A job was cancelled.", (_JOB_ID,)),
    Event("JOB_HELD", 16, Severity.INFO, "A queued job is held.", (_JOB_ID,)),
    Event("JOB_RELEASED", 17, Severity.INFO, "A held job is queued again.", (_JOB_ID,)),
    Event(
        "JOB_REPRIORITISED",
        18,
        Severity.INFO,
        "A waiting job's priority changed.",
        (Field("priority", "u8", description="the new priority"), _JOB_ID),
    ),
    Event(
        "JOB_CHECKPOINTED",
        19,
        Severity.INFO,
        "A job wrote a checkpoint (it named it in its LATEST file).",
        (_JOB_ID, Field("checkpoint", "str", description="the checkpoint's name")),
    ),
    Event(
        "JOB_SUSPENDED",
        20,
        Severity.LOW,
        "A running job was checkpointed and stopped to wait for power or a healthy GPU; it is "
        "queued again and resumes from its checkpoint.",
        (_JOB_ID, Field("reason", "str", description="why")),
    ),
    Event(
        "JOB_RESUMED",
        21,
        Severity.INFO,
        "A job started again from a checkpoint (JOB_RESUME names it).",
        (_JOB_ID, Field("checkpoint", "str", description="the checkpoint's name")),
    ),
    Event(
        "JOB_REQUEUED",
        22,
        Severity.LOW,
        "A job that had started is queued again (retry, lost process, GPU fault).",
        (_JOB_ID, Field("reason", "str", description="why")),
    ),
    Event(
        "JOB_RESULTS_SUSPECT",
        23,
        Severity.MEDIUM,
        "An uncorrectable GPU memory error happened while the job ran, or one of its result "
        "files no longer has the SHA-256 the job declared for it (SHA256SUMS): its results are "
        "suspect, and RESULTS.json says so.",
        (_JOB_ID,),
    ),
    Event(
        "JOB_ADOPTED",
        24,
        Severity.INFO,
        "After a restart, the controller found the job's process still running and supervises "
        "it again.",
        (_JOB_ID, Field("pid", "u32", description="the job's supervisor process")),
    ),
    Event(
        "STORE_ERROR",
        25,
        Severity.HIGH,
        "The job store could not record a change (disk full or failing); the controller goes on "
        "and tries again.",
        (Field("reason", "str", description="what SQLite said"),),
        throttle_s=60,
    ),
    Event(
        "JOB_CHECKPOINT_CORRUPT",
        26,
        Severity.MEDIUM,
        "A job's checkpoint no longer has the SHA-256 its file had when the job named it (an "
        "upset or a failing disk altered it): it is never resumed from; the job resumes from the "
        "newest one still intact, or starts over.",
        (_JOB_ID, Field("checkpoint", "str", description="the altered checkpoint's name")),
    ),
    Event(
        "JOB_SDC_DETECTED",
        27,
        Severity.MEDIUM,
        "A job's integrity check caught silent data corruption in what it computes (abft: it "
        "exited 86 and wrote no checkpoint after it; redundant or checkpoint-replay: a "
        "verification run disagreed with it): it is run again from its last checkpoint known "
        "good, or failed, its results suspect, once it has been caught more than 3 times.",
        (
            _JOB_ID,
            Field("check", "str", description="the job's integrity policy that caught it"),
            Field("reruns", "u8", description="times the job has been caught so far"),
        ),
    ),
    Event(
        "JOB_VERIFYING",
        28,
        Severity.INFO,
        "A job's process ended 0 under the redundant or checkpoint-replay policy: its results "
        "wait until its verification runs agree with it (docs/jobs.md).",
        (
            _JOB_ID,
            Field("check", "str", description="the job's integrity policy"),
            Field("runs", "u16", description="the verification runs queued"),
            Field("intervals", "u16", description="the intervals the job's run had"),
        ),
    ),
    Event(
        "GPU_BACKEND",
        30,
        Severity.INFO,
        "The GPU backend in use.",
        (
            Field("backend", "str", description="simulated, nvml or none"),
            Field("device", "str", description="the GPU's name"),
        ),
    ),
    Event(
        "GPU_PERMISSION_DENIED",
        31,
        Severity.MEDIUM,
        "The controller may not set the GPU's limits (they need root): it only reads the GPU, "
        "and housekeeping's gpu_control says DENIED.",
        _GPU_OPERATION,
    ),
    Event(
        "GPU_ERROR",
        32,
        Severity.MEDIUM,
        "A GPU operation failed.",
        _GPU_OPERATION,
        throttle_s=60,
    ),
    Event(
        "GPU_XID",
        33,
        Severity.MEDIUM,
        "The GPU reported an Xid error (48: double-bit ECC, 79: fallen off the bus).",
        (Field("xid", "u32", description="the Xid"),),
        throttle_s=60,
    ),
    Event(
        "GPU_ECC_UNCORRECTED",
        34,
        Severity.HIGH,
        "Uncorrectable GPU memory errors: the running job's results are suspect and it is "
        "requeued.",
        (Field("count", "u32", description="uncorrected errors so far"),),
    ),
    Event(
        "GPU_POWER_REQUEST",
        35,
        Severity.MEDIUM,
        "The payload asks the bus to switch the GPU's supply: OFF when the allowance cannot "
        "carry even an idle GPU and no job runs, ON when it can run jobs again, CYCLE (off, then "
        "on) when the GPU is lost (Xid 79). Answered by GPU_POWER_STATE.",
        (
            Field("action", "u8", description="what is asked", enum=GPU_POWER_NAMES),
            Field("reason", "str", description="why"),
        ),
    ),
    Event(
        "GPU_THROTTLED",
        38,
        Severity.LOW,
        "The GPU began slowing its own clocks to protect itself (thermal slowdown, hardware "
        "slowdown), which it was not doing the second before; the governor's power cap is not "
        "this.",
        (Field("reasons", "u32", description="its clock event reasons, NVML's bit mask"),),
        throttle_s=60,
    ),
    Event(
        "GPU_RECOVERED",
        36,
        Severity.INFO,
        "After a power cycle the GPU answers again.",
        (Field("device", "str", description="the GPU's name"),),
    ),
    Event(
        "GOVERNOR_MODE",
        37,
        Severity.INFO,
        "The governor changed mode.",
        (
            Field("mode", "u8", description="the new mode", enum=GOVERNOR_MODE_NAMES),
            Field("reason", "str", description="why"),
        ),
    ),
    Event(
        "FILE_SENT",
        40,
        Severity.INFO,
        "The ground confirmed a file complete and intact (CFDP Finished).",
        _TRANSFER,
    ),
    Event(
        "FILE_RECEIVED",
        41,
        Severity.INFO,
        "A file from the ground arrived complete and intact in the file store.",
        _TRANSFER,
    ),
    Event(
        "FILE_FAILED",
        42,
        Severity.LOW,
        "A CFDP transaction ended without delivering its file.",
        _TRANSFER + (Field("condition", "str", description="the CFDP condition code, by name"),),
    ),
    Event(
        "UNCLEAN_START",
        52,
        Severity.MEDIUM,
        "The controller started after it had not stopped cleanly (a crash, a power loss, a "
        "watchdog restart); sent with the first tick, and counted as a fault.",
    ),
    Event(
        "SAFE_MODE_ENTERED",
        53,
        Severity.HIGH,
        "The payload is in safe mode: jobs wait, the GPU is at its lowest power limit.",
        (Field("reason", "str", description="the faults that led to it, or the command"),),
    ),
    Event("SAFE_MODE_EXITED", 54, Severity.MEDIUM, "The payload left safe mode by command."),
    Event(
        "KEY_ACTIVATED",
        50,
        Severity.MEDIUM,
        "An authentication key was put in use by command.",
        (_KEY_ID,),
    ),
    Event(
        "KEY_DEACTIVATED",
        51,
        Severity.MEDIUM,
        "An authentication key was taken out of use by command.",
        (_KEY_ID,),
    ),
    Event(
        "SEQUENCE_FLOOR",
        55,
        Severity.INFO,
        "At start, before CONTROLLER_STARTED, one for each key that has a reserved window "
        "(section 13): every sequence number up to floor counts as used under the key, and "
        "senders continue above it. Told again, at most once a second per key, after a "
        "telecommand whose MAC verified under the key is refused as a replay (AUTH_REPLAY): "
        "its sender missed the floor.",
        (
            _KEY_ID,
            Field(
                "floor",
                "u64",
                description="the end of the window reserved before the start (told again: the "
                "last number used under the key)",
            ),
        ),
    ),
    Event(
        "TABLE_LOADED",
        70,
        Severity.MEDIUM,
        "A parameter table was replaced by command; it is in use from the next bus second.",
        (
            Field("table", "str", description="the table's name"),
            Field("crc", "u32", description="CRC-32C of its file, as housekeeping reports it"),
        ),
    ),
    Event(
        "TABLES_RESET",
        71,
        Severity.MEDIUM,
        "Every parameter table is the one the flight image ships again (RESET_TABLES).",
    ),
    Event(
        "TABLE_FALLBACK",
        72,
        Severity.HIGH,
        "At start, a table loaded earlier did not validate (a damaged file): the one the flight "
        "image ships is in use instead.",
        (
            Field("table", "str", description="the table's name"),
            Field("reason", "str", description="what is wrong with the stored file"),
        ),
    ),
    Event(
        "IMAGE_INSTALLED",
        60,
        Severity.INFO,
        "A verified bundle is installed in the inactive slot, ready for IMAGE_ACTIVATE.",
        _IMAGE_SLOT,
    ),
    Event(
        "IMAGE_INSTALL_FAILED",
        61,
        Severity.LOW,
        "An install did not complete; the slot it was going to is left empty.",
        (Field("reason", "str", description="what went wrong"),),
    ),
    Event(
        "IMAGE_ACTIVATED",
        62,
        Severity.MEDIUM,
        "A new version is current, on trial; the controller restarts into it.",
        _IMAGE_SLOT,
    ),
    Event(
        "IMAGE_COMMITTED",
        63,
        Severity.INFO,
        "The version on trial served health_s bus seconds and passed its self-test: it stays.",
        _IMAGE_SLOT,
    ),
    Event(
        "IMAGE_ROLLED_BACK",
        64,
        Severity.HIGH,
        "A version on trial was rolled back: the slot before is current again. Sent by the "
        "version rolled back to, when it starts.",
        _IMAGE_SLOT
        + (
            Field("to_slot", "str", description="the slot current again"),
            Field("reason", "str", description="why: failed to start, not healthy in time, ..."),
        ),
    ),
    Event(
        "FILE_TAKEN",
        80,
        Severity.INFO,
        "A neighbour passed a file over a laser link (for the ground, or the ground's "
        "consignment for a satellite: origin the ground's entity, name uplink/DEST/ID): this "
        "satellite holds it now, and routes it on.",
        _RELAYED + (Field("neighbour", "u16", description="the entity that passed it"),),
    ),
    Event(
        "FILE_FORWARDED",
        81,
        Severity.INFO,
        "A neighbour took custody of a file for the ground, or of a consignment (its CFDP "
        "Finished came back over the laser link).",
        _RELAYED + (Field("neighbour", "u16", description="the entity that took it"),),
    ),
    Event(
        "FILE_FORWARD_FAILED",
        82,
        Severity.LOW,
        "A file did not reach a neighbour: this satellite still holds it and routes it again, "
        "by another neighbour for a while.",
        _RELAYED
        + (
            Field("neighbour", "u16", description="the entity it was going to"),
            Field("condition", "str", description="the CFDP condition the transfer ended with"),
        ),
    ),
    Event(
        "FILE_TAKEN_AGAIN",
        83,
        Severity.INFO,
        "A copy of a file this satellite already holds for the ground arrived again (its sender "
        "did not hear the first transfer finish): dropped, the file is held once.",
        _RELAYED + (Field("neighbour", "u16", description="the entity that passed it"),),
    ),
    Event(
        "CONTACT_PLAN_LOADED",
        84,
        Severity.INFO,
        "A contact plan is in use: files for the ground are routed over it.",
        (
            Field("contacts", "u32", description="the contacts it holds"),
            Field("ends", "cuc", "s", "when its last contact ends"),
        ),
    ),
    Event(
        "CONTACT_PLAN_REFUSED",
        85,
        Severity.LOW,
        "A contact plan did not validate: the one before stays in use (none: files go down "
        "this satellite's own link).",
        (Field("reason", "str", description="what is wrong with it"),),
    ),
    Event(
        "CONSIGNMENT_DELIVERED",
        86,
        Severity.INFO,
        "A consignment the ground sent this satellite across the laser mesh arrived and ran: "
        "its head accepted or not, the files put in place, the telecommands admitted (each "
        "with its own verification reports).",
        (
            Field("name", "str", description="the consignment: uplink/DEST/ID"),
            Field("accepted", "u8", description="1: its head was accepted", enum=_NO_YES),
            Field("files", "u8", description="files put in the file store"),
            Field("commands", "u8", description="telecommands admitted"),
        ),
    ),
    Event(
        "CONSIGNMENT_REFUSED",
        87,
        Severity.LOW,
        "A consignment for this satellite could not be read: nothing in it was placed or run.",
        (
            Field("name", "str", description="the consignment: uplink/DEST/ID"),
            Field("reason", "str", description="what is wrong with it"),
        ),
    ),
    Event(
        "LASER_LINK_UNSTABLE",
        88,
        Severity.MEDIUM,
        "Transfers to a neighbour kept failing while the contact plan had its laser link up: the "
        "link comes and goes (it flaps), or the plan is wrong about it. Raised once an hour per "
        "neighbour at most; files go by other ways meanwhile.",
        (
            Field("neighbour", "u16", description="the entity at the link's other end"),
            Field("failures", "u16", description="transfers to it that failed in the window"),
            Field("window_s", "u32", unit="s", description="the window they failed in"),
        ),
    ),
)
EVENT_HEADER = (Field("event_id", "u16", description="the event's id"),)
