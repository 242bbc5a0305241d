"""Check a bundle's signatures without the signers' keys: recover each key from its signature, match its id.

An ECDSA signature (r, s) over a message admits at most four public keys that verify it; one of
them has the signer id the manifest claims exactly when the signature is that signer's over this
very manifest (a forged or altered manifest recovers unrelated keys). So the service can refuse a
tampered bundle from a customer whose public key it has never seen.
"""

from __future__ import annotations

import hashlib

from ..common import keys
from ..common.bundle import Bundle

# NIST P-256 (SEC 2 secp256r1)
_P = 0xFFFFFFFF00000001000000000000000000000000FFFFFFFFFFFFFFFFFFFFFFFF
_A = _P - 3
_B = 0x5AC635D8AA3A93E7B3EBBD55769886BC651D06B0CC53B0F63BCE3C3E27D2604B
_N = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551
_G = (0x6B17D1F2E12C4247F8BCE6E563A440F277037D812DEB33A0F4A13945D898C296,
      0x4FE342E2FE1A7F9B8EE7EB4A7C0F9E162BCE33576B315ECECBB6406837BF51F5)

Point = tuple[int, int] | None  # None is the point at infinity


def _add(first: Point, second: Point) -> Point:
    if first is None:
        return second
    if second is None:
        return first
    (x1, y1), (x2, y2) = first, second
    if x1 == x2:
        if (y1 + y2) % _P == 0:
            return None
        slope = (3 * x1 * x1 + _A) * pow(2 * y1, -1, _P) % _P
    else:
        slope = (y2 - y1) * pow(x2 - x1, -1, _P) % _P
    x3 = (slope * slope - x1 - x2) % _P
    return x3, (slope * (x1 - x3) - y1) % _P


def _multiply(scalar: int, point: Point) -> Point:
    result: Point = None
    addend = point
    scalar %= _N
    while scalar:
        if scalar & 1:
            result = _add(result, addend)
        addend = _add(addend, addend)
        scalar >>= 1
    return result


def recover_public_keys(signature: bytes, message: bytes) -> list[bytes]:
    """Every P-256 public key (X9.62 uncompressed) for which signature is valid over message."""
    if len(signature) != keys.SIGNATURE_SIZE:
        return []
    r, s = int.from_bytes(signature[:32], "big"), int.from_bytes(signature[32:], "big")
    if not (0 < r < _N and 0 < s < _N):
        return []
    digest = int.from_bytes(hashlib.sha256(message).digest(), "big")
    r_inverse = pow(r, -1, _N)
    found = []
    for x in (r, r + _N):
        if x >= _P:
            continue
        alpha = (pow(x, 3, _P) + _A * x + _B) % _P
        beta = pow(alpha, (_P + 1) // 4, _P)  # p ≡ 3 (mod 4)
        if beta * beta % _P != alpha:
            continue
        for y in (beta, _P - beta):
            candidate = _add(_multiply(s * r_inverse, (x, y)), _multiply(-digest * r_inverse, _G))
            if candidate is not None:
                found.append(b"\x04" + candidate[0].to_bytes(32, "big") + candidate[1].to_bytes(32, "big"))
    return found


def signature_problem(bundle: Bundle) -> str | None:
    """Why one of the bundle's signatures does not hold over its manifest, or None when all hold."""
    message = bundle.signed_bytes()
    for signer, signature in bundle.signatures():
        matching = [raw for raw in recover_public_keys(signature, message) if keys.signer_id(raw) == signer]
        if not any(keys.verify(keys.from_raw_public(raw), signature, message) for raw in matching):
            return f"the signature of signer {signer:016x} does not verify over the manifest"
    return None
