"""App layers, content-addressed: stored once by SHA-256 whichever apps share them."""

from __future__ import annotations

import logging

from sqlalchemy import delete, exists, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from ...common.bundle import sha256_hex
from ..clock import utc_now
from ..models import AppLayer, Device, Layer

log = logging.getLogger(__name__)


def put_layer(session: Session, data: bytes) -> str:
    """Store the bytes unless a sound layer with their hash is stored already; returns the hash.

    A stored copy is reused only after its bytes are checked against the hash; a damaged one is
    replaced by these bytes."""
    digest = sha256_hex(data)
    stored = session.get(Layer, digest)
    if stored is not None:
        if sha256_hex(stored.data) != digest:
            log.warning("stored layer %s was damaged; replaced by the uploaded bytes", digest[:16])
            stored.data, stored.size = data, len(data)
            session.flush()
        return digest
    try:
        with session.begin_nested():  # another upload may store the same layer concurrently
            session.add(Layer(hash=digest, size=len(data), data=data, date_created=utc_now()))
    except IntegrityError:
        pass
    return digest


def layer_bytes(session: Session, digest: str) -> bytes | None:
    """A stored layer's bytes, or None when there is none or what is stored no longer matches its hash."""
    data = session.scalar(select(Layer.data).where(Layer.hash == digest))
    if data is not None and sha256_hex(data) != digest:
        log.error("stored layer %s is damaged; an upload that carries it will repair it", digest[:16])
        return None
    return data


def targets_layer(session: Session, device: Device, digest: str) -> bool:
    """Whether the device's target app lists the layer."""
    if device.target_app_id is None:
        return False
    return session.scalar(select(AppLayer.app_id).where(AppLayer.app_id == device.target_app_id,
                                                        AppLayer.layer_hash == digest).limit(1)) is not None


def drop_unused_layers(session: Session, digests: set[str]) -> int:
    """Delete those of digests no app refers to any more; returns how many went."""
    if not digests:
        return 0
    used = exists().where(AppLayer.layer_hash == Layer.hash)
    result = session.execute(delete(Layer).where(Layer.hash.in_(digests), ~used)
                             .execution_options(synchronize_session=False))
    return result.rowcount or 0


def stored_layer_count(session: Session, digests: set[str] | None = None) -> int:
    """How many layers are stored (of digests, when given)."""
    statement = select(func.count()).select_from(Layer)
    if digests is not None:
        statement = statement.where(Layer.hash.in_(digests))
    return session.scalar(statement) or 0
