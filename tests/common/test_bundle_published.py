"""`apps bundle` writes the published bundler's manifest for the same image and options, byte for byte."""

from __future__ import annotations

import hashlib
import json
import struct
import subprocess
import zipfile
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from typer.testing import CliRunner

from microvisor.cli import apps_cmd
from microvisor.common import keys
from microvisor.common.bundle import Bundle, build_app
from microvisor.common.manifest_schema import AppBody

# Manifest bodies the published bundler (Microvisor-Tools bundler-py) produces for IMAGE, recorded by
# replaying its field assignments on the published bundle.proto offline. It always sets `update` and
# `connectivity` (so both are present even when empty: 2200 2a00), sets `debug` to the key alone
# when given one, and never writes `crash`; the OpaqueManifest around the body is unsigned.
LAYER = ("0a4c0a060a04108080401a20f250e9f8984554f51781a9ddf8c59d308b26b328e7ed6766284205880b6e7727"
         "2220be107e78e02974ee4b786e7ab30f4f7a28a18d5d1caf6dd84ae4629d116a409f")
DEBUG = ("124312410444008aa58ea4d7a522ed56e487a6a6e95b21a9e9a63ff3f1341f2897a01aa9568a06560f5e4eace57c"
         "58cf5d3cb8fdb86f9540912482e51d4398d11a54be2958")
DEBUG_KEY = DEBUG[8:]  # DebugPolicy field 2 (debug_auth_pubkey): the 65-byte X9.62 point
PUBLISHED = {
    "unsigned": LAYER + "22002a00",
    "debug": LAYER + DEBUG + "22002a00",
    "policies": LAYER + "220210032a05081e10901c",
}
POLICY_OPTIONS = ["--minimum-kernel-version", "3", "--connection-grace-time", "30", "--minimum-check-in-time",
                  "3600"]

runner = CliRunner()


def image() -> bytes:
    """1 KiB for 0x08000000: a vector table (SP in SRAM, Thumb reset inside the image), then a pattern."""
    return struct.pack("<II", 0x20010000, 0x08000009) + bytes((i * 37 + 11) & 0xFF for i in range(1016))


def _public_pem(path: Path, scalar: int) -> Path:
    key = ec.derive_private_key(scalar, ec.SECP256R1())
    path.write_bytes(key.public_key().public_bytes(serialization.Encoding.PEM,
                                                   serialization.PublicFormat.SubjectPublicKeyInfo))
    return path


@pytest.fixture
def files(tmp_path) -> dict[str, Path]:
    (tmp_path / "app.bin").write_bytes(image())
    signing = ec.derive_private_key(0x51_6E_E5, ec.SECP256R1())
    (tmp_path / "signing.pem").write_bytes(signing.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    return {"app": tmp_path / "app.bin", "signing": tmp_path / "signing.pem",
            "debug": _public_pem(tmp_path / "debug.pem", 0x5EED_DEB6),
            "crash": _public_pem(tmp_path / "crash.pem", 0xC0A5), "dir": tmp_path}


def bundle(files, *options: str) -> tuple[bytes, Bundle]:
    """Run `apps bundle` on the image; the raw 'manifest' entry of the ZIP and the bundle read back."""
    out = files["dir"] / "out.zip"
    result = runner.invoke(apps_cmd.app, ["bundle", str(files["app"]), str(out), *options])
    assert result.exit_code == 0, result.output
    with zipfile.ZipFile(out) as archive:
        raw = archive.read("manifest")
    return raw, Bundle.read(out)


def unsigned_manifest(body: bytes) -> bytes:
    """An OpaqueManifest with signer 0 and no signature, as proto3 writes it: field 2 alone."""
    assert len(body) < 128
    return b"\x12" + bytes([len(body)]) + body


# --- what the published tool can do ---------------------------------------------------------------
def test_unsigned_manifest_is_the_published_one(files):
    raw, result = bundle(files, "--unsigned")
    assert result.body.hex() == PUBLISHED["unsigned"]
    assert raw == unsigned_manifest(bytes.fromhex(PUBLISHED["unsigned"]))


@pytest.mark.parametrize("option", ["--debug-key", "--debug-auth-key"])
def test_debug_key_sets_the_key_alone(files, option):
    raw, result = bundle(files, "--unsigned", option, str(files["debug"]))
    assert result.body.hex() == PUBLISHED["debug"]
    assert not result.app_body().debug.debuggable
    assert raw[:3] == b"\x12\x97\x01" and raw[3:] == bytes.fromhex(PUBLISHED["debug"])


def test_update_and_connectivity_policies(files):
    raw, result = bundle(files, "--unsigned", *POLICY_OPTIONS)
    assert result.body.hex() == PUBLISHED["policies"]
    assert raw == unsigned_manifest(bytes.fromhex(PUBLISHED["policies"]))


def test_manifest_hash_is_the_published_one(files):
    _, result = bundle(files, "--unsigned")
    assert result.manifest_hash == hashlib.sha256(bytes.fromhex(PUBLISHED["unsigned"])).hexdigest()


# --- what only this project's tool does: the body stays the published one around it ----------------
def test_signing_leaves_the_body_as_published(files):
    _, result = bundle(files, "--signing-key", str(files["signing"]))
    assert result.body.hex() == PUBLISHED["unsigned"]
    key = keys.load_private(files["signing"])
    assert result.signed_by(key.public_key())
    assert result.manifest.signer_id == keys.signer_id(key.public_key())


def test_crash_options_add_the_crash_policy_and_nothing_else(files):
    _, result = bundle(files, "--unsigned", "--crash-report-key", str(files["crash"]), "--crash-stack-bytes",
                       "256", "--minimum-restart-interval", "1000", "--maximum-restart-interval", "60000")
    body = result.app_body()
    assert body.HasField("crash")
    assert (body.crash.minimum_restart_ms, body.crash.maximum_restart_ms, body.crash.include_stack_bytes) == (
        1000, 60000, 256)
    assert body.crash.crash_report_pubkey == keys.raw_public(keys.load_public(files["crash"]))
    body.ClearField("crash")
    assert body.SerializeToString() == bytes.fromhex(PUBLISHED["unsigned"])


@pytest.mark.parametrize("option", ["--crash-stack-bytes", "--minimum-restart-interval",
                                    "--maximum-restart-interval"])
def test_one_crash_number_is_enough_for_a_crash_policy(files, option):
    _, result = bundle(files, "--unsigned", option, "500")
    assert result.app_body().HasField("crash")


def test_politeness_time_goes_into_update_only(files):
    _, result = bundle(files, "--unsigned", "--maximum-politeness-time", "120")
    body = result.app_body()
    assert body.update.maximum_politeness_time_sec == 120 and not body.HasField("crash")
    body.update.ClearField("maximum_politeness_time_sec")
    assert body.SerializeToString() == bytes.fromhex(PUBLISHED["unsigned"])


def test_layer_size_changes_the_layers_only(files):
    _, result = bundle(files, "--unsigned", "--layer-size", "8192")
    body = result.app_body()
    assert [(x.target.internal_flash.start, x.target.internal_flash.size) for x in body.layers] == [(0, 8192)]
    assert [field.name for field, _ in body.ListFields()] == ["layers", "update", "connectivity"]
    assert result.body.endswith(bytes.fromhex("22002a00"))


# --- inspect reads bundles of both kinds -------------------------------------------------------------
def _inspect(path: Path) -> dict:
    result = runner.invoke(apps_cmd.app, ["inspect", str(path), "--json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.output)


def test_inspect_reads_new_and_old_bundles(files):
    bundle(files, "--unsigned", "--debug-auth-key", str(files["debug"]))
    new = _inspect(files["dir"] / "out.zip")
    assert new["layers_ok"] and new["debug"]["debug_auth_pubkey"] == DEBUG_KEY
    assert new["crash"] == {"minimum_restart_ms": 0, "maximum_restart_ms": 0, "crash_report_pubkey": None,
                            "include_stack_bytes": 0}
    # A bundle as this tool used to write it: an empty crash policy and debuggable set with the key.
    old_body = AppBody()
    old_body.debug.debuggable, old_body.debug.debug_auth_pubkey = True, bytes.fromhex(DEBUG_KEY)
    old_body.crash.minimum_restart_ms = 0
    old_body.update.minimum_kernel_version = 0
    old_body.connectivity.connection_grace_time_sec = 0
    old = build_app(image(), old_body)
    assert old.body != bytes.fromhex(PUBLISHED["debug"])
    old.write(files["dir"] / "old.zip")
    shown = _inspect(files["dir"] / "old.zip")
    assert shown["layers_ok"] and shown["debug"]["debuggable"] is True
    assert shown["layers"] == new["layers"]


# --- the same ELF: the image is what the published tool's objcopy steps make of it ------------------
def test_build_app_defaults_are_the_published_tool_defaults():
    assert build_app(image()).body.hex() == PUBLISHED["unsigned"]


def test_an_elf_gives_the_image_the_published_tool_bundles(examples, tmp_path):
    """The published tool flattens an ELF with objcopy (to Intel hex, then binary with 0xff gaps)."""
    elf = examples / "syscalls" / "syscalls.elf"
    hex_file, flat = tmp_path / "app.hex", tmp_path / "app.bin"
    subprocess.run(["arm-none-eabi-objcopy", "-Oihex", str(elf), str(hex_file)], check=True)
    subprocess.run(["arm-none-eabi-objcopy", "-Iihex", "-Obinary", "--gap-fill=0xff", str(hex_file),
                    str(flat)], check=True)
    out = tmp_path / "out.zip"
    result = runner.invoke(apps_cmd.app, ["bundle", str(elf), str(out), "--unsigned"])
    assert result.exit_code == 0, result.output
    [layer] = Bundle.read(out).app_body().layers
    assert layer.fetch_hash == hashlib.sha256(flat.read_bytes()).digest()
