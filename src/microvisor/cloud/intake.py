"""What the service accepts as an app: a readable bundle, sound layers, signatures that hold; then co-signed.

The rule: a bundle may be unsigned or signed; every signature it carries must verify over its
manifest as the key its signer id names (checked by key recovery, see signature_check), or the
upload is refused. The service then adds the platform's app-signing signature, which devices
require; a customer's signature stays the primary one.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..common import keys
from ..common.bundle import Bundle, BundleError, app_image_spans
from .errors import InvalidRequest
from .signature_check import signature_problem

MAX_BUNDLE_SIZE = 8 * 1024 * 1024


@dataclass
class AcceptedApp:
    bundle: Bundle  # co-signed; its layers are exactly those the manifest lists
    layer_hashes: list[str]  # in manifest order


def accept_bundle(data: bytes, app_key: keys.PrivateKey) -> AcceptedApp:
    """Check an uploaded bundle and co-sign it, or raise InvalidRequest saying why not."""
    if len(data) > MAX_BUNDLE_SIZE:
        raise InvalidRequest(f"The bundle is {len(data)} bytes; the limit is {MAX_BUNDLE_SIZE}.")
    try:
        bundle = Bundle.from_bytes(data)
        app_image_spans(bundle)
    except BundleError as exc:
        raise InvalidRequest(f"The bundle is refused: {exc}.") from None
    problem = signature_problem(bundle)
    if problem is not None:
        raise InvalidRequest(f"The bundle is refused: {problem}.")
    hashes = [layer.fetch_hash.hex() for layer in bundle.app_body().layers]
    bundle.layers = {digest: bundle.layers[digest] for digest in hashes}
    bundle.extras = {}
    bundle.sign(app_key)
    return AcceptedApp(bundle, hashes)
