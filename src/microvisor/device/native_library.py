"""The device's C libraries (native/*.c): built once per source into the user's cache, loaded, hooked in."""

from __future__ import annotations

import ctypes
import os
from pathlib import Path

from unicorn import Uc
from unicorn.unicorn_py3 import unicorn as _binding

from ..common import native

FOLDER = Path(__file__).resolve().parent / "native"
_loaded: dict[str, ctypes.CDLL] = {}


class NativeLibraryError(Exception):
    """A device library cannot be built, loaded or hooked in; the message says why."""


def cache_folder() -> Path:
    """Where the device's native libraries are built (the user's cache)."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "microvisor" / "native"


def load(name: str) -> ctypes.CDLL:
    """The library built from native/`name`.c (built now if it is not in the cache yet)."""
    if name not in _loaded:
        try:
            _loaded[name] = ctypes.CDLL(str(native.build(FOLDER / f"{name}.c", cache_folder())))
        except (native.NativeBuildError, OSError) as exc:
            raise NativeLibraryError(f"the device's {name.replace('_', ' ')} library: {exc}") from None
    return _loaded[name]


def unicorn_function(name: str) -> int:
    """The address of one of Unicorn's C functions (uc_emu_stop, uc_reg_read, ...)."""
    return ctypes.cast(getattr(_binding.uclib, name), ctypes.c_void_p).value


def hook(uc: Uc, kind: int, function, user: ctypes.Structure) -> None:
    """Hook a C function of ours into `uc` for every address, with a pointer to `user` (which the
    caller keeps alive as long as `uc`)."""
    handle = _binding.uc_hook_h()
    status = _binding.uclib.uc_hook_add(uc._uch, ctypes.byref(handle), kind,
                                        ctypes.cast(function, ctypes.c_void_p),
                                        ctypes.cast(ctypes.pointer(user), ctypes.c_void_p), 1, 0)
    if status != 0:
        raise NativeLibraryError(f"cannot hook {function.__name__} into Unicorn (error {status})")
