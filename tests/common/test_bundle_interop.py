"""Bundles against an independent, minimal implementation of the published rules (bundle-format.md)."""

from __future__ import annotations

import hashlib
import io
import zipfile

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature, encode_dss_signature

from microvisor.common import keys
from microvisor.common.bundle import Bundle, BundleError, app_image_spans, build_app

PREFIX = b"twlo-mv-manifest-v1\x00"
APP_REGION = 0x100000


# --- the independent implementation: protobuf wire format by hand ------------------------------
def varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte, value = value & 0x7F, value >> 7
        out.append(byte | (0x80 if value else 0))
        if not value:
            return bytes(out)


def field_varint(number: int, value: int) -> bytes:
    return varint(number << 3) + varint(value)


def field_bytes(number: int, value: bytes) -> bytes:
    return varint(number << 3 | 2) + varint(len(value)) + value


def parse(message: bytes) -> dict[int, list]:
    """Fields of one message: number -> values (ints or bytes); unknown numbers kept too."""
    fields: dict[int, list] = {}
    position = 0

    def read_varint() -> int:
        nonlocal position
        result = shift = 0
        while True:
            byte = message[position]
            position += 1
            result |= (byte & 0x7F) << shift
            shift += 7
            if not byte & 0x80:
                return result

    while position < len(message):
        key = read_varint()
        number, wire = key >> 3, key & 7
        if wire == 0:
            value = read_varint()
        elif wire == 2:
            length = read_varint()
            value = message[position : position + length]
            position += length
        else:
            raise ValueError(f"wire type {wire}")
        fields.setdefault(number, []).append(value)
    return fields


def minimal_signer_id(public: ec.EllipticCurvePublicKey) -> int:
    raw = public.public_bytes(serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)
    return int.from_bytes(hashlib.sha256(b"\x00\x00" + raw).digest()[:8], "big")


def minimal_sign(key: ec.EllipticCurvePrivateKey, body: bytes) -> bytes:
    r, s = decode_dss_signature(key.sign(PREFIX + body, ec.ECDSA(hashes.SHA256())))
    return r.to_bytes(32, "big") + s.to_bytes(32, "big")


def minimal_bundle(image: bytes, key: ec.EllipticCurvePrivateKey, stack_bytes: int) -> bytes:
    padded = image + b"\xff" * (APP_REGION - len(image))
    region = field_bytes(1, field_varint(2, APP_REGION))  # internal_flash {start 0, size 1 MiB}
    layer = (field_bytes(1, region) + field_bytes(3, hashlib.sha256(image).digest())
             + field_bytes(4, hashlib.sha256(padded).digest()))
    body = field_bytes(1, layer) + field_bytes(3, field_varint(4, stack_bytes))
    manifest = (field_varint(1, minimal_signer_id(key.public_key())) + field_bytes(2, body)
                + field_bytes(3, minimal_sign(key, body)))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        archive.writestr("manifest", manifest)
        archive.writestr(hashlib.sha256(image).hexdigest(), image)
    return out.getvalue()


def minimal_verify(data: bytes, public: ec.EllipticCurvePublicKey) -> bytes:
    """Check a bundle by the published rules only; returns the manifest body."""
    archive = zipfile.ZipFile(io.BytesIO(data))
    manifest = parse(archive.read("manifest"))
    body, signature = manifest[2][0], manifest[3][0]
    assert manifest[1][0] == minimal_signer_id(public)
    r, s = int.from_bytes(signature[:32], "big"), int.from_bytes(signature[32:], "big")
    public.verify(encode_dss_signature(r, s), PREFIX + body, ec.ECDSA(hashes.SHA256()))
    for layer in parse(body)[1]:
        fields = parse(layer)
        data_ = archive.read(fields[3][0].hex())
        assert hashlib.sha256(data_).digest() == fields[3][0]
        size = parse(parse(fields[1][0])[1][0])[2][0]
        assert hashlib.sha256(data_ + b"\xff" * (size - len(data_))).digest() == fields[4][0]
    return body


IMAGE = bytes(range(256)) * 40 + b"\x01\x02\x03"


def test_a_bundle_made_by_the_published_rules_verifies_here():
    key = ec.generate_private_key(ec.SECP256R1())
    bundle = Bundle.from_bytes(minimal_bundle(IMAGE, key, stack_bytes=96))
    bundle.check_signers([key.public_key()])
    assert bundle.app_body().crash.include_stack_bytes == 96
    [(start, size, data)] = app_image_spans(bundle)
    assert (start, size, data) == (0, APP_REGION, IMAGE)
    assert keys.signer_id(key.public_key()) == minimal_signer_id(key.public_key())


def test_our_bundle_is_readable_by_the_published_rules_even_when_co_signed():
    customer, platform = keys.generate(), keys.generate()
    bundle = build_app(IMAGE)
    bundle.sign(customer)
    bundle.sign(platform)  # the co-signature travels in a field the published schema does not know
    data = bundle.to_bytes()
    body = minimal_verify(data, customer.public_key())
    assert body == bundle.body
    again = Bundle.from_bytes(data)
    assert again.signed_by(customer.public_key()) and again.signed_by(platform.public_key())
    assert data == again.to_bytes()  # reproducible


def test_tampering_is_found():
    key = keys.generate()
    bundle = build_app(IMAGE)
    bundle.sign(key)
    [name] = bundle.layers
    tampered_layer = Bundle.from_bytes(bundle.to_bytes())
    tampered_layer.layers[name] = IMAGE[:-1] + b"\x00"
    with pytest.raises(BundleError, match="does not match its hash"):
        app_image_spans(tampered_layer)
    tampered_body = Bundle.from_bytes(bundle.to_bytes())
    tampered_body.manifest.body = tampered_body.manifest.body[:-1] + b"\x01"
    assert not tampered_body.signed_by(key.public_key())
    with pytest.raises(BundleError, match="not signed by a key this device trusts"):
        tampered_body.check_signers([key.public_key()])
    with pytest.raises(BundleError, match="not signed"):
        build_app(IMAGE).check_signers([key.public_key()])


def test_not_a_bundle_is_one_clear_error(tmp_path):
    with pytest.raises(BundleError, match="ZIP"):
        Bundle.from_bytes(b"not a zip")
    empty = io.BytesIO()
    zipfile.ZipFile(empty, "w").close()
    with pytest.raises(BundleError, match="no 'manifest'"):
        Bundle.from_bytes(empty.getvalue())
