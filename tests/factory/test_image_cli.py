"""`factory test-program`, `image`, `inspect` and `device blank`: the commands and their refusals."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from microvisor.common.platform import Platform

from ..conftest import run_cli
from .chip_harness import tamper


@pytest.fixture(scope="module")
def made(tmp_path_factory, examples: Path) -> dict[str, Path]:
    """A platform, and every part of an image built through the commands."""
    folder = tmp_path_factory.mktemp("image-cli")
    paths = {name: folder / f"{name}.zip" for name in ("tp", "kernel", "test", "app")}
    paths["platform"] = folder / "platform"
    Platform.init(paths["platform"])
    platform = str(paths["platform"])
    for args in (("factory", "test-program", "--platform", platform, "-o", str(paths["tp"])),
                 ("kernel", "build", "--platform", platform, "-o", str(paths["kernel"])),
                 ("apps", "bundle", str(examples / "factory_test" / "factory_test.elf"), str(paths["test"]),
                  "--unsigned"),
                 ("apps", "bundle", str(examples / "blinky" / "blinky.elf"), str(paths["app"]),
                  "--unsigned")):
        done = run_cli(*args)
        assert done.returncode == 0, done.stderr
    paths["image"] = folder / "spi.img"
    done = run_cli(*image_args(paths, paths["image"]))
    assert done.returncode == 0, done.stderr
    return paths


def image_args(paths: dict[str, Path], output: Path, **swap: Path) -> list[str]:
    chosen = {**paths, **swap}
    return ["factory", "image", "--platform", str(chosen["platform"]), "--test-program", str(chosen["tp"]),
            "--kernel", str(chosen["kernel"]), "--test-bundle", str(chosen["test"]), "--app-bundle",
            str(chosen["app"]), "-o", str(output)]


def test_inspect_lists_and_verifies_every_part(made):
    done = run_cli("factory", "inspect", str(made["image"]), "--platform", str(made["platform"]), "--json")
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["verified"] is True
    assert [(p["name"], p["verified"]) for p in report["parts"]] == [
        ("test-program", True), ("kernel", True), ("test-bundle", True), ("app-bundle", True)]
    assert report["parts"][0]["detail"].startswith("test-program 0.1.0")


@pytest.mark.parametrize("part", ["test-program", "kernel", "test-bundle", "app-bundle"])
def test_inspect_fails_on_a_tampered_part(made, part, tmp_path):
    tampered = tmp_path / "tampered.img"
    tampered.write_bytes(tamper(made["image"].read_bytes(), part))
    done = run_cli("factory", "inspect", str(tampered), "--json")
    assert done.returncode == 1
    failed = {p["name"]: p["detail"] for p in json.loads(done.stdout)["parts"] if not p["verified"]}
    assert "does not match its hash" in failed.pop(part)
    if part == "kernel":  # the applications' signers come from the kernel: they cannot be checked
        assert set(failed) == {"test-bundle", "app-bundle"}
        assert all("no verified kernel" in detail for detail in failed.values())
    else:
        assert failed == {}


def test_inspect_refuses_a_tampered_table_or_another_platform(made, tmp_path):
    tampered = tmp_path / "tampered.img"
    tampered.write_bytes(tamper(made["image"].read_bytes(), "toc"))
    done = run_cli("factory", "inspect", str(tampered))
    assert done.returncode == 1 and "signature does not verify" in done.stderr
    other = tmp_path / "other"
    Platform.init(other)
    done = run_cli("factory", "inspect", str(made["image"]), "--platform", str(other))
    assert done.returncode == 1 and "another platform's root key" in done.stderr
    assert "Traceback" not in done.stderr


def test_image_refuses_parts_in_the_wrong_places_or_of_another_platform(made, tmp_path):
    output = tmp_path / "x.img"
    swapped = run_cli(*image_args(made, output, tp=made["kernel"]))
    assert swapped.returncode != 0 and "not a Microvisor test program" in swapped.stderr
    as_kernel = run_cli(*image_args(made, output, kernel=made["tp"]))
    assert as_kernel.returncode != 0 and "the kernel given is the test program" in as_kernel.stderr
    not_app = run_cli(*image_args(made, output, app=made["kernel"]))
    assert not_app.returncode != 0 and "not an application bundle" in not_app.stderr
    other = tmp_path / "other"
    Platform.init(other)
    foreign = run_cli(*image_args(made, output, platform=other))
    assert foreign.returncode != 0 and "not one this platform signed" in foreign.stderr
    assert not output.exists()


def test_device_blank_refuses_what_it_cannot_make(made, tmp_path):
    done = run_cli("device", "blank", str(tmp_path / "chip"))
    assert done.returncode == 2 and "needs --platform" in done.stderr
    done = run_cli("device", "blank", str(tmp_path / "chip"), "--platform", str(made["platform"]),
                   "--fault", "melted")
    assert done.returncode == 2 and "one of" in done.stderr
    (tmp_path / "busy").mkdir()
    (tmp_path / "busy" / "file").write_text("x")
    done = run_cli("device", "blank", str(tmp_path / "busy"), "--platform", str(made["platform"]))
    assert done.returncode != 0 and "not empty" in done.stderr and "Traceback" not in done.stderr
