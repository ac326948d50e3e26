"""Who may command through the station (docs/security.md), against a real station process on real
sockets: nothing is answered before credentials, viewers and strangers get nothing up for any
command in the dictionary, revoked tokens stop at once, replayed and forged proofs fail, failures
are rate-limited, one account holds command authority, and all of it is in the audit trail, whose
hash chain shows an edit."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import os
import sqlite3
import sys
from pathlib import Path

import pytest

from flight import dictionary as d
from flight.security.keys import provision_keys
from ground.accounts.credentials import parse_token, proof
from ground.accounts.store import AccountStore, Role
from ground.gatekeeper import FAILURES_ALLOWED
from ground.client import AuthenticationRefused, CommandRefused, StationClient
from ground.messages import encode_message, read_messages
from tests.ground.test_cli import ground
from tests.ground.test_station import Radio

ROLES = {"ana": "operator", "ben": "operator", "vic": "viewer", "root": "admin"}


class Site:
    """A station process, the spacecraft's radio end in this process, and the accounts."""

    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.users = tmp / "users.sqlite"
        self.tokens: dict[str, str] = {}
        for name, role in ROLES.items():
            assert ground("users", "add", name, "--role", role, "--no-password",
                          "--users", str(self.users), cwd=tmp).returncode == 0  # fmt: skip
            out = tmp / f"{name}.token"
            assert ground("users", "token", name, "--out", str(out),
                          "--users", str(self.users), cwd=tmp).returncode == 0  # fmt: skip
            self.tokens[name] = out.read_text().splitlines()[-1]
        self.radio = Radio()
        self.proc: asyncio.subprocess.Process | None = None
        self.port = 0

    async def start(self, *extra: str) -> None:
        link = await self.radio.serve()
        port_file = self.tmp / "station.port"
        self.proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "ground", "station", "--listen", "127.0.0.1:0",
            "--port-file", str(port_file), "--link", f"127.0.0.1:{link}",
            "--keys", str(provision_keys(self.tmp / "keys").ground),
            "--state", str(self.tmp / "state"), "--users", str(self.users), *extra,
            stderr=open(self.tmp / "station.log", "wb"),
        )  # fmt: skip
        while not port_file.exists():
            assert self.proc.returncode is None, (self.tmp / "station.log").read_text()
            await asyncio.sleep(0.02)
        self.port = int(port_file.read_text())
        await asyncio.wait_for(self.radio.connected.wait(), 30)

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    async def client(self, name: str) -> StationClient:
        client = await StationClient.connect(self.address, self.tokens[name])
        await client.greeting(10)
        return client

    async def stop(self) -> None:
        if self.proc is not None and self.proc.returncode is None:
            self.proc.terminate()
            await self.proc.wait()
        self.radio.server.close()

    def uplinked(self) -> list[bytes]:
        """Every telecommand that reached the space link so far."""
        out = []
        while not self.radio.uplinked.empty():
            out.append(self.radio.uplinked.get_nowait())
        return out

    async def settled(self) -> list[bytes]:
        """The telecommands uplinked, once a PING sent now by an admin (who takes command
        authority for it, and then leaves it free) has arrived last."""
        root = await self.client("root")
        await root.authority_action("take")
        request_id = await root.send("PING")
        await root.authority_action("release")
        seen = []
        while not seen or seen[-1][:4] != request_id:
            seen.append(await asyncio.wait_for(self.radio.uplinked.get(), 30))
        await root.close()
        return seen[:-1]


def run(tmp_path: Path, scenario, *extra: str):
    async def main():
        site = Site(tmp_path)
        await site.start(*extra)
        try:
            return await scenario(site)
        finally:
            await site.stop()

    return asyncio.run(main())


def arguments(command: d.Command) -> dict:
    """Arguments that encode for the command: the smallest of each field's type."""
    values = {"u8": 0, "u16": 0, "u32": 0, "u64": 0, "i32": 0, "f32": 0.0, "f64": 0.0}
    out = {}
    for f in command.args:
        if f.enum:
            out[f.name] = next(iter(f.enum.values()))
        elif f.type in values:
            out[f.name] = values[f.type]
        elif f.type == "bytes":
            out[f.name] = b"x"
        elif f.type == "map":
            out[f.name] = {"id": "j", "command": ["true"]}
        else:
            out[f.name] = "x"
    return out


GROUND_COMMANDS = [c for c in d.COMMANDS if c.source == d.SOURCE_GROUND]


def test_nothing_is_answered_or_sent_without_credentials(tmp_path):
    async def scenario(site: Site):
        answers = []
        for command in d.COMMANDS:  # every command in the dictionary, confirmed, by a stranger
            reader, writer = await asyncio.open_connection("127.0.0.1", site.port)
            messages = read_messages(reader)
            hello = await anext(messages)
            request = {"op": "command", "ref": 1, "name": command.name,
                       "args": arguments(command), "confirm": True}  # fmt: skip
            writer.write(encode_message(request))
            answers.append((hello, [m async for m in messages]))  # until the station closes
            writer.close()
        return answers, await site.settled()

    answers, uplinked = run(tmp_path, scenario)
    assert uplinked == []
    refusals = []
    for hello, rest in answers:
        assert set(hello) == {"op", "auth", "nonce"}  # no link state, no telemetry
        assert [m["op"] for m in rest] == ["auth-failed"]
        refusals.append(rest[0]["message"])
    # five failures from a host, then it is refused unchecked for a while
    assert refusals[:FAILURES_ALLOWED] == ["authentication failed"] * FAILURES_ALLOWED
    assert all(r.startswith("too many failed attempts") for r in refusals[FAILURES_ALLOWED:])


def test_a_viewer_sends_nothing_up_and_an_operator_no_admin_command(tmp_path):
    async def scenario(site: Site):
        refusals = {}
        for name in ("vic", "ana"):
            client = await site.client(name)
            for command in d.COMMANDS if name == "vic" else GROUND_COMMANDS:
                try:
                    await client.send(command.name, arguments(command), confirm=True)
                except CommandRefused as exc:
                    refusals[name, command.name] = str(exc)
            for action in ("request", "take"):
                try:
                    await client.authority_action(action)
                except CommandRefused as exc:
                    refusals[name, action] = str(exc)
            await client.close()
        return refusals, await site.settled()

    refusals, uplinked = run(tmp_path, scenario)
    for command in d.COMMANDS:  # every one: the bus's are no ground command for anyone
        why = "this is a viewer" if command in GROUND_COMMANDS else "is not a ground command"
        assert refusals["vic", command.name].endswith(why), command.name
    assert "command authority needs the operator role" in refusals["vic", "request"]
    admin_only = {c.name for c in GROUND_COMMANDS if c.service in (220, 230)}
    assert admin_only == {"KEY_ACTIVATE", "KEY_DEACTIVATE", "REPORT_KEYS", "IMAGE_INSTALL",
                          "IMAGE_ACTIVATE"}  # fmt: skip
    for name in admin_only:
        assert refusals["ana", name] == (
            f"{name} needs the admin role ("
            f"{'key management' if name.startswith(('KEY', 'REPORT_KEYS')) else 'flight images'}"
            "); this is a operator"
        )
    assert refusals["ana", "take"] == "taking command authority over needs the admin role"
    sent_by_ana = [c.name for c in GROUND_COMMANDS if ("ana", c.name) not in refusals]
    assert len(uplinked) == len(sent_by_ana) > 0  # the operator's others went up, the viewer's none
    assert ("ana", "request") not in refusals


def test_a_hazardous_command_needs_the_confirmation(tmp_path):
    async def scenario(site: Site):
        client = await site.client("ana")
        with pytest.raises(CommandRefused, match="CANCEL_JOB is hazardous"):
            await client.send("CANCEL_JOB", {"job_id": "j"})
        first = await site.settled()
        request_id = await client.send("CANCEL_JOB", {"job_id": "j"}, confirm=True)
        second = await site.settled()
        await client.close()
        return first, second, request_id

    first, second, request_id = run(tmp_path, scenario)
    assert first == [] and [raw[:4] for raw in second] == [request_id]


def test_a_revoked_token_stops_at_once(tmp_path):
    async def scenario(site: Site):
        client = await site.client("ana")
        await client.send("NOOP")
        token_id = parse_token(site.tokens["ana"])[0]
        done = await asyncio.to_thread(
            ground, "users", "revoke", token_id, "--users", str(site.users), cwd=site.tmp
        )
        refusal = None
        try:  # the very next request, whether or not the drop has come yet
            await client.send("NOOP")
        except CommandRefused as exc:
            refusal = str(exc)
        await asyncio.wait_for(client.lost.wait(), 10)  # and the connection goes
        again = None
        try:
            await site.client("ana")
        except AuthenticationRefused as exc:
            again = str(exc)
        return done, refusal, again, await site.settled()

    done, refusal, again, uplinked = run(tmp_path, scenario)
    assert done.returncode == 0 and "revoked" in done.stdout
    assert refusal in ("credential revoked", "connection to the station lost")
    assert again.endswith("refused the credentials: authentication failed")
    assert len(uplinked) == 1  # the NOOP before the revocation


def test_replayed_and_forged_proofs_fail_and_failures_are_rate_limited(tmp_path):
    async def attempt(site: Site, auth: dict) -> dict:
        reader, writer = await asyncio.open_connection("127.0.0.1", site.port)
        messages = read_messages(reader)
        hello = await anext(messages)
        writer.write(encode_message(auth(hello["nonce"]) if callable(auth) else auth))
        answer = await anext(messages)
        writer.close()
        return answer

    async def scenario(site: Site):
        token_id, secret = parse_token(site.tokens["ana"])
        ben_id, ben_secret = parse_token(site.tokens["ben"])
        recorded = {}

        def honest(nonce):
            recorded["auth"] = {"op": "auth", "token_id": token_id,
                                "proof": proof(secret, nonce, token_id)}  # fmt: skip
            return recorded["auth"]

        results = {"honest": await attempt(site, honest)}
        results["replayed"] = await attempt(site, recorded["auth"])
        results["forged"] = await attempt(
            site, {"op": "auth", "token_id": token_id, "proof": os.urandom(32)}
        )
        results["other secret"] = await attempt(  # ben's secret under ana's id
            site, lambda n: {"op": "auth", "token_id": token_id, "proof": proof(ben_secret, n,
                                                                                token_id)}
        )  # fmt: skip
        results["unknown id"] = await attempt(
            site, {"op": "auth", "token_id": "0" * 16, "proof": os.urandom(32)}
        )
        for _ in range(2):  # five failures for ana's id from this host: then it is refused
            await attempt(site, {"op": "auth", "token_id": token_id, "proof": b"\0" * 32})
        results["limited"] = await attempt(site, honest)
        results["ben"] = await attempt(
            site, lambda n: {"op": "auth", "token_id": ben_id, "proof": proof(ben_secret, n,
                                                                              ben_id)}
        )  # fmt: skip
        return results

    results = run(tmp_path, scenario)
    assert results["honest"]["op"] == "welcome" and results["honest"]["account"] == "ana"
    for kind in ("replayed", "forged", "other secret", "unknown id"):
        assert results[kind] == {"op": "auth-failed", "message": "authentication failed"}, kind
    assert results["limited"]["op"] == "auth-failed"
    assert results["limited"]["message"].startswith("too many failed attempts: try again in")
    assert results["ben"]["op"] == "welcome"  # another token from the same host is not locked out


def test_one_operator_holds_command_authority_and_an_admin_takes_it(tmp_path):
    async def scenario(site: Site):
        ana, ben, root = [await site.client(n) for n in ("ana", "ben", "root")]
        await ana.send("NOOP")  # nobody held it: the first command takes it
        seen = {"holder": await ana.authority_action("show")}
        for what, call in (
            ("ben noop", ben.send("NOOP")),
            ("ben request", ben.authority_action("request")),
        ):
            try:
                await call
            except CommandRefused as exc:
                seen[what] = str(exc)
        seen["release"] = await ana.authority_action("release")
        seen["ben granted"] = await ben.authority_action("request")
        seen["take"] = await root.authority_action("take")
        while ben.authority != "root" or ana.authority != "root":  # every client is told
            await asyncio.sleep(0.02)
        seen["ana sees"] = ana.authority
        for c in (ana, ben, root):
            await c.close()
        return seen

    seen = run(tmp_path, scenario)
    assert seen["holder"] == "ana"
    assert seen["ben noop"] == seen["ben request"] == "command authority is held by ana"
    assert seen["release"] is None and seen["ben granted"] == "ben" and seen["take"] == "root"
    assert seen["ana sees"] == "root"


def test_the_audit_trail_records_everything_and_shows_an_edit(tmp_path):
    async def scenario(site: Site):
        ana = await site.client("ana")
        request_id = await ana.send("NOOP")
        with contextlib.suppress(CommandRefused):
            await ana.send("KEY_ACTIVATE", {"key_id": 257}, confirm=True)
        site.radio.downlink("COMPLETION_SUCCESS", {
            "request_packet_id": int.from_bytes(request_id[:2], "big"),
            "request_seq_ctrl": int.from_bytes(request_id[2:], "big"),
        })  # fmt: skip
        await ana.await_telemetry(lambda t: t.name == "COMPLETION_SUCCESS", 10)
        token_id, secret = parse_token(site.tokens["ben"])
        wrong = f"gst1_{token_id}_{base64.urlsafe_b64encode(secret[::-1]).decode()[:43]}"
        stranger = await StationClient.connect(site.address, wrong)
        with contextlib.suppress(AuthenticationRefused):
            await stranger.greeting(10)
        await stranger.close()
        await ana.close()
        await site.stop()  # the archive is flushed as it stops
        return request_id

    request_id = run(tmp_path, scenario)
    state = str(tmp_path / "state")
    listed = ground("archive", "query", "--audit", "--json", "--state", state, cwd=tmp_path)
    rows = json.loads(listed.stdout)
    kinds = [(r["account"], r["action"], r["outcome"].split(":")[0]) for r in rows]
    for wanted in [
        ("ana", "login", "ok"),
        ("ana", "authority", "granted"),
        ("ana", "command", "sent"),
        ("ana", "command", "refused"),
        ("ana", "verification", "completion_success"),
        (None, "login", "failed"),
    ]:
        assert wanted in kinds, (wanted, kinds)  # fmt: skip
    sent = next(r for r in rows if r["action"] == "command" and r["outcome"] == "sent")
    assert sent["detail"]["name"] == "NOOP" and sent["detail"]["request_id"] == request_id.hex()
    assert sent["peer"].startswith("127.0.0.1:")
    verified = ground("archive", "verify", "--state", state, cwd=tmp_path)
    assert verified.returncode == 0 and f"{len(rows)} rows" in verified.stdout
    db = sqlite3.connect(tmp_path / "state" / "archive.sqlite")
    db.execute("UPDATE audit SET account = 'ben' WHERE seq = ?", (sent["seq"],))
    db.commit()
    broken = ground("archive", "verify", "--state", state, cwd=tmp_path)
    assert broken.returncode == 1
    assert broken.stderr.strip() == (
        "ground archive verify: the station audit trail is broken: "
        f"row {sent['seq']} was changed after it was written"
    )
    db.execute("UPDATE audit SET account = 'ana' WHERE seq = ?", (sent["seq"],))
    db.execute("DELETE FROM audit WHERE seq = ?", (sent["seq"] - 1,))
    db.commit()
    assert "is missing" in ground("archive", "verify", "--state", state, cwd=tmp_path).stderr


def test_tls_and_a_non_loopback_listen(tmp_path):
    from datetime import UTC, datetime, timedelta

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name)
        .public_key(key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=1)).not_valid_after(now + timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost")]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )  # fmt: skip
    (tmp_path / "cert.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (tmp_path / "key.pem").write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                          serialization.NoEncryption())
    )  # fmt: skip

    async def scenario(site: Site):
        answers = {}
        for args in (("--tls-ca", str(tmp_path / "cert.pem")), ()):
            done = await asyncio.to_thread(
                ground, "authority", "request", "--station", f"localhost:{site.port}",
                "--token-file", str(tmp_path / "ana.token"), *args, cwd=tmp_path,
            )  # fmt: skip
            answers[args[:1]] = done
        return answers

    answers = run(tmp_path, scenario, "--tls-cert", str(tmp_path / "cert.pem"), "--tls-key",
                  str(tmp_path / "key.pem"), "--listen", "0.0.0.0:0")  # fmt: skip
    tls, plain = answers[("--tls-ca",)], answers[()]
    assert tls.returncode == 0 and tls.stdout.strip() == "command authority: ana (this is ana)"
    assert plain.returncode == 2 and len(plain.stderr.strip().splitlines()) == 1


def test_the_store_keeps_hashes_not_secrets(tmp_path):
    store = AccountStore(tmp_path / "u.sqlite")
    store.add("pam", Role.OPERATOR, "correct horse battery staple")
    _, token = store.issue_token("pam")
    raw = (tmp_path / "u.sqlite").read_bytes()
    _, secret = parse_token(token)
    encoded = token.split("_", 2)[2].encode()
    assert b"correct horse" not in raw and secret not in raw and encoded not in raw
    assert (tmp_path / "u.sqlite").stat().st_mode & 0o077 == 0
    assert store.check_password("pam", "correct horse battery staple").name == "pam"
    assert store.check_password("pam", "wrong") is None
    assert store.check_password("nobody", "correct horse battery staple") is None
    stored = store.db.execute("SELECT password FROM accounts").fetchone()[0]
    assert stored.startswith("$argon2id$")
