"""The payload controller: runs on the satellite computer beside the GPU.

It owns the single dictionary of commands, telemetry and events (flight.dictionary) and the
protocol (flight.protocol, documented in docs/icd.md). It never imports hil or ground.
"""

__version__ = "0.1.0"
