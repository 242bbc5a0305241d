"""`microvisor device run` on the SDK examples, built with the real toolchain, as a user runs it."""

from __future__ import annotations

import os
import re
import subprocess

from tests.conftest import CLI, run_cli

STAMPED = re.compile(r"^\[\s*(\d+\.\d{6})\] (.*)$")


def lines(output: str) -> list[tuple[float, str]]:
    found = []
    for line in output.splitlines():
        match = STAMPED.match(line)
        if match:
            found.append((float(match.group(1)), match.group(2)))
    return found


def test_blinky_toggles_the_led_and_logs(examples):
    result = run_cli("device", "run", str(examples / "blinky" / "blinky.elf"),
                     "--until", "LED off", "--timeout", "10", "--trace", "gpio")
    assert result.returncode == 0, result.stderr
    out = lines(result.stdout)
    logs = [(t, text) for t, text in out if text.startswith("LED")]
    assert [text for _, text in logs] == ["LED on", "LED off"]
    # 500 ms between toggles, counted by SysTick at 1 kHz, in virtual time.
    assert 0.45 <= logs[0][0] <= 0.6 and 0.45 <= logs[1][0] - logs[0][0] <= 0.55
    pins = [text for _, text in out if text.startswith("trace gpio PA5")]
    # PA5 becomes a driven output (low), then goes high and low with the two log lines.
    assert pins == ["trace gpio PA5 = 0", "trace gpio PA5 = 1", "trace gpio PA5 = 0"]


def test_rtos_scheduler_passes(examples):
    result = run_cli("device", "run", str(examples / "rtos" / "rtos.elf"),
                     "--until", "rtos: PASS", "--timeout", "20")
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr
    assert "rtos: FAIL" not in result.stdout


def test_syscalls_example_passes_every_check(examples):
    result = run_cli("device", "run", str(examples / "syscalls" / "syscalls.elf"),
                     "--until", "syscalls: DONE", "--timeout", "10")
    assert result.returncode == 0, result.stderr
    assert "FAIL" not in result.stdout, result.stdout
    assert re.search(r"syscalls: DONE pass=\d+ fail=0", result.stdout)
    assert "PASS mvRestart" in result.stdout


def test_reading_kernel_memory_is_a_crash_with_a_record(examples):
    result = run_cli("device", "run", str(examples / "fault" / "fault.elf"), "--timeout", "10")
    assert result.returncode == 4
    assert "fault: reading kernel memory" in result.stdout
    assert "CRASH: SecureFault" in result.stderr and "0x0c000000" in result.stderr
    assert re.search(r"pc 0x080[0-9a-f]{5}: ldr", result.stderr)  # disassembled
    assert "stacked frame:" in result.stderr and "Traceback" not in result.stderr


def test_timeout_exits_3(examples):
    result = run_cli("device", "run", str(examples / "blinky" / "blinky.elf"),
                     "--until", "never printed", "--timeout", "1.2")
    assert result.returncode == 3
    assert "LED off" in result.stdout and "timeout" in result.stderr


def test_flat_binary_runs_too(examples):
    result = run_cli("device", "run", str(examples / "blinky" / "blinky.bin"),
                     "--until", "LED on", "--timeout", "5")
    assert result.returncode == 0, result.stderr


def _one_sentence_error(result: subprocess.CompletedProcess) -> str:
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    text = " ".join(result.stderr.split())
    assert text.startswith("error:")
    return text


def test_missing_firmware_is_one_clear_sentence(tmp_path):
    text = _one_sentence_error(run_cli("device", "run", str(tmp_path / "nope.elf")))
    assert "does not exist" in text


def test_truncated_elf_is_refused(examples, tmp_path):
    data = (examples / "blinky" / "blinky.elf").read_bytes()
    cut = tmp_path / "cut.elf"
    cut.write_bytes(data[:200])
    text = _one_sentence_error(run_cli("device", "run", str(cut)))
    assert "truncated" in text or "not a valid ELF" in text


def test_wrongly_linked_elf_is_refused(assemble):
    elf = assemble(".syntax unified\n.thumb\n.text\n.word 0x20001000\n.word 0x10000001\n")
    relinked = elf.with_name("relinked.elf")
    subprocess.run(["arm-none-eabi-ld", "-Ttext=0x10000000", str(elf.with_suffix(".o")), "-o",
                    str(relinked)], check=True, capture_output=True)
    text = _one_sentence_error(run_cli("device", "run", str(relinked)))
    assert "0x10000000" in text and "linker script" in text


def test_tiny_binary_is_refused(tmp_path):
    tiny = tmp_path / "tiny.bin"
    tiny.write_bytes(b"\x00\x10")
    assert "truncated" in _one_sentence_error(run_cli("device", "run", str(tiny)))


def test_device_folder_keeps_its_identity_and_application(examples, tmp_path):
    assert run_cli("platform", "init", str(tmp_path / "platform")).returncode == 0

    def device_id(*args: str) -> str:
        result = run_cli("device", "run", *args, "--until", "syscalls: DONE", "--timeout", "10")
        assert result.returncode == 0, result.stderr
        return re.search(r"device id (UV[0-9a-f]{32})", result.stdout).group(1)

    for name in ("dev", "other"):
        made = run_cli("device", "create", str(tmp_path / name), "--platform", str(tmp_path / "platform"))
        assert made.returncode == 0, made.stderr
    syscalls = str(examples / "syscalls" / "syscalls.elf")
    first = device_id(str(tmp_path / "dev"), "--app", syscalls)
    assert device_id(str(tmp_path / "dev")) == first  # same chip, and the application stayed installed
    assert device_id(str(tmp_path / "other"), "--app", syscalls) != first  # another chip, another SID
    assert (tmp_path / "dev" / "internal_flash.bin").stat().st_size == 2 * 1024 * 1024


def test_unknown_trace_source_is_refused(examples):
    result = run_cli("device", "run", str(examples / "blinky" / "blinky.elf"), "--trace", "usb")
    assert result.returncode == 2 and "'--trace': unknown 'usb'" in result.stderr


def test_without_a_c_compiler_the_device_says_so_in_one_sentence(examples, tmp_path):
    # The CPU's cycle counter and exception code are C, built on first use into the user's cache:
    # with an empty cache and no compiler, `device run` says what to install instead of a traceback.
    env = {**os.environ, "XDG_CACHE_HOME": str(tmp_path / "cache"), "CC": str(tmp_path / "no-cc")}
    result = subprocess.run([str(CLI), "device", "run", str(examples / "blinky" / "blinky.elf"), "--fast",
                             "--timeout", "1"], capture_output=True, text=True, timeout=120, env=env,
                            check=False)
    assert result.returncode == 1 and "Traceback" not in result.stderr
    error = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(error) == 1 and "install gcc" in error[0], result.stderr
