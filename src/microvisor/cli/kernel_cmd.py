"""`microvisor kernel …`: build the signed kernel image from this package's kernel source."""

from __future__ import annotations

from pathlib import Path

import typer

from ..common import kernel_image
from ..common.platform import Platform, PlatformError
from .output import fail, out

app = typer.Typer(help="The microvisor kernel image.", no_args_is_help=True)


@app.command("build")
def build(
    platform_dir: Path = typer.Option(..., "--platform", metavar="DIR", help="Platform folder."),
    output: Path = typer.Option(..., "-o", "--output", metavar="KERNEL.zip", help="Bundle to write."),
    version_number: int = typer.Option(kernel_image.VERSION_NUMBER, "--version-number", min=1),
    version_string: str = typer.Option(kernel_image.VERSION_STRING, "--version-string"),
    ratchet: int = typer.Option(kernel_image.SECURITY_RATCHET, "--ratchet", min=0,
                                help="Security ratchet: devices refuse kernels below the highest seen."),
) -> None:
    """Pack the kernel package into a KernelManifest bundle signed with the platform's kernel key."""
    try:
        platform = Platform(platform_dir)
        bundle = kernel_image.build(platform, version_number=version_number,
                                    version_string=version_string, ratchet=ratchet)
        bundle.write(output)
    except (PlatformError, OSError) as exc:
        raise fail(str(exc)) from None
    out.print(f"wrote {output}: kernel {version_string} (version {version_number}, ratchet {ratchet}), "
              f"manifest {bundle.manifest_hash[:16]}…")
