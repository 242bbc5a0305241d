"""The SPI image's format: a root-anchored signed table of contents, parts checked against it."""

from __future__ import annotations

import json
import struct

import pytest

from microvisor.common import keys, spi_image
from microvisor.common.platform import Platform

PARTS = {"test-program": b"T" * 5000, "kernel": b"K" * 9000, "test-bundle": b"B" * 100,
         "app-bundle": b"A" * 4096}


@pytest.fixture(scope="module")
def platform(tmp_path_factory) -> Platform:
    return Platform.init(tmp_path_factory.mktemp("spi") / "platform")


@pytest.fixture(scope="module")
def image(platform) -> bytes:
    return spi_image.build(platform, PARTS)


def read(data: bytes, root: bytes | None) -> spi_image.SpiImage:
    return spi_image.read(spi_image.file_reader(data), root)


def resign(key: keys.PrivateKey, data: bytes, change) -> bytes:
    """The image with its table of contents changed by `change` and signed again by `key`."""
    _, length = struct.unpack_from("<8sI", data)
    toc = json.loads(data[12:12 + length])
    change(toc)
    raw = json.dumps(toc, sort_keys=True, separators=(",", ":")).encode()
    header = struct.pack("<8sI", b"MVSPIIMG", len(raw)) + raw + keys.sign(key, spi_image.TOC_PREFIX + raw)
    return header + b"\xff" * (spi_image.HEADER_SIZE - len(header)) + data[spi_image.HEADER_SIZE:]


def test_parts_read_back_sector_aligned_and_checked(platform, image):
    toc = read(image, platform.root_key_hash)
    assert [p.offset % spi_image.SECTOR for p in toc.parts.values()] == [0, 0, 0, 0]
    for name, data in PARTS.items():
        assert spi_image.read_part(spi_image.file_reader(image), toc, name) == data
    assert toc.size == toc.parts["app-bundle"].offset + 4096


@pytest.mark.parametrize("where", ["toc", "signature", "part"])
def test_a_tampered_image_is_refused(platform, image, where):
    _, length = struct.unpack_from("<8sI", image)
    offset = {"toc": image.index(b'"offset":') + 9, "signature": 12 + length + 5,
              "part": read(image, None).parts["kernel"].offset + 7}[where]
    changed = image[:offset] + bytes([image[offset] ^ 0x04]) + image[offset + 1:]
    with pytest.raises(spi_image.SpiImageError):
        parsed = read(changed, platform.root_key_hash)
        for name in spi_image.PARTS:
            spi_image.read_part(spi_image.file_reader(changed), parsed, name)


def test_an_image_of_another_platform_is_refused(platform, image, tmp_path):
    other = Platform.init(tmp_path / "other")
    with pytest.raises(spi_image.SpiImageError, match="another platform's root key"):
        read(image, other.root_key_hash)
    forged = spi_image.build(other, PARTS)  # anchored to its own root: refused where ours is trusted
    with pytest.raises(spi_image.SpiImageError, match="another platform"):
        read(forged, platform.root_key_hash)


def test_a_signer_the_root_did_not_delegate_is_refused(platform, image):
    stranger = keys.generate()
    public = keys.raw_public(stranger.public_key()).hex()
    forged = resign(stranger, image, lambda toc: toc.update(signer=public))
    with pytest.raises(spi_image.SpiImageError, match="did not delegate"):
        read(forged, platform.root_key_hash)


@pytest.mark.parametrize(("change", "message"), [
    (lambda toc: toc["parts"].pop(), "lacks"),
    (lambda toc: toc["parts"].append(dict(toc["parts"][0])), "repeated"),
    (lambda toc: toc["parts"][1].update(offset=toc["parts"][0]["offset"]), "overlap"),
    (lambda toc: toc["parts"][0].update(offset=100), "outside"),
    (lambda toc: toc["parts"][0].update(size=spi_image.MAX_IMAGE_SIZE), "outside"),
    (lambda toc: toc["parts"][0].update(name="../etc"), "unknown"),
    (lambda toc: toc["parts"][0].update(sha256="zz"), "malformed"),
    (lambda toc: toc.update(format=2), "expected JSON"),
])
def test_a_signed_but_malformed_table_is_refused(platform, image, change, message):
    with pytest.raises(spi_image.SpiImageError, match=message):
        read(resign(platform.kernel_key, image, change), platform.root_key_hash)


@pytest.mark.parametrize("data", [b"", b"\xff" * 4096, b"MVSPIIMG" + struct.pack("<I", 0xFFFFFFFF),
                                  b"MVSPIIMG" + struct.pack("<I", 3) + b"{}}" + b"\0" * 64,
                                  b"MVSPIIMG" + struct.pack("<I", 4000) + b"[" * 4000 + b"\0" * 64])
def test_garbage_is_refused_with_a_reason(data):
    with pytest.raises(spi_image.SpiImageError):
        read(data, None)


def test_build_refuses_a_missing_part_or_an_oversized_image(platform):
    with pytest.raises(spi_image.SpiImageError, match="exactly these parts"):
        spi_image.build(platform, {k: v for k, v in PARTS.items() if k != "kernel"})
    with pytest.raises(spi_image.SpiImageError, match="at most"):
        spi_image.build(platform, {**PARTS, "app-bundle": b"\0" * spi_image.MAX_IMAGE_SIZE})
