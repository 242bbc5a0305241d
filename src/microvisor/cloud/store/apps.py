"""Apps: an account's co-signed manifests and the layers they list; found by SID or unique name."""

from __future__ import annotations

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from ...common.bundle import Bundle
from ...common.manifest_schema import OpaqueManifest
from ...common.sids import is_sid, new_sid
from ..clock import utc_now
from ..errors import Conflict, InvalidRequest, NotFound
from ..intake import AcceptedApp
from ..models import App, AppLayer, Device
from .crashes import drop_unused_elfs
from .layers import drop_unused_layers, layer_bytes, put_layer


def create_app(session: Session, account_id: int, accepted: AcceptedApp, unique_name: str | None) -> App:
    """Store an accepted (checked, co-signed) app for the account; its layers go in once by hash."""
    bundle = accepted.bundle
    existing = session.scalar(select(App.sid).where(App.account_id == account_id,
                                                    App.manifest_hash == bundle.manifest_hash))
    if existing is not None:
        raise Conflict(f"This account has this app already, as {existing}.")
    if unique_name is not None:
        if session.scalar(select(App.id).where(App.account_id == account_id,
                                               App.unique_name == unique_name)) is not None:
            raise Conflict(f"This account has an app named {unique_name!r} already.")
    now = utc_now()
    app = App(sid=new_sid("KA"), account_id=account_id, unique_name=unique_name,
              manifest_hash=bundle.manifest_hash,
              manifest=bundle.manifest.SerializeToString(deterministic=True),
              date_created=now, date_updated=now)
    for position, digest in enumerate(accepted.layer_hashes):
        put_layer(session, bundle.layers[digest])
        app.layers.append(AppLayer(position=position, layer_hash=digest))
    session.add(app)
    session.flush()
    return app


def apps_statement(account_id: int) -> Select:
    return select(App).where(App.account_id == account_id)


def find_app(session: Session, account_id: int, reference: str) -> App:
    """The account's app by SID or unique name, else NotFound."""
    column = App.sid if is_sid(reference, "KA") else App.unique_name
    app = session.scalar(select(App).where(App.account_id == account_id, column == reference))
    if app is None:
        raise NotFound(f"no app {reference} in this account")
    return app


def target_app(session: Session, account_id: int, reference: str) -> App:
    """The app a device update names (TargetApp); a missing one is a bad parameter, not a missing URL."""
    try:
        return find_app(session, account_id, reference)
    except NotFound:
        raise InvalidRequest(f"TargetApp {reference!r} is not an app of this account.") from None


def delete_app(session: Session, app: App) -> None:
    """Delete an app no device targets; layers no other app uses go with it."""
    targeted_by = session.scalar(select(func.count()).select_from(Device)
                                 .where(Device.target_app_id == app.id))
    if targeted_by:
        raise Conflict(f"App {app.sid} is the target of {targeted_by} device(s); target another app first.")
    digests = {layer.layer_hash for layer in app.layers}
    session.delete(app)
    session.flush()
    drop_unused_layers(session, digests)
    drop_unused_elfs(session)


def app_bundle(session: Session, app: App) -> Bundle:
    """The app as a bundle: its co-signed manifest and its layers."""
    bundle = Bundle(OpaqueManifest.FromString(app.manifest))
    for layer in app.layers:
        data = layer_bytes(session, layer.layer_hash)
        if data is not None:
            bundle.layers[layer.layer_hash] = data
    return bundle


def app_sids_by_hash(session: Session, account_id: int, hashes: set[str]) -> dict[str, str]:
    """Manifest hash → SID of the account's app with that manifest (for what devices report)."""
    if not hashes:
        return {}
    rows = session.execute(select(App.manifest_hash, App.sid).where(App.account_id == account_id,
                                                                     App.manifest_hash.in_(hashes)))
    return {manifest_hash: sid for manifest_hash, sid in rows}
