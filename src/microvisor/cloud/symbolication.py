"""Crash symbolication: an app's ELF checked against its bundle, then addresses to function, file and line.

- `read_elf` checks an uploaded ELF (size, a 32-bit little-endian Arm ELF, loadable segments in the
  application flash) and names it: its GNU build id (`.note.gnu.build-id`) when it has one, and always
  the SHA-256 of its bytes, by which the store keeps it once.
- `check_matches` is the proof that the ELF is the bundle's: every byte of every loadable segment
  (PT_LOAD, at its load address) must equal the bundle's application image at that address. A build
  id alone proves nothing (anyone can write any note), so it is not the check.
- `Symbols` answers an address: the function symbol (STT_FUNC) that holds it, and the file and line
  of the DWARF line table's row at or before it (in the same sequence).
- `symbolicate` turns a decoded crash report (common/crash_report.py) into frames: the PC, the LR and
  each word of the stacked bytes that is a plausible return address (a Thumb address, bit 0 set,
  inside the ELF's code, right after a BL or a BLX register), with the fault in words and a signature:
  the fault type and the top three frames' function names.
"""

from __future__ import annotations

import base64
import bisect
import hashlib
import io
import os
import struct
import threading
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

APP_FLASH_START = 0x0800_0000
APP_FLASH_SIZE = 0x0010_0000
MAX_ELF_SIZE = 8 * 1024 * 1024  # an ELF upload's bound (the whole request stays under --max-upload-size)
MAX_STACK_FRAMES = 32  # return addresses taken from a report's stack bytes
SIGNATURE_FRAMES = 3  # function names in a signature
MAX_NAME = 200  # characters of a function or file name kept


class ElfError(Exception):
    """An uploaded ELF the service cannot use; the message is one sentence."""


@dataclass(frozen=True)
class ElfIdentity:
    sha256: str  # hex, of the whole file: the store's key
    build_id: str | None  # hex, of .note.gnu.build-id, when the ELF has one
    segments: tuple[tuple[int, bytes], ...]  # (load address, bytes) of each loadable segment


def read_elf(data: bytes) -> ElfIdentity:
    """An uploaded ELF's identity and loadable bytes, or ElfError saying why it is refused."""
    from elftools.common.exceptions import ELFError
    from elftools.elf.elffile import ELFFile

    if len(data) > MAX_ELF_SIZE:
        raise ElfError(f"The ELF is refused: it is over {MAX_ELF_SIZE // (1024 * 1024)} MiB.")
    if data[:4] != b"\x7fELF":
        raise ElfError("The ELF is refused: it is not an ELF file.")
    try:
        elf = ELFFile(io.BytesIO(data))
        if elf["e_machine"] != "EM_ARM" or elf.elfclass != 32 or not elf.little_endian:
            raise ElfError("The ELF is refused: it is not a 32-bit little-endian Arm ELF file.")
        segments = []
        for segment in elf.iter_segments():
            if segment["p_type"] != "PT_LOAD" or segment["p_filesz"] == 0:
                continue
            address, body = segment["p_paddr"], segment.data()
            if len(body) != segment["p_filesz"]:
                raise ElfError("The ELF is refused: a segment runs past the end of the file.")
            if not (APP_FLASH_START <= address and address + len(body) <= APP_FLASH_START + APP_FLASH_SIZE):
                raise ElfError(f"The ELF is refused: it loads at 0x{address:08x}, outside the application "
                               "flash.")
            segments.append((address, body))
        build_id = None
        section = elf.get_section_by_name(".note.gnu.build-id")
        if section is not None:
            for note in section.iter_notes():
                if note["n_type"] == "NT_GNU_BUILD_ID":
                    build_id = str(note["n_desc"])[:64]
    except ElfError:
        raise
    except (ELFError, struct.error, ValueError, KeyError, AttributeError, TypeError, OSError) as exc:
        raise ElfError(f"The ELF is refused: it is truncated or corrupt ({str(exc)[:120]}).") from None
    if not segments:
        raise ElfError("The ELF is refused: it has nothing to load into the application flash.")
    return ElfIdentity(hashlib.sha256(data).hexdigest(), build_id, tuple(segments))


def check_matches(identity: ElfIdentity, spans: list[tuple[int, int, bytes]]) -> None:
    """ElfError unless every loadable byte of the ELF is the bundle's at the same address. `spans` are
    the bundle's layers as common/bundle.app_image_spans gives them (offset in flash, size, bytes),
    each padded with 0xFF to its size."""
    for address, body in identity.segments:
        offset, at = address - APP_FLASH_START, 0
        while at < len(body):
            span = next((s for s in spans if s[0] <= offset + at < s[0] + s[1]), None)
            if span is None:
                raise ElfError(f"The ELF does not match the bundle: it loads code at 0x{address + at:08x}, "
                               "where the bundle has no layer.")
            start, size, layer = span
            length = min(len(body) - at, start + size - (offset + at))
            inside = offset + at - start
            theirs = layer[inside:inside + length]
            theirs += b"\xff" * (length - len(theirs))
            if theirs != body[at:at + length]:
                first = next(i for i in range(length) if theirs[i] != body[at + i])
                raise ElfError(f"The ELF does not match the bundle: their bytes differ at "
                               f"0x{address + at + first:08x}.")
            at += length


# --- symbols and lines ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class Location:
    function: str | None
    file: str | None
    line: int | None


class Symbols:
    """An ELF's functions, line table and code, for looking addresses up."""

    def __init__(self, data: bytes):
        from elftools.elf.elffile import ELFFile

        elf = ELFFile(io.BytesIO(data))
        self._code: list[tuple[int, bytes]] = []  # executable loadable bytes, by address
        for segment in elf.iter_segments():
            if segment["p_type"] == "PT_LOAD" and segment["p_flags"] & 1 and segment["p_filesz"]:
                self._code.append((segment["p_vaddr"], segment.data()))
        functions = []
        symtab = elf.get_section_by_name(".symtab")
        if symtab is not None:
            for symbol in symtab.iter_symbols():
                if symbol["st_info"]["type"] == "STT_FUNC" and symbol["st_value"] and symbol.name:
                    functions.append((symbol["st_value"] & ~1, max(symbol["st_size"], 1),
                                      symbol.name[:MAX_NAME]))
        functions.sort()
        self._function_starts = [start for start, _, _ in functions]
        self._functions = functions
        self._rows: list[tuple[int, int, str | None, int | None]] = []  # (address, end, file, line)
        if elf.has_dwarf_info():
            self._read_lines(elf.get_dwarf_info())
        self._rows.sort()
        self._row_starts = [row[0] for row in self._rows]

    def _read_lines(self, dwarf) -> None:
        for unit in dwarf.iter_CUs():
            program = dwarf.line_program_for_CU(unit)
            if program is None:
                continue
            header = program.header
            names = _file_names(header, dwarf, unit)
            previous = None
            for entry in program.get_entries():
                state = entry.state
                if state is None:
                    continue
                if previous is not None and state.address > previous.address:
                    self._rows.append((previous.address, state.address, names(previous.file),
                                       previous.line))
                previous = None if state.end_sequence else state

    def in_code(self, address: int) -> bool:
        return any(start <= address < start + len(body) for start, body in self._code)

    def halfword(self, address: int) -> int | None:
        for start, body in self._code:
            if start <= address and address + 2 <= start + len(body):
                return int.from_bytes(body[address - start:address - start + 2], "little")
        return None

    def follows_call(self, address: int) -> bool:
        """Whether the instruction before `address` (a return address without its Thumb bit) is a BL
        (32 bits: 11110 S imm10, 11 J1 1 J2 imm11) or a BLX to a register (16 bits: 0100 0111 1 Rm 000)."""
        before = self.halfword(address - 2)
        if before is not None and before & 0xFF87 == 0x4780:
            return True
        first, second = self.halfword(address - 4), before
        return (first is not None and second is not None and first & 0xF800 == 0xF000
                and second & 0xD000 == 0xD000)

    def locate(self, address: int) -> Location:
        address &= ~1
        function = None
        index = bisect.bisect_right(self._function_starts, address) - 1
        if index >= 0:
            start, size, name = self._functions[index]
            if address < start + size:
                function = name
        file = line = None
        index = bisect.bisect_right(self._row_starts, address) - 1
        if index >= 0:
            start, end, name, number = self._rows[index]
            if start <= address < end:
                file, line = name, number
        return Location(function, file, line)


def _file_names(header, dwarf, unit):
    """A function from a line-table file index to its path (DWARF 5 counts files from 0, earlier from 1)."""
    entries = header["file_entry"]
    directories = header["include_directory"]
    version = header["version"]
    comp_dir = ""
    try:
        top = unit.get_top_DIE()
        if "DW_AT_comp_dir" in top.attributes:
            comp_dir = top.attributes["DW_AT_comp_dir"].value.decode(errors="replace")
    except Exception:  # noqa: BLE001 - a unit without a readable top DIE gives relative names
        comp_dir = ""

    def name(index: int) -> str | None:
        position = index if version >= 5 else index - 1
        if not 0 <= position < len(entries):
            return None
        entry = entries[position]
        base = entry.name.decode(errors="replace")
        directory_index = entry.dir_index if version >= 5 else entry.dir_index - 1
        directory = ""
        if 0 <= directory_index < len(directories):
            directory = directories[directory_index].decode(errors="replace")
        elif version < 5 and entry.dir_index == 0:
            directory = comp_dir
        if directory and not os.path.isabs(base):
            base = os.path.join(directory, base)
        if comp_dir and not os.path.isabs(base):
            base = os.path.join(comp_dir, base)
        return os.path.normpath(base)[-MAX_NAME:]

    return name


_CACHE: OrderedDict[str, Symbols] = OrderedDict()
_CACHE_LOCK = threading.Lock()
_CACHE_SIZE = 8


def symbols_for(sha256: str, load: Any) -> Symbols:
    """The parsed symbols of the ELF with this SHA-256 (load() gives its bytes), kept for a few ELFs."""
    with _CACHE_LOCK:
        found = _CACHE.get(sha256)
        if found is not None:
            _CACHE.move_to_end(sha256)
            return found
    symbols = Symbols(load())
    with _CACHE_LOCK:
        _CACHE[sha256] = symbols
        while len(_CACHE) > _CACHE_SIZE:
            _CACHE.popitem(last=False)
    return symbols


# --- the fault in words ----------------------------------------------------------------------------
_CFSR = [  # bit, words (Armv8-M: MMFSR 0-7, BFSR 8-15, UFSR 16-31)
    (0, "instruction access violation (MPU)"), (1, "data access violation (MPU)"),
    (3, "MemManage fault on exception return unstacking"), (4, "MemManage fault on exception entry stacking"),
    (5, "MemManage fault during lazy floating-point state preservation"),
    (8, "instruction bus error"), (9, "precise data bus error"), (10, "imprecise data bus error"),
    (11, "bus fault on exception return unstacking"), (12, "bus fault on exception entry stacking"),
    (13, "bus fault during lazy floating-point state preservation"),
    (16, "undefined instruction"), (17, "invalid state (an attempt to leave Thumb state)"),
    (18, "invalid EXC_RETURN or integrity signature on exception return"),
    (19, "coprocessor not present or not enabled"), (20, "stack overflow (stack limit register)"),
    (24, "unaligned access"), (25, "divide by zero"),
]
_MMARVALID, _BFARVALID = 1 << 7, 1 << 15
_HFSR = [(1, "bus fault on a vector table read"), (30, "escalated to HardFault (forced)"),
         (31, "debug event")]
_SECURE = {  # SFSR causes, as the device names them
    "INVEP": "invalid Secure entry point", "INVIS": "invalid integrity signature",
    "INVER": "invalid exception return", "AUVIOL": "attribution unit violation (Non-secure access to "
                                                   "Secure memory)",
    "INVTRAN": "invalid transition from Secure to Non-secure code", "LSPERR": "lazy state preservation error",
    "LSERR": "lazy state error",
}


def _int(value: Any) -> int:
    return value if type(value) is int and 0 <= value < 2**32 else 0


def fault_words(document: dict[str, Any]) -> str:
    """The fault of a decoded crash report, in words (from CFSR, HFSR and the device's causes)."""
    status = document.get("fault_status") if isinstance(document.get("fault_status"), dict) else {}
    cfsr, hfsr = _int(status.get("cfsr")), _int(status.get("hfsr"))
    mmfar, bfar = _int(status.get("mmfar")), _int(status.get("bfar"))
    words = []
    for bit, text in _CFSR:
        if cfsr & (1 << bit):
            if bit in (0, 1) and cfsr & _MMARVALID:
                text += f" at 0x{mmfar:08x}"
            elif bit == 9 and cfsr & _BFARVALID:
                text += f" at 0x{bfar:08x}"
            words.append(text)
    causes = document.get("causes") if isinstance(document.get("causes"), list) else []
    address = document.get("address")
    for cause in causes:
        if isinstance(cause, str) and cause in _SECURE:
            text = _SECURE[cause]
            if type(address) is int and cause == "AUVIOL":
                text += f" at 0x{address:08x}"
            words.append(text)
    words.extend(text for bit, text in _HFSR if hfsr & (1 << bit))
    fault = _text(document.get("fault")) or "fault"
    if not words:
        detail = _text(document.get("detail"))
        words.append(detail or "no fault status bits set")
    return f"{fault}: " + "; ".join(words)


def fault_type(document: dict[str, Any]) -> str:
    """The kind of fault, for signatures: the fault's name and its causes (not its addresses)."""
    causes = document.get("causes") if isinstance(document.get("causes"), list) else []
    named = sorted({c for c in causes if isinstance(c, str) and not c.endswith("VALID")})[:8]
    return (_text(document.get("fault")) or _text(document.get("kind")) or "fault") + (
        f" ({', '.join(c[:32] for c in named)})" if named else "")


def _text(value: Any) -> str:
    return value[:MAX_NAME] if isinstance(value, str) else ""


# --- frames ------------------------------------------------------------------------------------------
def frames(document: dict[str, Any], symbols: Symbols | None) -> list[dict[str, Any]]:
    """The report's frames: the PC, the LR, then each plausible return address on the stack (bounded)."""
    stacked = document.get("stacked_frame") if isinstance(document.get("stacked_frame"), dict) else {}
    registers = document.get("registers") if isinstance(document.get("registers"), dict) else {}
    found: list[dict[str, Any]] = []
    pc = _int(stacked.get("pc", registers.get("pc", document.get("pc"))))
    found.append(_frame("pc", pc, symbols))
    lr = _int(stacked.get("lr", registers.get("lr")))
    if lr and (lr & 0xFF000000) != 0xFF000000:  # an EXC_RETURN value is no code address
        found.append(_frame("lr", lr & ~1, symbols))
    if symbols is None:
        return found
    stack = document.get("stack") if isinstance(document.get("stack"), dict) else {}
    try:
        data = base64.b64decode(stack.get("bytes") or b"", validate=True) if isinstance(
            stack.get("bytes"), str | type(None)) else b""
    except ValueError:
        data = b""
    stack_address = _int(stack.get("address"))
    for offset in range(0, len(data) - 3, 4):
        word = int.from_bytes(data[offset:offset + 4], "little")
        address = word & ~1
        if word & 1 and symbols.in_code(address) and symbols.follows_call(address):
            frame = _frame("stack", address, symbols)
            frame["stack_address"] = stack_address + offset
            found.append(frame)
            if len(found) >= MAX_STACK_FRAMES + 2:
                break
    return found


def _frame(source: str, address: int, symbols: Symbols | None) -> dict[str, Any]:
    frame: dict[str, Any] = {"source": source, "address": address, "function": None, "file": None,
                             "line": None}
    if symbols is not None:
        # A return address follows its call, which may be a noreturn function's last instruction: the
        # call's own address names the caller and the line that matters.
        where = symbols.locate(address if source == "pc" or not address else address - 2)
        frame.update(function=where.function, file=where.file, line=where.line)
    return frame


def signature(kind: str, found: list[dict[str, Any]]) -> tuple[str, str]:
    """(the signature's text, its SHA-256 in hex): the fault type and the top frames' function names
    (an address where no function is known); consecutive repeats of a name count once."""
    names: list[str] = []
    for frame in found:
        name = frame.get("function") or f"0x{frame.get('address', 0):08x}"
        if not names or names[-1] != name:
            names.append(name)
        if len(names) == SIGNATURE_FRAMES:
            break
    text = " | ".join([kind, *names])
    return text, hashlib.sha256(text.encode()).hexdigest()


@dataclass(frozen=True)
class Analysis:
    """What the service makes of a decoded crash report."""

    fault: str  # in words
    fault_type: str
    frames: list[dict[str, Any]]
    functions: list[str]  # the signature's names
    signature: str
    signature_hash: str


def analyse(document: dict[str, Any], symbols: Symbols | None) -> Analysis:
    """Symbolicate a decoded crash report (symbols None: the app has no ELF; addresses only)."""
    kind = fault_type(document)
    found = frames(document, symbols)
    text, digest = signature(kind, found)
    names = text.split(" | ")[1:]
    return Analysis(fault_words(document), kind, found, names, text, digest)
