"""Wall time, device ID, logging limits, peek/poke, fast interrupts and the system LED on the device."""

from __future__ import annotations

import re

from microvisor.kernel.system_led import SystemLed

WALL_US = 1_700_000_000 * 1_000_000
TIM2_IRQ = 45


def host(fast_states: dict[str, tuple[bool, bool]]):
    """What the host does on the application's cue lines."""

    def on_line(run, text: str) -> None:
        kernel = run.kernel
        if text == "wall: set":  # the server's time arrives
            kernel.calls.set_wall_time(WALL_US)
        elif text == "logging: disable":  # the service turns logging off for a millisecond
            kernel.server_logging.disabled_by_server = True
            run.device.clock.schedule_in(1_000_000, lambda: setattr(
                kernel.server_logging, "disabled_by_server", False))
        elif text.startswith("fast: "):
            fast = kernel.fast_interrupts
            fast_states[text] = (fast.is_fast(TIM2_IRQ), fast.low_latency(TIM2_IRQ))

    return on_line


def test_device_calls_behave_as_published(kernel_apps, device_run):
    fast_states: dict[str, tuple[bool, bool]] = {}
    run = device_run(kernel_apps / "device_calls" / "device_calls.elf", on_line=host(fast_states))
    run.run()
    assert run.failures() == []
    assert re.fullmatch(r"DONE pass=\d+ fail=0", run.lines[-1])
    assert {"wall/not-set", "wall", "id", "struct/ok", "log/129", "log/disabled-by-server",
            "poke/clock-tree-unchanged", "poke/toggle", "peek/pwr", "fast/vector-in-kernel",
            "fast/vector-table-in-sram", "fast/enable-cleared", "led/reserved",
            "led/from-irq"} <= run.passed()
    assert "m" * 128 in run.lines and "log: a message in flash" in run.lines
    assert fast_states == {"fast: all disabled": (True, False), "fast: all enabled": (True, True),
                           "fast: disabled": (True, False)}
    assert [e.data["enabled"] for e in run.of("kernel", "system-led")] == [False, True, False]


def test_a_restart_forgets_what_the_application_set_up(kernel_apps, device_run):
    run = device_run(kernel_apps / "device_calls" / "device_calls.elf", on_line=host({}))
    run.run()
    led = next(f for f in run.kernel.families if isinstance(f, SystemLed))
    assert led.enabled is False
    run.device.request_reset("sysresetreq")
    run.events.clear()
    run.run()  # the application runs again from the start
    assert run.lines[0] == "device_calls: start"
    # Wall time belongs to the device, not the application: it is still set.
    assert [line.split()[1] for line in run.failures()] == ["wall/not-set"]
    assert [e.data["enabled"] for e in run.of("kernel", "system-led")][:1] == [True]
    assert run.kernel.fast_interrupts.fast == set()
