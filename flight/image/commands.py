"""The image manager's commands: install an uplinked bundle into the inactive slot, and activate
it (the controller then stops, to be started again by systemd into the new slot). Both are
refused when the controller does not run from a flight image."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from flight import dictionary as d
from flight.cfdp.filestore import FileStore
from flight.commanding.dispatch import CommandError, Handler, Handlers
from flight.commanding.files import uplinked_file
from flight.image.manager import ImageError, ImageManager
from flight.protocol.packets import Telecommand
from flight.reports import Reports


class ImageCommands:
    """The handlers of the image commands; ``files`` is where uplinked bundles arrive."""

    def __init__(
        self,
        image: ImageManager | None,
        files: FileStore,
        reports: Reports,
        restart: Callable[[], None],
    ) -> None:
        self.image = image
        self.files = files
        self.reports = reports
        self.restart = restart

    def handlers(self) -> Handlers:
        """The image commands by name."""
        return {
            "IMAGE_INSTALL": Handler(self._install, self._check_install),
            "IMAGE_ACTIVATE": Handler(self._activate, self._check_activate),
        }

    def _manager(self) -> ImageManager:
        if self.image is None:
            raise CommandError(
                d.FailureCode.IMAGE_UNAVAILABLE, "not running from a flight image (--image-root)"
            )
        return self.image

    def _check_install(self, args: dict[str, Any]) -> Path:
        image = self._manager()
        path = uplinked_file(self.files, args["file"])
        try:
            return image.check_install(path)
        except ImageError as exc:
            raise CommandError(exc.code, str(exc)) from None

    def _install(self, _tc: Telecommand, path: Path) -> None:
        self._manager().install(path)

    def _check_activate(self, args: dict[str, Any]) -> tuple[str, dict[str, Any]]:
        try:
            return self._manager().check_activate(), args
        except ImageError as exc:
            raise CommandError(exc.code, str(exc)) from None

    def _activate(self, _tc: Telecommand, prepared: tuple[str, dict[str, Any]]) -> None:
        slot, args = prepared
        self.reports.event(self._manager().activate(slot, args["trial_s"], args["health_s"]))
        self.restart()
