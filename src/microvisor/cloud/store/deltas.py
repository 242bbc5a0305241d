"""Patches from an installed app's image to a layer of a target app (common/delta.py), made once and kept."""

from __future__ import annotations

import logging

from google.protobuf.message import DecodeError
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from ...common import delta
from ...common.bundle import Bundle, BundleError, sha256_hex
from ...common.manifest_schema import OpaqueManifest
from ..clock import utc_now
from ..models import App, AppLayer, Device, LayerDelta
from .layers import layer_bytes

log = logging.getLogger(__name__)


def source(session: Session, app: App) -> tuple[bytes, str] | None:
    """The image a device running `app` holds (common/delta.py) and its hash; None when a layer is missing
    or damaged, or the manifest cannot be read."""
    try:
        body = Bundle(OpaqueManifest.FromString(app.manifest)).app_body()
    except (DecodeError, BundleError, ValueError):
        return None
    parts = []
    for layer in body.layers:
        data = layer_bytes(session, layer.fetch_hash.hex())
        size = layer.target.internal_flash.size
        if data is None or len(data) > size:
            return None
        parts.append((data, size))
    image = delta.source_image(parts)
    return image, delta.source_hash(image)


def find(session: Session, source_hash: str, layer_hash: str) -> LayerDelta | None:
    """The kept patch from this source to this layer, unless what is kept no longer matches its hash."""
    row = session.get(LayerDelta, (source_hash, layer_hash))
    if row is not None and sha256_hex(row.data) != row.delta_hash:
        log.error("stored patch %s is damaged; it is made again", row.delta_hash[:16])
        return None
    return row


def put(session: Session, source_hash: str, layer_hash: str, data: bytes) -> None:
    """Keep a patch, in place of a damaged one (another process may have kept the same a moment ago)."""
    row = session.get(LayerDelta, (source_hash, layer_hash))
    if row is not None:
        row.delta_hash, row.size, row.data, row.date_created = sha256_hex(data), len(data), data, utc_now()
        session.flush()
        return
    try:
        with session.begin_nested():
            session.add(LayerDelta(source_hash=source_hash, layer_hash=layer_hash,
                                   delta_hash=sha256_hex(data), size=len(data), data=data,
                                   date_created=utc_now()))
    except IntegrityError:
        pass


def delta_bytes(session: Session, delta_hash: str) -> bytes | None:
    """A kept patch's bytes by their hash, unless what is kept no longer matches it."""
    data = session.scalar(select(LayerDelta.data).where(LayerDelta.delta_hash == delta_hash).limit(1))
    if data is not None and sha256_hex(data) != delta_hash:
        log.error("stored patch %s is damaged; it is not served", delta_hash[:16])
        return None
    return data


def targets_delta(session: Session, device: Device, delta_hash: str) -> bool:
    """Whether the patch makes a layer of the device's target app."""
    if device.target_app_id is None:
        return False
    statement = (select(LayerDelta.layer_hash)
                 .join(AppLayer, AppLayer.layer_hash == LayerDelta.layer_hash)
                 .where(LayerDelta.delta_hash == delta_hash, AppLayer.app_id == device.target_app_id))
    return session.scalar(statement.limit(1)) is not None
