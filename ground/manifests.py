"""Job manifests on disk: JSON, TOML or msgpack files, read into the map that SUBMIT_JOB uplinks."""

from __future__ import annotations

import json
import tomllib
from pathlib import Path
from typing import Any

import msgpack


class ManifestFileError(ValueError):
    """The file cannot be read as a manifest; the message names the file."""


def load_manifest(path: Path) -> dict[str, Any]:
    """Read a manifest by its file extension: .json, .toml or .msgpack."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ManifestFileError(f"{path}: {exc.strerror}") from None
    try:
        if path.suffix == ".json":
            manifest = json.loads(data)
        elif path.suffix == ".toml":
            manifest = tomllib.loads(data.decode())
        elif path.suffix in (".msgpack", ".mpk"):
            manifest = msgpack.unpackb(data, raw=False)
        else:
            raise ManifestFileError(f"{path}: use a .json, .toml or .msgpack file")
    except (ValueError, tomllib.TOMLDecodeError, msgpack.UnpackException) as exc:
        raise ManifestFileError(f"{path}: not a valid {path.suffix[1:]} file ({exc})") from None
    if not isinstance(manifest, dict):
        raise ManifestFileError(f"{path}: a manifest is a map at the top level")
    return manifest
