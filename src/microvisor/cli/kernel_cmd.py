"""`microvisor kernel …`: build the signed kernel image from this package's kernel source."""

from __future__ import annotations

from pathlib import Path

import typer

from ..common import kernel_image
from . import params
from .output import fail, out

app = typer.Typer(help="The microvisor kernel image.", no_args_is_help=True)


@app.command("build")
def build(
    platform_dir: Path = params.option(..., "--platform", type=params.FOLDER, metavar="DIR",
                                       help="Platform folder."),
    output: Path = params.option(..., "-o", "--output", type=params.OUTPUT_FILE, metavar="KERNEL.zip",
                                 help="Bundle to write."),
    version_number: int = params.option(kernel_image.VERSION_NUMBER, "--version-number",
                                        type=params.manifest_integer("KernelMeta", "version_number",
                                                                     minimum=1),
                                        help="The kernel's version number."),
    version_string: str = params.option(kernel_image.VERSION_STRING, "--version-string", type=params.TEXT,
                                        help="The kernel's version as people read it."),
    ratchet: int = params.option(kernel_image.SECURITY_RATCHET, "--ratchet",
                                 type=params.manifest_integer("KernelMeta", "version_security_ratchet"),
                                 help="Security ratchet: devices refuse kernels below the highest seen."),
) -> None:
    """Pack the kernel package into a KernelManifest bundle signed with the platform's kernel key."""
    from ..common.platform import Platform, PlatformError

    try:
        platform = Platform(platform_dir)
        bundle = kernel_image.build(platform, version_number=version_number,
                                    version_string=version_string, ratchet=ratchet)
        bundle.write(output)
    except (PlatformError, OSError) as exc:
        raise fail(str(exc)) from None
    out.print(f"wrote {output}: kernel {version_string} (version {version_number}, ratchet {ratchet}), "
              f"manifest {bundle.manifest_hash[:16]}…")
