"""The built-in default scenario: ping the payload, show it survives corrupt frames and refuses a
replayed and a forged telecommand, run a sample job to completion and read back the job list, all
through the ground station."""

from __future__ import annotations

import native
from flight import dictionary as d
from flight.protocol.framing import frame
from flight.protocol.messages import CommandEncoder
from flight.protocol.packets import build_tc
from flight.security.keys import GROUND_KEY_IDS, new_key
from flight.security.tc_auth import TcSigner, sign
from hil.bench import Bench

JOB_ID = "demo-1"
MANIFEST = {"id": JOB_ID, "command": ["hash-chain", "--iterations", "1000000"], "time_limit_s": 600}
JOB_ENDS = {"JOB_COMPLETED", "JOB_FAILED", "JOB_TIMED_OUT"}
# A frame whose COBS code byte (7) promises more bytes than arrive before the delimiter.
MALFORMED_FRAME = b"\x07\x01\x02\x00"


def corrupted_ping(signer: TcSigner) -> bytes:
    """A framed PING whose last CRC octet is wrong (numbered outside any sender's count)."""
    packet = bytearray(CommandEncoder(signer, d.ACK_GROUND_DEFAULT).packet("PING"))
    packet[-1] ^= 0x5A
    return frame(bytes(packet))


def sent_packet(log: bytes, request_id: bytes) -> bytes:
    """The telecommand with this request id in the bus's record of what it sent."""
    rows, _ = native.scan_packets(log)
    found = [log[r["offset"] : r["offset"] + r["length"]] for r in rows]
    return [p for p in found if p[:4] == request_id][-1]


def forged_noop() -> bytes:
    """A NOOP under the ground's key id, signed with a secret an attacker made up."""
    plain = build_tc(d.APID_PAYLOAD, 0, 128, 1, source_id=d.SOURCE_GROUND, ack_flags=9)
    return sign(plain, new_key(GROUND_KEY_IDS[0], d.SOURCE_GROUND), 2**63)


async def default_scenario(bench: Bench) -> None:
    """Run the default scenario."""
    bus, client = bench.bus, bench.client
    events = client.subscribe()

    hk = await bench.housekeeping_where(lambda v: True, 10)
    bench.check(
        "controller answers bus ticks",
        hk.packet.time_synced,
        f"first housekeeping at {hk.packet.time - bench.config.start_time:.0f} bus s",
    )

    pongs = client.subscribe()
    ping = await bus.clock.within(client.command("PING", timeout=None), 30)
    await bus.clock.within(
        client.await_telemetry(lambda t: t.name == "PING_REPORT", None, pongs), 30
    )
    bench.check(
        "ping answered with acceptance, completion and a ping report", ping.ok, ping.describe()
    )

    before = bus.serial.last_hk.values
    bench.note("bus puts a malformed frame and a packet with a bad CRC on the line")
    bus.serial.write_line(MALFORMED_FRAME)
    bus.serial.write_line(corrupted_ping(bus.commands.signer))
    hk = await bench.housekeeping_where(
        lambda v: (
            v["frames_bad"] > before["frames_bad"]
            and v["packets_bad_crc"] > before["packets_bad_crc"]
        ),
        10,
    )
    bench.check(
        "corrupt input counted, controller keeps answering",
        hk.values["frames_bad"] == before["frames_bad"] + 1
        and hk.values["packets_bad_crc"] == before["packets_bad_crc"] + 1,
        f"frames_bad {hk.values['frames_bad']}, packets_bad_crc {hk.values['packets_bad_crc']}",
    )

    before = hk.values
    bench.note("bus replays the ground's PING and sends a NOOP forged under the ground's key id")
    bus.serial.write_line(frame(sent_packet(bytes(bus.serial.tc_log), ping.request_id)))
    bus.serial.write_line(frame(forged_noop()))
    hk = await bench.housekeeping_where(
        lambda v: (
            v["tc_auth_replay"] > before["tc_auth_replay"]
            and v["tc_auth_bad_mac"] > before["tc_auth_bad_mac"]
        ),
        10,
    )
    bench.check(
        "replayed and forged telecommands refused and counted",
        hk.values["tc_auth_replay"] == 1
        and hk.values["tc_auth_bad_mac"] == 1
        and hk.values["tc_accepted"] == before["tc_accepted"],
        f"tc_auth_replay {hk.values['tc_auth_replay']}, tc_auth_bad_mac "
        f"{hk.values['tc_auth_bad_mac']}, tc_accepted {hk.values['tc_accepted']}",
    )

    submit = await bus.clock.within(
        client.command("SUBMIT_JOB", {"manifest": MANIFEST}, timeout=None), 30
    )
    bench.check(f"job {JOB_ID} accepted", submit.ok, submit.describe())
    end = await bus.clock.within(
        client.await_telemetry(
            lambda t: t.name in JOB_ENDS and t.values.get("job_id") == JOB_ID, None, events
        ),
        600,
    )
    bench.check(
        f"job {JOB_ID} finished",
        end.name == "JOB_COMPLETED",
        f"{end.name} after {end.values['runtime_s']:.0f} bus s",
    )
    result_file = f"jobs/{JOB_ID}/result.json"
    bench.check(
        "job result written in its directory", bench.payload_has_file(result_file), result_file
    )

    listed, bench.report.jobs = await bus.clock.within(client.job_list(None), 30)
    mine = [j for j in bench.report.jobs if j["id"] == JOB_ID]
    bench.check(
        "job list shows the job completed with exit 0",
        listed.ok
        and len(mine) == 1
        and mine[0]["state"] == "COMPLETED"
        and mine[0]["exit_code"] == 0,
        str(mine),
    )

    hk = await bench.housekeeping_where(lambda v: True, 10)
    v = hk.values
    clean = (
        v["frames_bad"] == 1
        and v["packets_bad_crc"] == 1
        and v["packets_bad_header"] == 0
        and v["packets_unknown_apid"] == 0
        and v["tm_dropped"] == 0
        and bus.serial.tm_bad == 0
        and bus.clock.ticks_unanswered == 0
    )
    bench.check(
        "no link errors but the injected ones",
        clean,
        f"frames_bad {v['frames_bad']}, bad_crc {v['packets_bad_crc']}, bad_header "
        f"{v['packets_bad_header']}, unknown_apid {v['packets_unknown_apid']}, "
        f"tm_dropped {v['tm_dropped']}, bench tm_bad {bus.serial.tm_bad}",
    )
