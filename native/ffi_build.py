"""Build-time generator of the cffi API-mode extension source for ``native._native``.

CMake runs this at install time (never at import time): it reads the declarations between the
``cffi:begin`` and ``cffi:end`` markers of payload_native.h, so the C API is declared once, and
writes the C source that CMake compiles and links against the core library.
"""

import pathlib
import sys

import cffi

HEADER = pathlib.Path(__file__).resolve().parent / "include" / "payload_native.h"


def cdef_from_header(text: str) -> str:
    """Return the declarations between the cffi markers of the header."""
    start = text.index("/* cffi:begin */") + len("/* cffi:begin */")
    end = text.index("/* cffi:end */")
    return text[start:end]


def make_builder() -> cffi.FFI:
    """An FFI builder for the module native._native."""
    builder = cffi.FFI()
    builder.cdef(cdef_from_header(HEADER.read_text()))
    builder.set_source("native._native", '#include "payload_native.h"')
    return builder


if __name__ == "__main__":
    make_builder().emit_c_code(sys.argv[1])
