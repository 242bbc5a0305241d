"""Keys, bundles, platforms, kernels and devices through the real `microvisor` command."""

from __future__ import annotations

import json
import re
import stat
import zipfile

import pytest

from tests.conftest import run_cli


def ok(*args: str) -> str:
    result = run_cli(*args)
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def inspect(device) -> dict:
    return json.loads(ok("device", "inspect", str(device), "--json"))


@pytest.fixture(scope="module")
def platform(tmp_path_factory):
    path = tmp_path_factory.mktemp("cli") / "platform"
    ok("platform", "init", str(path))
    return path


def test_keys_are_written_for_their_owner_only_and_never_overwritten(tmp_path):
    ok("keys", "generate", str(tmp_path / "dev.pem"))
    assert stat.S_IMODE((tmp_path / "dev.pem").stat().st_mode) == 0o600
    assert b"PUBLIC KEY" in (tmp_path / "dev.pub.pem").read_bytes()
    again = run_cli("keys", "generate", str(tmp_path / "dev.pem"))
    assert again.returncode == 2 and "already exists" in again.stderr and "Traceback" not in again.stderr


def test_platform_files_are_private(platform):
    assert stat.S_IMODE(platform.stat().st_mode) == 0o700
    for name in ("root-key.pem", "kernel-signing-key.pem", "app-signing-key.pem", "ca-key.pem"):
        assert stat.S_IMODE((platform / name).stat().st_mode) == 0o600


def test_bundle_and_inspect(examples, tmp_path):
    ok("keys", "generate", str(tmp_path / "k.pem"))
    ok("keys", "generate", str(tmp_path / "crash.pem"))
    out = tmp_path / "app.zip"
    ok("apps", "bundle", str(examples / "blinky" / "blinky.elf"), str(out), "--signing-key",
       str(tmp_path / "k.pem"), "--crash-report-key", str(tmp_path / "crash.pub.pem"),
       "--crash-stack-bytes", "128", "--minimum-restart-interval", "100", "--maximum-restart-interval",
       "5000", "--minimum-kernel-version", "1")
    info = json.loads(ok("apps", "inspect", str(out), "--json", "--key", str(tmp_path / "k.pub.pem")))
    [signature] = info["signatures"]
    assert signature["verified_by"] == signature["signer_id"]
    assert info["layers_ok"] and info["layers"][0]["size"] == 0x100000
    assert info["crash"]["include_stack_bytes"] == 128 and info["crash"]["maximum_restart_ms"] == 5000
    assert len(info["crash"]["crash_report_pubkey"]) == 130
    neither = run_cli("apps", "bundle", str(examples / "blinky" / "blinky.elf"), str(tmp_path / "x.zip"))
    assert neither.returncode == 2 and "--unsigned" in neither.stderr


def test_a_tampered_kernel_says_why_and_a_staged_kernel_recovers(platform, examples, tmp_path):
    device = tmp_path / "dev"
    ok("device", "create", str(device), "--platform", str(platform), "--chip-uid", "00112233445566778899aabb")
    ok("kernel", "build", "--platform", str(platform), "-o", str(tmp_path / "kernel.zip"))
    ok("device", "run", str(device), "--app", str(examples / "blinky" / "blinky.elf"), "--until", "LED on",
       "--timeout", "5")
    image = bytearray((device / "internal_flash.bin").read_bytes())
    image[3000] ^= 0x40  # inside the kernel bundle in secure flash
    (device / "internal_flash.bin").write_bytes(bytes(image))
    refused = run_cli("device", "run", str(device), "--timeout", "1")
    assert refused.returncode == 5 and "kernel verification failed" in refused.stderr
    assert "error" in inspect(device)["kernel"]
    recovered = run_cli("device", "run", str(device), "--kernel", str(tmp_path / "kernel.zip"),
                        "--until", "LED on", "--timeout", "5")
    assert recovered.returncode == 0, recovered.stderr
    info = inspect(device)
    assert info["kernel"]["version_number"] == 1 and info["staging"]["staged"] is False
    assert info["sid"].startswith("UV") and info["chip_uid"] == "00112233445566778899aabb"
    assert info["otp"]["trustzone"] and info["otp"]["debug_locked"]


def test_a_customer_key_device_refuses_what_its_customer_did_not_sign(platform, examples, tmp_path):
    for name in ("customer", "stranger"):
        ok("keys", "generate", str(tmp_path / f"{name}.pem"))
    device = tmp_path / "dev"
    ok("device", "create", str(device), "--platform", str(platform), "--customer-key",
       str(tmp_path / "customer.pub.pem"))
    blinky, syscalls = examples / "blinky" / "blinky.elf", examples / "syscalls" / "syscalls.elf"
    ok("apps", "bundle", str(blinky), str(tmp_path / "v1.zip"), "--signing-key",
       str(tmp_path / "customer.pem"))
    ok("apps", "bundle", str(syscalls), str(tmp_path / "unsigned.zip"), "--unsigned")
    ok("apps", "bundle", str(syscalls), str(tmp_path / "stranger.zip"), "--signing-key",
       str(tmp_path / "stranger.pem"))

    waiting = run_cli("device", "run", str(device), "--app", str(tmp_path / "unsigned.zip"), "--timeout", "2")
    assert waiting.returncode == 3 and "no application" in waiting.stderr
    assert "lacks the required signature" in inspect(device)["staging"]["last_outcome"]["reason"]

    ok("device", "run", str(device), "--app", str(tmp_path / "v1.zip"), "--until", "LED on", "--timeout", "5")
    v1_hash = inspect(device)["application"]["manifest_hash"]

    tampered = tmp_path / "tampered.zip"
    with zipfile.ZipFile(tmp_path / "v1.zip") as source, zipfile.ZipFile(tampered, "w") as target:
        for item in source.infolist():
            data = source.read(item)
            if item.filename != "manifest":
                data = data[:-1] + bytes([data[-1] ^ 1])
            target.writestr(item, data)
    for bad in (tmp_path / "unsigned.zip", tmp_path / "stranger.zip", tampered):
        result = run_cli("device", "run", str(device), "--app", str(bad), "--until", "LED on",
                         "--timeout", "5")
        assert result.returncode == 0, (bad.name, result.stderr)  # the old application keeps running
        info = inspect(device)
        assert info["staging"]["last_outcome"]["result"] == "discarded", bad.name
        assert info["application"]["manifest_hash"] == v1_hash


def test_bad_input_is_one_sentence(tmp_path, platform):
    cases = [
        ("device", "create", str(tmp_path / "d"), "--platform", str(tmp_path / "nowhere")),
        ("device", "create", str(tmp_path / "d"), "--platform", str(platform), "--chip-uid", "xyz"),
        ("device", "inspect", str(tmp_path / "none")),
        ("kernel", "build", "--platform", str(tmp_path), "-o", str(tmp_path / "k.zip")),
        ("apps", "inspect", str(tmp_path / "missing.zip")),
        ("platform", "init", str(platform)),
    ]
    for args in cases:
        result = run_cli(*args)
        assert result.returncode == 2, (args, result.stderr)
        assert result.stderr.startswith("error:") and "Traceback" not in result.stderr, args


def test_a_crashing_application_restarts_after_its_back_off_and_reports_are_kept(platform, examples,
                                                                                   tmp_path):
    device = tmp_path / "dev"
    ok("device", "create", str(device), "--platform", str(platform))
    ok("apps", "bundle", str(examples / "fault" / "fault.elf"), str(tmp_path / "fault.zip"), "--unsigned",
       "--minimum-restart-interval", "500", "--maximum-restart-interval", "2000")
    result = run_cli("device", "run", str(device), "--app", str(tmp_path / "fault.zip"), "--keep-running",
                     "--timeout", "4")
    assert result.returncode == 3, result.stderr
    waits = [int(w) for w in re.findall(r"restarting the application in (\d+) ms", result.stdout)]
    assert waits == [500, 1000, 2000, 2000]
    info = inspect(device)
    assert info["pending_crash_reports"] == 4 and info["last_wake_reason"] == "APPLICATIONCRASH"
    stopped = run_cli("device", "run", str(device), "--timeout", "4")
    assert stopped.returncode == 4 and "CRASH: SecureFault" in stopped.stderr  # without --keep-running
