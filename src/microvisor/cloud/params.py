"""Request parameters (path, query, header, form), each checked here once: a malformed one is a 400."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Annotated, Any

from pydantic import AfterValidator, BeforeValidator, WithJsonSchema
from pydantic_core import PydanticCustomError

from ..common.sids import is_sid
from .models import KEY_LENGTH, UNIQUE_NAME_LENGTH, VALUE_LENGTH

MAX_ROW_ID = 2**63 - 1  # row ids, so page boundaries and log sequences, are signed 64-bit integers
_DIGITS = re.compile(r"[0-9]{1,19}")
_NAME = "[ -.0-~]{{1,{}}}"  # printable ASCII without '/', up to a length


def _malformed(rule: str) -> PydanticCustomError:
    return PydanticCustomError("malformed", rule)


def whole_number(low: int, high: int) -> Any:
    """An integer query or header parameter from low to high, written in ASCII digits only: pydantic
    alone would also take a sign, spaces, underscores, "3.0" and the digits of other scripts."""
    rule = f"must be a whole number from {low} to {high}"

    def check(value: Any) -> int:
        if isinstance(value, str) and _DIGITS.fullmatch(value):
            value = int(value)
        if type(value) is not int or not low <= value <= high:
            raise _malformed(rule)
        return value

    return Annotated[int, BeforeValidator(check),
                     WithJsonSchema({"type": "integer", "format": "int64", "minimum": low, "maximum": high})]


RowId = whole_number(0, MAX_ROW_ID)


def text(pattern: str, rule: str, accept: Callable[[str], bool] = lambda value: True) -> Any:
    """A string parameter: the whole value matches pattern (documented as such) and passes accept; else it
    is malformed, as rule says."""
    compiled = re.compile(pattern)

    def check(value: str) -> str:
        if not compiled.fullmatch(value) or not accept(value):
            raise _malformed(rule)
        return value

    documented = WithJsonSchema({"type": "string", "pattern": f"^{pattern}$"})
    return Annotated[str, AfterValidator(check), documented]


def _segment(value: str) -> bool:
    """Names travel as URL path segments, so none may be a dot segment."""
    return value not in (".", "..")


def _name(value: str) -> bool:
    """A unique name stands in for a SID, so it must not look like one."""
    return _segment(value) and not is_sid(value)


_CHARACTERS = "printable ASCII characters other than '/', neither '.' nor '..'"
_NAME_RULE = f"a unique name: 1 to {UNIQUE_NAME_LENGTH} {_CHARACTERS} nor like a SID"


def _reference(prefix: str) -> Any:
    """A resource by its SID (prefix and 32 hex digits) or by its unique name."""
    rule = f"must be a SID ({prefix} and 32 hex digits) or {_NAME_RULE}"
    return text(_NAME.format(UNIQUE_NAME_LENGTH), rule, lambda value: is_sid(value, prefix) or _name(value))


Key = text(_NAME.format(KEY_LENGTH), f"must be 1 to {KEY_LENGTH} {_CHARACTERS}", _segment)
UniqueName = text(_NAME.format(UNIQUE_NAME_LENGTH), f"must be {_NAME_RULE}", _name)
DeviceReference = _reference("UV")
AppReference = _reference("KA")
SigningKeySid = text("SK[0-9a-f]{32}", "must be a signing key SID: SK and 32 hex digits")
# A config or secret value; FastAPI reads an empty form field as none. PostgreSQL cannot store NUL in text.
Value = text(f"[^\\x00]{{1,{VALUE_LENGTH}}}",
             f"must be 1 to {VALUE_LENGTH} characters, none of them NUL")
FactoryCardSid = text("FC[0-9a-f]{32}", "must be a factory card SID: FC and 32 hex digits")
CertifiedDeviceSid = text("UV[0-9a-f]{32}", "must be a device SID: UV and 32 hex digits")
ChipUid = text("[0-9a-fA-F]{24}", "must be a chip UID: 24 hex digits (96 bits)")
FactoryStep = whole_number(1, 10)
MAX_REASON = 1000  # characters of a station's reason for a result
# What a station says about a result: one line, no control characters (so no NUL for PostgreSQL).
Reason = text(f"[^\\x00-\\x1f\\x7f]{{1,{MAX_REASON}}}",
              f"must be 1 to {MAX_REASON} characters, none of them a control character")
CrashReportSid = text("CR[0-9a-f]{32}", "must be a crash report SID: CR and 32 hex digits")
CrashGroupSid = text("CG[0-9a-f]{32}", "must be a crash group SID: CG and 32 hex digits")


def _moment(value: str) -> bool:
    import datetime

    try:
        datetime.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return False
    return True


# A moment in ISO 8601 with its offset (Z or ±hh:mm), to the second or finer.
_MOMENT = r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]{1,6})?(Z|[+-][0-9]{2}:[0-9]{2})"
Moment = text(_MOMENT,
              "must be an ISO 8601 date and time with its offset, such as 2026-01-31T12:00:00Z", _moment)
DeploymentSid = text("DP[0-9a-f]{32}", "must be a deployment SID: DP and 32 hex digits")


def _stages(value: str) -> bool:
    from ..common.rollout_stages import parse_stages

    try:
        parse_stages(value)
    except ValueError:
        return False
    return True


Stages = text("[0-9]{1,3}(,[0-9]{1,3}){0,9}",
              "must be 1 to 10 rising whole percentages separated by commas, from at least 1 to 100, "
              "such as 1,10,50,100", _stages)
# A share from 0 to 1 in plain decimal (no exponent, no inf or nan), at most six decimals.
Fraction = text(r"(0(\.[0-9]{1,6})?|1(\.0{1,6})?|\.[0-9]{1,6})",
                "must be a decimal number from 0 to 1, such as 0.05")
SoakSeconds = whole_number(0, 30 * 86400)
PolitenessSeconds = whole_number(0, 0xFFFF_FFFF)
DeploymentAction = text("pause|resume|rollback", "must be pause, resume or rollback")
DeploymentStatus = text("active|paused|halted|completed|rolled-back",
                        "must be active, paused, halted, completed or rolled-back")
