"""Secrets at rest: AES-256-GCM under a key kept in the server's data folder, bound to where they belong."""

from __future__ import annotations

import os
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from ..common import keys

KEY_SIZE = 32
NONCE_SIZE = 12


class SecretBoxError(Exception):
    """A key file that cannot be used, or a ciphertext that does not open under this key."""


class SecretBox:
    def __init__(self, key: bytes):
        if len(key) != KEY_SIZE:
            raise SecretBoxError(f"a secret-box key is {KEY_SIZE} bytes, not {len(key)}")
        self._aead = AESGCM(key)

    @classmethod
    def open(cls, path: Path) -> SecretBox:
        """The box whose key is in path; the key is made (owner-only) on first use."""
        path = Path(path)
        if not path.exists():
            keys.write_private(path, os.urandom(KEY_SIZE))
        try:
            return cls(path.read_bytes())
        except OSError as exc:
            raise SecretBoxError(f"cannot read the secrets key {path}: {exc.strerror or exc}") from None

    def seal(self, plaintext: str, context: str) -> bytes:
        """Encrypt; context (account, scope and key) must be given again to open."""
        nonce = os.urandom(NONCE_SIZE)
        return nonce + self._aead.encrypt(nonce, plaintext.encode(), context.encode())

    def open_sealed(self, sealed: bytes, context: str) -> str:
        try:
            return self._aead.decrypt(sealed[:NONCE_SIZE], sealed[NONCE_SIZE:], context.encode()).decode()
        except (InvalidTag, ValueError) as exc:
            raise SecretBoxError("a stored secret does not open with this server's key") from exc
