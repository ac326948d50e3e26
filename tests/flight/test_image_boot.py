"""The boot guard's decisions (flight/image/boot.py) and the trial's judgement by the version on
trial (flight/image/manager.py), on a root tree made by hand."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from flight.image import boot
from flight.image.manager import ImageManager

T0 = 1_800_000_000.0


def root_with_slots(tmp_path: Path, current: str = "a") -> Path:
    root = tmp_path / "root"
    for slot in ("a", "b"):
        slot_dir = root / boot.IMAGE_DIR / "slots" / slot
        (slot_dir / "boot").mkdir(parents=True)
        (slot_dir / "systemd").mkdir()
        (slot_dir / "boot/payload-boot").write_text(f"# guard of {slot}\n")
        (slot_dir / "systemd/payload-controller.service").write_text(f"# unit of {slot}\n")
        (slot_dir / "manifest.json").write_text(json.dumps({"version": f"v-{slot}"}))
    boot.point_current(root, current)
    return root


def on_trial(root: Path, slot: str = "b", starts: int = 3, deadline: float = T0 + 600) -> None:
    boot.write_record(
        root,
        "trial.json",
        {"slot": slot, "previous": "a", "version": f"v-{slot}", "starts_left": starts,
         "deadline": deadline, "health_s": 3},
    )  # fmt: skip
    boot.point_current(root, slot)


def test_starts_are_counted_then_the_slot_before_comes_back(tmp_path):
    root = root_with_slots(tmp_path)
    assert boot.start(root, T0) == "slot a"
    on_trial(root)
    assert [boot.start(root, T0) for _ in range(3)] == [
        f"slot b on trial ({n} starts left)" for n in (2, 1, 0)
    ]
    assert boot.start(root, T0) == "rolled back to slot a"
    assert boot.current(root) == "a" and boot.read_record(root, "trial.json") is None
    assert boot.read_record(root, "rollback.json") == {
        "from": "b", "to": "a", "version": "v-b", "reason": "failed to start", "at": T0
    }  # fmt: skip


def test_the_deadline_rolls_back_at_a_start_and_by_the_timer(tmp_path):
    root = root_with_slots(tmp_path)
    on_trial(root, deadline=T0 + 10)
    assert not boot.check(root, T0 + 9.9) and boot.current(root) == "b"
    assert boot.check(root, T0 + 10) and boot.current(root) == "a"
    assert not boot.check(root, T0 + 20)  # nothing on trial any more
    on_trial(root, deadline=T0 + 10)
    assert boot.start(root, T0 + 11) == "rolled back to slot a"
    assert boot.read_record(root, "rollback.json")["reason"] == "not healthy in time"


@pytest.mark.parametrize("by", ["start", "check"])
@pytest.mark.parametrize("damage", ["{not json", '{"slot": "b", "deadline": "soon"}', "[1]"])
def test_an_unreadable_trial_record_rolls_back(tmp_path, damage, by):
    root = root_with_slots(tmp_path)
    on_trial(root)
    (root / boot.STATE_DIR / "trial.json").write_text(damage)
    if by == "check":
        assert boot.check(root, T0)
    else:
        assert boot.start(root, T0) == "rolled back to slot a"
    assert boot.current(root) == "a"


def test_a_trial_record_of_another_slot_is_stale(tmp_path):
    root = root_with_slots(tmp_path)
    on_trial(root)
    boot.point_current(root, "a")  # an operator's --activate, say
    assert boot.start(root, T0) == "slot a (a stale trial record removed)"
    assert boot.read_record(root, "trial.json") is None


def test_the_installed_guard_runs_on_its_own(tmp_path):
    root = root_with_slots(tmp_path)
    on_trial(root, starts=0)
    guard = tmp_path / "payload-boot"
    guard.write_text(Path(boot.__file__).read_text())  # as the bundle carries it
    done = subprocess.run(
        [sys.executable, "-I", str(guard), "--root", str(root), "start"],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    assert done.stderr == "payload-boot: rolled back to slot a\n"


def manager(root: Path, health_check=lambda: None) -> ImageManager:
    image = ImageManager(root, root / "keys.toml", health_check, clock=lambda: T0)
    assert image.started() == []
    return image


def test_the_version_on_trial_commits_after_its_health_period(tmp_path):
    root = root_with_slots(tmp_path)
    on_trial(root)
    image = manager(root)
    assert image.second(safe_mode=False) == ([], False)
    assert image.second(safe_mode=False) == ([], False)
    events, restart = image.second(safe_mode=False)
    assert events == [("IMAGE_COMMITTED", {"slot": "b", "version": "v-b"})] and not restart
    assert boot.read_record(root, "trial.json") is None and boot.current(root) == "b"
    guard = root / boot.IMAGE_DIR / "bin/payload-boot"
    assert guard.read_text() == "# guard of b\n"  # the committed version's own guard
    assert image.second(safe_mode=True) == ([], False)  # committed: no trial to judge


@pytest.mark.parametrize("why", ["safe mode", "self-test"])
def test_the_version_on_trial_rolls_itself_back_at_a_fault(tmp_path, why):
    root = root_with_slots(tmp_path)
    on_trial(root)

    def failing() -> None:
        raise RuntimeError("CRC path arm-pmull disagrees")

    image = manager(root, failing if why == "self-test" else lambda: None)
    outcomes = [image.second(safe_mode=why == "safe mode") for _ in range(3)]
    seconds = 1 if why == "safe mode" else 3  # at once, or at the end of the health period
    assert outcomes[seconds - 1] == ([], True) and boot.current(root) == "a"
    assert all(o == ([], False) for i, o in enumerate(outcomes) if i != seconds - 1)
    reason = boot.read_record(root, "rollback.json")["reason"]
    assert reason == (
        "safe mode during the trial"
        if why == "safe mode"
        else "self-test failed: CRC path arm-pmull disagrees"
    )
    again = ImageManager(root, root / "keys.toml", lambda: None)  # the version rolled back to
    assert again.started() == [
        ("IMAGE_ROLLED_BACK", {"slot": "b", "version": "v-b", "to_slot": "a", "reason": reason})
    ]
    assert again.trial is None and manager(root).started() == []  # reported once
