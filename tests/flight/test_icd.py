"""docs/icd.md holds the dictionary as the code defines it, and names every packet type."""

import pathlib

from flight import dictionary as d
from flight.icd import BEGIN, END, render

ICD = pathlib.Path(__file__).resolve().parents[2] / "docs" / "icd.md"


def test_generated_section_is_current():
    text = ICD.read_text()
    generated = text[text.index(BEGIN) : text.index(END) + len(END)]
    assert generated == render(), "docs/icd.md is stale: run make icd"


def test_every_packet_type_has_a_heading():
    text = ICD.read_text()
    for c in d.COMMANDS:
        assert f"TC[{c.service},{c.subtype}] {c.name}" in text
    for t in d.TELEMETRY:
        assert f"TM[{t.service},{t.subtype}] {t.name}" in text
    for e in d.EVENTS:
        assert f"{e.event_id} {e.name}" in text
    for code in d.FailureCode:
        assert f"| {int(code)} | {code.name} |" in text


def test_splice_replaces_only_the_generated_section():
    from flight.icd import splice

    document = f"head\n{BEGIN}\nold\n{END}\ntail\n"
    assert splice(document) == f"head\n{render()}\ntail\n"
