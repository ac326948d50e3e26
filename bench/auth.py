"""What authentication adds to a command round trip on loopback, against a real station process.

Each of N one-shot clients (a new connection per command, as `python -m ground ping` makes):
connect and receive the hello (the station's accept, no authentication in it), prove the token
and receive the welcome (the authentication handshake), then send NOOP and receive "sent" (the
request, which the station checks against the store, the role, the command authority and writes
to the audit trail). Then, in this process, the station's per-request checks alone (the token
looked up again, the privilege, the authority, the audit row), many times.

    python bench/auth.py [--clients 200] [--json FILE]

Prints each median and the ratio of what authentication adds (the handshake plus the per-request
checks) to the rest of the round trip. Exits 1 when authentication adds more than 5 ms.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

_here = os.path.dirname(os.path.abspath(__file__))
sys.path[:] = [p for p in sys.path if os.path.abspath(p or os.curdir) != _here]

from flight import dictionary as d  # noqa: E402
from flight.security.keys import provision_keys  # noqa: E402
from ground.accounts.credentials import parse_token, proof  # noqa: E402
from ground.accounts.privileges import command_refusal  # noqa: E402
from ground.accounts.store import AccountStore, Role  # noqa: E402
from ground.gatekeeper import Session  # noqa: E402
from ground.messages import encode_message, read_messages  # noqa: E402
from ground.station import Station  # noqa: E402
from ground.fleet import one_spacecraft  # noqa: E402
from flight.spacelink.profile import DEFAULT_SCID  # noqa: E402
from hil.radio_endpoint import RadioEndpoint  # noqa: E402

TARGET_MS = 5.0


async def _one_shot(port: int, token: str) -> tuple[float, float, float]:
    token_id, secret = parse_token(token)
    t0 = time.perf_counter()
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    messages = read_messages(reader)
    hello = await anext(messages)
    t1 = time.perf_counter()
    auth = {"op": "auth", "token_id": token_id, "proof": proof(secret, hello["nonce"], token_id)}
    writer.write(encode_message(auth))
    welcome = await anext(messages)
    t2 = time.perf_counter()
    assert welcome["op"] == "welcome", welcome
    writer.write(encode_message({"op": "command", "ref": 1, "name": "NOOP", "args": {}}))
    while (answer := await anext(messages))["op"] not in ("sent", "error"):
        pass
    t3 = time.perf_counter()
    assert answer["op"] == "sent", answer
    writer.close()
    return t1 - t0, t2 - t1, t3 - t2


def _per_request_checks(tmp: Path, rounds: int) -> list[float]:
    """The station's own checks of one request, timed in this process (seconds each)."""
    store = AccountStore(tmp / "inproc.sqlite")
    store.add("ops", Role.OPERATOR, None)
    token_id = store.issue_token("ops")[0].token_id
    keys = provision_keys(tmp / "inproc-keys").ground
    station = Station("127.0.0.1:1", one_spacecraft(DEFAULT_SCID, keys), tmp / "inproc",
                      accounts=store)  # fmt: skip
    session = Session(store.account("ops"), token_id, "127.0.0.1:1")
    noop = d.COMMANDS_BY_NAME["NOOP"]
    out = []
    for _ in range(rounds):
        t0 = time.perf_counter()
        station.gate.current(session)
        command_refusal(session.account.role, noop, False)
        station._may_command(session)
        station.audit("ops", "127.0.0.1:1", "command", "sent", name="NOOP", args={})
        out.append(time.perf_counter() - t0)
    station.archive.close()
    return out


async def _run(clients: int, tmp: Path) -> dict:
    store = AccountStore(tmp / "users.sqlite")
    store.add("ops", Role.OPERATOR, None)
    token = store.issue_token("ops")[1]
    store.close()
    radio = RadioEndpoint()  # the spacecraft end: COP-1's CLCW down, the commands taken up
    link = await radio.serve()
    port_file = tmp / "station.port"
    station = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "ground", "station", "--listen", "127.0.0.1:0",
        "--port-file", str(port_file), "--link", f"127.0.0.1:{link}",
        "--keys", str(provision_keys(tmp / "keys").ground), "--state", str(tmp / "state"),
        "--users", str(tmp / "users.sqlite"), stderr=asyncio.subprocess.DEVNULL,
    )  # fmt: skip
    try:
        while not port_file.exists():
            await asyncio.sleep(0.02)
        port = int(port_file.read_text())
        for _ in range(10):  # the station's space link comes up; warm both ends
            while True:
                try:
                    await _one_shot(port, token)
                    break
                except AssertionError:
                    await asyncio.sleep(0.1)
        samples = [await _one_shot(port, token) for _ in range(clients)]
    finally:
        station.terminate()
        await station.wait()
        await radio.close()
    accept, handshake, request = (statistics.median(s[i] for s in samples) for i in range(3))
    checks = statistics.median(_per_request_checks(tmp, 5000))
    added = handshake + checks
    rest = accept + request - checks
    return {
        "clients": clients,
        "connect_to_hello_ms": round(accept * 1e3, 3),
        "auth_handshake_ms": round(handshake * 1e3, 3),
        "request_round_trip_ms": round(request * 1e3, 3),
        "per_request_checks_ms": round(checks * 1e3, 4),
        "auth_added_ms": round(added * 1e3, 3),
        "rest_of_round_trip_ms": round(rest * 1e3, 3),
        "ratio_added_to_rest": round(added / rest, 3),
        "commands_uplinked": radio.uplinked.qsize(),
        "target_ms": TARGET_MS,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=200)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        result = asyncio.run(_run(args.clients, Path(tmp)))
    print(
        f"one-shot command round trip on loopback, median of {result['clients']}:\n"
        f"  connect to hello      {result['connect_to_hello_ms']:8.3f} ms\n"
        f"  auth handshake        {result['auth_handshake_ms']:8.3f} ms\n"
        f"  NOOP request to sent  {result['request_round_trip_ms']:8.3f} ms "
        f"(of which the per-request checks {result['per_request_checks_ms']:.4f} ms)\n"
        f"  authentication adds   {result['auth_added_ms']:8.3f} ms "
        f"(target <= {TARGET_MS:g} ms); the rest {result['rest_of_round_trip_ms']:.3f} ms; "
        f"ratio {result['ratio_added_to_rest']:.3f}"
    )
    if args.json:
        args.json.write_text(json.dumps(result, indent=1))
    if result["auth_added_ms"] > TARGET_MS:
        print(f"MISSED: authentication adds more than {TARGET_MS:g} ms", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
