"""Nothing is reused unchecked: flash pages, chunks held in QSPI and layers the service stores are each
verified against their hash first, and replaced when they do not match."""

from __future__ import annotations

import hashlib
import os
import sqlite3

from microvisor.common import kernel_image
from microvisor.common.bundle import Bundle, build_app
from microvisor.common.link import chunk_hashes
from microvisor.common.manifest_schema import AppBody
from microvisor.common.platform import Platform
from microvisor.device.provisioning import create_device
from microvisor.device.state import APP_FLASH_ARRAY_OFFSET, DeviceState
from microvisor.kernel.download_store import SLOTS_OFFSET, DownloadStore, LayerPlan, Plan

from ..conftest import run_cli


def test_staging_the_same_app_again_repairs_damaged_padding(examples, tmp_path):
    platform = tmp_path / "platform"
    assert run_cli("platform", "init", str(platform)).returncode == 0
    assert run_cli("device", "create", str(tmp_path / "dev"), "--platform", str(platform)).returncode == 0
    bundle = tmp_path / "blinky.zip"
    assert run_cli("apps", "bundle", str(examples / "blinky" / "blinky.elf"), str(bundle), "--unsigned",
                   "--layer-size", "8192").returncode == 0
    run = ("device", "run", str(tmp_path / "dev"), "--until", "LED on", "--timeout", "5", "--fast")
    assert run_cli(*run, "--app", str(bundle)).returncode == 0
    # Damage the padding after the image's last byte, inside the last page the image uses.
    image_length = len(b"".join(Bundle.read(bundle).layers.values()))
    with DeviceState.open(tmp_path / "dev", create=False) as state:
        tail = APP_FLASH_ARRAY_OFFSET + image_length + (-image_length % 16)
        assert (tail - APP_FLASH_ARRAY_OFFSET) % 8192, "the image must end inside a page"
        state.internal_flash.program(tail, b"\x00" * 16)
    refused = run_cli(*run)
    assert refused.returncode == 3 and "LED on" not in refused.stdout  # the measurement no longer matches
    repaired = run_cli(*run, "--app", str(bundle))
    assert repaired.returncode == 0, repaired.stdout + repaired.stderr


def test_a_damaged_chunk_held_in_qspi_is_fetched_again(tmp_path):
    platform = Platform.init(tmp_path / "platform")
    create_device(tmp_path / "dev", platform, kernel_image.build(platform))
    layer = os.urandom(3 * 4096)
    plan = Plan("ab" * 32, (LayerPlan(hashlib.sha256(layer).hexdigest(), len(layer), 4096,
                                      tuple(chunk_hashes(layer))),))
    with DeviceState.open(tmp_path / "dev", create=False) as state:
        store = DownloadStore(state)
        assert store.begin(plan) == 0
        for index in range(3):
            store.put(0, index, layer[index * 4096 : (index + 1) * 4096])
        state.qspi.program(SLOTS_OFFSET + 4096 + 100, b"\x00")  # chunk 1's stored bytes, damaged
    with DeviceState.open(tmp_path / "dev", create=False) as state:  # power back on: the same update
        store = DownloadStore(state)
        assert store.begin(plan) == 2
        assert [store.have(0, index) for index in range(3)] == [True, False, True]
        store.put(0, 1, layer[4096:8192])
        assert store.layer_bytes(0) == layer


def test_a_damaged_layer_the_service_stores_is_replaced_by_the_next_upload_carrying_it(server, tenants):
    image = os.urandom(20_000)
    first = build_app(image)
    with tenants[0].api() as api:
        api.upload("/v1/Apps", "File", "a.zip", first.to_bytes(), {})
    digest = first.app_body().layers[0].fetch_hash.hex()
    database = sqlite3.connect(server.data / "microvisor.db")
    try:
        with database:
            database.execute("UPDATE layers SET data = ? WHERE hash = ?", (b"rotten" + image[6:], digest))
        body = AppBody()
        body.update.maximum_politeness_time_sec = 60  # another app (another manifest), the same layer
        second = build_app(image, body)
        assert second.app_body().layers[0].fetch_hash.hex() == digest
        with tenants[1].api() as api:
            api.upload("/v1/Apps", "File", "b.zip", second.to_bytes(), {})
        (stored,) = database.execute("SELECT data FROM layers WHERE hash = ?", (digest,)).fetchone()
    finally:
        database.close()
    assert hashlib.sha256(stored).hexdigest() == digest
