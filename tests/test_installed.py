"""The suite tests the installed package, which carries the compiled core and no C sources."""

import importlib.metadata
import pathlib

import flight
import ground
import hil
import native

REPO = pathlib.Path(__file__).resolve().parent.parent


def test_packages_are_imported_from_the_installation_not_the_source_tree():
    for module in (native, flight, hil, ground):
        package_dir = pathlib.Path(module.__file__).resolve().parent
        assert package_dir != REPO / module.__name__, module.__file__
        assert "site-packages" in package_dir.parts


def test_installed_files_hold_the_extension_and_no_c_sources():
    files = [str(f) for f in importlib.metadata.files("orbital-gpu-payload")]
    assert any(f.startswith("native/_native.") and f.endswith(".so") for f in files)
    assert not any(f.endswith((".c", ".h")) for f in files)
    assert any(f == "hil/sample_jobs/hash_chain.py" for f in files)
