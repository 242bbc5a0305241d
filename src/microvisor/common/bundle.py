"""Bundles: the ZIP of content-addressed layers and a signed manifest; read, write, sign, check."""

from __future__ import annotations

import hashlib
import io
import itertools
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

from google.protobuf.message import DecodeError

from . import keys
from .archive import ArchiveError, ZipLimits, read_zip
from .bundle_format import APP_FLASH_REGION_SIZE, MAX_BUNDLE_FILE
from .manifest_schema import AppBody, KernelBody, NewKeys, NewKeysBody, OpaqueManifest

MANIFEST_ENTRY = "manifest"
MANIFEST_SIGNING_PREFIX = b"twlo-mv-manifest-v1\0"
# Domain separation for key-delegation records (NewKeys): this project's choice, not published.
NEW_KEYS_SIGNING_PREFIX = b"twlo-mv-newkeys-v1\0"
_ZIP_DATE = (1980, 1, 1, 0, 0, 0)
# Within MAX_BUNDLE_FILE (bundle_format), the entries a bundle may hold, checked before any is inflated.
BUNDLE_LIMITS = ZipLimits(max_entries=256, max_entry_size=2 * 1024 * 1024, max_total_size=4 * 1024 * 1024)


class BundleError(Exception):
    """A bundle that cannot be read, or that fails a check; the message says which."""


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@dataclass
class Bundle:
    """A manifest (OpaqueManifest) plus its layers by hash; `extras` are other named entries."""

    manifest: OpaqueManifest
    layers: dict[str, bytes] = field(default_factory=dict)
    extras: dict[str, bytes] = field(default_factory=dict)

    # --- reading and writing ------------------------------------------------------------------
    @classmethod
    def from_bytes(cls, data: bytes) -> Bundle:
        """A bundle from a ZIP archive, read within BUNDLE_LIMITS; BundleError says what is wrong."""
        if len(data) > MAX_BUNDLE_FILE:
            raise BundleError(f"not a bundle: {len(data)} bytes is more than the {MAX_BUNDLE_FILE} a bundle "
                              "may have")
        try:
            entries = read_zip(data, BUNDLE_LIMITS)
        except ArchiveError as exc:
            raise BundleError(f"not a bundle: {exc}") from None
        if MANIFEST_ENTRY not in entries:
            raise BundleError("not a bundle: it has no 'manifest' entry")
        try:
            manifest = OpaqueManifest.FromString(entries.pop(MANIFEST_ENTRY))
        except DecodeError:
            raise BundleError("the bundle's manifest is not a valid OpaqueManifest") from None
        layers = {name: data for name, data in entries.items() if _is_hash_name(name)}
        extras = {name: data for name, data in entries.items() if name not in layers}
        return cls(manifest, layers, extras)

    @classmethod
    def read(cls, path: Path) -> Bundle:
        try:
            with open(path, "rb") as handle:
                data = handle.read(MAX_BUNDLE_FILE + 1)
        except OSError as exc:
            raise BundleError(f"cannot read {path}: {exc.strerror or exc}") from None
        return cls.from_bytes(data)

    def to_bytes(self) -> bytes:
        """The ZIP archive, byte-for-byte reproducible for the same content."""
        out = io.BytesIO()
        with zipfile.ZipFile(out, "w") as archive:
            entries = {MANIFEST_ENTRY: self.manifest.SerializeToString(deterministic=True)}
            entries.update(self.layers)
            entries.update(self.extras)
            for name in sorted(entries):
                info = zipfile.ZipInfo(name, _ZIP_DATE)
                info.compress_type = zipfile.ZIP_DEFLATED
                archive.writestr(info, entries[name])
        return out.getvalue()

    def write(self, path: Path) -> None:
        Path(path).write_bytes(self.to_bytes())

    # --- what the manifest says ---------------------------------------------------------------
    @property
    def body(self) -> bytes:
        return self.manifest.body

    @property
    def manifest_hash(self) -> str:
        """SHA-256 of the manifest body: names an application whoever signed it."""
        return sha256_hex(self.manifest.body)

    def app_body(self) -> AppBody:
        return _parse(AppBody, self.manifest.body, "application manifest")

    def kernel_body(self) -> KernelBody:
        return _parse(KernelBody, self.manifest.body, "kernel manifest")

    # --- signatures ---------------------------------------------------------------------------
    def signed_bytes(self) -> bytes:
        return MANIFEST_SIGNING_PREFIX + self.manifest.body

    def signatures(self) -> list[tuple[int, bytes]]:
        """(signer id, signature) of the primary signature and every countersignature."""
        found = []
        if self.manifest.signer_id or self.manifest.signature:
            found.append((self.manifest.signer_id, self.manifest.signature))
        found += [(c.signer_id, c.signature) for c in self.manifest.countersignatures]
        return found

    @property
    def signed(self) -> bool:
        return bool(self.signatures())

    def sign(self, key: keys.PrivateKey) -> None:
        """Add key's signature: the primary one on an unsigned bundle, else a countersignature."""
        sid = keys.signer_id(key.public_key())
        if any(signer == sid for signer, _ in self.signatures()):
            return
        signature = keys.sign(key, self.signed_bytes())
        if not self.signed:
            self.manifest.signer_id, self.manifest.signature = sid, signature
        else:
            self.manifest.countersignatures.add(signer_id=sid, signature=signature)

    def signed_by(self, key: keys.PublicKey) -> bool:
        sid = keys.signer_id(key)
        message = self.signed_bytes()
        return any(signer == sid and keys.verify(key, signature, message)
                   for signer, signature in self.signatures())

    def check_signers(self, trusted: list[keys.PublicKey], required: list[keys.PublicKey] = ()) -> None:
        """Raise BundleError unless one trusted key and every required key signed the manifest."""
        if not self.signed:
            raise BundleError("the manifest is not signed")
        if not any(self.signed_by(key) for key in trusted):
            raise BundleError("the manifest is not signed by a key this device trusts")
        for key in required:
            if not self.signed_by(key):
                raise BundleError(f"the manifest lacks the required signature of key "
                                  f"{keys.signer_id(key):016x}")

    # --- layers -------------------------------------------------------------------------------
    def layer(self, fetch_hash: bytes) -> bytes:
        """The bytes of a layer, checked against its hash."""
        name = fetch_hash.hex()
        if name not in self.layers:
            raise BundleError(f"layer {name[:16]}… is missing from the bundle")
        data = self.layers[name]
        if sha256_hex(data) != name:
            raise BundleError(f"layer {name[:16]}… does not match its hash (tampered)")
        return data


def _is_hash_name(name: str) -> bool:
    return len(name) == 64 and all(c in "0123456789abcdef" for c in name)


def _parse(message_type, body: bytes, what: str):
    try:
        return message_type.FromString(body)
    except DecodeError:
        raise BundleError(f"the {what} body cannot be decoded") from None


# --- applications ------------------------------------------------------------------------------
def padded(data: bytes, size: int) -> bytes:
    return bytes(data) + b"\xff" * (size - len(data))


def build_app(image: bytes, body: AppBody | None = None, *, layer_size: int | None = None) -> Bundle:
    """An unsigned application bundle for a flat image at the start of application flash.

    One layer covering the whole 1 MiB (as the official tool does), or with layer_size, one
    layer per layer_size bytes of image so that an update ships only the slices that changed.
    Without a body, the published bundler's with its default options: empty update and
    connectivity policies (present, as it always sets them) and nothing else.
    """
    if not image:
        raise BundleError("the application image is empty")
    if len(image) > APP_FLASH_REGION_SIZE:
        raise BundleError(f"the application image of {len(image)} bytes exceeds the "
                          f"{APP_FLASH_REGION_SIZE}-byte application flash")
    if body is None:
        body = AppBody()
        body.update.SetInParent()
        body.connectivity.SetInParent()
    del body.layers[:]
    bundle = Bundle(OpaqueManifest())
    spans = [(0, APP_FLASH_REGION_SIZE)] if layer_size is None else [
        (start, min(layer_size, APP_FLASH_REGION_SIZE - start))
        for start in range(0, len(image), layer_size)]
    for start, size in spans:
        data = image[start : start + size]
        layer = body.layers.add()
        layer.target.internal_flash.start, layer.target.internal_flash.size = start, size
        layer.fetch_hash = hashlib.sha256(data).digest()
        layer.measurement_hash = hashlib.sha256(padded(data, size)).digest()
        bundle.layers[sha256_hex(data)] = data
    bundle.manifest.body = body.SerializeToString(deterministic=True)
    return bundle


def app_image_spans(bundle: Bundle) -> list[tuple[int, int, bytes]]:
    """(start, size, bytes) of each application layer, checked: hashes, targets, no overlap."""
    body = bundle.app_body()
    if not body.layers:
        raise BundleError("the application manifest lists no layers")
    spans = []
    for layer in body.layers:
        if layer.target.WhichOneof("where") != "internal_flash":
            raise BundleError("layers for external flash are not supported by this kernel")
        if layer.encrypted_with_key_id:
            raise BundleError("encrypted layers are not supported by this kernel")
        region = layer.target.internal_flash
        if region.size == 0 or region.start + region.size > APP_FLASH_REGION_SIZE:
            raise BundleError(f"a layer targets {region.start:#x}+{region.size:#x}, outside "
                              "the application flash")
        data = bundle.layer(layer.fetch_hash)
        if len(data) > region.size:
            raise BundleError("a layer is larger than its target region")
        if hashlib.sha256(padded(data, region.size)).digest() != layer.measurement_hash:
            raise BundleError("a layer's measurement hash does not match its bytes")
        spans.append((region.start, region.size, data))
    spans.sort()
    for (a_start, a_size, _), (b_start, _, _) in itertools.pairwise(spans):
        if a_start + a_size > b_start:
            raise BundleError("two layers target overlapping flash")
    return spans


# --- key delegation ----------------------------------------------------------------------------
def delegate(root: keys.PrivateKey, signers: list[keys.PublicKey]) -> NewKeys:
    """A NewKeys record, signed by root, that adds `signers` as manifest signers."""
    body = NewKeysBody(add_manifest_signers=[keys.raw_public(k) for k in signers])
    raw = body.SerializeToString(deterministic=True)
    return NewKeys(signer_id=keys.signer_id(root.public_key()), body=body,
                   signature=keys.sign(root, NEW_KEYS_SIGNING_PREFIX + raw))


def delegated_signers(record: bytes, root: keys.PublicKey) -> list[keys.PublicKey]:
    """The manifest signers a serialized NewKeys record adds, if root signed it (else BundleError)."""
    try:
        new_keys = NewKeys.FromString(record)
    except DecodeError:
        raise BundleError("a key-delegation record cannot be decoded") from None
    raw = new_keys.body.SerializeToString(deterministic=True)
    if new_keys.signer_id != keys.signer_id(root) or not keys.verify(
            root, new_keys.signature, NEW_KEYS_SIGNING_PREFIX + raw):
        raise BundleError("a key-delegation record is not signed by the root key")
    try:
        return [keys.from_raw_public(k) for k in new_keys.body.add_manifest_signers]
    except keys.KeyFileError as exc:
        raise BundleError(f"a key-delegation record holds a bad key ({exc})") from None
