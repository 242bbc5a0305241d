"""The Wi-Fi credentials: mvSetWifiConfig and mvGetWifiConfig, kept sealed in the kernel's storage.

The credentials live in the kernel's fact sheet (kernel/storage.py: secure internal flash, which the
application cannot read) and survive reboots and power loss. The password is never kept: the kernel
derives the WPA2-Personal pre-shared key from it (PBKDF2-HMAC-SHA1 of the passphrase over the SSID,
4096 rounds, 32 bytes, as IEEE 802.11i defines it; 64 hex digits are that key already) and stores the
key sealed with AES-256-GCM under a key derived from the chip's hardware key, bound to the SSID. Only
the kernel's radio side can open it (`psk()`); mvGetWifiConfig returns the SSID and whether the
network is encrypted, never the password or the key.

mvSetWifiConfig(&MvWifiConfig), checked in this order:
- a board whose radio is not Wi-Fi (device/state.py Board): UNAVAILABLE; from an interrupt handler
  (it writes flash): UNAVAILABLE;
- the version word unreadable: PARAMETERFAULT; a version other than 1: UNSUPPORTEDSTRUCTUREVERSION;
  the v1 structure unreadable: PARAMETERFAULT; a mode other than APPLYNOW or CLEARNOW (the mode is the
  one byte at offset 4; the padding after it is ignored): PARAMETERFAULT, as the published header
  answers an unknown mode elsewhere;
- CLEARNOW forgets the credentials (the strings are not read) and returns OKAY;
- APPLYNOW: an SSID of more than 32 bytes or a password of more than 64: INPUTTOOLONG; an empty SSID:
  REQUIREDELEMENTMISSING; an SSID or password that is not the application's memory (flash or SRAM):
  PARAMETERFAULT (an empty password's pointer is not read: {NULL, 0} is no password); a password that
  is neither empty (an open network), 8 to 63 printable ASCII characters (a passphrase) nor 64 hex
  digits (a key): INVALIDAUTHENTICATION. Then the credentials replace any earlier ones: OKAY.

mvGetWifiConfig(&MvWifiConfigOut):
- not Wi-Fi: UNAVAILABLE; version word unreadable, PARAMETERFAULT; not 1: UNSUPPORTEDSTRUCTUREVERSION;
- the v1 structure unreadable, or its ssid buffer (data, size), its length pointer (4 bytes) or its
  has_encryption pointer (1 byte) not the application's SRAM: PARAMETERFAULT;
- with credentials: an SSID longer than the buffer: INVALIDBUFFERSIZE, nothing written; otherwise the
  SSID's bytes (no terminator), its length, and has_encryption 1 (a password was given) or 0: OKAY;
- with none: length 0 and has_encryption 0, OKAY (an SSID is never empty).
"""

from __future__ import annotations

import os
import string
from typing import TYPE_CHECKING, Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from cryptography.hazmat.primitives.kdf.pbkdf2 import PBKDF2HMAC

from ..common.mv_abi import MvStatus, MvWifiConfigMode, struct_size
from ..device.nsc import CallContext
from .guards import in_interrupt, read_in, read_words, writable, write_out, write_word

if TYPE_CHECKING:
    from .microvisor import Microvisor

CONFIG_VERSION = 1
MAX_SSID = 32
MIN_PASSPHRASE, MAX_PASSPHRASE = 8, 63
PSK_HEX_DIGITS = 64
STORAGE_KEY = "wifi"  # in KernelStorage's facts: {"ssid": hex, "psk": hex of nonce + sealed key, or None}
_SEAL_INFO = b"mv-wifi-psk-v1"
_NONCE = 12
_PRINTABLE = frozenset(range(0x20, 0x7F))
_HEX = frozenset(string.hexdigits.encode())


def install(kernel: Microvisor) -> Wifi:
    """Register this family's handlers with the kernel's device."""
    wifi = Wifi(kernel)
    for name in ("mvSetWifiConfig", "mvGetWifiConfig"):
        kernel.device.syscalls.register(name, getattr(wifi, name))
    return wifi


def derive_psk(ssid: bytes, password: bytes) -> bytes:
    """The WPA2-Personal pre-shared key of a passphrase (8-63 characters) or of 64 hex digits."""
    if len(password) == PSK_HEX_DIGITS:
        return bytes.fromhex(password.decode("ascii"))
    return PBKDF2HMAC(hashes.SHA1(), 32, ssid, 4096).derive(password)  # SHA-1: as IEEE 802.11i says


def password_status(password: bytes) -> MvStatus:
    """OKAY for an empty password, a WPA2 passphrase or a 64-hex-digit key; INVALIDAUTHENTICATION else."""
    if not password:
        return MvStatus.OKAY
    if len(password) == PSK_HEX_DIGITS:
        return MvStatus.OKAY if _HEX.issuperset(password) else MvStatus.INVALIDAUTHENTICATION
    if MIN_PASSPHRASE <= len(password) <= MAX_PASSPHRASE and _PRINTABLE.issuperset(password):
        return MvStatus.OKAY
    return MvStatus.INVALIDAUTHENTICATION


class Wifi:
    """The device's Wi-Fi credentials, as the application sets them and the radio would use them."""

    def __init__(self, kernel: Microvisor):
        self.kernel = kernel
        state = kernel.device.state
        self.present = state.board.radio == "wifi"
        self._aead = AESGCM(HKDF(hashes.SHA256(), 32, salt=None, info=_SEAL_INFO)
                            .derive(state.option_bytes.hardware_key))

    def application_started(self) -> None:
        """Nothing to forget: the credentials belong to the device, not to one run of the application."""

    # --- the kernel's side --------------------------------------------------------------------
    def _stored(self) -> dict[str, Any] | None:
        value = self.kernel.storage.get(STORAGE_KEY)
        if not isinstance(value, dict) or not isinstance(value.get("ssid"), str):
            return None
        try:
            ssid = bytes.fromhex(value["ssid"])
        except ValueError:
            return None
        psk = value.get("psk")
        return {"ssid": ssid, "psk": psk if isinstance(psk, str) else None}

    def ssid(self) -> bytes | None:
        stored = self._stored()
        return None if stored is None else stored["ssid"]

    def psk(self) -> bytes | None:
        """The network's pre-shared key, unsealed for the radio (None: none stored, open, or not ours)."""
        stored = self._stored()
        if stored is None or stored["psk"] is None:
            return None
        try:
            sealed = bytes.fromhex(stored["psk"])
            return self._aead.decrypt(sealed[:_NONCE], sealed[_NONCE:], _SEAL_INFO + stored["ssid"])
        except (ValueError, InvalidTag):
            return None

    def store(self, ssid: bytes, password: bytes) -> None:
        psk = None
        if password:
            nonce = os.urandom(_NONCE)
            sealed = self._aead.encrypt(nonce, derive_psk(ssid, password), _SEAL_INFO + ssid)
            psk = (nonce + sealed).hex()
        self.kernel.storage.put(**{STORAGE_KEY: {"ssid": ssid.hex(), "psk": psk}})
        self.kernel.device.events.emit("kernel", "wifi", ssid=ssid.hex(), encrypted=bool(password))

    def clear(self) -> None:
        self.kernel.storage.put(**{STORAGE_KEY: None})
        self.kernel.device.events.emit("kernel", "wifi", ssid=None, encrypted=False)

    # --- system calls -------------------------------------------------------------------------
    def _version(self, ctx: CallContext, address: int) -> int | None:
        """The status that ends the call before the structure is read (None: go on)."""
        version = read_words(ctx, address, 1)
        if version is None:
            return MvStatus.PARAMETERFAULT
        if version[0] != CONFIG_VERSION:
            return MvStatus.UNSUPPORTEDSTRUCTUREVERSION
        return None

    def mvSetWifiConfig(self, ctx: CallContext) -> int:
        address = ctx.arg(0)
        if not self.present or in_interrupt(ctx):
            return MvStatus.UNAVAILABLE
        refused = self._version(ctx, address)
        if refused is not None:
            return refused
        fields = read_words(ctx, address, struct_size("MvWifiConfig") // 4)
        if fields is None:
            return MvStatus.PARAMETERFAULT
        _, mode_word, ssid_at, ssid_len, password_at, password_len = fields
        mode = mode_word & 0xFF  # a one-byte enum: what follows it is padding
        if mode == MvWifiConfigMode.CLEARNOW:
            self.clear()
            return MvStatus.OKAY
        if mode != MvWifiConfigMode.APPLYNOW:
            return MvStatus.PARAMETERFAULT
        if ssid_len > MAX_SSID or password_len > PSK_HEX_DIGITS:
            return MvStatus.INPUTTOOLONG
        if not ssid_len:
            return MvStatus.REQUIREDELEMENTMISSING
        ssid = read_in(ctx, ssid_at, ssid_len)
        password = read_in(ctx, password_at, password_len) if password_len else b""
        if ssid is None or password is None:
            return MvStatus.PARAMETERFAULT
        status = password_status(password)
        if status == MvStatus.OKAY:
            self.store(ssid, password)
        return status

    def mvGetWifiConfig(self, ctx: CallContext) -> int:
        address = ctx.arg(0)
        if not self.present:
            return MvStatus.UNAVAILABLE
        refused = self._version(ctx, address)
        if refused is not None:
            return refused
        fields = read_words(ctx, address, struct_size("MvWifiConfigOut") // 4)
        if fields is None:
            return MvStatus.PARAMETERFAULT
        _, data, size, length_out, encryption_out = fields
        if not writable(data, size) or not writable(length_out, 4) or not writable(encryption_out, 1):
            return MvStatus.PARAMETERFAULT
        stored = self._stored()
        ssid = b"" if stored is None else stored["ssid"]
        if len(ssid) > size:
            return MvStatus.INVALIDBUFFERSIZE
        write_out(ctx, data, ssid)
        write_word(ctx, length_out, len(ssid))
        write_out(ctx, encryption_out, bytes([stored is not None and stored["psk"] is not None]))
        return MvStatus.OKAY
