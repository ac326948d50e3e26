"""The dictionary's vocabulary: its version, APIDs, sources, acknowledgement flags, failure
codes, the kinds of entry (command, telemetry packet, event), the enumerations, and the fields
several entries share."""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum

from flight.protocol.fields import Field

DICTIONARY_VERSION = 9

# --- Sizes
MAX_PACKET_LEN = 4096  # the serial link's MTU: no packet on it is longer
MAX_MANIFEST_OCTETS = MAX_PACKET_LEN - 1024  # a manifest leaves room for the rest of a JOB_DETAIL

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
    TABLE_UNKNOWN = 70
    TABLE_INVALID = 71
    CONTACT_PLAN_INVALID = 72
    RELAY_ABSENT = 73
    CONSIGNMENT_INVALID = 74
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
    FailureCode.MANIFEST_TOO_LARGE: f"the manifest is larger than {MAX_MANIFEST_OCTETS} octets",
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
    FailureCode.TABLE_UNKNOWN: "no parameter table of that name on board",
    FailureCode.TABLE_INVALID: "the table file is refused: the reason names the field or the "
    "syntax at fault; the table in use stays",
    FailureCode.CONTACT_PLAN_INVALID: "the contact plan is refused: the reason names the contact "
    "and the key at fault; the plan in use stays",
    FailureCode.RELAY_ABSENT: "this payload has no laser terminal (run without --isl): it routes "
    "nothing",
    FailureCode.CONSIGNMENT_INVALID: "CONSIGNMENT_ACCEPT came outside a consignment, or its "
    "files are not the ones it was signed for: none is placed, none of its telecommands runs",
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
    """An event report (PUS 5): an id, a severity and its data fields. ``throttle_s``: an event
    that repeats within this many bus seconds of the last is counted, not sent, and its repeats go
    down in one EVENT_REPEATED (0: every one is sent)."""

    name: str
    event_id: int
    severity: Severity
    description: str
    args: tuple[Field, ...] = ()
    throttle_s: int = 0


class JobState(IntEnum):
    """The states of a job (docs/jobs.md); COMPLETED, FAILED, TIMED_OUT and CANCELLED are final.
    A preempted or suspended job goes back to QUEUED with its checkpoint. VERIFYING: its process
    ended 0 and its integrity policy's verification runs have not all agreed yet (its results
    wait)."""

    NONE = 0
    QUEUED = 1
    RUNNING = 2
    COMPLETED = 3
    FAILED = 4
    TIMED_OUT = 5
    HELD = 6
    CANCELLED = 7
    VERIFYING = 8


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
_RELAYED = (
    Field(
        "origin", "u16", description="the entity that made the file (a satellite, or the ground)"
    ),
    Field(
        "name", "str", description="the file's name at its origin (uplink/DEST/ID: a consignment)"
    ),
)
_GPU_OPERATION = (
    Field("operation", "str", description="the operation refused or failed"),
    Field("reason", "str", description="what the GPU library said"),
)
NONE_AHEAD = 0xFFFF_FFFF  # a prediction field's value when nothing is ahead
_NONE = f"{NONE_AHEAD:#x} when none is predicted"
_NO_YES = {0: "NO", 1: "YES"}
