"""Every command line answers a user mistake with one line naming what is wrong and a non-zero
exit status, never a traceback: a table of mistakes per entry point (python -m flight, hil and
ground), each run as a real process."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from flight.security.keys import provision_keys
from ground.accounts.credentials import new_token, write_token_file

JUNK = b"not a database, not a tar, not anything\n" * 200


@pytest.fixture(scope="module")
def place(tmp_path_factory):
    """A working directory with keys, junk files, a file where a directory is expected, a busy
    TCP port, an open pty (a bus port that opens) and a package that pretends to be missing."""
    root = tmp_path_factory.mktemp("mistakes")
    provision_keys(root / "keys")
    write_token_file(root / "station.token", new_token()[2], "nobody")  # well formed, unknown
    (root / "junk.bin").write_bytes(JUNK)
    (root / "corrupt").mkdir()
    for name in ("archive.sqlite", "files.sqlite"):
        (root / "corrupt" / name).write_bytes(JUNK)
    (root / "manifest.json").write_text('{"id": "j", "simulated": {"work_s": 1}}')
    missing = root / "missing-packages" / "textual"
    missing.mkdir(parents=True)
    (missing / "__init__.py").write_text(
        "raise ModuleNotFoundError(\"No module named 'textual'\", name='textual')\n"
    )
    busy = socket.socket()
    busy.bind(("127.0.0.1", 0))
    busy.listen()
    busy_udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    busy_udp.bind(("127.0.0.1", 0))
    master, slave = os.openpty()
    yield {
        "root": root,
        "busy": busy.getsockname()[1],
        "busy_udp": busy_udp.getsockname()[1],
        "pty": os.ttyname(slave),
    }
    busy.close()
    busy_udp.close()
    os.close(master)
    os.close(slave)


def run(place, line: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    args = line.format(busy=place["busy"], busy_udp=place["busy_udp"], pty=place["pty"]).split()
    return subprocess.run(
        [sys.executable, "-m", *args],
        cwd=place["root"],
        env=os.environ
        | {"PYTHONSAFEPATH": "1", "GROUND_TOKEN_FILE": str(place["root"] / "station.token")}
        | (env or {}),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=60,
    )


def assert_one_line(done: subprocess.CompletedProcess, says: str) -> None:
    assert done.returncode not in (0, 1), (done.returncode, done.stdout, done.stderr)
    assert "Traceback" not in done.stderr + done.stdout, done.stderr
    last = done.stderr.strip().splitlines()
    assert last, f"nothing on standard error: {done.stdout!r}"
    assert says in last[-1], last[-1]
    prog_lines = [line for line in last if not line.startswith(("usage:", " "))]
    assert len(prog_lines) == 1, last  # one line (argparse's usage lines aside)


FLIGHT = [
    ("flight run --bus /dev/nonexistent --keys keys/flight.toml", "cannot open bus link"),
    ("flight run --bus {pty} --keys keys/missing.toml", "No such file"),
    ("flight run --bus {pty} --keys keys/flight.toml --baud 0", "must be above zero"),
    ("flight run --bus {pty} --keys keys/flight.toml --baud fast", "not a whole number"),
    ("flight run --bus {pty} --keys keys/flight.toml --state-dir junk.bin/state", "junk.bin"),
    ("flight run --bus {pty} --keys keys/flight.toml --gpu quantum", "invalid choice"),
    ("flight cfdp send junk.bin --link udp://nohost.invalid:5000 --local-id 1 --remote-id 2",
     "nohost.invalid"),
    ("flight cfdp send junk.bin --link udp://127.0.0.1:99999 --local-id 1 --remote-id 2",
     "out of range"),
    ("flight cfdp send missing.bin --link udp://127.0.0.1:5000 --local-id 1 --remote-id 2",
     "no such file"),
    ("flight cfdp send junk.bin --link udp://127.0.0.1:5000 --local-id 1 --remote-id 2 "
     "--segment 0", "must be above zero"),
    ("flight cfdp send junk.bin --link udp://127.0.0.1:5000 --local-id 1 --remote-id 2 "
     "--timeout -1", "must be above zero"),
    ("flight cfdp send junk.bin --link udp://127.0.0.1:5000?rate=0 --local-id 1 --remote-id 2",
     "rate must be a finite number above zero"),
    ("flight cfdp receive --out junk.bin/in --link udp://127.0.0.1:0 --local-id 2", "junk.bin"),
    ("flight cfdp receive --out in --link udp://127.0.0.1:0 --local-id 99999999999",
     "does not fit"),
    ("flight cfdp receive --out in --link udp://127.0.0.1:{busy_udp} --local-id 2",
     "Address already in use"),
    ("flight image verify missing.tar --keys keys/flight.toml", "No such file"),
    ("flight image verify junk.bin --keys keys/flight.toml", "not a readable tar"),
    ("flight image status --root /nonexistent", "no such directory"),
    ("flight image build --out out3 --key keys/image.toml", "is not a checkout of the flight"),
    ("flight icd --write /nonexistent/dir/icd.md", "No such file"),
]  # fmt: skip
HIL = [
    ("hil run nosuch --out out1", "unknown scenario 'nosuch': one of default, bus-reset"),
    ("hil run nominal-day --out out1 --until 0", "must be after the start"),
    ("hil run nominal-day --out out1 --until soon", "a bus time from the start"),
    ("hil run --out out1 --until 4h", "the default scenario has no timeline"),
    ("hil run --out junk.bin/out", "junk.bin"),
    ("hil run --out out2 --baud 0", "must be above zero"),
    ("hil run --out out2 --speed 0", "speed must be positive"),
    ("hil run --out out2 --seed many", "invalid int value"),
    ("hil run --out out2 --image-root /nonexistent", "no flight image installed"),
    ("hil run --out out2 --fleet 2 --port /dev/null", "--fleet runs controllers started here"),
    ("hil run --out out2 --fleet 0", "must be above zero"),
    ("hil link --listen 127.0.0.1:99999 --to 127.0.0.1:5 --rate 1000", "outside 0-65535"),
    ("hil link --listen 127.0.0.1:0 --to 127.0.0.1:5 --rate 0", "must be above zero"),
    ("hil link --listen 127.0.0.1:0 --to 127.0.0.1:5 --rate -1", "must be above zero"),
    ("hil link --listen 127.0.0.1:0 --to 127.0.0.1:5 --rate 1000 --loss 2", "not a probability"),
    ("hil link --listen 127.0.0.1:0 --to 127.0.0.1:5 --rate 1000 --delay -1", "not be negative"),
    ("hil link --listen nohost.invalid:0 --to 127.0.0.1:5 --rate 1000", "unknown host"),
    ("hil link --listen 127.0.0.1 --to 127.0.0.1:5 --rate 1000", "expected HOST:PORT"),
    (
        "hil link --listen 127.0.0.1:{busy_udp} --to 127.0.0.1:5 --rate 1000",
        "Address already in use",
    ),
]
GROUND = [
    ("ground station --listen 127.0.0.1:99999 --link 127.0.0.1:1 --keys keys/ground.toml",
     "outside 0-65535"),
    ("ground station --listen nohost.invalid:5 --link 127.0.0.1:1 --keys keys/ground.toml",
     "unknown host"),
    ("ground station --listen 127.0.0.1:{busy} --link 127.0.0.1:1 --keys keys/ground.toml",
     "address already in use"),
    ("ground station --listen 127.0.0.1:0 --link 127.0.0.1:1 --keys keys/ground.toml "
     "--state junk.bin/state", "cannot use junk.bin/state"),
    ("ground station --listen 127.0.0.1:0 --link 127.0.0.1:1 --keys keys/ground.toml "
     "--state corrupt", "file is not a database"),
    ("ground station --listen 127.0.0.1:0 --link 127.0.0.1:1 --keys keys/missing.toml",
     "No such file"),
    ("ground station --listen 127.0.0.1:0 --link 127.0.0.1:1 --keys keys/ground.toml "
     "--archive postgresql://ana@/x?host=/nonexistent", "cannot connect to the archive"),
    ("ground station --listen 127.0.0.1:0 --link 127.0.0.1:1 --keys keys/ground.toml "
     "--retain-days 0", "must be above zero"),
    ("ground station --listen 0.0.0.0:0 --link 127.0.0.1:1 --keys keys/ground.toml",
     "will not listen on 0.0.0.0:0 without TLS"),
    ("ground station --listen 127.0.0.1:0 --link 127.0.0.1:1 --keys keys/ground.toml "
     "--tls-cert junk.bin", "--tls-cert and --tls-key go together"),
    ("ground station --listen 127.0.0.1:0 --link 127.0.0.1:1 --keys keys/ground.toml "
     "--tls-cert junk.bin --tls-key junk.bin", "cannot use junk.bin and junk.bin"),
    ("ground station --listen 127.0.0.1:0 --link 127.0.0.1:1 --keys keys/ground.toml "
     "--users junk.bin", "account store junk.bin: file is not a database"),
    ("ground ping --station 127.0.0.1:1 --token-file missing.token", "No such file"),
    ("ground ping --station 127.0.0.1:1 --token-file junk.bin", "open to others"),
    ("ground ping --station 127.0.0.1:1 --tls-ca junk.bin", "cannot use junk.bin as the"),
    ("ground users add Bad --role admin --no-password --users u.sqlite",
     "not an account name"),
    ("ground users add x --role admin --users u.sqlite", "give the password on standard input"),
    ("ground users add x --role pilot --users u.sqlite", "invalid choice: 'pilot'"),
    ("ground users add x --role admin --no-password --users junk.bin", "file is not a database"),
    ("ground users remove nobody --users u.sqlite", "no account 'nobody'"),
    ("ground users token nobody --out t.token --users u.sqlite", "no account 'nobody'"),
    ("ground users revoke 0123456789abcdef --users u.sqlite", "no token '0123456789abcdef'"),
    ("ground archive verify --state corrupt", "file is not a database"),
    ("ground web --listen 0.0.0.0:0 --state corrupt",
     "will not listen on 0.0.0.0:0 without TLS: it is not a loopback address"),
    ("ground web --listen 0.0.0.0:0 --state corrupt --plain-http-beyond-loopback --tls-cert x",
     "--tls-cert and --tls-key go together"),
    ("ground web --listen 127.0.0.1:0 --state /nonexistent",
     "no archive at /nonexistent/archive.sqlite"),
    ("ground web --listen 127.0.0.1:0 --tls-cert junk.bin", "--tls-cert and --tls-key go together"),
    ("ground ping --station 127.0.0.1:99999", "outside 0-65535"),
    ("ground ping --station nohost.invalid:1", "unknown host"),
    ("ground ping --station 127.0.0.1:1", "cannot reach the station"),
    ("ground ping --station localhost", "expected HOST:PORT"),
    ("ground ping --station nohost.invalid:5560", "unknown host 'nohost.invalid'"),
    ("ground ping --station [::1]:1", "cannot reach the station at [::1]:1: nothing listens"),
    ("ground ping --station 127.0.0.1:{busy} --timeout 1", "no ground station answered"),
    ("ground console --station localhost", "expected HOST:PORT"),
    ("ground keys rotate --station localhost --keys keys/ground.toml", "expected HOST:PORT"),
    ("ground keys rotate --station 127.0.0.1:1 --keys keys/ground.toml", "nothing listens"),
    ("ground keys provision keys", "already holds flight.toml, bus.toml, ground.toml"),
    ("ground ping --station 127.0.0.1:1 --timeout 0", "must be above zero"),
    ("ground tlm --station 127.0.0.1:1 --count -1", "not be negative"),
    ("ground submit missing.json --station 127.0.0.1:1", "No such file"),
    ("ground submit junk.bin --station 127.0.0.1:1", "not a valid"),
    ("ground files --state corrupt", "file is not a database"),
    ("ground files --state /nonexistent", "no station state"),
    ("ground archive query --state corrupt", "file is not a database"),
    ("ground archive export --state corrupt --csv out.csv", "file is not a database"),
    ("ground archive query --state corrupt --limit 0", "must be above zero"),
    ("ground archive query --archive postgresql://ana:pw@/x?host=/nonexistent",
     "cannot connect to the archive postgresql://ana:***@/x?host=/nonexistent"),
    ("ground archive migrate --state /nonexistent", "no archive at /nonexistent/archive.sqlite"),
    ("ground archive migrate --state corrupt", "file is not a database"),
    ("ground archive prune --state corrupt --before yesterday", "not a time"),
    ("ground plot uptime_s --out x.png --state corrupt", "file is not a database"),
    ("ground console --replay corrupt --speed 0", "must be above zero"),
    ("ground console --replay /nonexistent", "no archive at /nonexistent"),
    ("ground xtce --out /nonexistent/dir/x.xml", "No such file"),
    ("ground keys provision junk.bin/keys", "junk.bin"),
    ("ground keys list missing.toml", "No such file"),
]  # fmt: skip


@pytest.mark.parametrize("line, says", FLIGHT + HIL + GROUND)
def test_a_mistake_gets_one_line_and_a_failing_status(place, line, says):
    assert_one_line(run(place, line), says)


@pytest.mark.parametrize(
    "env, says",
    [
        ({"GROUND_TOKEN_FILE": "", "HOME": "/nonexistent"}, "no station credentials: give"),
        ({"GROUND_TOKEN": "gst1_not-a-token"}, "not a station token"),
    ],
)
def test_a_client_without_usable_credentials_says_where_they_go(place, env, says):
    assert_one_line(run(place, "ground ping --station 127.0.0.1:1", env=env), says)


def test_job_scopes_where_systemd_cannot_start_them_are_refused_in_one_line(place):
    """--job-scopes (the flight image's unit) needs systemd-run and systemd as init; here
    systemd-run is kept off the PATH, so the answer does not depend on this machine's init."""
    done = run(
        place,
        "flight run --bus {pty} --keys keys/flight.toml --job-scopes",
        env={"PATH": str(place["root"] / "missing-packages")},
    )
    assert_one_line(done, "--job-scopes: systemd-run is not installed")


def test_a_missing_optional_dependency_names_the_extra_to_install(place):
    done = run(
        place,
        "ground console --station 127.0.0.1:1",
        env={"PYTHONPATH": str(place["root"] / "missing-packages")},
    )
    assert done.returncode == 3
    assert_one_line(done, "pip install 'orbital-gpu-payload[ground]'")


def test_a_defect_is_one_line_too_and_its_traceback_is_there_on_request(place, tmp_path):
    """Not a user mistake: an internal error still ends in one line (exit 70); with
    PAYLOAD_TRACEBACK=1 the traceback follows for whoever files the bug."""
    probe = tmp_path / "broken" / "flight" / "icd.py"
    probe.parent.mkdir(parents=True)
    sys_flight = Path(__import__("flight").__file__).parent
    for item in sys_flight.iterdir():
        if item.name != "icd.py":
            (probe.parent / item.name).symlink_to(item)
    probe.write_text("def render():\n    raise RuntimeError('defect')\n\n\nsplice = render\n")
    env = {"PYTHONPATH": str(probe.parent.parent)}
    done = run(place, "flight icd", env=env)
    assert done.returncode == 70 and "Traceback" not in done.stderr
    assert done.stderr.strip() == "flight: internal error: RuntimeError: defect"
    shown = run(place, "flight icd", env=env | {"PAYLOAD_TRACEBACK": "1"})
    assert shown.returncode == 70 and "Traceback" in shown.stderr
