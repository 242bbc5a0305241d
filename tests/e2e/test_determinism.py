"""Virtual time is made of executed instructions: the same output, timestamps included, under any load."""

from __future__ import annotations

import multiprocessing
import re

from tests.conftest import run_cli

TICKS = re.compile(r"ticks: second (\d+) tick (\d+)")


def _hog(seconds: float) -> None:
    import time

    end = time.monotonic() + seconds
    while time.monotonic() < end:
        pass


def ticks_run(examples) -> str:
    result = run_cli("device", "run", str(examples / "ticks" / "ticks.elf"), "--fast", "--until",
                     "ticks: PASS", "--timeout", "70", timeout=300)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr
    return result.stdout


def test_the_rtos_tick_matches_the_rtc_exactly_and_the_output_does_not_depend_on_the_host(examples):
    alone = ticks_run(examples)
    seconds = [(int(second), int(tick)) for second, tick in TICKS.findall(alone)]
    assert [second for second, _ in seconds] == list(range(1, 61))
    assert all(b - a == 1000 for (_, a), (_, b) in zip(seconds, seconds[1:], strict=False))
    assert "ticks: PASS 59 s, 59000 ticks (expected 59000)" in alone
    hogs = [multiprocessing.Process(target=_hog, args=(120,), daemon=True) for _ in range(3)]
    for hog in hogs:
        hog.start()
    try:
        loaded = ticks_run(examples)
    finally:
        for hog in hogs:
            hog.terminate()
    assert loaded == alone  # every line and every virtual timestamp


def test_blinky_prints_the_same_timestamps_every_time(examples):
    runs = [run_cli("device", "run", str(examples / "blinky" / "blinky.elf"), "--fast", "--until", "LED off",
                    "--timeout", "5") for _ in range(2)]
    assert runs[0].returncode == 0 and runs[0].stdout == runs[1].stdout
    assert re.search(r"\[    1\.0000\d\d\] LED off", runs[0].stdout), runs[0].stdout
