"""What the service accepts as an app: a readable bundle, sound layers, signatures by the account's keys.

The rule: an unsigned bundle is accepted (the development flow; the platform's signature is all it
gets). A signed bundle is accepted only when every signature it carries is by a key the account has
registered (/v1/SigningKeys) and verifies over the manifest; a signature the platform itself made
earlier (a bundle downloaded from the service) also counts when it verifies. The service then adds
the platform's app-signing signature, which devices require; a customer's signature stays the
primary one.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from ..common import keys
from ..common.bundle import Bundle, BundleError, app_image_spans
from .errors import InvalidRequest


@dataclass
class AcceptedApp:
    bundle: Bundle  # co-signed; its layers are exactly those the manifest lists
    layer_hashes: list[str]  # in manifest order


def read_bundle(data: bytes) -> Bundle:
    """A bundle whose manifest and layers are sound (read within the bundle limits of common/bundle.py),
    or InvalidRequest saying why not."""
    try:
        bundle = Bundle.from_bytes(data)
        app_image_spans(bundle)
    except BundleError as exc:
        raise InvalidRequest(f"The bundle is refused: {exc}.") from None
    return bundle


def signer_ids(bundle: Bundle) -> set[int]:
    return {signer for signer, _ in bundle.signatures()}


def signature_problem(bundle: Bundle, known: Mapping[int, keys.PublicKey]) -> str | None:
    """Why the bundle's signatures are not acceptable with these keys (signer id → key), or None."""
    seen: set[int] = set()
    for signer, _ in bundle.signatures():
        if signer in seen:  # signed_by accepts any one of them; a repeat could hide a bad signature
            return f"it carries more than one signature by key {signer:016x}"
        seen.add(signer)
        key = known.get(signer)
        if key is None:
            return f"it is signed by key {signer:016x} that this account has not registered"
        if not bundle.signed_by(key):
            return f"its signature by key {signer:016x} does not verify over the manifest"
    return None


def accept_bundle(bundle: Bundle, app_key: keys.PrivateKey,
                  registered: Mapping[int, keys.PublicKey]) -> AcceptedApp:
    """Check a read bundle's signatures against the account's registered keys (signer id → key) and
    co-sign it, or raise InvalidRequest saying why not."""
    platform = app_key.public_key()
    problem = signature_problem(bundle, {**registered, keys.signer_id(platform): platform})
    if problem is not None:
        raise InvalidRequest(f"The bundle is refused: {problem}.")
    hashes = [layer.fetch_hash.hex() for layer in bundle.app_body().layers]
    bundle.layers = {digest: bundle.layers[digest] for digest in hashes}
    bundle.extras = {}
    bundle.sign(app_key)
    return AcceptedApp(bundle, hashes)
