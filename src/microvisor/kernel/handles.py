"""Opaque handles the kernel gives the application: random 32-bit values, never zero."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from typing import Generic, TypeVar

from ..common.mv_abi import MvStatus
from ..device.nsc import CallContext
from .guards import read_words, writable, write_word

T = TypeVar("T")


class HandleTable(Generic[T]):
    """The live objects of one kind, by handle. A handle of another kind is simply not found."""

    def __init__(self) -> None:
        self._objects: dict[int, T] = {}

    def add(self, obj: T) -> int:
        while True:
            handle = secrets.randbits(32)
            if handle and handle not in self._objects:
                self._objects[handle] = obj
                return handle

    def get(self, handle: int) -> T | None:
        return self._objects.get(handle) if handle else None

    def pop(self, handle: int) -> T | None:
        return self._objects.pop(handle, None) if handle else None

    def clear(self) -> None:
        self._objects.clear()

    def items(self) -> Iterator[tuple[int, T]]:
        return iter(list(self._objects.items()))

    def __len__(self) -> int:
        return len(self._objects)

    def __contains__(self, handle: int) -> bool:
        return bool(handle) and handle in self._objects


def close_handle(ctx: CallContext, pointer: int, handles: HandleTable) -> int:
    """The close calls' common part: read the handle at pointer, forget it, zero it."""
    handle = read_words(ctx, pointer, 1)
    if handle is None or not writable(pointer, 4):
        return MvStatus.PARAMETERFAULT
    if handle[0] not in handles:
        return MvStatus.INVALIDHANDLE
    handles.pop(handle[0])
    write_word(ctx, pointer, 0)
    return MvStatus.OKAY
