"""The telemetry packets: verification, housekeeping (its fields, units and limits), reports and
file protocol traffic."""

from __future__ import annotations

from dataclasses import replace

from flight.protocol.fields import Field, Limits
from flight.tables.declared import TABLE_NAMES
from flight.dictionary.base import (
    FailureCode,
    GOVERNOR_MODE_NAMES,
    GPU_CONTROL_NAMES,
    JOB_STATE_NAMES,
    TelemetryPacket,
    _NONE,
    _NO_YES,
    _PDU,
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
    Field(
        "sdc_detected",
        "u32",
        description="silent data corruption detected since start: job checkpoints altered on "
        "disk after they were written (JOB_CHECKPOINT_CORRUPT), jobs whose result files no "
        "longer have the SHA-256 the job declared (JOB_RESULTS_SUSPECT), corruption a job's "
        "integrity check caught (JOB_SDC_DETECTED)",
        limits=Limits(yellow_high=0),
    ),
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
    Field(
        "files_queued",
        "u16",
        description="CFDP transactions open (sending or receiving), the relay's on the laser "
        "links included",
    ),
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
    Field(
        "isl_links",
        "u8",
        description="laser links the contact plan has up now (0 without a laser terminal)",
    ),
    Field(
        "relay_files",
        "u16",
        description="files the relay holds: for the ground (waiting, going to a neighbour or "
        "down this payload's link), and the ground's consignments on their way to a satellite "
        "(docs/constellation.md)",
    ),
    *(
        Field(f"table_crc_{name}", "u32", description=f"CRC-32C of the {name} table in use")
        for name in TABLE_NAMES
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
                "run_s, checkpoint, suspect, results, reason, verifies (the job a verification "
                "run checks, else nil)",
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
