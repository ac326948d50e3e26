"""The verification columns of the design pages and the other docs name tests that exist: a test
renamed or removed leaves no requirement pointing at nothing."""

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CITED = re.compile(r"::(test_[a-z0-9_]+)|`(test_[a-z0-9_]+)`")


def test_every_test_a_doc_cites_exists():
    defined = set()
    for path in (ROOT / "tests").rglob("*.py"):
        defined |= set(re.findall(r"^def (test_[a-z0-9_]+)\(", path.read_text(), re.M))
    cited = {
        (path.relative_to(ROOT).as_posix(), a or b)
        for path in (ROOT / "docs").rglob("*.md")
        for a, b in CITED.findall(path.read_text())
    }
    assert len(cited) > 50
    assert sorted(c for c in cited if c[1] not in defined) == []


def test_each_flight_part_has_a_design_page_with_requirements_and_their_verification():
    for page in ("governor", "scheduler", "downlink", "safe-mode", "image-manager"):
        text = (ROOT / "docs" / "design" / f"{page}.md").read_text()
        required, verified = text.split("## Requirements")[1].split("## Verification")
        ids = set(re.findall(r"^\| ([A-Z]+-\d+) \|", required, re.M))
        assert ids and ids == set(re.findall(r"^\| ([A-Z]+-\d+) \|", verified, re.M)), page
