"""P-256 keys: generate, save and load PEM files, raw signatures, and the format's signer ids."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature, encode_dss_signature

PrivateKey = ec.EllipticCurvePrivateKey
PublicKey = ec.EllipticCurvePublicKey

RAW_PUBLIC_SIZE = 65  # X9.62 uncompressed: 0x04 || X || Y
SIGNATURE_SIZE = 64  # r || s, 32 bytes each, big-endian


class KeyFileError(Exception):
    """A key file or key bytes that cannot be used (missing, unreadable, wrong curve)."""




def generate() -> PrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def public_pem_path(path: Path) -> Path:
    """OUT.pem → OUT.pub.pem (the public half next to the private key)."""
    path = Path(path)
    return path.with_name(path.name.removesuffix(".pem") + ".pub.pem")


def private_pem(key: PrivateKey) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def public_pem(key: PublicKey) -> bytes:
    return key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)


def write_private(path: Path, data: bytes) -> None:
    """Write secret bytes to a new file readable by its owner only (never through a wider mode)."""
    path = Path(path)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "wb") as out:
        out.write(data)


def save_pair(path: Path, key: PrivateKey) -> tuple[Path, Path]:
    """Write PATH (private, 0600) and PATH's .pub.pem; refuses to overwrite either."""
    path = Path(path)
    public = public_pem_path(path)
    for target in (path, public):
        if target.exists():
            raise KeyFileError(f"{target} already exists; not overwriting a key")
    write_private(path, private_pem(key))
    public.write_bytes(public_pem(key.public_key()))
    return path, public


def load_private(path: Path) -> PrivateKey:
    try:
        key = serialization.load_pem_private_key(Path(path).read_bytes(), password=None)
    except OSError as exc:
        raise KeyFileError(f"cannot read key {path}: {exc.strerror or exc}") from None
    except (ValueError, TypeError) as exc:
        raise KeyFileError(f"{path} is not an unencrypted PEM private key ({exc})") from None
    return _p256(key, path)


def load_public(path: Path) -> PublicKey:
    """A public key from a PEM public key, or the public half of a PEM private key."""
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise KeyFileError(f"cannot read key {path}: {exc.strerror or exc}") from None
    try:
        return _p256(serialization.load_pem_public_key(data), path)
    except (ValueError, TypeError):
        pass
    try:
        return _p256(serialization.load_pem_private_key(data, password=None), path).public_key()
    except (ValueError, TypeError):
        raise KeyFileError(f"{path} is not a PEM P-256 key") from None


def _p256(key, path) -> ec.EllipticCurvePrivateKey | ec.EllipticCurvePublicKey:
    if not isinstance(key, ec.EllipticCurvePrivateKey | ec.EllipticCurvePublicKey) or not isinstance(
            key.curve, ec.SECP256R1):
        raise KeyFileError(f"{path} is not a NIST P-256 key")
    return key


def raw_public(key: PublicKey) -> bytes:
    """X9.62 uncompressed point, 65 bytes."""
    return key.public_bytes(serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)


def from_raw_public(data: bytes) -> PublicKey:
    if len(data) != RAW_PUBLIC_SIZE or data[0] != 4:
        raise KeyFileError(f"a P-256 public key is {RAW_PUBLIC_SIZE} bytes starting 0x04")
    try:
        return ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), bytes(data))
    except ValueError as exc:
        raise KeyFileError(f"not a point on P-256 ({exc})") from None


def signer_id(key: PublicKey | bytes) -> int:
    """First 8 bytes (big-endian) of SHA-256(00 00 || X9.62 uncompressed public key)."""
    raw = key if isinstance(key, bytes) else raw_public(key)
    return int.from_bytes(hashlib.sha256(b"\0\0" + raw).digest()[:8], "big")


def sign(key: PrivateKey, data: bytes) -> bytes:
    """ECDSA P-256 / SHA-256 over data, as 64 bytes r || s."""
    r, s = decode_dss_signature(key.sign(data, ec.ECDSA(hashes.SHA256())))
    return r.to_bytes(32, "big") + s.to_bytes(32, "big")


def verify(key: PublicKey, signature: bytes, data: bytes) -> bool:
    if len(signature) != SIGNATURE_SIZE:
        return False
    r, s = int.from_bytes(signature[:32], "big"), int.from_bytes(signature[32:], "big")
    try:
        key.verify(encode_dss_signature(r, s), data, ec.ECDSA(hashes.SHA256()))
    except (InvalidSignature, ValueError):
        return False
    return True
