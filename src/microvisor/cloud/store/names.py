"""Rules for names a developer picks: unique names of apps and devices, config and secret keys."""

from __future__ import annotations

from ...common.sids import SID_PATTERN
from ..errors import InvalidRequest
from ..models import KEY_LENGTH, UNIQUE_NAME_LENGTH

MAX_VALUE_LENGTH = 4096


def check_unique_name(name: str, parameter: str) -> None:
    """A unique name addresses a resource in place of its SID, so it must not look like one."""
    if not name or len(name) > UNIQUE_NAME_LENGTH:
        raise InvalidRequest(f"{parameter} must be 1 to {UNIQUE_NAME_LENGTH} characters.")
    if SID_PATTERN.match(name) or "/" in name or not name.isprintable():
        raise InvalidRequest(f"{parameter} must not look like a SID nor hold '/' or control characters.")


def check_key(key: str) -> None:
    """Config and secret keys: 1 to 100 printable characters without '/' (they appear in URL paths)."""
    if not key or len(key) > KEY_LENGTH:
        raise InvalidRequest(f"Key must be 1 to {KEY_LENGTH} characters.")
    if "/" in key or not key.isprintable():
        raise InvalidRequest("Key must not hold '/' or control characters.")


def check_value(value: str) -> None:
    if len(value) > MAX_VALUE_LENGTH:
        raise InvalidRequest(f"Value must be at most {MAX_VALUE_LENGTH} characters.")
