"""Binary delta updates on a real device and kernel, the host playing the service: the patch is fetched
instead of the layer, a patch that does not make the layer falls back to whole layers, an image that is not
the patch's source is never patched, and a power cut at any flash write leaves the old app or the new."""

from __future__ import annotations

import base64
import hashlib

import pytest

from microvisor.common import delta, kernel_image
from microvisor.common import link as wire
from microvisor.common.bundle import Bundle, build_app
from microvisor.common.platform import Platform
from microvisor.device.boot_rom import power_on
from microvisor.device.firmware import load_firmware
from microvisor.device.flash import PowerCut
from microvisor.device.provisioning import create_device
from microvisor.device.staging import KIND_APP, Staging
from microvisor.device.state import DeviceState

CHUNK = 4096


@pytest.fixture(scope="module")
def platform(tmp_path_factory) -> Platform:
    return Platform.init(tmp_path_factory.mktemp("delta") / "platform")


@pytest.fixture(scope="module")
def versions(platform, examples) -> tuple[Bundle, Bundle]:
    """blinky and blinky v2 (one function changed), each one layer, signed as the service co-signs."""
    bundles = []
    for name in ("blinky", "blinky_v2"):
        bundle = build_app(load_firmware(examples / name / f"{name}.elf").data)
        bundle.sign(platform.app_key)
        bundles.append(bundle)
    return bundles[0], bundles[1]


def _source(bundle: Bundle) -> bytes:
    body = bundle.app_body()
    return delta.source_image([(bundle.layer(layer.fetch_hash), layer.target.internal_flash.size)
                               for layer in body.layers])


def _blob(data: bytes) -> dict:
    return {"hash": hashlib.sha256(data).hexdigest(), "size": len(data), "chunk_size": CHUNK,
            "chunks": wire.chunk_hashes(data, CHUNK)}


def desired(target: Bundle, source: Bundle | None, patch: bytes | None = None) -> dict:
    """The desired app as the service sends it, with a patch from `source` for each layer (or `patch`)."""
    layers = []
    for data in target.layers.values():
        entry = _blob(data)
        if source is not None:
            made = patch if patch is not None else delta.make(_source(source), data)
            entry["delta"] = {**_blob(made), "source_hash": delta.source_hash(_source(source))}
        layers.append(entry)
    return {"sid": "KA" + "0" * 32, "manifest_hash": target.manifest_hash,
            "manifest": base64.b64encode(target.manifest.SerializeToString()).decode(), "layers": layers}


class Service:
    """Serves the chunks of every blob the desired app names, as the link worker does."""

    def __init__(self, app: dict):
        self.blobs: dict[str, bytes] = {}
        self.sent: dict[str, int] = {}
        self.app = app
        self.fetches: list[dict] = []
        self.updates: list[dict] = []
        self.writes = 0  # flash writes (programs and erases) the update took

    def add(self, data: bytes) -> None:
        self.blobs[hashlib.sha256(data).hexdigest()] = data

    def send(self, kind: str, message: dict) -> bool:
        (self.fetches if kind == wire.FETCH else self.updates).append(message)
        return True

    def serve(self, kernel) -> None:
        """Answer fetches until the kernel asks for nothing more."""
        while self.fetches:
            message = self.fetches.pop(0)
            data = self.blobs[message["layer"]]
            for index in message["chunks"]:
                chunk = data[index * CHUNK:(index + 1) * CHUNK]
                self.sent[message["layer"]] = self.sent.get(message["layer"], 0) + len(chunk)
                kernel.fota.on_chunk(message["layer"], index, chunk)


def update(path, app: dict, blobs: list[bytes], cut: int | None = None) -> Service:
    """Power on, be told the desired app, serve what the kernel fetches; the kernel restarts into the ROM.
    With `cut`, the power goes after that many more flash writes."""
    service = Service(app)
    for blob in blobs:
        service.add(blob)
    with DeviceState.open(path, create=False) as state:
        start = state.counter.count
        if cut is not None:
            state.counter.power_cut_after = start + cut
        device, kernel = power_on(state)
        try:
            kernel.fota.send = service.send
            kernel.fota.desired(app)
            service.serve(kernel)
        finally:
            device.close()
        power_on(state)[0].close()  # the restart: the ROM applies the staged update
        service.writes = state.counter.count - start
    return service


def running(path) -> str | None:
    with DeviceState.open(path, create=False) as state:
        device, kernel = power_on(state)
        device.close()
        return kernel.app_manifest_hash


def device_with(path, platform: Platform, bundle: Bundle) -> None:
    create_device(path, platform, kernel_image.build(platform))
    with DeviceState.open(path, create=False) as state:
        Staging(state).write(KIND_APP, bundle.to_bytes())
        power_on(state)[0].close()
    assert running(path) == bundle.manifest_hash


def test_a_patch_is_fetched_instead_of_the_layer(platform, versions, tmp_path):
    v1, v2 = versions
    device_with(tmp_path / "dev", platform, v1)
    app = desired(v2, v1)
    layer = app["layers"][0]
    made = delta.make(_source(v1), v2.layers[layer["hash"]])
    service = update(tmp_path / "dev", app, [made, *v2.layers.values()])
    assert running(tmp_path / "dev") == v2.manifest_hash
    assert service.sent == {layer["delta"]["hash"]: len(made)}  # the patch alone, never the layer
    assert len(made) < len(v2.layers[layer["hash"]]) // 4


def test_a_patch_that_does_not_make_the_layer_falls_back_to_the_layer(platform, versions, tmp_path):
    v1, v2 = versions
    device_with(tmp_path / "dev", platform, v1)
    wrong = delta.make(_source(v1), b"\x00" * len(next(iter(v2.layers.values()))))
    app = desired(v2, v1, patch=wrong)
    service = update(tmp_path / "dev", app, [wrong, *v2.layers.values()])
    assert running(tmp_path / "dev") == v2.manifest_hash
    assert set(service.sent) == {hashlib.sha256(wrong).hexdigest(), *v2.layers}  # the patch, then the layer


def test_an_image_that_is_not_the_patch_s_source_fetches_the_layer(platform, versions, examples, tmp_path):
    v1, v2 = versions
    other = build_app(load_firmware(examples / "ticks" / "ticks.elf").data)
    other.sign(platform.app_key)
    device_with(tmp_path / "dev", platform, other)
    app = desired(v2, v1)  # a patch from v1, which this device does not run
    service = update(tmp_path / "dev", app, [bytes.fromhex("00"), *v2.layers.values()])
    assert running(tmp_path / "dev") == v2.manifest_hash
    assert set(service.sent) == set(v2.layers)


def test_a_power_cut_at_any_write_of_a_delta_update_leaves_the_old_app_or_the_new(platform, versions,
                                                                                  tmp_path):
    v1, v2 = versions
    app = desired(v2, v1)
    made = delta.make(_source(v1), next(iter(v2.layers.values())))
    device_with(tmp_path / "count", platform, v1)
    writes = update(tmp_path / "count", app, [made]).writes
    assert writes > 5, writes
    seen = set()
    for cut in range(1, writes + 1):
        path = tmp_path / f"cut{cut}"
        device_with(path, platform, v1)
        with pytest.raises(PowerCut):
            update(path, app, [made], cut=cut)
        now = running(path)
        assert now in (v1.manifest_hash, v2.manifest_hash), f"cut after write {cut}: nothing runs"
        seen.add(now)
        if now == v1.manifest_hash:  # and the update, done again, still lands (resuming what is stored)
            update(path, app, [made])
            assert running(path) == v2.manifest_hash, f"cut after write {cut}: the update never lands"
    assert seen == {v1.manifest_hash, v2.manifest_hash}
