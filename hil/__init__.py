"""The hardware-in-the-loop bench: an emulated spacecraft bus on a serial link (a pty in CI, a
real port on a hardware bench), the ground station linked to it, scenarios and reports.

It imports flight's dictionary and protocol and ground's client; flight never imports it.
"""
