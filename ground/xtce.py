"""The flight dictionary as XTCE 1.2 (OMG XML Telemetric and Command Exchange), so that Yamcs,
COSMOS or any XTCE tool decodes our packets from the single dictionary (``python -m ground xtce``).

Telemetry: an abstract CCSDS packet container, an abstract PUS-C TM container restricted to the
payload's APID, one container per telemetry packet (restricted by service and subtype) and, for
events, one per event under its severity's container (restricted by event id); each leaf ends with
the packet error control. Text and octet fields are a length parameter and the value sized by it;
a msgpack field is sized by the packet length. Limits become default alarms (yellow: warning,
red: critical). Commands: an abstract PUS-C TC meta-command whose sequence count, length and
packet error control the sender fills in (as a Yamcs PUS post-processor does), and one
meta-command per telecommand; hazardous ones carry a critical significance.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass

import native
from flight import dictionary as d
from flight.protocol.fields import Field, Limits
from flight.protocol.packets import CRC_LEN, TC_SECONDARY_LEN, TM_HEADERS_LEN

NAMESPACE = "http://www.omg.org/spec/XTCE/20180204"
_XSI = "http://www.w3.org/2001/XMLSchema-instance"
PRIMARY_LEN = native.PRIMARY_HEADER_LEN
_INT_BITS = {"u8": 8, "u16": 16, "u32": 32, "u64": 64, "i32": 32}
_FLOAT_BITS = {"f32": 32, "f64": 64}
_LENGTH_TYPE = {"str": "u8", "bytes": "u16"}
_STR_MAX_BITS = 255 * 8
_BYTES_MAX_BITS = 0xFFFF * 8


def _el(parent: ET.Element | None, tag: str, **attrib: object) -> ET.Element:
    attrs = {k: str(v) for k, v in attrib.items()}
    if parent is None:
        return ET.Element(tag, attrs)
    return ET.SubElement(parent, tag, attrs)


@dataclass(frozen=True)
class _Raw:
    """A header field that is only bits on the wire."""

    name: str
    bits: int


_PRIMARY = (
    _Raw("CCSDS_VERSION", 3),
    _Raw("CCSDS_TYPE", 1),
    _Raw("CCSDS_SEC_HDR", 1),
    _Raw("CCSDS_APID", 11),
    _Raw("CCSDS_SEQ_FLAGS", 2),
    _Raw("CCSDS_SEQ_COUNT", 14),
    _Raw("CCSDS_LENGTH", 16),
)
_TM_SECONDARY = (
    _Raw("PUS_VERSION", 4),
    _Raw("TIME_REF_STATUS", 4),
    _Raw("PUS_SERVICE", 8),
    _Raw("PUS_SUBTYPE", 8),
    _Raw("MESSAGE_TYPE_COUNTER", 16),
    _Raw("DESTINATION_ID", 16),
)
_TIME = Field("PUS_TIME", "cuc", "s", "on-board time of the packet (bus time)")
_PEC = _Raw("PACKET_ERROR_CONTROL", 16)
_EVENT_ID = Field("EVENT_ID", "u16", description="the event's id")


class _Types:
    """Parameter (or argument) types, one per distinct field shape, named after the first field
    of that shape."""

    def __init__(self, kind: str, type_set: ET.Element) -> None:
        self.kind = kind  # "Parameter" or "Argument"
        self.type_set = type_set
        self._names: dict[tuple, str] = {}

    def of(self, f: Field | _Raw, length_ref: str | None = None, rest_from: int = 0) -> str:
        """The type's name for a field, made on first use."""
        if isinstance(f, _Raw):
            key: tuple = ("raw", f.bits)
        else:
            key = (f.type, f.unit, tuple(sorted(f.enum.items())), f.limits, length_ref, rest_from)
        if key not in self._names:
            shape = f"uint{f.bits}" if isinstance(f, _Raw) else f"{f.name}_{len(self._names)}"
            name = f"{shape}_Type"
            self._names[key] = name
            self._make(name, f, length_ref, rest_from)
        return self._names[key]

    def _make(self, name: str, f: Field | _Raw, length_ref: str | None, rest_from: int) -> None:
        kind = self.kind
        if isinstance(f, _Raw):
            t = _el(self.type_set, f"Integer{kind}Type", name=name, signed="false")
            _el(t, "UnitSet")
            _el(t, "IntegerDataEncoding", sizeInBits=f.bits, encoding="unsigned")
            return
        if f.type == "cuc":
            t = _el(self.type_set, f"AbsoluteTime{kind}Type", name=name)
            enc = _el(t, "Encoding", units="seconds", scale=repr(1 / 65536), offset="0")
            _el(enc, "IntegerDataEncoding", sizeInBits=48, encoding="unsigned")
            ref = _el(t, "ReferenceTime")
            _el(ref, "Epoch").text = "UNIX"
            return
        if f.enum:
            t = _el(self.type_set, f"Enumerated{kind}Type", name=name)
            _el(t, "UnitSet")
            _el(t, "IntegerDataEncoding", sizeInBits=_INT_BITS[f.type], encoding="unsigned")
            listing = _el(t, "EnumerationList")
            for value, label in sorted(f.enum.items()):
                _el(listing, "Enumeration", value=value, label=label)
            return
        if f.type in _INT_BITS:
            signed = f.type.startswith("i")
            t = _el(
                self.type_set,
                f"Integer{kind}Type",
                name=name,
                signed=str(signed).lower(),
                sizeInBits=_INT_BITS[f.type],
            )
            _units(t, f)
            encoding = "twosComplement" if signed else "unsigned"
            _el(t, "IntegerDataEncoding", sizeInBits=_INT_BITS[f.type], encoding=encoding)
            _alarm(t, f.limits)
            return
        if f.type in _FLOAT_BITS:
            t = _el(self.type_set, f"Float{kind}Type", name=name, sizeInBits=_FLOAT_BITS[f.type])
            _units(t, f)
            _el(t, "FloatDataEncoding", sizeInBits=_FLOAT_BITS[f.type], encoding="IEEE754_1985")
            _alarm(t, f.limits)
            return
        if f.type == "str":
            t = _el(self.type_set, f"String{kind}Type", name=name)
            _el(t, "UnitSet")
            enc = _el(t, "StringDataEncoding", encoding="UTF-8")
            size = _el(enc, "Variable", maxSizeInBits=_STR_MAX_BITS)
            _dynamic(size, kind, length_ref, slope=8)
            return
        t = _el(self.type_set, f"Binary{kind}Type", name=name)
        _el(t, "UnitSet")
        size = _el(_el(t, "BinaryDataEncoding"), "SizeInBits")
        if f.type == "bytes":
            _dynamic(size, kind, length_ref, slope=8)
        else:  # msgpack: the rest of the packet, up to the packet error control
            _dynamic(
                size,
                kind,
                "CCSDS_LENGTH",
                slope=8,
                intercept=8 * (PRIMARY_LEN + 1 - CRC_LEN - rest_from),
            )


def _units(t: ET.Element, f: Field) -> None:
    units = _el(t, "UnitSet")
    if f.unit:
        _el(units, "Unit").text = f.unit


def _dynamic(
    parent: ET.Element, kind: str, ref: str | None, slope: int, intercept: int = 0
) -> None:
    """A size read from another parameter (or, in a command, argument) and adjusted."""
    dynamic = _el(parent, "DynamicValue")
    _el(dynamic, f"{kind}InstanceRef", **{f"{kind.lower()}Ref": ref})
    _el(dynamic, "LinearAdjustment", slope=slope, intercept=intercept)


def _alarm(t: ET.Element, limits: Limits | None) -> None:
    if limits is None:
        return
    ranges = _el(_el(t, "DefaultAlarm"), "StaticAlarmRanges")
    for tag, low, high in (
        ("WarningRange", limits.yellow_low, limits.yellow_high),
        ("CriticalRange", limits.red_low, limits.red_high),
    ):
        bounds = {}
        if low is not None:
            bounds["minInclusive"] = repr(float(low))
        if high is not None:
            bounds["maxInclusive"] = repr(float(high))
        if bounds:
            _el(ranges, tag, **bounds)


class _Telemetry:
    """Builds TelemetryMetaData: the types, the parameters and the containers."""

    def __init__(self, root: ET.Element) -> None:
        meta = _el(root, "TelemetryMetaData")
        self.types = _Types("Parameter", _el(meta, "ParameterTypeSet"))
        self.parameters = _el(meta, "ParameterSet")
        self.containers = _el(meta, "ContainerSet")
        self._made: dict[str, str] = {}  # parameter name -> its type

    def parameter(self, f: Field | _Raw, owner: str, **type_args: object) -> str:
        """The parameter for a field (shared by every container with a field of that name and
        shape); its name."""
        type_name = self.types.of(f, **type_args)  # type: ignore[arg-type]
        name = f.name
        if self._made.get(name, type_name) != type_name:
            name = f"{owner}_{f.name}"
        if name not in self._made:
            self._made[name] = type_name
            p = _el(self.parameters, "Parameter", name=name, parameterTypeRef=type_name)
            if isinstance(f, Field) and f.description:
                p.set("shortDescription", f.description[:200])
            if isinstance(f, Field) and f.valid_when is not None:  # not valid while its flag is 0
                condition = _el(_el(p, "ParameterProperties"), "ValidityCondition")
                _el(condition, "Comparison", parameterRef=f.valid_when, value=1)
        return name

    def container(
        self,
        name: str,
        fields: tuple[Field | _Raw, ...],
        base: str | None = None,
        where: dict[str, int] | None = None,
        offset: int = 0,
        abstract: bool = False,
        description: str = "",
    ) -> None:
        """A sequence container; ``offset`` is where its first field lies in the packet."""
        c = _el(self.containers, "SequenceContainer", name=name)
        if abstract:
            c.set("abstract", "true")
        if description:
            c.set("shortDescription", description[:200])
        entries = _el(c, "EntryList")
        fixed: int | None = offset
        for f in fields:
            args: dict[str, object] = {}
            if isinstance(f, Field) and f.type in _LENGTH_TYPE:
                length = Field(f"{f.name}_length", _LENGTH_TYPE[f.type], "", f"{f.name}'s length")
                args["length_ref"] = self.parameter(length, name)
                _el(entries, "ParameterRefEntry", parameterRef=args["length_ref"])
            elif isinstance(f, Field) and f.type == "msgpack":
                if fixed is None:
                    raise ValueError(f"{name}.{f.name}: a msgpack field after variable ones")
                args["rest_from"] = fixed
            _el(entries, "ParameterRefEntry", parameterRef=self.parameter(f, name, **args))
            fixed = _advance(fixed, f)
        if base is not None:
            b = _el(c, "BaseContainer", containerRef=base)
            comparisons = _el(_el(b, "RestrictionCriteria"), "ComparisonList")
            for ref, value in (where or {}).items():
                _el(comparisons, "Comparison", parameterRef=ref, value=value)


def _advance(offset: int | None, f: Field | _Raw) -> int | None:
    """The octet offset after a field, while every field so far had a fixed size."""
    if offset is None:
        return None
    if isinstance(f, _Raw):
        return offset + f.bits // 8
    if f.type in _INT_BITS:
        return offset + _INT_BITS[f.type] // 8
    if f.type in _FLOAT_BITS:
        return offset + _FLOAT_BITS[f.type] // 8
    return offset + 6 if f.type == "cuc" else None


def _telemetry(root: ET.Element) -> None:
    tm = _Telemetry(root)
    tm.container("CCSDSPacket", _PRIMARY, abstract=True)
    tm.container(
        "PUS_TM",
        _TM_SECONDARY + (_TIME,),
        base="CCSDSPacket",
        where={"CCSDS_TYPE": 0, "CCSDS_SEC_HDR": 1, "CCSDS_APID": d.APID_PAYLOAD},
        abstract=True,
    )
    for t in d.TELEMETRY:
        where = {"PUS_SERVICE": t.service, "PUS_SUBTYPE": t.subtype}
        if t.service == 5:
            tm.container(t.name, (_EVENT_ID,), "PUS_TM", where, TM_HEADERS_LEN, True, t.description)
            continue
        tm.container(
            t.name, t.fields + (_PEC,), "PUS_TM", where, TM_HEADERS_LEN, False, t.description
        )
    for e in d.EVENTS:
        tm.container(
            e.name,
            e.args + (_PEC,),
            d.TELEMETRY_BY_TYPE[(5, int(e.severity))].name,
            {"EVENT_ID": e.event_id},
            TM_HEADERS_LEN + 2,
            description=e.description,
        )


_TC_HEADER = (
    _Raw("CCSDS_SEQ_COUNT", 14),
    _Raw("CCSDS_LENGTH", 16),
    _Raw("ACK_FLAGS", 4),
    _Raw("PUS_SERVICE", 8),
    _Raw("PUS_SUBTYPE", 8),
    _Raw("SOURCE_ID", 16),
)


def _commands(root: ET.Element) -> None:
    meta = _el(root, "CommandMetaData")
    types = _Types("Argument", _el(meta, "ArgumentTypeSet"))
    commands = _el(meta, "MetaCommandSet")
    base = _el(commands, "MetaCommand", name="PUS_TC", abstract="true")
    arguments = _el(base, "ArgumentList")
    for raw in _TC_HEADER:
        _el(arguments, "Argument", name=raw.name, argumentTypeRef=types.of(raw))
    entries = _el(_el(base, "CommandContainer", name="PUS_TC"), "EntryList")
    apid_word = (1 << 12) | (1 << 11) | d.APID_PAYLOAD  # version 0, TC, secondary header
    _el(entries, "FixedValueEntry", binaryValue=f"{apid_word:04X}", sizeInBits=16)
    _el(entries, "FixedValueEntry", binaryValue="03", sizeInBits=2)  # unsegmented
    for name in ("CCSDS_SEQ_COUNT", "CCSDS_LENGTH"):
        _el(entries, "ArgumentRefEntry", argumentRef=name)
    _el(entries, "FixedValueEntry", binaryValue="02", sizeInBits=4)  # PUS-C
    for name in ("ACK_FLAGS", "PUS_SERVICE", "PUS_SUBTYPE", "SOURCE_ID"):
        _el(entries, "ArgumentRefEntry", argumentRef=name)
    for c in d.COMMANDS:
        m = _el(commands, "MetaCommand", name=c.name, shortDescription=c.description[:200])
        assign = _el(_el(m, "BaseMetaCommand", metaCommandRef="PUS_TC"), "ArgumentAssignmentList")
        for name, value in (
            ("PUS_SERVICE", c.service),
            ("PUS_SUBTYPE", c.subtype),
            ("SOURCE_ID", c.source),
        ):
            _el(assign, "ArgumentAssignment", argumentName=name, argumentValue=value)
        arguments = _el(m, "ArgumentList")
        container = _el(m, "CommandContainer", name=c.name)
        entries = _el(container, "EntryList")
        for f in c.args:
            length_ref = None
            if f.type in _LENGTH_TYPE:
                length_ref = f"{f.name}_length"
                length = _Raw(length_ref, _INT_BITS[_LENGTH_TYPE[f.type]])
                _el(arguments, "Argument", name=length_ref, argumentTypeRef=types.of(length))
                _el(entries, "ArgumentRefEntry", argumentRef=length_ref)
            elif f.type == "msgpack":
                length_ref = "CCSDS_LENGTH"
            type_name = types.of(f, length_ref=length_ref, rest_from=PRIMARY_LEN + TC_SECONDARY_LEN)
            _el(arguments, "Argument", name=f.name, argumentTypeRef=type_name)
            _el(entries, "ArgumentRefEntry", argumentRef=f.name)
        _el(entries, "ArgumentRefEntry", argumentRef="PACKET_ERROR_CONTROL")
        _el(arguments, "Argument", name="PACKET_ERROR_CONTROL", argumentTypeRef=types.of(_PEC))
        _el(container, "BaseContainer", containerRef="PUS_TC")
        if c.hazardous:
            _el(m, "DefaultSignificance", consequenceLevel="critical", reasonForWarning="hazardous")


def export() -> str:
    """The dictionary as an XTCE 1.2 document."""
    ET.register_namespace("xtce", NAMESPACE)
    ET.register_namespace("xsi", _XSI)
    root = _el(None, "SpaceSystem", name="PAYLOAD")
    root.set(f"{{{_XSI}}}schemaLocation", f"{NAMESPACE} {NAMESPACE}/SpaceSystem.xsd")
    _el(root, "Header", version=d.DICTIONARY_VERSION, validationStatus="Working")
    _telemetry(root)
    _commands(root)
    _qualify(root)
    ET.indent(root)
    return ET.tostring(root, encoding="unicode", xml_declaration=True) + "\n"


def _qualify(element: ET.Element) -> None:
    """Put every element in the XTCE namespace."""
    for e in element.iter():
        if not e.tag.startswith("{"):
            e.tag = f"{{{NAMESPACE}}}{e.tag}"
