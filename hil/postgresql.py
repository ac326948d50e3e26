"""A throwaway PostgreSQL server for tests and benchmarks: initdb in a temporary directory, the
server on a Unix socket there (no TCP port to collide with), from the PostgreSQL binaries on the
machine (``make test`` installs Debian's when they are missing), and stopped and removed with
everything it held when done. PostgreSQL refuses to run as root: under root its binaries run as
the ``postgres`` account (Debian's package makes it), or else ``nobody``.

    with PostgresServer() as server:
        url = server.database("archive")   # a fresh, empty database's postgresql:// URL
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import subprocess
import tempfile
from pathlib import Path
from types import TracebackType
from urllib.parse import quote

START_TIMEOUT_S = 120
SUPERUSER = "archive"  # the cluster's own superuser, whichever account runs the server


class PostgresMissing(RuntimeError):
    """No PostgreSQL binaries on this machine."""


def binaries() -> Path:
    """The directory of the newest PostgreSQL's server binaries: on the PATH, or Debian's
    /usr/lib/postgresql/N/bin."""
    on_path = shutil.which("initdb")
    if on_path:
        return Path(on_path).resolve().parent
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=_major)
    if not found:
        raise PostgresMissing("no PostgreSQL server binaries (apt-get install postgresql)")
    return Path(found[-1]).parent


def _major(path: str) -> int:
    version = Path(path).parent.parent.name
    return int(version) if version.isdigit() else 0


def _server_account() -> pwd.struct_passwd | None:
    """The account to run PostgreSQL as; None to run it as this process is."""
    if os.geteuid() != 0:
        return None
    for name in ("postgres", "nobody"):
        try:
            return pwd.getpwnam(name)
        except KeyError:
            continue
    raise PostgresMissing("running as root, and no postgres or nobody account to run PostgreSQL")


class PostgresServer:
    """A PostgreSQL cluster in a temporary directory of its own, up between start and stop."""

    def __init__(self) -> None:
        self.bin = binaries()
        self.account = _server_account()
        self.directory = Path(tempfile.mkdtemp(prefix="archive-postgresql-"))
        self.data = self.directory / "data"
        self.socket = self.directory / "socket"
        self._made = 0

    def start(self) -> PostgresServer:
        self.socket.mkdir()
        if self.account is not None:
            for path in (self.directory, self.socket):
                os.chown(path, self.account.pw_uid, self.account.pw_gid)
        self._run("initdb", "-D", self.data, "-U", SUPERUSER, "-A", "trust", "-E", "UTF8",
                  "--no-sync")  # fmt: skip
        settings = {
            "listen_addresses": "''",
            "unix_socket_directories": f"'{self.socket}'",
            "fsync": "on",  # as a station's server would run: the archive's figures are honest
            "max_connections": "40",
        }
        with (self.data / "postgresql.conf").open("a") as conf:
            conf.writelines(f"{key} = {value}\n" for key, value in settings.items())
        self.resume()
        return self

    def resume(self) -> None:
        """The server up (again), on the cluster it has."""
        self._run("pg_ctl", "-D", self.data, "-l", self.directory / "server.log", "-w",
                  "-t", str(START_TIMEOUT_S), "start")  # fmt: skip

    def halt(self) -> None:
        """The server down at once, as in a crash, its cluster kept (``resume`` brings it up)."""
        if (self.data / "postmaster.pid").exists():
            self._run("pg_ctl", "-D", self.data, "-m", "immediate", "-w", "stop")

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://{SUPERUSER}@/{database}?host={quote(str(self.socket))}"

    def database(self, prefix: str = "db") -> str:
        """A new, empty database; its URL."""
        self._made += 1
        name = f"{prefix}_{self._made}"
        self._run("createdb", "-h", self.socket, "-U", SUPERUSER, name)
        return self.url(name)

    def stop(self) -> None:
        """Stop the server and remove its directory."""
        try:
            self.halt()
        finally:
            shutil.rmtree(self.directory, ignore_errors=True)

    def _run(self, tool: str, *args: object) -> None:
        command = [str(self.bin / tool), *map(str, args)]
        if self.account is not None:
            command = ["setpriv", f"--reuid={self.account.pw_uid}",
                       f"--regid={self.account.pw_gid}", "--clear-groups", *command]  # fmt: skip
        env = os.environ | {"LC_ALL": "C"}
        done = subprocess.run(command, env=env, cwd=self.directory, stdout=subprocess.DEVNULL,
                              stderr=subprocess.PIPE, text=True)  # fmt: skip
        if done.returncode != 0:
            raise RuntimeError(f"{tool} failed ({done.returncode}): {done.stderr.strip()}")

    def __enter__(self) -> PostgresServer:
        return self.start()

    def __exit__(
        self,
        kind: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
