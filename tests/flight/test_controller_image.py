"""The image commands' refusals at the controller, each with its PUS 1 failure code; the whole
update (install, activate, commit, rollback) runs on the bench: tests/hil/test_image_update.py."""

from flight import dictionary as d
from flight.image.manager import ImageManager
from flight.security.keys import provision_keys
from tests.flight.conftest import PayloadHarness
from tests.flight.test_controller_commands import failure

F = d.FailureCode


def test_image_commands_need_an_image(payload):
    assert failure(payload.command("IMAGE_INSTALL", {"file": "v2.tar"}))[0] == F.IMAGE_UNAVAILABLE
    activate = payload.command("IMAGE_ACTIVATE", {"trial_s": 60, "health_s": 10})
    assert failure(activate)[0] == F.IMAGE_UNAVAILABLE


def test_image_commands_refuse_what_is_not_there(tmp_path):
    root = tmp_path / "root"
    image = ImageManager(root, provision_keys(tmp_path / "keys").flight, lambda: None)
    payload = PayloadHarness(tmp_path / "state", image=image)
    try:
        assert failure(payload.command("IMAGE_INSTALL", {"file": "v2.tar"})) == (
            F.FILE_NOT_FOUND,
            "no file 'v2.tar' on board",
        )
        assert failure(payload.command("IMAGE_INSTALL", {"file": "../keys.toml"}))[0] == (
            F.FILE_NAME_INVALID
        )
        (tmp_path / "state/files/junk.tar").write_bytes(b"not a bundle")
        code, reason = failure(payload.command("IMAGE_INSTALL", {"file": "junk.tar"}))
        assert code == F.IMAGE_REJECTED and reason.startswith("not a readable tar")
        activate = payload.command("IMAGE_ACTIVATE", {"trial_s": 60, "health_s": 10})
        assert failure(activate) == (F.IMAGE_NOT_INSTALLED, "slot a is empty")
        assert payload.ctl.exit_status == 0 and payload.ctl.counters.tc_rejected == 4
    finally:
        payload.close()
