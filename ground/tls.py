"""TLS for the station's client port and the web server (Python's ssl, OpenSSL), and the rule for
listening without it: loopback only."""

from __future__ import annotations

import ipaddress
import socket
import ssl
from pathlib import Path


class TlsError(ValueError):
    """The certificate, key or authority cannot be used; the message says why in one line."""


def server_context(cert: Path, key: Path) -> ssl.SSLContext:
    """A server's TLS context (TLS 1.2 at least) from a PEM certificate chain and its key."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    try:
        context.load_cert_chain(cert, key)
    except (OSError, ssl.SSLError) as exc:
        raise TlsError(f"cannot use {cert} and {key}: {exc}") from None
    return context


def client_context(authority: Path | None) -> ssl.SSLContext:
    """A client's TLS context that checks the server's certificate against ``authority`` (a PEM
    file), or the system's authorities when None."""
    context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    if authority is not None:
        try:
            context.load_verify_locations(authority)
        except (OSError, ssl.SSLError) as exc:
            raise TlsError(f"cannot use {authority} as the station's authority: {exc}") from None
    return context


def is_loopback(host: str) -> bool:
    """Whether every address the host name stands for is a loopback address."""
    try:
        infos = socket.getaddrinfo(host or "localhost", None, proto=socket.IPPROTO_TCP)
    except socket.gaierror:
        return False
    addresses = {ipaddress.ip_address(info[4][0].split("%")[0]) for info in infos}
    return bool(addresses) and all(a.is_loopback for a in addresses)


def listening_refusal(
    listen: str,
    cert: Path | None,
    key: Path | None,
    override: str = "",
    overridden: bool = False,
) -> str | None:
    """Why a server may not listen on ``listen`` (HOST:PORT) with this certificate and key, in
    one line; None if it may. Without TLS only a loopback address will do, unless the server has
    an ``override`` option and it was given (``overridden``)."""
    if (cert is None) != (key is None):
        return "--tls-cert and --tls-key go together"
    host = listen.rpartition(":")[0].strip("[]") or "127.0.0.1"
    if cert is not None or overridden or is_loopback(host):
        return None
    return (
        f"will not listen on {listen} without TLS: it is not a loopback address, and passwords, "
        "tokens and telemetry would cross the network in the clear; give --tls-cert and "
        "--tls-key, or listen on 127.0.0.1" + (f" (or, knowingly, {override})" if override else "")
    )
