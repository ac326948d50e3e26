"""An operator's COP-1 directives to one spacecraft's FOP-1, by name, as the station's clients
ask for them (``python -m ground cop1``, docs/icd.md section 18):

- ``unlock``: terminate the AD service if it runs (purging what is outstanding: it did not
  arrive), take V(S) from the latest CLCW (the FARM took nothing while locked out), then initiate
  the service with an Unlock command: what a FARM lockout needs;
- ``initiate`` with ``check`` none, clcw, unlock or set_vr (and ``vr``): initiate the AD service;
- ``terminate``: stop it, purging what is outstanding;
- ``resume``: resume it after a suspension at T1.
"""

from __future__ import annotations

from typing import Any

from flight.spacelink.fop import Cop1Refused, Fop, FopState

DIRECTIVES = ("unlock", "initiate", "terminate", "resume")


def direct(fop: Fop, directive: str, message: dict[str, Any]) -> None:
    """Carry out one directive; Cop1Refused, saying why, when FOP-1 does not take it."""
    if directive == "unlock":
        if fop.state is not FopState.INITIAL:
            fop.terminate()
        if fop.last_clcw is not None and fop.suspended_in is None:
            fop.set_vs(fop.last_clcw.report_value)
        fop.initiate("unlock")
    elif directive == "initiate":
        check, vr = message.get("check", "clcw"), message.get("vr")
        if not isinstance(check, str) or not (vr is None or type(vr) is int):
            raise Cop1Refused("initiate takes a check (none, clcw, unlock, set_vr) and a vr")
        fop.initiate(check, vr)
    elif directive == "terminate":
        fop.terminate()
    elif directive == "resume":
        fop.resume()
    else:
        raise Cop1Refused(f"no COP-1 directive {directive!r}: {', '.join(DIRECTIVES)}")


def describe_cop1(status: dict[str, Any]) -> str:
    """One spacecraft's COP-1 state and link counts (an entry of the station's cop1 answer) in
    a few lines, as an operator reads them."""
    if status["scid"] == "unknown":
        return (
            f"frames of no known spacecraft: {status['channels']}; octets not in any frame: "
            + str(status["sync_lost_octets"])
        )
    clcw = status["clcw"]
    farm = "no CLCW yet"
    if clcw is not None:
        flags = [f for f in ("lockout", "wait", "retransmit") if clcw[f]]
        farm = f"FARM V(R) {clcw['report_value']}" + (f", {', '.join(flags)}" if flags else "")
    lines = [
        f"spacecraft {status['scid']}: COP-1 {status['describe']}",
        f"  V(S) {status['vs']}, NN(R) {status['nnr']}, {status['sent']} unacknowledged, "
        f"{status['waiting']} waiting; window {status['window']}, T1 {status['t1_s']:g} s, "
        f"limit {status['limit']}; {farm}",
    ]
    for vc, counts in status["channels"].items():
        lines.append(f"  VC {vc}: " + ", ".join(f"{k} {v}" for k, v in sorted(counts.items()) if v))
    return "\n".join(lines)
