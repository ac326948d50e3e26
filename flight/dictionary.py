"""The single dictionary of the payload: APIDs, telecommands, telemetry, events and failure codes.

Flight, the HIL bench and the ground system all load this module; nothing is defined twice.
docs/icd.md renders it (``python -m flight icd``), and a test keeps the two the same.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from enum import IntEnum

from flight.protocol.fields import Field, Limits

DICTIONARY_VERSION = 5

# --- Application process identifiers
APID_PAYLOAD = 0x065  # the payload controller: telecommands to it, all of its telemetry
APIDS = {APID_PAYLOAD: "PAYLOAD"}

# --- Telecommand sources (PUS-C source ID)
SOURCE_BUS = 0x0001  # the spacecraft bus (on-board computer)
SOURCE_GROUND = 0x0100  # the ground station
SOURCES = {SOURCE_BUS: "BUS", SOURCE_GROUND: "GROUND"}

# --- PUS-C acknowledgement flags of a telecommand
ACK_ACCEPTANCE = 0b0001
ACK_START = 0b0010
ACK_PROGRESS = 0b0100
ACK_COMPLETION = 0b1000
ACK_GROUND_DEFAULT = ACK_ACCEPTANCE | ACK_COMPLETION


class FailureCode(IntEnum):
    """PUS 1 failure codes: the reason in every acceptance or completion failure report."""

    ILLEGAL_APID = 1
    BAD_CHECKSUM = 2
    BAD_LENGTH = 3
    BAD_HEADER = 4
    NOT_A_TELECOMMAND = 5
    ILLEGAL_SERVICE = 6
    ILLEGAL_SUBTYPE = 7
    BAD_ARGUMENTS = 8
    WRONG_SOURCE = 9
    MANIFEST_INVALID = 20
    JOB_DUPLICATE = 21
    QUEUE_FULL = 22
    EXECUTABLE_NOT_FOUND = 23
    MANIFEST_CONTRADICTORY = 24
    MANIFEST_TOO_LARGE = 25
    DEADLINE_UNREACHABLE = 26
    INPUT_NOT_FOUND = 27
    GPU_MEMORY_EXCEEDED = 28
    JOB_UNKNOWN = 29
    JOB_STATE_CONFLICT = 30
    STORE_FAILURE = 31
    FILE_NOT_FOUND = 40
    FILE_NAME_INVALID = 41
    AUTH_MISSING = 50
    AUTH_UNKNOWN_KEY = 51
    AUTH_BAD_MAC = 52
    AUTH_REPLAY = 53
    KEY_UNKNOWN = 54
    KEY_LAST_IN_USE = 55
    MANIFEST_UNSIGNED = 56
    MANIFEST_SIGNER_UNKNOWN = 57
    MANIFEST_SIGNATURE_BAD = 58
    IMAGE_UNAVAILABLE = 60
    IMAGE_BUSY = 61
    IMAGE_REJECTED = 62
    IMAGE_NOT_INSTALLED = 63
    INTERNAL_ERROR = 99


FAILURE_DESCRIPTIONS = {
    FailureCode.ILLEGAL_APID: "the packet's APID is not one of the payload's",
    FailureCode.BAD_CHECKSUM: "the packet error control (CRC-16) does not match",
    FailureCode.BAD_LENGTH: "the packet length field disagrees with the frame's length",
    FailureCode.BAD_HEADER: "not a version-1 space packet with a PUS-C secondary header",
    FailureCode.NOT_A_TELECOMMAND: "a telemetry packet arrived where telecommands go",
    FailureCode.ILLEGAL_SERVICE: "no such service",
    FailureCode.ILLEGAL_SUBTYPE: "no such subtype in the service",
    FailureCode.BAD_ARGUMENTS: "the application data do not decode to the command's arguments",
    FailureCode.WRONG_SOURCE: "the command may not be sent by this source",
    FailureCode.MANIFEST_INVALID: "the job manifest does not validate (the reason names the field)",
    FailureCode.JOB_DUPLICATE: "a job with this id is already known",
    FailureCode.QUEUE_FULL: "the job queue is full",
    FailureCode.EXECUTABLE_NOT_FOUND: "the job's executable is not in the job area",
    FailureCode.MANIFEST_CONTRADICTORY: "the manifest's fields validate one by one but contradict "
    "each other (the reason says which)",
    FailureCode.MANIFEST_TOO_LARGE: "the manifest is larger than 3072 octets",
    FailureCode.DEADLINE_UNREACHABLE: "the deadline is before now plus the expected run time",
    FailureCode.INPUT_NOT_FOUND: "an input file is not in the payload's file store",
    FailureCode.GPU_MEMORY_EXCEEDED: "the job asks for more GPU memory than the GPU has",
    FailureCode.JOB_UNKNOWN: "no job with this id",
    FailureCode.JOB_STATE_CONFLICT: "the job's state does not allow the command "
    "(the reason names the state)",
    FailureCode.STORE_FAILURE: "the job store could not record the change (disk full or failing); "
    "nothing was changed",
    FailureCode.FILE_NOT_FOUND: "no such file on board to send",
    FailureCode.FILE_NAME_INVALID: "the file name leaves the payload's state directory, or the "
    "destination name is not a plain relative path",
    FailureCode.AUTH_MISSING: "too short to carry an authentication trailer",
    FailureCode.AUTH_UNKNOWN_KEY: "the trailer's key is not one in use for the command's source",
    FailureCode.AUTH_BAD_MAC: "the MAC does not verify under the trailer's key",
    FailureCode.AUTH_REPLAY: "the sequence number is not above the last one accepted under the key",
    FailureCode.KEY_UNKNOWN: "no key with this id on board",
    FailureCode.KEY_LAST_IN_USE: "the key is the last in use for its source: activate another "
    "first",
    FailureCode.MANIFEST_UNSIGNED: "the manifest carries no signature, or a malformed one",
    FailureCode.MANIFEST_SIGNER_UNKNOWN: "the manifest is signed by a job key not trusted on board",
    FailureCode.MANIFEST_SIGNATURE_BAD: "the manifest's signature does not verify",
    FailureCode.IMAGE_UNAVAILABLE: "the controller does not run from a flight image "
    "(no --image-root)",
    FailureCode.IMAGE_BUSY: "an install is under way, or a new version is on trial",
    FailureCode.IMAGE_REJECTED: "the bundle is refused: the reason names what is wrong "
    "(signature, a changed, missing or extra file, the target)",
    FailureCode.IMAGE_NOT_INSTALLED: "the inactive slot holds no installed version to activate",
    FailureCode.INTERNAL_ERROR: "a defect in the controller: the command raised an unexpected "
    "error (its traceback is in the on-board log; counted in internal_errors); the controller "
    "goes on serving",
}


@dataclass(frozen=True)
class Command:
    """A telecommand: its PUS service and subtype, arguments and who may send it."""

    name: str
    service: int
    subtype: int
    description: str
    args: tuple[Field, ...] = ()
    source: int = SOURCE_GROUND
    hazardous: bool = False


@dataclass(frozen=True)
class TelemetryPacket:
    """A kind of telemetry packet, by PUS service and subtype, with its source data fields."""

    name: str
    service: int
    subtype: int
    description: str
    fields: tuple[Field, ...] = ()


class Severity(IntEnum):
    """Event severity; the PUS 5 subtype of the event report."""

    INFO = 1
    LOW = 2
    MEDIUM = 3
    HIGH = 4


@dataclass(frozen=True)
class Event:
    """An event report (PUS 5): an id, a severity and its data fields."""

    name: str
    event_id: int
    severity: Severity
    description: str
    args: tuple[Field, ...] = ()


class JobState(IntEnum):
    """The states of a job (docs/jobs.md); COMPLETED, FAILED, TIMED_OUT and CANCELLED are final.
    A preempted or suspended job goes back to QUEUED with its checkpoint."""

    NONE = 0
    QUEUED = 1
    RUNNING = 2
    COMPLETED = 3
    FAILED = 4
    TIMED_OUT = 5
    HELD = 6
    CANCELLED = 7


FINAL_STATES = frozenset(
    {JobState.COMPLETED, JobState.FAILED, JobState.TIMED_OUT, JobState.CANCELLED}
)
JOB_STATE_NAMES = {s.value: s.name for s in JobState}


class GovernorMode(IntEnum):
    """What the power and thermal governor is doing (docs/governor.md)."""

    NO_GPU = 0
    NOMINAL = 1
    POWER_LIMITED = 2
    THERMAL_LIMITED = 3
    SUSPENDED = 4
    SAFE = 5
    GPU_OFF = 6


class GpuPower(IntEnum):
    """What the payload asks of the bus for the GPU's supply."""

    OFF = 0
    ON = 1
    CYCLE = 2


class GpuControl(IntEnum):
    """Whether the controller can set the GPU's limits."""

    NONE = 0
    FULL = 1
    DENIED = 2


GOVERNOR_MODE_NAMES = {m.value: m.name for m in GovernorMode}
GPU_POWER_NAMES = {p.value: p.name for p in GpuPower}
GPU_CONTROL_NAMES = {c.value: c.name for c in GpuControl}

_JOB_ID = Field("job_id", "str", description="the job's id from its manifest")
_PDU = Field("pdu", "bytes", description="the CFDP PDU, as CCSDS 727.0-B-5 section 5 has it")
_KEY_ID = Field("key_id", "u16", description="an authentication key's id")
_IMAGE_SLOT = (
    Field("slot", "str", description="the image slot: a or b"),
    Field("version", "str", description="the flight software version in it"),
)
_TRANSFER = (
    Field("seq_num", "u32", description="the CFDP transaction sequence number"),
    Field("name", "str", description="the file's destination name"),
    Field("size", "u32", "octets", "the file's size"),
)
_GPU_OPERATION = (
    Field("operation", "str", description="the operation refused or failed"),
    Field("reason", "str", description="what the GPU library said"),
)
NONE_AHEAD = 0xFFFF_FFFF  # a prediction field's value when nothing is ahead
_NONE = f"{NONE_AHEAD:#x} when none is predicted"
_NO_YES = {0: "NO", 1: "YES"}

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
        "(job results are queued by themselves when their job ends).",
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
)

# --- Telemetry
_REQUEST_ID = (
    Field("request_packet_id", "u16", description="the telecommand's primary header octets 0-1"),
    Field("request_seq_ctrl", "u16", description="the telecommand's primary header octets 2-3"),
)
_FAILURE = (
    Field(
        "code",
        "u16",
        description="failure code (see Failure codes)",
        enum={c.value: c.name for c in FailureCode},
    ),
    Field("reason", "str", description="the reason in words"),
)

HK_SID = 1
HK_FIELDS: tuple[Field, ...] = (
    Field("sid", "u16", description="housekeeping structure id, 1"),
    Field("uptime_s", "u32", "s", "bus seconds since the first tick"),
    Field("ticks", "u32", description="bus ticks received"),
    Field("power_allowance_w", "f32", "W", "the allowance of the last tick"),
    Field(
        "battery_soc",
        "f32",
        "",
        "battery state of charge of the last tick",
        limits=Limits(yellow_low=0.3, red_low=0.15),
    ),
    Field(
        "sink_temp_c",
        "f32",
        "C",
        "radiator sink temperature of the last tick",
        limits=Limits(yellow_high=20.0, red_high=40.0),
    ),
    Field("sunlit", "u8", description="1 in sunlight, 0 in eclipse", enum=_NO_YES),
    Field("eclipse_in_s", "u32", "s", f"seconds to the next eclipse: 0 in one, {_NONE}"),
    Field("link_in_s", "u32", "s", f"seconds to the next link window: 0 in one, {_NONE}"),
    Field("tc_accepted", "u32", description="telecommands accepted"),
    Field("tc_rejected", "u32", description="telecommands that failed acceptance"),
    Field("tc_failed", "u32", description="telecommands that failed execution"),
    Field("frames_rx", "u32", description="COBS frames received"),
    Field(
        "frames_bad",
        "u32",
        description="frames that did not decode or were oversized",
        limits=Limits(yellow_high=0),
    ),
    Field(
        "packets_bad_crc",
        "u32",
        description="packets with a bad packet error control",
        limits=Limits(yellow_high=0),
    ),
    Field("packets_bad_header", "u32", description="packets with a bad length or header"),
    Field("packets_unknown_apid", "u32", description="packets for an APID not ours"),
    Field("manifests_rejected", "u32", description="job manifests that did not validate"),
    Field(
        "tc_auth_missing",
        "u32",
        description="telecommands too short for an authentication trailer",
        limits=Limits(yellow_high=0),
    ),
    Field(
        "tc_auth_unknown_key",
        "u32",
        description="telecommands signed with a key not in use for their source",
        limits=Limits(yellow_high=0),
    ),
    Field(
        "tc_auth_bad_mac",
        "u32",
        description="telecommands whose MAC did not verify",
        limits=Limits(yellow_high=0),
    ),
    Field(
        "tc_auth_replay",
        "u32",
        description="telecommands with a sequence number already used (replays)",
        limits=Limits(yellow_high=0),
    ),
    Field(
        "internal_errors",
        "u32",
        description="unexpected errors caught in the controller (INTERNAL_ERROR): each a defect",
        limits=Limits(yellow_high=0),
    ),
    Field("tm_sent", "u32", description="telemetry packets written to the bus"),
    Field(
        "tm_dropped",
        "u32",
        description="telemetry packets dropped (bus not reading)",
        limits=Limits(yellow_high=0),
    ),
    Field("jobs_queued", "u16", description="jobs waiting to run"),
    Field("jobs_completed", "u32", description="jobs completed since start"),
    Field(
        "jobs_failed",
        "u32",
        description="jobs failed or timed out since start",
        limits=Limits(yellow_high=0),
    ),
    Field(
        "job_state", "u8", description="state of the current (or last) job", enum=JOB_STATE_NAMES
    ),
    Field("job_elapsed_s", "u32", "s", "bus seconds the current (or last) job has run"),
    Field("job_progress_pct", "u8", "%", "progress of the current (or last) job, as it reports it"),
    Field("jobs_held", "u16", description="jobs held"),
    Field("payload_power_w", "f32", "W", "the payload's draw: GPU power plus the computer's"),
    Field(
        "gpu_valid",
        "u8",
        description="1 when the gpu_* fields below are this second's reading of the GPU; 0 while "
        "it is off, lost or absent: they are then not valid (NaN or 0 on the wire, decoded as "
        "no value)",
        enum=_NO_YES,
    ),
    *(
        replace(f, valid_when="gpu_valid")
        for f in (
            Field("gpu_power_w", "f32", "W", "GPU power draw"),
            Field("gpu_limit_w", "f32", "W", "GPU power limit being enforced"),
            Field(
                "gpu_temp_c",
                "f32",
                "C",
                "GPU temperature",
                limits=Limits(yellow_high=80.0, red_high=87.0),
            ),
            Field("gpu_slowdown_c", "f32", "C", "GPU slowdown temperature threshold"),
            Field("gpu_sm_clock_mhz", "u16", "MHz", "GPU SM clock"),
            Field("gpu_reasons", "u32", description="NVML clock-event reasons bit mask"),
            Field("gpu_util_pct", "u8", "%", "GPU utilisation"),
            Field("gpu_mem_used_mib", "u32", "MiB", "GPU memory used"),
            Field("gpu_ecc_corrected", "u32", description="corrected ECC errors (volatile)"),
            Field(
                "gpu_ecc_uncorrected",
                "u32",
                description="uncorrected ECC errors (volatile)",
                limits=Limits(red_high=0),
            ),
            Field(
                "gpu_remapped_rows",
                "u16",
                description="remapped memory rows",
                limits=Limits(yellow_high=0),
            ),
        )
    ),
    Field("gpu_control", "u8", description="can the controller set limits", enum=GPU_CONTROL_NAMES),
    Field("governor_mode", "u8", description="the governor's mode", enum=GOVERNOR_MODE_NAMES),
    Field("files_queued", "u16", description="CFDP transactions open (sending or receiving)"),
    Field("files_sent", "u32", description="files the ground confirmed it received"),
    Field(
        "files_failed",
        "u32",
        description="CFDP transactions that ended in a fault",
        limits=Limits(yellow_high=0),
    ),
    Field("pdus_refused", "u32", description="CFDP PDUs refused (malformed or not ours)"),
    Field(
        "safe_mode",
        "u8",
        description="1 in safe mode (section 14)",
        enum=_NO_YES,
        limits=Limits(yellow_high=0),
    ),
    Field("faults_recent", "u16", description="faults counted towards safe mode in the window"),
    Field(
        "stored_packets",
        "u32",
        description="telemetry packets recorded since a window last opened",
        limits=Limits(yellow_high=20_000, red_high=100_000),
    ),
)

TELEMETRY: tuple[TelemetryPacket, ...] = (
    TelemetryPacket("ACCEPTANCE_SUCCESS", 1, 1, "The telecommand was accepted.", _REQUEST_ID),
    TelemetryPacket(
        "ACCEPTANCE_FAILURE", 1, 2, "The telecommand was rejected.", _REQUEST_ID + _FAILURE
    ),
    TelemetryPacket("START_SUCCESS", 1, 3, "Execution started.", _REQUEST_ID),
    TelemetryPacket("START_FAILURE", 1, 4, "Execution could not start.", _REQUEST_ID + _FAILURE),
    TelemetryPacket("COMPLETION_SUCCESS", 1, 7, "Execution completed.", _REQUEST_ID),
    TelemetryPacket("COMPLETION_FAILURE", 1, 8, "Execution failed.", _REQUEST_ID + _FAILURE),
    TelemetryPacket(
        "HOUSEKEEPING", 3, 25, "Housekeeping parameter report, one per bus tick.", HK_FIELDS
    ),
    TelemetryPacket("EVENT_INFO", 5, 1, "Informative event report.", ()),
    TelemetryPacket("EVENT_LOW", 5, 2, "Low-severity anomaly report.", ()),
    TelemetryPacket("EVENT_MEDIUM", 5, 3, "Medium-severity anomaly report.", ()),
    TelemetryPacket("EVENT_HIGH", 5, 4, "High-severity anomaly report.", ()),
    TelemetryPacket("PING_REPORT", 17, 2, "Answer to PING.", ()),
    TelemetryPacket(
        "CFDP_PDU",
        210,
        1,
        "One CFDP PDU from the payload's CFDP entity (section 12); sent only in link windows.",
        (_PDU,),
    ),
    TelemetryPacket(
        "JOB_LIST",
        140,
        3,
        "Answer to REPORT_JOBS, in as many pages as the jobs need.",
        (
            Field("page", "u16", description="this page's number, from 0"),
            Field("pages", "u16", description="how many pages the answer has"),
            Field(
                "jobs",
                "msgpack",
                description="a list of maps: id, state, exit_code, "
                "queued_at, started_at, ended_at (bus time), priority, progress",
            ),
        ),
    ),
    TelemetryPacket(
        "JOB_DETAIL",
        140,
        9,
        "Answer to REPORT_JOB.",
        (
            Field(
                "job",
                "msgpack",
                description="a map: the JOB_LIST entry plus manifest, attempts, failures, "
                "run_s, checkpoint, suspect, results, reason",
            ),
        ),
    ),
    TelemetryPacket(
        "KEY_LIST",
        220,
        4,
        "Answer to REPORT_KEYS.",
        (
            Field(
                "keys",
                "msgpack",
                description="a list of maps, one per key on board: id, source (GROUND or BUS), "
                "in_use, last_seq (the last sequence number accepted, -1 before the first)",
            ),
        ),
    ),
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
        "An uncorrectable GPU memory error happened while the job ran: its results are suspect.",
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
    ),
    Event(
        "GPU_XID",
        33,
        Severity.MEDIUM,
        "The GPU reported an Xid error (48: double-bit ECC, 79: fallen off the bus).",
        (Field("xid", "u32", description="the Xid"),),
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
)
EVENT_HEADER = (Field("event_id", "u16", description="the event's id"),)

# --- Lookups
COMMANDS_BY_NAME = {c.name: c for c in COMMANDS}
COMMANDS_BY_TYPE = {(c.service, c.subtype): c for c in COMMANDS}
TELEMETRY_BY_NAME = {t.name: t for t in TELEMETRY}
TELEMETRY_BY_TYPE = {(t.service, t.subtype): t for t in TELEMETRY}
EVENTS_BY_NAME = {e.name: e for e in EVENTS}
EVENTS_BY_ID = {e.event_id: e for e in EVENTS}
SERVICES = frozenset(c.service for c in COMMANDS)


def _check_unique() -> None:
    for what, items, key in (
        ("command", COMMANDS, lambda c: (c.service, c.subtype)),
        ("telemetry", TELEMETRY, lambda t: (t.service, t.subtype)),
        ("event", EVENTS, lambda e: e.event_id),
    ):
        keys = [key(i) for i in items]
        if len(keys) != len(set(keys)):
            raise RuntimeError(f"dictionary: duplicate {what} identifiers")


_check_unique()


def _check_validity() -> None:
    """Every valid_when names a u8 flag of the same structure."""
    structures = [c.args for c in COMMANDS] + [t.fields for t in TELEMETRY]
    structures += [e.args for e in EVENTS]
    for fields in structures:
        flags = {f.name for f in fields if f.type == "u8"}
        for f in fields:
            if f.valid_when is not None and f.valid_when not in flags:
                raise RuntimeError(f"dictionary: {f.name} is valid when {f.valid_when}, not a flag")


_check_validity()
