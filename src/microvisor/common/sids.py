"""SIDs: two letters and 32 hex digits (AC account, UV device, KA app, FC factory card, SK signing key,
CR crash report, CG crash group, DP deployment); device SIDs."""

from __future__ import annotations

import hashlib
import re
import secrets

SID_PATTERN = re.compile(r"^(AC|UV|KA|FC|CR|CG|DP)[0-9a-f]{32}$")


def device_sid(chip_uid: bytes) -> str:
    """The device SID derived from the chip's 96-bit unique ID: stable for the life of the chip."""
    return "UV" + hashlib.sha256(b"mv-device-sid\0" + chip_uid).hexdigest()[:32]


def new_sid(prefix: str) -> str:
    """A fresh random SID for an account (AC), an app (KA) or any other two-letter kind."""
    if len(prefix) != 2 or not prefix.isalpha() or not prefix.isupper():
        raise ValueError(f"a SID prefix is two capital letters, not {prefix!r}")
    return prefix + secrets.token_hex(16)


def is_sid(text: str, prefix: str | None = None) -> bool:
    return bool(SID_PATTERN.match(text)) and (prefix is None or text.startswith(prefix))
