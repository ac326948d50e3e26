"""A deterministic wheel writer for the flight wheel: the same files give the same octets (entries
sorted, one timestamp, fixed modes and compression), so that a bundle can be rebuilt bit for bit."""

from __future__ import annotations

import base64
import hashlib
import time
import zipfile
from collections.abc import Mapping
from pathlib import Path

ZIP_EPOCH = 315532800  # 1980-01-01, the earliest time a zip entry can carry


def record_hash(data: bytes) -> str:
    """A RECORD hash: sha256= and the urlsafe base64 of the digest without padding."""
    digest = hashlib.sha256(data).digest()
    return "sha256=" + base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def write_wheel(
    out_dir: Path,
    name: str,
    version: str,
    tag: str,
    files: Mapping[str, tuple[bytes, bool]],
    metadata: str,
    epoch: int,
) -> Path:
    """Write NAME-VERSION-TAG.whl holding ``files`` (archive path: content, executable) and its
    .dist-info (METADATA given, WHEEL and RECORD written here); the path of the wheel."""
    dist = f"{name.replace('-', '_')}-{version}"
    info = f"{dist}.dist-info"
    wheel_text = (
        f"Wheel-Version: 1.0\nGenerator: payload-image\nRoot-Is-Purelib: false\nTag: {tag}\n"
    )
    entries = dict(sorted(files.items()))
    entries[f"{info}/METADATA"] = (metadata.encode(), False)
    entries[f"{info}/WHEEL"] = (wheel_text.encode(), False)
    record = "".join(
        f"{path},{record_hash(data)},{len(data)}\n" for path, (data, _) in entries.items()
    )
    entries[f"{info}/RECORD"] = (record.encode() + f"{info}/RECORD,,\n".encode(), False)
    path = out_dir / f"{dist}-{tag}.whl"
    date_time = time.gmtime(max(epoch, ZIP_EPOCH))[:6]
    with zipfile.ZipFile(path, "w") as archive:
        for arcname, (data, executable) in entries.items():
            entry = zipfile.ZipInfo(arcname, date_time)
            entry.external_attr = (0o100755 if executable else 0o100644) << 16
            entry.compress_type = zipfile.ZIP_DEFLATED
            entry.create_system = 3  # Unix, whatever the machine
            archive.writestr(entry, data, compresslevel=9)
    return path
