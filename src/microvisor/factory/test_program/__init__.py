"""The Microvisor test program: installed by the ROM's SFI loader, it runs steps 5 to 8 on the chip.

Built and signed like the kernel (a KernelManifest bundle signed by the platform's kernel key) and
loaded by the ROM from verified flash only. Its modules import `microvisor.common` and
`microvisor.device` by absolute name, since the ROM loads this package under a name of its own.

5. check the hardware (QSPI identity, size and commands, the radio) and report every result;
6. make the device's key pair here (the private key never leaves the chip) and a CSR, and
   countersign it with the chip key, the station's challenge from the service inside;
7. store the certificate the service returns, once it is checked to certify this very key;
8. install the customer's test bundle and then the microvisor (the commit point: the kernel
   replaces this program) and restart.

Every step can be run again after a power cut: the key is made once and kept, a certificate
already stored skips steps 6 and 7, and the kernel is written last.
"""

from __future__ import annotations

from typing import Any

TEST_PROGRAM = True  # what the chip's runner looks for to tell this package from the kernel
ANSWER_TIMEOUT_S = 120.0


class StepFailed(Exception):
    """A step failed; (step, reason) go to the station and the chip stays in the test program."""

    def __init__(self, step: int, reason: str):
        super().__init__(reason)
        self.step = step


def run(state: Any, report: Any, uart: Any) -> str:
    """Steps 5 to 8; "reboot" when the microvisor is installed, "failed" when a step failed."""
    from .steps import run_steps

    try:
        run_steps(state, report, uart)
    except StepFailed as exc:
        uart.send({"event": "step-failed", "step": exc.step, "reason": str(exc)})
        return "failed"
    return "reboot"
