"""The payload's downlink: the CFDP entity on the bus link and what it sends (service.py), the
telemetry recorded on board for playback (recorder.py), the controller's glue that queues job
results and turns store failures into events (results.py), and its commands (commands.py)."""

from flight.downlink.service import (
    FLIGHT_ENTITY,
    GROUND_ENTITY,
    RESULTS_MANIFEST,
    Downlink,
    DownlinkConfig,
    DownlinkError,
    file_sha256,
)

__all__ = [
    "FLIGHT_ENTITY",
    "GROUND_ENTITY",
    "RESULTS_MANIFEST",
    "Downlink",
    "DownlinkConfig",
    "DownlinkError",
    "file_sha256",
]
