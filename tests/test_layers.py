"""Imports run downward only: flight imports neither the ground segment nor the bench; ground does
not import the bench; the bench takes from ground only its public client API (the station client
and the procedure API), as an operator's tool would."""

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
GROUND_CLIENT_API = {"ground.client", "ground.procedure"}


def imports(package: str) -> set[tuple[str, str]]:
    """(module file, imported module) for every import in a package's source."""
    found = set()
    for path in (ROOT / package).rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                found |= {(path.name, alias.name) for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                found.add((path.name, node.module))
    return found


def top(module: str) -> str:
    return module.split(".")[0]


def test_flight_imports_neither_ground_nor_hil():
    assert sorted(i for i in imports("flight") if top(i[1]) in ("ground", "hil")) == []


def test_ground_does_not_import_hil():
    assert sorted(i for i in imports("ground") if top(i[1]) == "hil") == []


def test_hil_takes_only_grounds_client_api():
    from_ground = {i for i in imports("hil") if top(i[1]) == "ground"}
    assert from_ground and sorted(i for i in from_ground if i[1] not in GROUND_CLIENT_API) == []
