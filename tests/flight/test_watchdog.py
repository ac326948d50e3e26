"""The systemd watchdog: sd_notify datagrams on a real unix socket, from the Watchdog alone (in
a fake clock) and from the real controller process, which stops petting while it is hung."""

from __future__ import annotations

import signal
import socket
import time

import pytest

from flight.watchdog import Watchdog
from hil.serial_link import PtyLink
from tests.flight.conftest import controller_process


@pytest.fixture
def notify_socket(tmp_path):
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    path = tmp_path / "notify"
    sock.bind(str(path))
    sock.settimeout(0.01)
    yield sock, str(path)
    sock.close()


def drain(sock) -> list[str]:
    out = []
    while True:
        try:
            out.append(sock.recv(4096).decode())
        except TimeoutError:
            return out


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_pets_only_while_every_loop_comes_round(notify_socket):
    sock, path = notify_socket
    clock = Clock()
    dog = Watchdog({"NOTIFY_SOCKET": path, "WATCHDOG_USEC": "1000000"}, clock)
    dog.ready()
    for _ in range(8):  # both loops alive for 2 s: a pet every half interval
        clock.now += 0.25
        dog.beat("link")
        dog.beat("jobs")
    assert drain(sock) == ["READY=1"] + ["WATCHDOG=1"] * 4
    for _ in range(8):  # "jobs" hangs: "link" alone may not pet once "jobs" is a second old
        clock.now += 0.25
        dog.beat("link")
    # pets at 0.25 and 0.75 s while "jobs" is under a second old, none in the 1.25 s after
    assert drain(sock) == ["WATCHDOG=1"] * 2
    dog.beat("jobs")  # it comes back: petting resumes at once
    clock.now += 0.5
    dog.beat("link")
    dog.stopping()
    assert drain(sock) == ["WATCHDOG=1", "WATCHDOG=1", "STOPPING=1"]
    dog.close()


@pytest.mark.parametrize(
    "environ",
    [{}, {"WATCHDOG_USEC": "1000000"}, {"WATCHDOG_USEC": "1000000", "WATCHDOG_PID": "1"}],
    ids=["no-socket", "no-socket-with-interval", "another-process"],
)
def test_silent_when_not_under_this_watchdog(notify_socket, environ):
    sock, path = notify_socket
    clock = Clock()
    if "WATCHDOG_PID" in environ:
        environ = environ | {"NOTIFY_SOCKET": path}
    dog = Watchdog(environ, clock)
    for _ in range(10):
        clock.now += 0.5
        dog.beat("link")
    assert drain(sock) == [] and dog.sent == 0


def test_an_abstract_socket_address_is_understood():
    dog = Watchdog({"NOTIFY_SOCKET": "@payload-notify"})
    assert dog.address == "\0payload-notify"
    dog.close()


def _wait_for(sock, wanted: str, timeout: float) -> list[str]:
    end = time.monotonic() + timeout
    seen: list[str] = []
    while time.monotonic() < end:
        seen += drain(sock)
        if wanted in seen:
            return seen
    raise AssertionError(f"no {wanted} within {timeout} s: {seen}")


def test_the_controller_pets_while_alive_and_not_while_hung(notify_socket, tmp_path):
    sock, path = notify_socket
    link = PtyLink.open()
    (tmp_path / "state").mkdir()
    controller = controller_process(
        link.slave_path, tmp_path / "state", NOTIFY_SOCKET=path, WATCHDOG_USEC="400000"
    )
    try:
        seen = _wait_for(sock, "READY=1", 30)
        assert "WATCHDOG=1" not in seen[: seen.index("READY=1")]
        pets = 0  # the bus is quiet: the loop still comes round, pet after pet
        end = time.monotonic() + 60
        while pets < 3:
            assert time.monotonic() < end, f"{pets} WATCHDOG=1 while the bus was quiet"
            pets += _wait_for(sock, "WATCHDOG=1", 30).count("WATCHDOG=1")
        controller.send_signal(signal.SIGSTOP)  # hung
        drain(sock)
        time.sleep(1.0)
        assert drain(sock) == []
        controller.send_signal(signal.SIGCONT)
        _wait_for(sock, "WATCHDOG=1", 5)
        controller.terminate()
        assert controller.wait(30) == 0
        assert drain(sock)[-1:] == ["STOPPING=1"]
    finally:
        if controller.poll() is None:
            controller.kill()
        link.close()
