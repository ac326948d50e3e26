"""The machines a flight image is built for: their wheel platform tags, the CMake toolchain that
cross-compiles the C core, and where the target's Python headers are."""

from __future__ import annotations

import platform
import sysconfig
from dataclasses import dataclass
from pathlib import Path

PYTHON = "3.11"  # the interpreter the image runs on: its wheels are built for it
PYTHON_TAG = "cp311"


class TargetError(ValueError):
    """No such target, or its build tools are missing; the message says which and what to do."""


@dataclass(frozen=True)
class Target:
    """One machine a bundle can be built for."""

    name: str  # as platform.machine() prints it on that machine
    toolchain: str | None  # a CMake toolchain file of the source tree, None: the host compiler
    compiler: str  # the C compiler the build uses (named by the toolchain file, or the host's)
    sysroot: str | None  # the target's Python headers, extracted from Debian (make image-aarch64)

    @property
    def wheel_platforms(self) -> tuple[str, ...]:
        """The platform tags a wheel for this machine may carry, newest glibc first."""
        return (
            f"manylinux_2_28_{self.name}",
            f"manylinux_2_17_{self.name}",
            f"manylinux2014_{self.name}",
            f"linux_{self.name}",
        )

    @property
    def extension_suffix(self) -> str:
        """The file name suffix of an extension module for this machine."""
        return f".cpython-{PYTHON_TAG[2:]}-{self.name}-linux-gnu.so"

    def pyconfig(self, source: Path) -> Path:
        """The target's pyconfig.h (Debian's multiarch one when cross-compiling)."""
        if self.sysroot is None:
            return Path(sysconfig.get_paths()["include"]) / "pyconfig.h"
        return (
            source / self.sysroot / f"usr/include/{self.name}-linux-gnu/python{PYTHON}/pyconfig.h"
        )

    def python_include(self, source: Path) -> list[Path]:
        """The include directories of the target's Python: Python.h's, then (cross-compiling)
        the one Debian's pyconfig.h reaches its machine's own from."""
        if self.sysroot is None:
            return [Path(sysconfig.get_paths()["include"])]
        if not self.pyconfig(source).is_file():
            raise TargetError(
                f"no Python {PYTHON} headers for {self.name} in {source / self.sysroot}: "
                f"run make image-{self.name}"
            )
        root = source / self.sysroot
        return [root / f"usr/include/python{PYTHON}", root / "usr/include"]


TARGETS = {
    "x86_64": Target("x86_64", None, "cc", None),
    "aarch64": Target(
        "aarch64", "cmake/aarch64-linux-gnu.cmake", "aarch64-linux-gnu-gcc", "build/sysroot-aarch64"
    ),
}


def host_target() -> str:
    """This machine's target name."""
    return platform.machine()


def target(name: str) -> Target:
    """The target of that name; TargetError if there is none."""
    try:
        return TARGETS[name]
    except KeyError:
        raise TargetError(f"no target {name!r}: one of {', '.join(TARGETS)}") from None
