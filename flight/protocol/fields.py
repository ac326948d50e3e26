"""Typed fields: how command arguments, event data, reports and housekeeping are laid out.

Every structure on the wire is a sequence of fields, big-endian, in the order the dictionary
lists them. One codec serves flight, bench and ground, so nothing is encoded twice.

A field may be valid only when a flag field of its structure says so (``valid_when``, a u8: 1
valid, 0 not): a value that was not measured (the GPU switched off) is given as None, goes on
the wire as NaN (floating-point types) or 0 (integers) with its flag 0, and decodes as None, so
that nothing downstream can take it for a measurement.
"""

from __future__ import annotations

import math
import struct
from dataclasses import dataclass, field
from typing import Any

import msgpack

from flight.protocol.timecode import CUC_LEN, decode_cuc, encode_cuc

# type name -> (struct format, description in the ICD)
_FIXED = {
    "u8": (">B", "unsigned integer, 1 octet"),
    "u16": (">H", "unsigned integer, 2 octets"),
    "u32": (">I", "unsigned integer, 4 octets"),
    "u64": (">Q", "unsigned integer, 8 octets"),
    "i32": (">i", "signed integer, 4 octets, two's complement"),
    "f32": (">f", "IEEE 754 binary32"),
    "f64": (">d", "IEEE 754 binary64"),
}
_VARIABLE = {
    "cuc": "CUC time code, 4+2 octets (see Time)",
    "str": "UTF-8 text: u8 length, then that many octets",
    "bytes": "octets: u16 length, then that many octets",
    "msgpack": "a msgpack document filling the rest of the structure (last field only)",
}
TYPE_DESCRIPTIONS = {name: desc for name, (_, desc) in _FIXED.items()} | _VARIABLE
NUMERIC_TYPES = frozenset(_FIXED)  # the integer and floating-point types
_INT_RANGES = {
    "u8": (0, 0xFF),
    "u16": (0, 0xFFFF),
    "u32": (0, 0xFFFF_FFFF),
    "u64": (0, 0xFFFF_FFFF_FFFF_FFFF),
    "i32": (-(2**31), 2**31 - 1),
}
_F32_MAX = 3.4028234663852886e38
MAX_TEXT_OCTETS = 255  # a str field's limit: its length is one octet


class FieldError(ValueError):
    """A structure does not decode, or a value does not fit its field."""


@dataclass(frozen=True)
class Limits:
    """A telemetry value's limits, as mission control checks them: outside the yellow range is a
    warning, outside the red range an alarm. None: no limit on that side."""

    yellow_low: float | None = None
    yellow_high: float | None = None
    red_low: float | None = None
    red_high: float | None = None

    def level(self, value: float) -> str | None:
        """ "red", "yellow" or None (within limits)."""
        if _beyond(value, self.red_low, self.red_high):
            return "red"
        if _beyond(value, self.yellow_low, self.yellow_high):
            return "yellow"
        return None


def _beyond(value: float, low: float | None, high: float | None) -> bool:
    return (low is not None and value < low) or (high is not None and value > high)


@dataclass(frozen=True)
class Field:
    """One field of a structure: a name, a wire type, a unit and, for enums, the value names."""

    name: str
    type: str
    unit: str = ""
    description: str = ""
    minimum: float | None = None
    maximum: float | None = None
    enum: dict[int, str] = field(default_factory=dict)
    limits: Limits | None = None  # telemetry only: the ground's yellow and red limits
    valid_when: str | None = None  # the flag field (1: valid) this value depends on

    def __post_init__(self) -> None:
        if self.type not in TYPE_DESCRIPTIONS:
            raise ValueError(f"field {self.name}: unknown type {self.type!r}")

    def check(self, value: Any) -> Any:
        """Return value converted to the field's Python type, or raise FieldError naming it."""
        try:
            value = self._convert(value)
        except (TypeError, ValueError, OverflowError) as exc:
            raise FieldError(f"{self.name}: {exc}") from None
        if self.minimum is not None and value < self.minimum:
            raise FieldError(f"{self.name}: {value} below the minimum {self.minimum}")
        if self.maximum is not None and value > self.maximum:
            raise FieldError(f"{self.name}: {value} above the maximum {self.maximum}")
        return value

    def bounds(self) -> tuple[float | None, float | None]:
        """The least and greatest value the field takes: its minimum and maximum within its
        type's range (None: no bound)."""
        low, high = _INT_RANGES.get(self.type, (None, None))
        if self.type == "f32":
            low, high = -_F32_MAX, _F32_MAX
        if self.minimum is not None:
            low = self.minimum if low is None else max(low, self.minimum)
        if self.maximum is not None:
            high = self.maximum if high is None else min(high, self.maximum)
        return low, high

    def _convert(self, value: Any) -> Any:
        if self.enum and isinstance(value, str):
            by_name = {v: k for k, v in self.enum.items()}
            if value not in by_name:
                raise ValueError(f"{value!r} is not one of {sorted(by_name)}")
            value = by_name[value]
        if self.type in ("u8", "u16", "u32", "u64", "i32"):
            if isinstance(value, bool) or not isinstance(value, int):
                if isinstance(value, float) and value.is_integer():
                    value = int(value)
                else:
                    raise ValueError(f"{value!r} is not an integer")
            low, high = _INT_RANGES[self.type]
            if not low <= value <= high:
                raise ValueError(f"{value} outside {low}..{high}")
            if self.enum and value not in self.enum:
                raise ValueError(f"{value} is not one of {sorted(self.enum)}")
            return value
        if self.type in ("f32", "f64", "cuc"):
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise ValueError(f"{value!r} is not a number")
            if not math.isfinite(value) and not (self.valid_when and math.isnan(value)):
                raise ValueError(f"{value!r} is not finite")
            if self.type == "f32" and abs(value) > _F32_MAX:
                raise ValueError(f"{value!r} does not fit a binary32")
            return float(value)
        if self.type == "str":
            if not isinstance(value, str):
                raise ValueError(f"{value!r} is not text")
            if len(value.encode()) > MAX_TEXT_OCTETS:
                raise ValueError(f"longer than {MAX_TEXT_OCTETS} octets")
            return value
        if self.type == "bytes":
            if not isinstance(value, (bytes, bytearray)):
                raise ValueError(f"{type(value).__name__} is not bytes")
            if len(value) > 0xFFFF:
                raise ValueError("longer than 65535 octets")
            return bytes(value)
        self._msgpack(value)  # any document msgpack can encode
        return value

    def pack(self, value: Any) -> bytes:
        """Encode an already checked value."""
        if self.type in _FIXED:
            return struct.pack(_FIXED[self.type][0], value)
        if self.type == "cuc":
            return encode_cuc(value)
        if self.type == "str":
            raw = value.encode()
            return bytes([len(raw)]) + raw
        if self.type == "bytes":
            return struct.pack(">H", len(value)) + value
        return self._msgpack(value)

    @staticmethod
    def _msgpack(value: Any) -> bytes:
        try:
            return msgpack.packb(value, use_bin_type=True)
        except (TypeError, ValueError, OverflowError) as exc:
            raise ValueError(f"cannot be encoded as msgpack ({exc})") from None

    def unpack(self, data: bytes, offset: int) -> tuple[Any, int]:
        """Decode the field at data[offset:]; return the value and the next offset."""
        if self.type in _FIXED:
            fmt = _FIXED[self.type][0]
            size = struct.calcsize(fmt)
            self._need(data, offset, size)
            return struct.unpack_from(fmt, data, offset)[0], offset + size
        if self.type == "cuc":
            self._need(data, offset, CUC_LEN)
            return decode_cuc(data[offset : offset + CUC_LEN]), offset + CUC_LEN
        if self.type == "str":
            self._need(data, offset, 1)
            n = data[offset]
            self._need(data, offset + 1, n)
            try:
                return data[offset + 1 : offset + 1 + n].decode(), offset + 1 + n
            except UnicodeDecodeError:
                raise FieldError(f"{self.name}: not valid UTF-8") from None
        if self.type == "bytes":
            self._need(data, offset, 2)
            (n,) = struct.unpack_from(">H", data, offset)
            self._need(data, offset + 2, n)
            return bytes(data[offset + 2 : offset + 2 + n]), offset + 2 + n
        try:
            return msgpack.unpackb(data[offset:], raw=False, strict_map_key=False), len(data)
        except Exception as exc:  # msgpack raises several unrelated types on bad input
            raise FieldError(f"{self.name}: not a msgpack document ({exc})") from None

    def _need(self, data: bytes, offset: int, size: int) -> None:
        if offset + size > len(data):
            raise FieldError(
                f"{self.name}: needs {size} octets at offset {offset}, structure has {len(data)}"
            )

    def label(self, value: Any) -> Any:
        """The enum name of a value where the field has names, else the value."""
        return self.enum.get(value, value) if self.enum else value

    @property
    def placeholder(self) -> float | int:
        """What stands on the wire for a value that is not valid: NaN, or 0 for an integer."""
        return math.nan if self.type in ("f32", "f64") else 0


def pack_fields(fields: tuple[Field, ...], values: dict[str, Any]) -> bytes:
    """Check and encode values (a mapping by field name) in field order.

    Raises FieldError for a missing, unknown or out-of-range value.
    """
    unknown = set(values) - {f.name for f in fields}
    if unknown:
        raise FieldError(f"unknown argument(s): {', '.join(sorted(map(str, unknown)))}")
    out = bytearray()
    for f in fields:
        if f.name not in values:
            raise FieldError(f"missing argument: {f.name}")
        value = values[f.name]
        if f.valid_when is not None and values.get(f.valid_when) == 0:
            value = f.placeholder  # not valid: whatever was given, the wire says so
        elif value is None and f.valid_when is not None:
            raise FieldError(f"{f.name}: no value, but {f.valid_when} says it is valid")
        out += f.pack(f.check(value))
    return bytes(out)


def clip_text(text: str, octets: int = MAX_TEXT_OCTETS) -> str:
    """``text`` cut to at most ``octets`` octets of UTF-8 at a character boundary, never in the
    middle of a character (a lone surrogate, which UTF-8 cannot carry, becomes "?")."""
    raw = text.encode("utf-8", "replace")
    if len(raw) <= octets:
        return raw.decode()
    return raw[:octets].decode("utf-8", "ignore")  # drops only the split last character


def text_fields(fields: tuple[Field, ...]) -> frozenset[str]:
    """The names of a structure's str fields (what clip_texts cuts)."""
    return frozenset(f.name for f in fields if f.type == "str")


def clip_texts(texts: frozenset[str], values: dict[str, Any]) -> dict[str, Any]:
    """``values`` with the text of every field named in ``texts`` cut to the field's limit
    (clip_text), so that what a report copies from its input always fits; other values are
    left to pack_fields. A structure without texts (housekeeping) is passed through."""
    if not texts:
        return values
    return {
        name: clip_text(value) if name in texts and isinstance(value, str) else value
        for name, value in values.items()
    }


def fixed_layout(fields: tuple[Field, ...]) -> dict[str, tuple[int, str]]:
    """Where each field of the structure's leading run of fixed-size fields lies: its offset in
    the structure and its struct format (what reads one field of many packets without decoding
    the rest)."""
    layout, offset = {}, 0
    for f in fields:
        if f.type not in _FIXED:
            break
        fmt = _FIXED[f.type][0]
        layout[f.name] = (offset, fmt)
        offset += struct.calcsize(fmt)
    return layout


class _FixedPlan:
    """How to decode a structure of fixed-size fields only in one struct call: the combined
    format, and which fields need their value checked (an unsigned or signed integer read from
    its octets is always in its type's range; enums, bounds and floats are checked)."""

    def __init__(self, fields: tuple[Field, ...]) -> None:
        self.struct = struct.Struct(">" + "".join(_FIXED[f.type][0][1:] for f in fields))
        self.checked = tuple(
            f.enum or f.minimum is not None or f.maximum is not None or f.type in ("f32", "f64")
            for f in fields
        )


_PLANS: dict[int, tuple[tuple[Field, ...], _FixedPlan | None]] = {}  # by the structure's id


def _fixed_plan(fields: tuple[Field, ...]) -> _FixedPlan | None:
    """The one-call plan of a structure whose fields all have fixed sizes (None otherwise)."""
    entry = _PLANS.get(id(fields))
    if entry is None or entry[0] is not fields:  # held in the entry: its id is not reused
        fixed = bool(fields) and all(f.type in _FIXED for f in fields)
        entry = _PLANS[id(fields)] = (fields, _FixedPlan(fields) if fixed else None)
    return entry[1]


def unpack_fields(fields: tuple[Field, ...], data: bytes) -> dict[str, Any]:
    """Decode a structure; FieldError if it is short, long or holds a bad value."""
    values: dict[str, Any] = {}
    dependent = [f for f in fields if f.valid_when is not None]
    plan = _fixed_plan(fields)
    if plan is not None and len(data) == plan.struct.size:  # one call; other lengths below
        raw = plan.struct.unpack(data)
        for f, value, checked in zip(fields, raw, plan.checked, strict=True):
            values[f.name] = f.check(value) if checked else value
    else:
        offset = 0
        for f in fields:
            value, offset = f.unpack(data, offset)
            values[f.name] = f.check(value)
        if offset != len(data):
            raise FieldError(f"{len(data) - offset} octets left over after the last field")
    for f in dependent:
        if not values[f.valid_when]:
            values[f.name] = None
        elif isinstance(values[f.name], float) and math.isnan(values[f.name]):
            raise FieldError(f"{f.name}: NaN, but {f.valid_when} says it is valid")
    return values
