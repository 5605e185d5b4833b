"""Pseudonymous study ids: HMAC-SHA256 of the patient ID under a site key kept outside the repository.

The key file (`$WBS_PSEUDONYM_KEY_FILE`, default ~/.config/wbs-accel/pseudonym.key) holds 32 random
bytes (hex), created with mode 0600 on first use. The same key gives the same pseudonym for a
patient on every run, so manifests built months apart agree; without the key the patient ID cannot
be recovered or checked by guessing. The key is the one deliberately unseeded random draw in the
project: a reproducible key would be no secret. Files are named the same way in every list that
leaves the data folder (`file_id`: a keyed hash of the path relative to the data folder), so a
guessed path such as 'Mueller_Joerg/wbs.dcm' cannot be checked against a list either.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
from pathlib import Path

from wbslib.core.errors import PseudonymKeyError
from wbslib.core.fileio import os_reason
from wbslib.core.params import project_root

DEFAULT_KEY_FILE = "~/.config/wbs-accel/pseudonym.key"
KEY_BYTES = 32
PSEUDONYM_HEX = 16  # 64 bits: no collision expected below ~10^8 patients
PREFIX = "S"
FILE_PREFIX = "F"


def key_path(key_file: str | os.PathLike | None = None) -> Path:
    """The key file: the argument, else $WBS_PSEUDONYM_KEY_FILE, else ~/.config/wbs-accel/pseudonym.key."""
    raw = key_file or os.environ.get("WBS_PSEUDONYM_KEY_FILE") or DEFAULT_KEY_FILE
    return Path(raw).expanduser().resolve()


def load_key(key_file: str | os.PathLike | None = None) -> bytes:
    """Read the site key, creating it (0600) when absent; refuses keys inside the project repository."""
    path = key_path(key_file)
    root = project_root().resolve()
    if path.is_relative_to(root):
        raise PseudonymKeyError(
            f"Pseudonym key file {path} lies inside the project repository {root}; keep it "
            "outside (set WBS_PSEUDONYM_KEY_FILE, default ~/.config/wbs-accel/pseudonym.key)."
        )
    try:
        if not path.exists():
            _create(path)
        if path.stat().st_mode & 0o077:
            raise PseudonymKeyError(f"Pseudonym key file {path} is readable by other users; run `chmod 600 {path}`.")
        key = bytes.fromhex(path.read_text().strip())
    except OSError as exc:
        raise PseudonymKeyError(
            f"Pseudonym key file {path} cannot be read or created ({os_reason(exc)}); check the permissions of "
            "its folder, or set WBS_PSEUDONYM_KEY_FILE to a key file you can read."
        ) from None
    except ValueError as exc:
        raise PseudonymKeyError(
            f"Pseudonym key file {path} is not hexadecimal text; restore it from your "
            "backup (a new key would give every patient a new pseudonym)."
        ) from exc
    if len(key) < KEY_BYTES:
        raise PseudonymKeyError(
            f"Pseudonym key file {path} holds {len(key)} bytes, fewer than {KEY_BYTES}; "
            "restore it from your backup or delete it to create a new key."
        )
    return key


def _create(path: Path) -> None:
    """Write a new random key with mode 0600 (never readable by others, not even for a moment)."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:  # another process created it meanwhile: use theirs
        return
    with os.fdopen(fd, "w") as f:
        f.write(secrets.token_hex(KEY_BYTES) + "\n")


def pseudonym(patient_id: str, key: bytes) -> str:
    """'S' + the first 16 hex digits of HMAC-SHA256(key, patient ID) — stable, not reversible."""
    digest = hmac.new(key, patient_id.strip().encode("utf-8"), hashlib.sha256).hexdigest()
    return PREFIX + digest[:PSEUDONYM_HEX]


def file_id(relpath: str, key: bytes) -> str:
    """'F' + the first 16 hex digits of HMAC-SHA256(key, 'file:' + relative POSIX path): how a source file
    is named outside the data folder — stable under one key, not reversible."""
    digest = hmac.new(key, b"file:" + relpath.encode("utf-8"), hashlib.sha256).hexdigest()
    return FILE_PREFIX + digest[:PSEUDONYM_HEX]
