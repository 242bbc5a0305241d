"""Opaque handles the kernel gives the application: random 32-bit values, never zero."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from typing import Generic, TypeVar

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
