"""The ground command line: user mistakes end in one line and a non-zero status, no traceback."""

import json
import os
import socket
import subprocess
import sys

import pytest

from ground.accounts.credentials import new_token

# a well-formed token, so that what is tested is what comes after credentials are found
CLIENT_ENV = os.environ | {"GROUND_TOKEN": new_token()[2]}


def ground(*args, cwd, stdin=None):
    return subprocess.run(
        [sys.executable, "-m", "ground", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=60,
        env=CLIENT_ENV,
        input=stdin,
    )


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.parametrize("cmd", ["ping", "tlm", "jobs"])
def test_unreachable_station(tmp_path, cmd):
    out = ground(cmd, "--station", f"127.0.0.1:{free_port()}", cwd=tmp_path)
    assert out.returncode == 2
    assert out.stderr.startswith(f"ground {cmd}: cannot reach the station at 127.0.0.1:")
    assert len(out.stderr.strip().splitlines()) == 1 and "Traceback" not in out.stderr


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("missing.json", None, "missing.json: No such file or directory"),
        ("bad.json", "{", "bad.json: not a valid json file"),
        ("list.json", "[1]", "list.json: a manifest is a map at the top level"),
        ("job.yaml", "id: x", "job.yaml: use a .json, .toml or .msgpack file"),
    ],
)
def test_bad_manifest_files(tmp_path, name, content, message):
    if content is not None:
        (tmp_path / name).write_text(content)
    out = ground("submit", name, "--station", f"127.0.0.1:{free_port()}", cwd=tmp_path)
    assert out.returncode == 2
    assert message in out.stderr and len(out.stderr.strip().splitlines()) == 1


def test_manifest_formats_agree(tmp_path):
    import msgpack

    from ground.manifests import load_manifest

    doc = {"id": "j", "command": ["hash-chain", "--iterations", "10"], "time_limit_s": 60}
    (tmp_path / "m.json").write_text(json.dumps(doc))
    (tmp_path / "m.toml").write_text(
        'id = "j"\ncommand = ["hash-chain", "--iterations", "10"]\ntime_limit_s = 60\n'
    )
    (tmp_path / "m.msgpack").write_bytes(msgpack.packb(doc))
    assert all(load_manifest(tmp_path / f"m.{ext}") == doc for ext in ("json", "toml", "msgpack"))


def test_keys_provision_list_use_and_refuse_in_one_line(tmp_path):
    assert ground("keys", "provision", "k", cwd=tmp_path).returncode == 0
    listing = ground("keys", "list", "k/ground.toml", "--json", cwd=tmp_path)
    assert json.loads(listing.stdout) == [
        {"id": 256, "source": "GROUND", "active": True},
        {"id": 257, "source": "GROUND", "active": False},
    ]
    assert "secret" not in ground("keys", "list", "k/flight.toml", cwd=tmp_path).stdout
    used = ground("keys", "use", "k/ground.toml", "257", cwd=tmp_path)
    assert used.stdout.strip() == "k/ground.toml: key 257 in use for GROUND"
    listing = ground("keys", "list", "k/ground.toml", cwd=tmp_path).stdout.splitlines()
    assert [line.split() for line in listing] == [
        ["256", "GROUND", "-"],
        ["257", "GROUND", "in", "use"],
    ]
    (tmp_path / "k" / "bus.toml").chmod(0o644)
    for args, message in [
        (("keys", "use", "k/ground.toml", "9"), "holds no key 9"),
        (("keys", "list", "k/bus.toml"), "open to others (mode 0644): chmod 600"),
        (("station", "--link", "127.0.0.1:9", "--keys", "k/bus.toml"), "open to others"),
        (("station", "--link", "127.0.0.1:9", "--keys", "none.toml"), "No such file"),
    ]:
        out = ground(*args, cwd=tmp_path)
        assert out.returncode == 2 and message in out.stderr, out.stderr
        assert len(out.stderr.strip().splitlines()) == 1 and "Traceback" not in out.stderr


def test_provisioning_never_replaces_a_key_file_unless_forced_by_name(tmp_path):
    """An operator who provisions again into a payload's key directory would lose command of
    it: refused, nothing written, unless each existing file is named after --force."""
    assert ground("keys", "provision", "k", cwd=tmp_path).returncode == 0
    names = ("flight.toml", "bus.toml", "ground.toml", "image.toml")
    before = {n: (tmp_path / "k" / n).read_bytes() for n in names}
    for extra, message in [
        ((), "already holds flight.toml, bus.toml, ground.toml, image.toml"),
        (("--force", "ground.toml", "bus.toml"), "already holds flight.toml, image.toml"),
        (("--force", "keys.toml"), "--force names keys.toml: not one of"),
        (("--force", "/elsewhere/flight.toml"), "not in k"),
    ]:
        out = ground("keys", "provision", "k", *extra, cwd=tmp_path)
        assert out.returncode == 2 and message in out.stderr, out.stderr
        assert len(out.stderr.strip().splitlines()) == 1 and "Traceback" not in out.stderr
        assert {n: (tmp_path / "k" / n).read_bytes() for n in names} == before
    assert (
        "--force flight.toml bus.toml ground.toml image.toml"
        in ground("keys", "provision", "k", cwd=tmp_path).stderr
    )  # the refusal says how to do it on purpose
    (tmp_path / "k" / "image.toml").unlink()  # a set missing a file: only the others are named
    forced = ground(
        "keys", "provision", "k", "--force", "flight.toml", "k/bus.toml", "ground.toml",
        cwd=tmp_path,
    )  # fmt: skip
    assert forced.returncode == 0, forced.stderr
    after = {n: (tmp_path / "k" / n).read_bytes() for n in names}
    assert all(after[n] != before[n] for n in names)
    more = ground("keys", "provision", "more", "--ground-keys", "4", cwd=tmp_path)
    assert more.returncode == 0, more.stderr
    listing = ground("keys", "list", "more/flight.toml", "--json", cwd=tmp_path)
    ground_keys = [k for k in json.loads(listing.stdout) if k["source"] == "GROUND"]
    assert [(k["id"], k["active"]) for k in ground_keys] == [
        (256, True), (257, False), (258, False), (259, False)
    ]  # fmt: skip


def test_a_manifest_signed_offline_verifies_on_board(tmp_path):
    import msgpack

    from flight.security.job_auth import check_signature
    from flight.security.keys import load_job_keys

    assert ground("keys", "provision", "k", cwd=tmp_path).returncode == 0
    (tmp_path / "job.json").write_text(json.dumps({"id": "j1", "command": ["ok"]}))
    out = ground(
        "keys", "sign", "job.json", "--keys", "k/ground.toml", "--out", "j.msgpack", cwd=tmp_path
    )
    assert out.stdout.strip() == "j.msgpack: signed with job key 1", out.stderr
    signed = msgpack.unpackb((tmp_path / "j.msgpack").read_bytes())
    assert check_signature(signed, load_job_keys(tmp_path / "k" / "flight.toml")) == 1
    for args, message in [
        (("job.json", "--keys", "k/flight.toml"), "holds no private job key"),
        (("none.json", "--keys", "k/ground.toml"), "none.json: No such file"),
    ]:
        out = ground("keys", "sign", *args, "--out", "x.msgpack", cwd=tmp_path)
        assert out.returncode == 2 and message in out.stderr, out.stderr
        assert len(out.stderr.strip().splitlines()) == 1
