"""The interoperability tests' real processes: a Python program started with its output piped,
and what it printed once it has ended well."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ENV = {**os.environ, "PYTHONSAFEPATH": "1"}


def run(args: list[str], cwd: Path) -> subprocess.Popen:
    """``python ARGS`` with its output piped."""
    return subprocess.Popen(
        [sys.executable, *args],
        cwd=cwd,
        env=ENV,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def output_lines(proc: subprocess.Popen, timeout: float) -> list[str]:
    """The lines a process printed; it must exit 0 within ``timeout`` seconds."""
    out, err = proc.communicate(timeout=timeout)
    assert proc.returncode == 0, f"exit {proc.returncode}: {out}\n{err}"
    return out.splitlines()


def listening(proc: subprocess.Popen) -> int:
    """The port a receiving endpoint says it listens on, its first line."""
    line = proc.stdout.readline()
    assert line, proc.stderr.read()
    return json.loads(line)["listening"]
