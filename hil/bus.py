"""The emulated spacecraft bus: the payload's only clock, its power source and its radio.

It sends a BUS_TICK telecommand every bus second (time, power allowance and environment),
forwards ground telecommands for the payload's APID from the radio link to the serial line,
passes the payload's telemetry down to the radio, and records every packet that crosses the
serial line. Its parts, each with one job:

- the clock (hil/bus_clock.py): lockstep or real time, breakpoints, holds, unanswered ticks;
- the radio relay (hil/radio_relay.py): the station's space link, windows, delay, loss, pacing,
  its frames (hil/space_link.py);
- the GPU's supply (hil/gpu_supply.py) and the EPS allowance the environment gives;
- fault injection (hil/bus_faults.py): reset, outage, brownout, clock jump;
- the serial endpoint (hil/serial_endpoint.py): the line, recording, decoding, answers;
- in a constellation, its payload's laser terminal (hil/isl_relay.py), driven on its ticks.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

from flight import dictionary as d
from flight.protocol.messages import CommandEncoder, DecodedTelemetry
from flight.security.tc_auth import TcSigner
from flight.spacelink.profile import DEFAULT_SCID, LinkProfile
from hil.bus_clock import BusClock
from hil.bus_faults import BusFaults
from hil.environment import Environment
from hil.gpu_supply import GpuSupply
from hil.isl_relay import LaserTerminal
from hil.radio import RadioConfig
from hil.radio_relay import RadioRelay
from hil.serial_endpoint import SerialEndpoint, damage
from hil.space_link import SpacecraftLink


class BusEmulator:
    """The bus side of one serial line and the spacecraft end of the radio link."""

    def __init__(
        self,
        fd: int,
        *,
        start_time: float,
        environment: Environment,
        baud: int | None = None,
        speed: float = 1.0,
        seed: int = 0,
        relay_windows: bool = False,
        radio: RadioConfig | None = None,
        space_link: SpacecraftLink | None = None,
        signer: TcSigner,
    ) -> None:
        self.start_time = start_time
        self.environment = environment
        self.listeners: list[Callable[[DecodedTelemetry], None]] = []  # called for every packet
        self.commands = CommandEncoder(signer, ack_flags=0)  # ticks ask for no reports
        self.serial = SerialEndpoint(fd, self._deliver, baud=baud, seed=seed, speed=speed)
        self.clock = BusClock(
            start_time,
            self.tick,
            self.serial.answered,
            lambda: self.serial.damaged_frames,
            lambda: bool(self.serial.line.up.ber or self.serial.line.down.ber),
            self._settle,
        )
        self.radio = RadioRelay(
            radio or RadioConfig(),
            seed,
            relay_windows,
            environment.link_up(0),
            space_link or SpacecraftLink(LinkProfile(DEFAULT_SCID)),
            self.serial.send,
            lambda: not self.faults.quiet,
            lambda: self.clock.time,
            self.clock.let_run,
        )
        self.faults = BusFaults(self.serial.line, self.commands, self.clock)
        self.laser: LaserTerminal | None = None  # a constellation's: its payload's laser terminal
        self.gpu_supply = GpuSupply(
            lambda on: self.serial.send(self.commands.packet("GPU_POWER_STATE", {"on": int(on)}))
        )

    async def start(self) -> None:
        """Start serving the serial line and listening for the ground station's radio link."""
        self.serial.line.start()
        await self.radio.start()

    async def stop(self) -> None:
        """Stop serving both links."""
        self.serial.line.stop()
        await self.radio.stop()

    def _deliver(self, tm: DecodedTelemetry, raw: bytes) -> None:
        """A telemetry packet from the payload: what the bus itself acts on, the listeners,
        then the radio."""
        if tm.name == "GPU_POWER_REQUEST":
            self.gpu_supply.request(d.GpuPower(tm.values["action"]))
        elif tm.name == "SEQUENCE_FLOOR":  # a restarted payload: tick above its window
            self.commands.signer.heard_floor(tm.values["key_id"], tm.values["floor"])
        for listener in self.listeners:
            listener(tm)
        self.radio.downlink(tm, raw)
        if tm.name == "HOUSEKEEPING":
            self.clock.heard(tm.packet.time)

    async def _settle(self) -> None:
        """Lockstep, after a tick was answered: what the payload sent its laser terminal in this
        second is taken in, and the station's answers to this second's file traffic (or, where
        its fleet broker acts on telemetry, to all it heard) are in before the next."""
        if self.laser is not None:
            self.laser.collect(self.clock.time)
        if self.radio.sync_due():
            await self.radio.sync()

    def tick(self) -> bool:
        """Advance bus time one second and send the tick with the environment of that second.

        Returns whether the payload can answer it: False while the bus restarts or the line is
        out, or when the line damaged the tick on its way."""
        line = self.serial.line
        env = self.environment.tick(self.clock.ticks, self._payload_draw())
        self.radio.window_open = env.link_in_s == 0
        self.clock.advance()
        if self.faults.restarting():
            return False
        if self.faults.browned_out():
            env = replace(env, power_allowance_w=0.0)
        args = {"time": self.clock.time} | vars(env)  # its fields (asdict would deep-copy)
        args["sunlit"] = int(env.sunlit)
        packet = self.commands.packet("BUS_TICK", args)
        before = damage(line.up)
        lost = line.outage
        if self.laser is not None:  # what its terminal took in since, then what came for it
            self.laser.collect(self.clock.time - 1)
            self.laser.deliver(self.clock.time)
        self.serial.send(packet)
        self.radio.second(self.clock.time)
        self.gpu_supply.second()
        self.faults.after_tick()
        return not lost and damage(line.up) == before

    def _payload_draw(self) -> float | None:
        """What the payload drew last second, as its housekeeping measured it (the EPS meters
        the payload's line); its allowance when it has not said."""
        hk = self.serial.last_hk
        if hk is None or "payload_power_w" not in hk.values:
            return None
        return float(hk.values["payload_power_w"])
