"""App layers, content-addressed: stored once by SHA-256 whichever apps share them."""

from __future__ import annotations

from sqlalchemy import delete, exists, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from ...common.bundle import sha256_hex
from ..clock import utc_now
from ..models import AppLayer, Layer


def put_layer(session: Session, data: bytes) -> str:
    """Store the bytes unless a layer with their hash is stored already; returns the hash."""
    digest = sha256_hex(data)
    if session.scalar(select(Layer.hash).where(Layer.hash == digest)) is None:
        try:
            with session.begin_nested():  # another upload may store the same layer concurrently
                session.add(Layer(hash=digest, size=len(data), data=data, date_created=utc_now()))
        except IntegrityError:
            pass
    return digest


def layer_bytes(session: Session, digest: str) -> bytes | None:
    return session.scalar(select(Layer.data).where(Layer.hash == digest))


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
