"""The SFI card: a PKCS#11 token whose P-256 key, made on it and never leaving it, authorizes installs."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import threading
from pathlib import Path
from typing import Any

from ..common import factory_protocol, keys

DEFAULT_MODULE = "/usr/lib/softhsm/libsofthsm2.so"  # Debian's SoftHSM2
KEY_LABEL = "mv-sfi-card"
CERTIFICATE_LABEL = "mv-sfi-card-certificate"
APPLICATION = "microvisor"  # CKA_APPLICATION of the certificate's data object
MAX_TOKEN_LABEL = 32  # bytes: a PKCS#11 token label is 32 bytes, padded with spaces
P256_PARAMETERS = bytes.fromhex("06082a8648ce3d030107")  # CKA_EC_PARAMS: the DER OID of prime256v1
_SIGNATURE_SIZE = 64  # r || s of a P-256 ECDSA signature, as PKCS#11 gives it


class CardError(Exception):
    """A card that cannot be opened or cannot do what was asked; the message says why in one sentence."""


# --- the PKCS#11 module ---------------------------------------------------------------------------
# python-pkcs11 keeps one initialised library per path for the whole process. It is finalised when the
# last card using it closes, so the next open initialises it again: tokens made meanwhile by another
# process (softhsm2-util) are seen, and SoftHSM2 reads SOFTHSM2_CONF afresh.
_modules_lock = threading.Lock()
_users: dict[str, int] = {}


def _pkcs11() -> Any:
    try:
        import pkcs11
    except ImportError:
        raise CardError("python-pkcs11 is not installed (pip install python-pkcs11)") from None
    return pkcs11


def _acquire(module: str) -> Any:
    """The module's library, initialised; every call is paired with a _release."""
    pkcs11 = _pkcs11()
    path = os.path.realpath(module)  # one library per file, however it is named
    with _modules_lock:
        try:
            lib = pkcs11.lib(path)
        except pkcs11.PKCS11Error as exc:
            raise _load_error(module, path, exc) from None
        _users[path] = _users.get(path, 0) + 1
    return lib


def _release(lib: Any) -> None:
    with _modules_lock:
        path = lib.so
        _users[path] -= 1
        if _users[path] == 0:
            del _users[path]
            try:
                lib.finalize()
            except _pkcs11().PKCS11Error:
                pass  # nothing is left to do with it


def _load_error(module: str, path: str, exc: Exception) -> CardError:
    text = str(exc)
    marker = f"loading {path}: "
    if type(exc).__name__ == "PKCS11Error" and marker in text:  # dlopen or C_GetFunctionList failed
        reason = text.split(marker, 1)[1]
        if "C_GetFunctionList" in reason:
            reason = "it has no C_GetFunctionList, so it is not a PKCS#11 module"
        return CardError(f"cannot load the PKCS#11 module {module}: {reason}")
    hint = ""
    if "softhsm" in path.lower():
        hint = "; check that SOFTHSM2_CONF names a readable SoftHSM2 configuration whose token folder exists"
    return CardError(f"the PKCS#11 module {module} did not start ({_name(exc)}){hint}")


def _name(exc: Exception) -> str:
    """The PKCS#11 error as a reader can look it up (python-pkcs11 names each CKR_ code)."""
    return str(exc) if type(exc).__name__ == "PKCS11Error" and str(exc) else type(exc).__name__


# --- the card ---------------------------------------------------------------------------------------
class SfiCard:
    """One open session on the card's token (logged in as its user when a PIN was given).

    `SfiCard.open(module, label, pin)`; use it as a context manager or call `close()`. Every PKCS#11
    failure is raised as CardError. Safe to share between threads (one operation at a time).
    """

    def __init__(self, lib: Any, token: Any, session: Any, label: str, logged_in: bool):
        self._lib, self._token, self._session = lib, token, session
        self.label = label
        self.logged_in = logged_in
        self._lock = threading.RLock()
        self._mechanisms = set(token.slot.get_mechanisms())

    @classmethod
    def open(cls, module: str, token_label: str, pin: str | None) -> SfiCard:
        """The token labelled token_label in this PKCS#11 module; logged in with pin unless it is None
        (without a PIN only the public key and the certificate can be read)."""
        _check_label(token_label)
        lib = _acquire(module)
        try:
            token = _find_token(lib, module, token_label)
            session = _open_session(token, token_label, pin)
            try:
                return cls(lib, token, session, token_label, pin is not None)
            except Exception:
                session.close()
                raise
        except BaseException as exc:
            _release(lib)
            if isinstance(exc, _pkcs11().PKCS11Error):
                raise _explain(exc, token_label, "open a session") from None
            raise

    def __enter__(self) -> SfiCard:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        """End the session (logging out); the card can no longer be used. Closing twice does nothing."""
        with self._lock:
            if self._session is None:
                return
            session, self._session = self._session, None
            try:
                session.close()
            except _pkcs11().PKCS11Error:
                pass  # the token may be gone; the module is finalised all the same
            finally:
                _release(self._lib)

    # -- the key -------------------------------------------------------------------------------------
    @property
    def signs_digest_on_host(self) -> bool:
        """True when the token lacks CKM_ECDSA_SHA256 (SoftHSM2 2.6): the SHA-256 is computed here and
        the token signs it with CKM_ECDSA."""
        return _pkcs11().Mechanism.ECDSA_SHA256 not in self._mechanisms

    def has_key(self) -> bool:
        """Whether the token holds a card key (part of a pair is enough: a card gets its key once)."""
        pkcs11 = _pkcs11()
        with self._lock:
            session = self._live()
            try:
                return any(True for _ in session.get_objects({pkcs11.Attribute.LABEL: KEY_LABEL}))
            except pkcs11.PKCS11Error as exc:
                raise _explain(exc, self.label, "look for the card key") from None

    def create_key(self) -> bytes:
        """Make the card's P-256 key pair on the token: the private key sensitive, never extractable,
        kept on the token, for signing only. Refused when the token holds a card key already. Returns the
        public key, X9.62 uncompressed (65 bytes)."""
        pkcs11 = _pkcs11()
        attribute = pkcs11.Attribute
        with self._lock:
            session = self._live()
            self._need_login("make the card key")
            if self.has_key():
                raise CardError(f"token '{self.label}' already holds a card key; a card gets its key once")
            try:
                if pkcs11.Mechanism.EC_KEY_PAIR_GEN not in self._mechanisms:
                    raise CardError(f"token '{self.label}' cannot make EC keys (no CKM_EC_KEY_PAIR_GEN)")
                parameters = session.create_domain_parameters(
                    pkcs11.KeyType.EC, {attribute.EC_PARAMS: P256_PARAMETERS}, local=True)
                public, private = parameters.generate_keypair(
                    id=os.urandom(16), label=KEY_LABEL, store=True,
                    capabilities=pkcs11.MechanismFlag.SIGN | pkcs11.MechanismFlag.VERIFY,
                    mechanism=pkcs11.Mechanism.EC_KEY_PAIR_GEN,
                    public_template={attribute.TOKEN: True, attribute.PRIVATE: False,
                                     attribute.VERIFY: True, attribute.ENCRYPT: False, attribute.WRAP: False,
                                     attribute.DERIVE: False},
                    private_template={attribute.TOKEN: True, attribute.PRIVATE: True,
                                      attribute.SENSITIVE: True, attribute.EXTRACTABLE: False,
                                      attribute.SIGN: True, attribute.SIGN_RECOVER: False,
                                      attribute.DECRYPT: False, attribute.UNWRAP: False,
                                      attribute.DERIVE: False})
            except pkcs11.PKCS11Error as exc:
                raise _explain(exc, self.label, "make the card key") from None
            try:
                self._check_protected(private)
                return _public_point(public, self.label)
            except CardError:
                for made in (private, public):
                    try:
                        made.destroy()
                    except pkcs11.PKCS11Error:
                        pass
                raise

    def public_key(self) -> bytes:
        """The card's public key, X9.62 uncompressed (65 bytes)."""
        pkcs11 = _pkcs11()
        with self._lock:
            public = self._object(pkcs11.ObjectClass.PUBLIC_KEY, KEY_LABEL, "card key")
            return _public_point(public, self.label)

    def key_attributes(self) -> dict[str, bool]:
        """The private key's protection as the token reports it (sensitive, extractable, never_extractable,
        always_sensitive, local, sign, decrypt, derive, unwrap, token)."""
        pkcs11 = _pkcs11()
        attribute = pkcs11.Attribute
        names = {"sensitive": attribute.SENSITIVE, "extractable": attribute.EXTRACTABLE,
                 "never_extractable": attribute.NEVER_EXTRACTABLE,
                 "always_sensitive": attribute.ALWAYS_SENSITIVE,
                 "local": attribute.LOCAL, "sign": attribute.SIGN, "decrypt": attribute.DECRYPT,
                 "derive": attribute.DERIVE, "unwrap": attribute.UNWRAP, "token": attribute.TOKEN}
        with self._lock:
            self._need_login("read the card key's attributes")
            private = self._object(pkcs11.ObjectClass.PRIVATE_KEY, KEY_LABEL, "card key")
            try:
                return {name: bool(private[code]) for name, code in names.items()}
            except pkcs11.PKCS11Error as exc:
                raise _explain(exc, self.label, "read the card key's attributes") from None

    def authorize(self, chip_uid: bytes, nonce: bytes) -> bytes:
        """The card's 64-byte r || s ECDSA P-256 / SHA-256 signature over
        factory_protocol.authorization_message(chip_uid, nonce), computed on the token and checked
        against the card's public key before it is returned. A chip UID or nonce of the wrong size
        raises factory_protocol.FactoryProtocolError."""
        message = factory_protocol.authorization_message(chip_uid, nonce)
        return self._sign(message)

    def _sign(self, message: bytes) -> bytes:
        """The card's ECDSA P-256 / SHA-256 signature (r || s) over message, made by the token."""
        pkcs11 = _pkcs11()
        with self._lock:
            self._need_login("sign")
            private = self._object(pkcs11.ObjectClass.PRIVATE_KEY, KEY_LABEL, "card key")
            try:
                if self.signs_digest_on_host:
                    digest = hashlib.sha256(message).digest()
                    signature = private.sign(digest, mechanism=pkcs11.Mechanism.ECDSA)
                else:
                    signature = private.sign(message, mechanism=pkcs11.Mechanism.ECDSA_SHA256)
            except pkcs11.PKCS11Error as exc:
                raise _explain(exc, self.label, "sign with the card key") from None
            public = self.public_key()
        if len(signature) != _SIGNATURE_SIZE or \
                not keys.verify(keys.from_raw_public(public), signature, message):
            raise CardError(f"token '{self.label}' made a signature that its own public key does not verify")
        return bytes(signature)

    # -- the certificate -----------------------------------------------------------------------------
    def store_certificate(self, data: bytes) -> None:
        """Write the card certificate onto the token (a public CKO_DATA object), replacing an older one
        once the new one is written."""
        pkcs11 = _pkcs11()
        attribute = pkcs11.Attribute
        if not data or len(data) > factory_protocol.MAX_DOCUMENT:
            raise CardError(f"a card certificate is 1 to {factory_protocol.MAX_DOCUMENT} bytes")
        with self._lock:
            session = self._live()
            self._need_login("store the card certificate")
            try:
                older = list(session.get_objects({attribute.CLASS: pkcs11.ObjectClass.DATA,
                                                  attribute.LABEL: CERTIFICATE_LABEL}))
                session.create_object({attribute.CLASS: pkcs11.ObjectClass.DATA, attribute.TOKEN: True,
                                       attribute.PRIVATE: False, attribute.LABEL: CERTIFICATE_LABEL,
                                       attribute.APPLICATION: APPLICATION, attribute.VALUE: bytes(data)})
                for item in older:
                    item.destroy()
            except pkcs11.PKCS11Error as exc:
                raise _explain(exc, self.label, "store the card certificate") from None

    def certificate(self) -> bytes:
        """The card certificate stored on the token."""
        pkcs11 = _pkcs11()
        with self._lock:
            item = self._object(pkcs11.ObjectClass.DATA, CERTIFICATE_LABEL, "card certificate")
            try:
                return bytes(item[pkcs11.Attribute.VALUE])
            except pkcs11.PKCS11Error as exc:
                raise _explain(exc, self.label, "read the card certificate") from None

    def erase(self) -> None:
        """Delete the card key pair and certificate from the token: undoes an issue that failed before
        the service recorded the card. A card the service knows is revoked there, not erased."""
        pkcs11 = _pkcs11()
        with self._lock:
            session = self._live()
            self._need_login("erase the card")
            try:
                for label in (CERTIFICATE_LABEL, KEY_LABEL):
                    for item in list(session.get_objects({pkcs11.Attribute.LABEL: label})):
                        item.destroy()
            except pkcs11.PKCS11Error as exc:
                raise _explain(exc, self.label, "erase the card") from None

    # -- inside ----------------------------------------------------------------------------------------
    def _live(self) -> Any:
        if self._session is None:
            raise CardError(f"the session on token '{self.label}' is closed")
        return self._session

    def _need_login(self, doing: str) -> None:
        if not self.logged_in:
            raise CardError(f"the card's PIN is needed to {doing}")

    def _object(self, object_class: Any, label: str, what: str) -> Any:
        pkcs11 = _pkcs11()
        session = self._live()
        try:
            found = list(session.get_objects({pkcs11.Attribute.CLASS: object_class,
                                              pkcs11.Attribute.LABEL: label}))
        except pkcs11.PKCS11Error as exc:
            raise _explain(exc, self.label, f"look for the {what}") from None
        if not found:
            raise CardError(f"token '{self.label}' holds no {what}")
        if len(found) > 1:
            raise CardError(f"token '{self.label}' holds {len(found)} objects labelled '{label}', not one")
        return found[0]

    def _check_protected(self, private: Any) -> None:
        """Refuse a key the token did not make as asked: readable, exportable, usable beyond signing."""
        attribute = _pkcs11().Attribute
        wanted = {attribute.SENSITIVE: True, attribute.EXTRACTABLE: False, attribute.ALWAYS_SENSITIVE: True,
                  attribute.NEVER_EXTRACTABLE: True, attribute.TOKEN: True, attribute.SIGN: True,
                  attribute.DECRYPT: False, attribute.DERIVE: False, attribute.UNWRAP: False}
        wrong = [name.name for name, value in wanted.items() if bool(private[name]) != value]
        if wrong:
            raise CardError(f"token '{self.label}' made the card key without the protection asked for "
                            f"({', '.join(wrong)}); the key was deleted")


def _check_label(label: str) -> None:
    if not label or len(label.encode("utf-8")) > MAX_TOKEN_LABEL or label != label.strip():
        raise CardError(f"{label!r} is not a token label (1 to {MAX_TOKEN_LABEL} bytes, no space at either "
                        "end)")


def _find_token(lib: Any, module: str, label: str) -> Any:
    pkcs11 = _pkcs11()
    try:
        token = lib.get_token(token_label=label)
    except pkcs11.NoSuchToken:
        labels = sorted({t.label for t in lib.get_tokens() if t.label})
        present = f"its tokens are {', '.join(repr(name) for name in labels)}" if labels \
            else "it has no initialised token"
        raise CardError(f"there is no token labelled '{label}' in {module} ({present})") from None
    except pkcs11.MultipleTokensReturned:
        raise CardError(f"more than one token in {module} is labelled '{label}'") from None
    except pkcs11.PKCS11Error as exc:
        raise _explain(exc, label, "find the token") from None
    flags = token.flags
    if not flags & pkcs11.TokenFlag.TOKEN_INITIALIZED:
        raise CardError(f"token '{label}' is not initialised")
    if not flags & pkcs11.TokenFlag.USER_PIN_INITIALIZED:
        raise CardError(f"token '{label}' has no user PIN yet; initialise it (e.g. softhsm2-util --init-pin)")
    return token


def _open_session(token: Any, label: str, pin: str | None) -> Any:
    pkcs11 = _pkcs11()
    try:
        return token.open(rw=True, user_pin=pin) if pin is not None else token.open(rw=True)
    except pkcs11.PKCS11Error as exc:
        raise _explain(exc, label, "log in" if pin is not None else "open a session") from None


def _public_point(public: Any, label: str) -> bytes:
    """The X9.62 uncompressed point of a P-256 public key object (SoftHSM2 gives CKA_EC_POINT DER-wrapped
    in an OCTET STRING, as PKCS#11 says; some tokens give it bare)."""
    pkcs11 = _pkcs11()
    try:
        parameters = bytes(public[pkcs11.Attribute.EC_PARAMS])
        point = bytes(public[pkcs11.Attribute.EC_POINT])
    except pkcs11.PKCS11Error as exc:
        raise _explain(exc, label, "read the card's public key") from None
    if parameters != P256_PARAMETERS:
        raise CardError(f"the card key on token '{label}' is not a P-256 key")
    if len(point) == keys.RAW_PUBLIC_SIZE + 2 and point[:2] == bytes([0x04, keys.RAW_PUBLIC_SIZE]):
        point = point[2:]
    try:
        return keys.raw_public(keys.from_raw_public(point))
    except keys.KeyFileError:
        raise CardError(f"the card key on token '{label}' has a public point that is not on P-256") from None


def _explain(exc: Exception, label: str, doing: str) -> CardError:
    """One sentence for a PKCS#11 failure."""
    name = type(exc).__name__
    known = {
        "PinIncorrect": f"wrong PIN for token '{label}'",
        "PinLocked": f"the PIN of token '{label}' is locked after too many wrong PINs",
        "PinExpired": f"the PIN of token '{label}' has expired",
        "PinLenRange": f"the PIN is not one token '{label}' can accept (its length is out of range)",
        "PinInvalid": f"the PIN holds characters token '{label}' does not accept",
        "UserPinNotInitialized": f"token '{label}' has no user PIN yet; initialise it first",
        "UserNotLoggedIn": f"token '{label}' wants its PIN to {doing}",
        "TokenNotPresent": f"token '{label}' was removed",
        "DeviceRemoved": f"token '{label}' was removed",
        "TokenNotRecognised": f"token '{label}' is not recognised by its module",
        "TokenWriteProtected": f"token '{label}' is write-protected, so it cannot {doing}",
        "SessionReadOnly": f"token '{label}' is write-protected, so it cannot {doing}",
        "DeviceMemory": f"token '{label}' is full",
        "SessionCount": f"token '{label}' has too many sessions open",
        "MechanismInvalid": f"token '{label}' lacks the mechanism needed to {doing}",
        "AttributeSensitive": f"token '{label}' refuses to reveal a sensitive value",
        "KeyUnextractable": f"token '{label}' refuses to export the key",
    }
    return CardError(known.get(name) or f"token '{label}' failed to {doing} ({_name(exc)})")


# --- development tokens -------------------------------------------------------------------------
def init_softhsm_token(folder: Path, label: str, pin: str, so_pin: str) -> Path:
    """A fresh SoftHSM2 token store in folder holding one initialised token (for development and tests).

    Returns the configuration file to name in SOFTHSM2_CONF for the module to find the token; the caller
    sets it (this function changes no environment but that of the softhsm2-util it runs)."""
    _check_label(label)
    tool = shutil.which("softhsm2-util")
    if tool is None:
        raise CardError("softhsm2-util is not installed (apt install softhsm2)")
    folder = Path(folder)
    tokens = folder / "tokens"
    try:
        tokens.mkdir(mode=0o700, parents=True, exist_ok=True)
        config = folder / "softhsm2.conf"
        config.write_text(f"directories.tokendir = {tokens.resolve()}\nobjectstore.backend = file\n"
                          "log.level = ERROR\nslots.removable = false\n")
    except OSError as exc:
        raise CardError(f"cannot prepare the SoftHSM2 folder {folder}: {exc.strerror or exc}") from None
    command = [tool, "--init-token", "--free", "--label", label, "--so-pin", so_pin, "--pin", pin]
    done = subprocess.run(command, env={**os.environ, "SOFTHSM2_CONF": str(config)}, capture_output=True,
                          text=True, check=False, timeout=60)
    if done.returncode != 0:
        reason = " ".join((done.stderr or done.stdout).split()) or f"exit status {done.returncode}"
        raise CardError(f"softhsm2-util could not initialise token '{label}': {reason}")
    return config
