"""The command line's value types, each defined and checked once: numbers, ports, seconds, URLs, paths."""

from __future__ import annotations

import math
import re
import stat
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, get_origin
from urllib.parse import urlsplit

import typer
import typer.core

UINT32_MAX = 2**32 - 1
UINT64_MAX = 2**64 - 1
INT64_MAX = 2**63 - 1
_SHOWN = 200  # characters of a refused value quoted in its error


def shown(text: str) -> str:
    """A refused value as an error quotes it: repr (control characters escaped), cut short."""
    return repr(text if len(text) <= _SHOWN else text[:_SHOWN] + "…")


class ParamType:
    """One type of command-line value. `check(text)` returns the value or raises ValueError with one
    sentence; called by Typer as the option's parser, that ValueError becomes a usage error (exit 2)."""

    kind = "text"  # what sort of value: the fuzz test picks hostile values by it
    metavar = "TEXT"

    def __init__(self, rule: str, note: str | None = None):
        self.rule = rule  # a noun phrase: what a valid value is
        self.note = note  # the range or shape shown in --help

    def check(self, text: str) -> Any:
        raise NotImplementedError

    def refuse(self, text: str, reason: str | None = None) -> ValueError:
        return ValueError(f"{shown(text)} is not {self.rule}" + (f": {reason}." if reason else "."))

    def describe(self, help_text: str) -> str:
        """The option's help with this type's range or shape."""
        if not self.note:
            return help_text
        if not help_text:
            return f"{self.note[0].upper()}{self.note[1:]}."
        return f"{help_text.rstrip('.')} ({self.note})."

    def __call__(self, value: Any) -> Any:
        if value is None or not isinstance(value, str | int | float | Path):
            return value  # a default that is not text (None, a list)
        try:
            return self.check(str(value))
        except ValueError as exc:
            raise typer.BadParameter(str(exc)) from None


# How Typer applies these types. Typer 0.2x coerces every value, even one with a `parser`, through a
# pydantic TypeAdapter that only calls the parser: a command's first option imported pydantic (~70 ms of
# a `device run`). The root group (Cli's) gives each parameter a coercion that calls a ParamType
# directly, on the value or on each item of a list, as that adapter does, and leaves any other value to
# Typer's own coercion, built when one comes (a None is never coerced, by Typer's rule).
try:
    from typer._coercion import RuntimeParam, build_runtime_param
except ImportError:  # a Typer that coerces without pydantic: nothing to bypass
    RuntimeParam = None

if RuntimeParam is not None:
    @dataclass(frozen=True)
    class _DirectCoercion(RuntimeParam):
        """A ParamType parser called as Typer's adapter would call it; Typer's coercion for the rest."""

        descriptor: Any

        def _coerce_value(self, value: Any, param: Any, ctx: Any) -> Any:
            """The value as the option's ParamType reads it (each item of a list), else as Typer does."""
            parser = self.parameter_info.parser
            if isinstance(parser, ParamType):
                origin = get_origin(self.annotation)
                if origin is list:
                    return [parser(item) for item in (value if isinstance(value, list | tuple) else [value])]
                if origin is not tuple:
                    return parser(value)
            return build_runtime_param(self.descriptor)._coerce_value(value, param, ctx)


def coerce_directly(command: Any) -> None:
    """Give every parameter of command and of its subcommands, --help too, the direct coercion above."""
    if RuntimeParam is None:
        return
    for param in command.params:
        _coerce_directly(param)
    make_help_option = command.get_help_option

    def get_help_option(ctx: Any) -> Any:
        """Typer's --help option, made on first use, coerced directly too (its value is None)."""
        option = make_help_option(ctx)
        if option is not None:
            _coerce_directly(option)
        return option

    command.get_help_option = get_help_option
    for child in (getattr(command, "commands", None) or {}).values():
        coerce_directly(child)


def _coerce_directly(param: Any) -> None:
    """Give one Typer parameter the direct coercion, unless it has a coercion already."""
    descriptor = getattr(param, "type_descriptor", None)
    if descriptor is not None and getattr(param, "_runtime_param", False) is None:
        param._runtime_param = _DirectCoercion(descriptor.parameter_info, descriptor.annotation, descriptor)


class Group(typer.core.TyperGroup):
    """A root group whose commands' parameters are coerced directly (coerce_directly)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        """The group as Typer makes it, then every parameter below it coerced directly."""
        super().__init__(*args, **kwargs)
        coerce_directly(self)


def option(default: Any, *names: str, type: ParamType, help: str = "", metavar: str | None = None,
           **extra: Any) -> Any:
    """A Typer option whose value is checked by `type`, with the type's range in its help."""
    return typer.Option(default, *names, parser=type, metavar=metavar or type.metavar,
                        help=type.describe(help), **extra)


def argument(type: ParamType, *, metavar: str | None = None, help: str = "") -> Any:
    """A required Typer argument whose value is checked by `type`."""
    return typer.Argument(..., parser=type, metavar=metavar or type.metavar, help=type.describe(help))


# --- numbers ----------------------------------------------------------------------------------------
class Integer(ParamType):
    """A whole number in [minimum, maximum], written in decimal digits; optionally a multiple of a step."""

    kind = "integer"
    metavar = "N"

    def __init__(self, minimum: int, maximum: int, *, step: int = 1, meaning: str = "a whole number",
                 extra: str | None = None):
        self.minimum, self.maximum, self.step = minimum, maximum, step
        note = f"{minimum} to {maximum}" + (f", a multiple of {step}" if step > 1 else "")
        note += f"; {extra}" if extra else ""
        super().__init__(f"{meaning} ({note})", note)

    def check(self, text: str) -> int:
        if not re.fullmatch(r"-?[0-9]{1,40}", text):
            raise self.refuse(text)
        number = int(text)
        if not self.minimum <= number <= self.maximum or number % self.step:
            raise self.refuse(text)
        return number


def manifest_integer(message: str, field: str, *, minimum: int = 0, maximum: int | None = None) -> Integer:
    """The range of a manifest field (dotted path in a message of the bundle format's table), from its
    wire type."""
    from ..common.bundle_format import field_type  # the table alone: --help loads no protobuf

    widest = {"uint32": UINT32_MAX, "uint64": UINT64_MAX}[field_type(message, field)]
    return Integer(minimum, widest if maximum is None else min(maximum, widest))


def port(*, zero_picks: bool) -> Integer:
    """A TCP port; with zero_picks, 0 asks for any free one."""
    if zero_picks:
        return Integer(0, 65535, meaning="a TCP port", extra="0 picks a free one")
    return Integer(1, 65535, meaning="a TCP port")


class Seconds(ParamType):
    """A finite number of seconds, 0 or more (or more than 0)."""

    kind = "seconds"
    metavar = "SECONDS"

    def __init__(self, *, positive: bool):
        self.positive = positive
        bound = "more than 0" if positive else "0 or more"
        super().__init__(f"a finite number of seconds, {bound}", f"seconds, {bound}")

    def check(self, text: str) -> float:
        if not re.fullmatch(r"[0-9]*\.?[0-9]+([eE][-+]?[0-9]{1,4})?|[0-9]+\.", text):  # no sign, nan, inf
            raise self.refuse(text)
        value = float(text)
        if not math.isfinite(value) or (self.positive and value == 0):
            raise self.refuse(text)
        return value


# --- text -------------------------------------------------------------------------------------------
class Text(ParamType):
    """Non-empty text that can be shown and sent: valid UTF-8; by default one printable line."""

    def __init__(self, rule: str = "printable text", *, one_line: bool = True,
                 ascii_only: bool = False, forbidden: str = ""):
        self.one_line, self.ascii_only, self.forbidden = one_line, ascii_only, forbidden
        super().__init__(rule)

    def check(self, text: str) -> str:
        if not text:
            raise ValueError("it must not be empty.")
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:
            raise self.refuse(text, "it is not valid UTF-8") from None
        if self.ascii_only and not text.isascii():
            raise self.refuse(text, "it is not ASCII")
        if self.one_line and not text.isprintable():
            raise self.refuse(text, "it holds control characters")
        if "\0" in text or any(c in text for c in self.forbidden):
            raise self.refuse(text)
        return text


class Name(Text):
    """A name or SID that becomes one segment of a REST path."""

    kind = "name"
    metavar = "NAME"

    def __init__(self) -> None:
        super().__init__("a name or SID (printable text without '/')", forbidden="/")

    def check(self, text: str) -> str:
        if text in (".", ".."):
            raise self.refuse(text)
        return super().check(text)


class Pattern(ParamType):
    """Text matching a regular expression (ASCII only)."""

    kind = "pattern"

    def __init__(self, expression: str, what: str, shape: str, metavar: str = "TEXT"):
        self.expression = re.compile(expression, re.ASCII)
        self.metavar = metavar
        super().__init__(f"{what} ({shape})", shape)

    def check(self, text: str) -> str:
        if not self.expression.fullmatch(text):
            raise self.refuse(text)
        return text


class HexBytes(ParamType):
    """Exactly `size` bytes written as hexadecimal digits."""

    kind = "hex"
    metavar = "HEX"

    def __init__(self, size: int):
        self.size = size
        super().__init__(f"{size} bytes in hexadecimal ({2 * size} hex digits)",
                         f"{size} bytes, {2 * size} hex digits")

    def check(self, text: str) -> bytes:
        if not re.fullmatch(r"[0-9a-fA-F]*", text) or len(text) != 2 * self.size:
            raise self.refuse(text)
        return bytes.fromhex(text)


class DutAddress(ParamType):
    """A DUT on the station's fixture: [NAME=]HOST:DEBUG_PORT:UART_PORT; returns (name, host, debug, uart)."""

    kind = "dut"
    metavar = "[NAME=]HOST:DEBUG:UART"

    def __init__(self) -> None:
        shape = "[NAME=]HOST:DEBUG_PORT:UART_PORT"
        super().__init__(f"a DUT address ({shape})", shape)

    def check(self, text: str) -> tuple[str, str, int, int]:
        name, _, address = text.rpartition("=")
        host, _, ports = address.partition(":")
        debug, _, uart = ports.partition(":")
        tcp = Integer(1, 65535, meaning="a TCP port")
        if not re.fullmatch(r"[A-Za-z0-9.-]{1,253}", host) \
                or (name and not re.fullmatch(r"[ -~]{1,64}", name)):
            raise self.refuse(text)
        try:
            return name or f"{host}:{uart}", host, tcp.check(debug), tcp.check(uart)
        except ValueError as exc:
            raise self.refuse(text, str(exc).rstrip(".")) from None


class Choice(ParamType):
    """One of a few words."""

    kind = "choice"

    def __init__(self, choices: Iterable[str]):
        self.choices = tuple(choices)
        self.metavar = "|".join(self.choices)
        super().__init__(f"one of {', '.join(self.choices)}", f"one of {', '.join(self.choices)}")

    def check(self, text: str) -> str:
        if text not in self.choices:
            raise self.refuse(text)
        return text


class ChoiceList(Choice):
    """A comma-separated list of some of a few words; returns the set."""

    def __init__(self, choices: Iterable[str]):
        super().__init__(choices)
        self.metavar = ",".join(self.choices)
        self.rule = f"a comma list of {', '.join(self.choices)}"
        self.note = self.rule

    def check(self, text: str) -> set[str]:  # type: ignore[override]
        chosen = {part.strip() for part in text.split(",")}
        unknown = sorted(chosen - set(self.choices))
        if unknown:
            listed = ", ".join(map(shown, unknown))
            raise ValueError(f"unknown {listed}; choose from {', '.join(self.choices)}.")
        return chosen


# --- network ----------------------------------------------------------------------------------------
def _host_and_port(text: str) -> tuple[str, int]:
    """parse_address's one rule for "host[:port]", as ValueError."""
    from ..common.link import LinkMessageError, parse_address  # loaded by the first address checked

    try:
        return parse_address(text)
    except LinkMessageError as exc:
        raise ValueError(str(exc)) from None


class Host(ParamType):
    """A host name or IP address, without a port."""

    kind = "host"
    metavar = "HOST"

    def __init__(self) -> None:
        super().__init__("a host name or IP address")

    def check(self, text: str) -> str:
        try:
            host, _ = _host_and_port(text)
        except ValueError:
            raise self.refuse(text) from None
        if host != text.strip("[]"):
            raise self.refuse(text, "give no port")
        return host


class Address(ParamType):
    """A broker address "host:port" (port 8883 when left out, mqtts:// allowed); returns it as host:port,
    an IPv6 host in []."""

    kind = "address"
    metavar = "HOST:PORT"

    def __init__(self) -> None:
        super().__init__("a broker address (host:port, an IPv6 host in [])", "host:port, an IPv6 host in []")

    def check(self, text: str) -> str:
        try:
            host, number = _host_and_port(text)
        except ValueError:
            raise self.refuse(text) from None
        return f"[{host}]:{number}" if ":" in host else f"{host}:{number}"


class ServiceUrl(ParamType):
    """The service's base URL: http:// or https://, a host, an optional port 1-65535 and path."""

    kind = "url"
    metavar = "URL"

    def __init__(self) -> None:
        super().__init__("a service URL", "http:// or https://, host, optional port and path")

    def check(self, text: str) -> str:
        if not text.isascii() or not text.isprintable() or " " in text:
            raise self.refuse(text, "it holds spaces, control or non-ASCII characters")
        try:
            parts = urlsplit(text)
            number = parts.port
        except ValueError as exc:
            raise self.refuse(text, str(exc).rstrip(".")) from None
        if parts.scheme not in ("http", "https"):
            raise self.refuse(text, "it must start with http:// or https://")
        if not parts.hostname:
            raise self.refuse(text, "it names no host")
        if parts.username is not None or parts.password is not None:
            raise self.refuse(text, "credentials do not belong in it")
        if parts.query or parts.fragment or "?" in text or "#" in text:
            raise self.refuse(text, "it must have no query or fragment")
        if number == 0:
            raise self.refuse(text, "port 0 is not a port to connect to")
        try:
            _host_and_port(f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname)
        except ValueError:
            raise self.refuse(text, f"{parts.hostname!r} is not a host name") from None
        import httpx  # loaded by the first URL checked, not by every command

        try:
            httpx.URL(text)  # the client's own reading of it must agree
        except (httpx.InvalidURL, ValueError) as exc:
            raise self.refuse(text, str(exc).rstrip(".")) from None
        return text.rstrip("/")


# --- paths ------------------------------------------------------------------------------------------
class PathType(ParamType):
    """A file-system path; never empty."""

    kind = "path"
    metavar = "PATH"

    def check(self, text: str) -> Path:
        if not text:
            raise ValueError("a path must not be empty.")
        if "\0" in text:
            raise self.refuse(text)
        return Path(text)

    @staticmethod
    def _mode(path: Path) -> int | None:
        try:
            return path.stat().st_mode
        except OSError:
            return None


class InputFile(PathType):
    """A regular file that exists (not a folder, a device or a pipe)."""

    kind = "file"
    metavar = "FILE"

    def __init__(self) -> None:
        super().__init__("a file to read")

    def check(self, text: str) -> Path:
        path = super().check(text)
        mode = self._mode(path)
        if mode is None:
            raise ValueError(f"{shown(text)} does not exist.")
        if stat.S_ISDIR(mode):
            raise ValueError(f"{shown(text)} is a folder, not a file.")
        if not stat.S_ISREG(mode):
            raise ValueError(f"{shown(text)} is not a regular file.")
        return path


class OutputFile(PathType):
    """A file to write, in a folder that exists; not a folder itself."""

    kind = "output"
    metavar = "FILE"

    def __init__(self) -> None:
        super().__init__("a file to write")

    def check(self, text: str) -> Path:
        path = super().check(text)
        mode = self._mode(path)
        if mode is not None and not stat.S_ISREG(mode):
            raise ValueError(f"{shown(text)} exists and is not a file.")
        parent = self._mode(path.parent)
        if parent is None or not stat.S_ISDIR(parent):
            raise ValueError(f"the folder of {shown(text)} does not exist.")
        return path


class Folder(PathType):
    """A folder that exists."""

    kind = "folder"
    metavar = "DIR"

    def __init__(self) -> None:
        super().__init__("a folder")

    def check(self, text: str) -> Path:
        path = super().check(text)
        mode = self._mode(path)
        if mode is None:
            raise ValueError(f"{shown(text)} does not exist.")
        if not stat.S_ISDIR(mode):
            raise ValueError(f"{shown(text)} is not a folder.")
        return path


class NewFolder(PathType):
    """A folder to make (or to use, when it exists); its nearest existing parent must be a folder."""

    kind = "new-folder"
    metavar = "DIR"

    def __init__(self) -> None:
        super().__init__("a folder")

    def check(self, text: str) -> Path:
        path = super().check(text)
        for ancestor in (path, *path.absolute().parents):
            mode = self._mode(ancestor)
            if mode is not None:
                if not stat.S_ISDIR(mode):
                    raise ValueError(f"{shown(text)} cannot be a folder: {shown(str(ancestor))} is a file.")
                break
        return path


class ExistingPath(PathType):
    """A file or a folder that exists."""

    kind = "existing"

    def __init__(self) -> None:
        super().__init__("a file or folder")

    def check(self, text: str) -> Path:
        path = super().check(text)
        mode = self._mode(path)
        if mode is None:
            raise ValueError(f"{shown(text)} does not exist.")
        if not (stat.S_ISDIR(mode) or stat.S_ISREG(mode)):
            raise ValueError(f"{shown(text)} is neither a file nor a folder.")
        return path


# --- the types the commands share -------------------------------------------------------------------
TEXT = Text()
ANY_TEXT = Text("UTF-8 text", one_line=False)  # values of configs and secrets: may span lines
NAME = Name()
ACCOUNT_SID = Pattern(r"AC[0-9a-f]{32}", "an account SID", "AC and 32 hex digits", "SID")
CARD_SID = Pattern(r"FC[0-9a-f]{32}", "a factory card SID", "FC and 32 hex digits", "SID")
# A PKCS#11 token label: 32 bytes padded with spaces, so none at either end (ASCII keeps bytes = characters).
TOKEN_LABEL = Pattern(r"[!-~](?:[ -~]{0,30}[!-~])?", "a token label",
                      "1 to 32 printable ASCII characters, no space at either end", "LABEL")
AUTH_TOKEN = Text("an auth token (printable ASCII)", ascii_only=True)
SERVICE_URL = ServiceUrl()
ADDRESS = Address()
HOST = Host()
RESOLVE = Pattern(r"[A-Za-z0-9_.-]{1,253}:[0-9]{1,5}:(?:[0-9.]{7,15}|\[[0-9A-Fa-f:.]{2,45}\])",
                  "a host name, port and address to reach it at", "HOST:PORT:ADDRESS, as curl's --resolve",
                  "HOST:PORT:ADDRESS")
INPUT_FILE, OUTPUT_FILE, FOLDER, NEW_FOLDER, EXISTING = (InputFile(), OutputFile(), Folder(), NewFolder(),
                                                         ExistingPath())
