"""The remote-debugging channel's messages, end to end between a developer's debug key and a device.

The service relays these bytes and can neither read them nor forge them:

- Down (developer → device): ``"MVD" | kind | session (16) | device nonce (16) | seq (8) | body |
  signature (64)``, ECDSA P-256 / SHA-256 by the debug key over everything before it; a DATA body is
  ``nonce (12) | AES-256-GCM ciphertext`` under the session's key (below), the header as associated
  data, so the service cannot read what GDB asks either (an address, the bytes of a write). The device
  accepts only messages signed by the key its installed manifest names (DebugPolicy
  debug_auth_pubkey). OPEN starts a session (its device nonce is zeros); the device answers with a
  fresh nonce of its own, which every later message of the session must carry, with sequence numbers
  1, 2, … in order: a message replayed from this session or from an earlier one is refused.
- Up (device → developer): ``"MVU" | kind | session (16) | seq (8) | [ephemeral key (65), OPENED
  only] | nonce (12) | AES-256-GCM ciphertext``, the header as associated data. At OPEN the device
  makes an ephemeral P-256 key; ECDH with the debug key and HKDF-SHA256 (salt: the session) give the
  session's AES key, so only the holder of the debug private key can read what the device sends (the
  device nonce, then the GDB remote-protocol bytes).

DATA bodies are GDB remote-protocol bytes, carried as a byte stream in order; CLOSE ends a session.
"""

from __future__ import annotations

import os
import struct
from dataclasses import dataclass

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from . import keys

OPEN, DATA, CLOSE, OPENED = 1, 2, 3, 4
SESSION_SIZE = NONCE_SIZE = 16
_DOWN = struct.Struct(">3sB16s16sQ")
_UP = struct.Struct(">3sB16sQ")
_SIGNATURE = 64
_EPHEMERAL = 65
_GCM_NONCE = 12
_INFO = b"microvisor remote debug v1"


class DebugChannelError(Exception):
    """A debug message that is malformed, not signed by the debug key, or out of order."""


@dataclass(frozen=True)
class Down:
    """A message from the developer, as the device reads it (signature checked)."""

    kind: int
    session: bytes
    device_nonce: bytes
    seq: int
    body: bytes


def sign_down(key: keys.PrivateKey, kind: int, session: bytes, device_nonce: bytes, seq: int,
              body: bytes = b"") -> bytes:
    """A message to the device, signed by the debug key."""
    message = _DOWN.pack(b"MVD", kind, session, device_nonce, seq) + body
    return message + keys.sign(key, message)


def read_down(debug_key: keys.PublicKey, data: bytes) -> Down:
    """The message, if the debug key signed it; raises DebugChannelError otherwise."""
    if len(data) < _DOWN.size + _SIGNATURE:
        raise DebugChannelError("a debug message too short to be one")
    message, signature = data[:-_SIGNATURE], data[-_SIGNATURE:]
    magic, kind, session, device_nonce, seq = _DOWN.unpack_from(message)
    if magic != b"MVD" or kind not in (OPEN, DATA, CLOSE):
        raise DebugChannelError("not a debug message to a device")
    if not keys.verify(debug_key, signature, message):
        raise DebugChannelError("a debug message not signed by the app's debug key")
    return Down(kind, session, device_nonce, seq, message[_DOWN.size:])


def _open(aead: AESGCM, sealed: bytes, header: bytes) -> bytes:
    """`nonce | ciphertext` opened with `header` as associated data; DebugChannelError if it does not."""
    try:
        return aead.decrypt(sealed[:_GCM_NONCE], sealed[_GCM_NONCE:], header)
    except Exception:  # cryptography's InvalidTag (tampered, or another key) or a short message
        raise DebugChannelError("a debug message that does not decrypt with the session's key") from None


def _session_key(shared: bytes, session: bytes) -> AESGCM:
    key = HKDF(algorithm=hashes.SHA256(), length=32, salt=session, info=_INFO).derive(shared)
    return AESGCM(key)


class DeviceSession:
    """The device's end of one session: checks each message's order, encrypts what it sends."""

    def __init__(self, debug_key: keys.PublicKey, session: bytes):
        self.session = session
        self.nonce = os.urandom(NONCE_SIZE)
        self._ephemeral = ec.generate_private_key(ec.SECP256R1())
        self._aead = _session_key(self._ephemeral.exchange(ec.ECDH(), debug_key), session)
        self._expected = 1  # the next message's sequence number
        self._sent = 0

    def accept(self, message: Down) -> bytes:
        """The plaintext of `message`'s body if it is this session's next one; DebugChannelError if not."""
        if message.session != self.session or message.device_nonce != self.nonce:
            raise DebugChannelError("a debug message of another session")
        if message.seq != self._expected:
            raise DebugChannelError(f"debug message {message.seq} where {self._expected} was due (replayed?)")
        self._expected += 1
        if message.kind != DATA:
            return b""
        header = _DOWN.pack(b"MVD", message.kind, message.session, message.device_nonce, message.seq)
        return _open(self._aead, message.body, header)

    def opened(self) -> bytes:
        """The answer to OPEN: the ephemeral key in the clear, the device nonce encrypted."""
        return self._seal(OPENED, self.nonce, keys.raw_public(self._ephemeral.public_key()))

    def data(self, body: bytes) -> bytes:
        return self._seal(DATA, body)

    def close(self) -> bytes:
        return self._seal(CLOSE, b"")

    def _seal(self, kind: int, plaintext: bytes, ephemeral: bytes = b"") -> bytes:
        self._sent += 1
        header = _UP.pack(b"MVU", kind, self.session, self._sent) + ephemeral
        nonce = os.urandom(_GCM_NONCE)
        return header + nonce + self._aead.encrypt(nonce, plaintext, header)


class DeveloperSession:
    """The developer's end of one session: signs what it sends, opens what the device sends."""

    def __init__(self, key: keys.PrivateKey):
        self._key = key
        self.session = os.urandom(SESSION_SIZE)
        self.device_nonce = bytes(NONCE_SIZE)
        self._aead: AESGCM | None = None
        self._sent = 0
        self._expected = 1

    def open(self) -> bytes:
        return sign_down(self._key, OPEN, self.session, self.device_nonce, 0)

    def data(self, body: bytes) -> bytes:
        """GDB's bytes to the device, encrypted under the session's key and signed."""
        if self._aead is None:
            raise DebugChannelError("the session is not open yet")
        self._sent += 1
        header = _DOWN.pack(b"MVD", DATA, self.session, self.device_nonce, self._sent)
        nonce = os.urandom(_GCM_NONCE)
        return sign_down(self._key, DATA, self.session, self.device_nonce, self._sent,
                         nonce + self._aead.encrypt(nonce, body, header))

    def close(self) -> bytes:
        self._sent += 1
        return sign_down(self._key, CLOSE, self.session, self.device_nonce, self._sent)

    @property
    def is_open(self) -> bool:
        return self._aead is not None

    def read(self, data: bytes) -> tuple[int, bytes] | None:
        """(kind, plaintext) of a message of this session from the device; None for one of another
        session; DebugChannelError for one that does not decrypt or comes out of order."""
        if len(data) < _UP.size or data[:3] != b"MVU":
            raise DebugChannelError("not a debug message from a device")
        _, kind, session, seq = _UP.unpack_from(data)
        if session != self.session:
            return None
        at = _UP.size
        if kind == OPENED:
            if seq != 1 or len(data) < at + _EPHEMERAL + _GCM_NONCE:
                raise DebugChannelError("a malformed answer to OPEN")
            try:
                ephemeral = keys.from_raw_public(data[at:at + _EPHEMERAL])
            except keys.KeyFileError as exc:
                raise DebugChannelError(f"a malformed answer to OPEN: {exc}") from None
            self._aead = _session_key(self._key.exchange(ec.ECDH(), ephemeral), self.session)
            at += _EPHEMERAL
        if self._aead is None:
            raise DebugChannelError("a debug message before the session was opened")
        if seq != self._expected:
            raise DebugChannelError(f"device message {seq} where {self._expected} was due")
        plaintext = _open(self._aead, data[at:], data[:at])
        self._expected += 1
        if kind == OPENED:
            if len(plaintext) != NONCE_SIZE:
                raise DebugChannelError("a malformed answer to OPEN")
            self.device_nonce = plaintext
        return kind, plaintext
