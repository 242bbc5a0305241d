"""The update client: fetch the layers a target app needs that the device lacks, stage them, restart politely.

What it does with the desired state the service sends (common/link.py `desired`):

- The target's manifest is checked first (its hash, and signatures by a key the ROM-verified kernel
  trusts plus every customer key): a manifest that fails is reported as ERROR_VERIFY and not fetched.
- Layers whose bytes the device already holds (the running app's flash, at the layer's own target or
  where an installed layer with the same hash sits) are taken from flash; only the others are fetched,
  in chunks the service hashes, through the QSPI download store (kernel/download_store.py), so a cut
  link or lost power never fetches a verified chunk again.
- A layer the device lacks comes as a patch (common/delta.py) when the service offers one made from the
  very image the installed app's layers hold in flash (its hash says so): the patch is fetched like a
  layer, applied, and the layer it makes must have the manifest's hash; a patch that fails is dropped and
  the target fetched again as whole layers.
- With every layer present and its hash checked, the bundle is staged for the ROM (device/staging.py),
  the application is told (system notification UPDATE) and the device restarts through the ROM when the
  running app's maximum_politeness_time_sec (capped by a deployment's politeness_s) has passed (0: at
  once), or earlier when the app calls
  mvRestart(AUTOAPPLYUPDATE).
- After the restart the service learns the new manifest hash from the device's hello; when the ROM
  discarded the staged update instead, the next boot reports ERROR_ROM_REJECTED. A failed target is
  not tried again until the service targets another app.
"""

from __future__ import annotations

import base64
import hashlib
import logging
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from google.protobuf.message import DecodeError

from ..common import delta, keys
from ..common import link as wire
from ..common.bundle import Bundle, BundleError, app_image_spans
from ..common.manifest_schema import OpaqueManifest
from ..common.mv_abi import MvNetworkReason, MvSystemNotificationSource
from ..device.boot_rom import BootError, BootRom
from ..device.clock import NS_PER_S, Timer
from ..device.flash import FlashError
from ..device.identity import read_identity
from ..device.memory_map import APP_FLASH_SIZE
from ..device.staging import KIND_APP, Staging, StagingError
from ..device.state import APP_FLASH_ARRAY_OFFSET
from .download_store import DownloadStore, DownloadStoreError, LayerPlan, Plan

if TYPE_CHECKING:
    from .microvisor import Microvisor

log = logging.getLogger(__name__)

WINDOW = 16  # chunks asked for and not yet received
STALL_S = 5.0  # ask again for chunks that have not come after this long (real time)
MAX_RETRY_AFTER_MS = 60_000  # the longest a slow-down answer can make the device wait
FACT_STAGED, FACT_FAILED = "staged_update", "failed_update"


def _politeness_cap(value: Any) -> int | None:
    """The desired state's politeness_s: a whole number of seconds from 0 to 2^32-1, else no cap."""
    return value if type(value) is int and 0 <= value <= 0xFFFF_FFFF else None


class UpdateFailed(Exception):
    """An update that cannot be installed: (update_error_code, one sentence)."""

    def __init__(self, code: int, message: str):
        super().__init__(message)
        self.code = code


def install(kernel: Microvisor) -> Fota:
    return Fota(kernel)


class Fota:
    """One device's update client; the link feeds it (`desired`, `on_chunk`, `link_up`, `tick`)."""

    def __init__(self, kernel: Microvisor):
        self.kernel = kernel
        self.send: Callable[[str, dict[str, Any]], bool] = lambda kind, message: False
        self._store: DownloadStore | None = None
        self.target: str | None = None  # manifest hash being fetched or staged
        self.ready = False  # staged: waiting for the politeness time or mvRestart
        self._manifest: OpaqueManifest | None = None
        self._local: dict[str, bytes] = {}  # layers taken from flash, by hash
        self._outstanding: dict[tuple[int, int], float] = {}  # chunk id -> when asked (monotonic)
        self._reported_done = -1
        self._timer: Timer | None = None
        self._pending_report: dict[str, Any] | None = None
        self._politeness_cap: int | None = None  # the service's cap on the app's politeness time
        self._app: dict[str, Any] = {}  # the desired app being fetched, as the service offered it
        self._source: tuple[bytes, str] | None = None  # the installed app's image and its hash (deltas)
        self._no_deltas: str | None = None  # a target whose patches failed: fetched as whole layers

    def application_started(self) -> None:
        """An update being fetched or staged outlives application restarts."""

    @property
    def store(self) -> DownloadStore:
        if self._store is None:
            self._store = DownloadStore(self.kernel.device.state)
        return self._store

    @property
    def fetching(self) -> bool:
        return self.target is not None and not self.ready

    def reasons(self) -> MvNetworkReason:
        return MvNetworkReason.FETCHINGUPDATE if self.fetching else MvNetworkReason.NOTCONNECTING

    # --- after boot ---------------------------------------------------------------------------
    def boot_check(self) -> None:
        """Tidy up after the update the ROM just applied or discarded (runs once the link exists)."""
        storage = self.kernel.storage
        staged = storage.get(FACT_STAGED)
        if staged is None:
            return
        installed = self.kernel.app_manifest_hash
        if installed == staged:
            log.info("update %s installed", staged[:12])
        else:
            outcome = BootRom(self.kernel.device.state).last_outcome() or {}
            reason = outcome.get("reason", "the boot ROM did not install it")
            self._pending_report = {"manifest_hash": staged, "state": "failed", "done": 0, "total": 0,
                                    "error_code": wire.ERROR_ROM_REJECTED, "message": str(reason)}
            storage.put(**{FACT_FAILED: staged})
        storage.put(**{FACT_STAGED: None})
        if self.store.plan is not None:
            self.store.clear()

    # --- the link's side ----------------------------------------------------------------------
    def link_up(self) -> None:
        if self._pending_report is not None and self.send(wire.UPDATE, self._pending_report):
            self._pending_report = None
        self._outstanding.clear()
        if self.fetching:
            self._request()

    def tick(self) -> None:
        now = time.monotonic()
        stale = [chunk for chunk, asked in self._outstanding.items() if now - asked > STALL_S]
        for chunk in stale:
            del self._outstanding[chunk]
        if stale and self.fetching:
            self._request()

    def desired(self, app: dict[str, Any] | None) -> None:
        """The service's target app (None: none)."""
        if app is None:
            return
        wanted = str(app.get("manifest_hash", ""))
        storage = self.kernel.storage
        if wanted == self.kernel.app_manifest_hash or wanted == self.target:
            return
        if storage.get(FACT_FAILED) == wanted:
            return
        if storage.get(FACT_FAILED) is not None:
            storage.put(**{FACT_FAILED: None})
        self._cancel()
        try:
            self._begin(wanted, app)
        except UpdateFailed as exc:
            self._fail(wanted, exc)

    def on_chunk(self, layer: str, index: int, data: bytes) -> None:
        plan = self.store.plan
        if not self.fetching or plan is None:
            return
        found = [position for position, entry in enumerate(plan.layers)
                 if entry.hash == layer and 0 <= index < len(entry.chunks)]
        if not found:
            return
        position = found[0]
        entry = plan.layers[position]
        self._outstanding.pop((position, index), None)
        if hashlib.sha256(data).hexdigest() != entry.chunks[index] or self.store.have(position, index):
            self._request()
            return
        try:
            self.store.put(position, index, data)
        except FlashError as exc:
            self._fail(self.target, UpdateFailed(wire.ERROR_DOWNLOAD, f"cannot store a chunk: {exc}"))
            return
        self._progress()

    def slow_down(self, message: dict[str, Any]) -> None:
        """The service refused some chunks for now (its per-device limit): ask again when it says."""
        plan = self.store.plan
        if not self.fetching or plan is None:
            return
        try:
            retry_s = min(max(int(message.get("retry_after_ms", 1000)), 0), MAX_RETRY_AFTER_MS) / 1000
            chunks = {int(index) for index in message.get("chunks") or []}
        except (TypeError, ValueError):
            return
        asked = time.monotonic() - STALL_S + retry_s  # so tick() asks again after retry_s
        for position, entry in enumerate(plan.layers):
            if entry.hash == message.get("layer"):
                for index in chunks & set(range(len(entry.chunks))):
                    self._outstanding[(position, index)] = asked
        log.info("update %s: the service asks to slow down (%s)", (self.target or "?")[:12],
                 message.get("reason", ""))

    # --- fetching -----------------------------------------------------------------------------
    def _begin(self, wanted: str, app: dict[str, Any]) -> None:
        try:
            manifest = OpaqueManifest.FromString(base64.b64decode(str(app.get("manifest", ""))))
            bundle = Bundle(manifest)
            body = bundle.app_body()
        except (DecodeError, BundleError, ValueError) as exc:
            raise UpdateFailed(wire.ERROR_VERIFY, f"the target's manifest cannot be read ({exc})") from None
        if bundle.manifest_hash != wanted:
            raise UpdateFailed(wire.ERROR_VERIFY, "the target's manifest does not have the hash it is "
                                                  "named by")
        self._check_signers(bundle)
        offered = {str(entry.get("hash")): entry for entry in app.get("layers") or []}
        local: dict[str, bytes] = {}
        fetch: list[LayerPlan] = []
        for layer in body.layers:
            digest = layer.fetch_hash.hex()
            entry = offered.get(digest)
            if entry is None:
                raise UpdateFailed(wire.ERROR_DOWNLOAD, f"the service offers no layer {digest[:16]}")
            size, chunk_size = int(entry["size"]), int(entry["chunk_size"])
            found = self._from_flash(digest, size, layer.target.internal_flash.start)
            if found is not None:
                local[digest] = found
            elif all(digest not in (item.hash, item.patches) for item in fetch):
                fetch.append(self._blob(wanted, digest, size, chunk_size, entry))
        try:
            stored = self.store.begin(Plan(wanted, tuple(fetch)))
        except (DownloadStoreError, FlashError) as exc:
            raise UpdateFailed(wire.ERROR_TOO_LARGE, str(exc)) from None
        self.target, self._manifest, self._local, self.ready = wanted, manifest, local, False
        self._app = app
        self._politeness_cap = _politeness_cap(app.get("politeness_s"))
        self._reported_done = -1
        total = sum(len(layer.chunks) for layer in fetch)
        fetch_bytes = sum(layer.size for layer in fetch)
        patches = sum(1 for layer in fetch if layer.patches)
        log.info("update %s: %d of %d layers to fetch (%d bytes%s), %d chunks stored already", wanted[:12],
                 len(fetch), len(body.layers), fetch_bytes, f", {patches} as patches" if patches else "",
                 stored)
        self.kernel.device.events.emit("update", "fetching", manifest_hash=wanted, layers=len(fetch),
                                       of=len(body.layers), bytes=fetch_bytes, chunks=total, stored=stored,
                                       patches=patches)
        self._progress()

    def _check_signers(self, bundle: Bundle) -> None:
        state = self.kernel.device.state
        try:
            trusted = BootRom(state).verify_installed_kernel().app_signers
            identity = read_identity(state)
            customer = identity.customer_keys if identity else []
            required = [keys.from_raw_public(bytes.fromhex(k)) for k in customer]
            bundle.check_signers(trusted, required)
        except (BootError, BundleError, keys.KeyFileError) as exc:
            raise UpdateFailed(wire.ERROR_VERIFY, f"the target's manifest is refused: {exc}") from None

    def _blob(self, wanted: str, digest: str, size: int, chunk_size: int, entry: dict[str, Any]) -> LayerPlan:
        """What to fetch for a layer the device lacks: the service's patch from the installed app, when
        it offers one made from the very image this device holds, else the layer itself."""
        whole = LayerPlan(digest, size, chunk_size, tuple(str(c) for c in entry["chunks"]))
        offer = entry.get("delta")
        if not isinstance(offer, dict) or self._no_deltas == wanted:
            return whole
        source = self._installed_source()
        try:
            if source is None or offer["source_hash"] != source[1]:
                return whole
            return LayerPlan(str(offer["hash"]), int(offer["size"]), int(offer["chunk_size"]),
                             tuple(str(c) for c in offer["chunks"]), patches=digest, patched_size=size)
        except (KeyError, TypeError, ValueError):
            return whole

    def _installed_source(self) -> tuple[bytes, str] | None:
        """The installed app's image as common/delta.py defines it (its layers' flash regions in manifest
        order), read once, and its hash; None without a verified app."""
        if self._source is not None:
            return self._source
        body = self.kernel.app_body
        if self.kernel.no_application_reason or body is None or not getattr(body, "layers", None):
            return None
        flash = self.kernel.device.state.internal_flash
        parts = []
        for layer in body.layers:
            region = layer.target.internal_flash
            if region.start + region.size > APP_FLASH_SIZE:
                return None
            parts.append(flash.read(APP_FLASH_ARRAY_OFFSET + region.start, region.size))
        image = b"".join(parts)
        self._source = (image, delta.source_hash(image))
        return self._source

    def _refetch_whole(self, target: str) -> None:
        """Start the target again without patches (a patch that failed is never tried again for it)."""
        app = self._app
        self.store.clear()
        self._cancel()
        self._no_deltas = target
        try:
            self._begin(target, app)
        except UpdateFailed as exc:
            self._fail(target, exc)

    def _from_flash(self, digest: str, size: int, start: int) -> bytes | None:
        """The layer's bytes if application flash holds them: at its own target or an installed layer's."""
        starts = [start]
        body = self.kernel.app_body
        if body is not None and hasattr(body, "layers"):
            starts += [layer.target.internal_flash.start for layer in body.layers
                       if layer.fetch_hash.hex() == digest]
        flash = self.kernel.device.state.internal_flash
        for offset in dict.fromkeys(starts):
            if offset + size > APP_FLASH_SIZE:
                continue
            data = flash.read(APP_FLASH_ARRAY_OFFSET + offset, size)
            if hashlib.sha256(data).hexdigest() == digest:
                return data
        return None

    def _missing(self) -> list[tuple[int, int]]:
        plan = self.store.plan
        return [] if plan is None else [chunk for chunk in plan.chunk_ids() if not self.store.have(*chunk)]

    def _request(self) -> None:
        plan = self.store.plan
        if plan is None:
            return
        room = WINDOW - len(self._outstanding)
        wanted = [chunk for chunk in self._missing() if chunk not in self._outstanding][:max(room, 0)]
        by_layer: dict[int, list[int]] = {}
        for position, index in wanted:
            by_layer.setdefault(position, []).append(index)
        now = time.monotonic()
        for position, indices in by_layer.items():
            if not self.send(wire.FETCH, {"layer": plan.layers[position].hash, "chunks": indices}):
                return
            for index in indices:
                self._outstanding[(position, index)] = now

    def _progress(self) -> None:
        plan = self.store.plan
        assert plan is not None and self.target is not None
        total = len(plan.chunk_ids())
        missing = self._missing()
        done = total - len(missing)
        if done == total:
            self._finish()
            return
        if self._reported_done < 0 or done - self._reported_done >= max(total // 4, 1):
            self._reported_done = done
            self.send(wire.UPDATE, {"manifest_hash": self.target, "state": "downloading", "done": done,
                                    "total": total, "error_code": 0, "message": ""})
        self._request()

    def _finish(self) -> None:
        plan, manifest, target = self.store.plan, self._manifest, self.target
        assert plan is not None and manifest is not None and target is not None
        try:
            layers = dict(self._local)
            for position, layer in enumerate(plan.layers):
                data = self.store.layer_bytes(position)
                if hashlib.sha256(data).hexdigest() != layer.hash:
                    raise UpdateFailed(wire.ERROR_DOWNLOAD,
                                       f"layer {layer.hash[:16]} does not match its hash")
                if layer.patches:
                    source = self._installed_source()
                    if source is None:
                        raise delta.DeltaError("the installed app is gone")
                    data = delta.apply(source[0], data, layer.patched_size, layer.patches)
                layers[layer.patches or layer.hash] = data
            bundle = Bundle(manifest, layers)
            app_image_spans(bundle)  # every hash, measurement and target checked before staging
            Staging(self.kernel.device.state).write(KIND_APP, bundle.to_bytes())
        except delta.DeltaError as exc:
            log.warning("update %s: a patch failed (%s); fetching whole layers instead", target[:12], exc)
            self._refetch_whole(target)
            return
        except (DownloadStoreError, BundleError) as exc:
            self.store.clear()
            self._fail(target, UpdateFailed(wire.ERROR_DOWNLOAD, str(exc)))
            return
        except (StagingError, FlashError) as exc:
            self._fail(target, UpdateFailed(wire.ERROR_TOO_LARGE, str(exc)))
            return
        self.kernel.storage.put(**{FACT_STAGED: target})
        self.ready = True
        total = len(plan.chunk_ids())
        self.send(wire.UPDATE, {"manifest_hash": target, "state": "downloaded", "done": total, "total": total,
                                "error_code": 0, "message": ""})
        politeness = self._politeness_s()
        log.info("update %s staged; restart in %d s at the latest", target[:12], politeness)
        self.kernel.device.events.emit("update", "downloaded", manifest_hash=target, politeness_s=politeness)
        self.kernel.system_notifications.notify(MvSystemNotificationSource.UPDATE)
        if politeness <= 0:
            self.apply()
        else:
            self._timer = self.kernel.device.clock.schedule_in(politeness * NS_PER_S, self.apply)

    def _politeness_s(self) -> int:
        """The running app's maximum politeness time, capped by the service's (a deployment's) when it set
        one: the service may hurry an update, never delay it past what the app allows."""
        body = self.kernel.app_body
        if self.kernel.no_application_reason or body is None or not hasattr(body, "update"):
            return 0
        own = int(body.update.maximum_politeness_time_sec)
        return own if self._politeness_cap is None else min(own, self._politeness_cap)

    # --- applying -----------------------------------------------------------------------------
    def apply_if_ready(self) -> bool:
        """mvRestart(AUTOAPPLYUPDATE) with an update staged: restart through the ROM now."""
        if not self.ready:
            return False
        self.apply()
        return True

    def apply(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self.kernel.device.events.emit("update", "applying", manifest_hash=self.target)
        self.kernel.reboot("update")

    def _cancel(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self.target, self.ready, self._manifest, self._local = None, False, None, {}
        self._outstanding.clear()

    def _fail(self, target: str | None, error: UpdateFailed) -> None:
        log.warning("update %s failed: %s", (target or "?")[:12], error)
        self.kernel.device.events.emit("update", "failed", manifest_hash=target, message=str(error))
        self._cancel()
        if target is not None:
            self.kernel.storage.put(**{FACT_FAILED: target})
            report = {"manifest_hash": target, "state": "failed", "done": 0, "total": 0,
                      "error_code": error.code, "message": str(error)}
            if not self.send(wire.UPDATE, report):
                self._pending_report = report
