"""Load the kernel package from the verified bytes of its layer, never from the installed source."""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.util
import sys
from types import ModuleType

from ..common.archive import ArchiveError, ZipLimits, read_zip

PACKAGE_PREFIX = "microvisor.loaded_kernel_"
KERNEL_LIMITS = ZipLimits(max_entries=512, max_entry_size=1024 * 1024, max_total_size=8 * 1024 * 1024,
                          folders=True)


class KernelLoadError(Exception):
    """A kernel layer that is not a loadable kernel package."""


class _LayerImporter(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Finds and executes the modules of one kernel layer under one package name."""

    def __init__(self, package: str, files: dict[str, bytes], label: str):
        self.package = package
        self.files = files
        self.label = label

    def _path(self, fullname: str) -> tuple[str, bool] | None:
        if fullname == self.package:
            return "__init__.py", True
        if not fullname.startswith(self.package + "."):
            return None
        relative = fullname[len(self.package) + 1 :].replace(".", "/")
        if f"{relative}/__init__.py" in self.files:
            return f"{relative}/__init__.py", True
        if f"{relative}.py" in self.files:
            return f"{relative}.py", False
        return None

    def find_spec(self, fullname, path, target=None):
        found = self._path(fullname)
        if found is None:
            return None
        spec = importlib.util.spec_from_loader(fullname, self, is_package=found[1])
        spec.origin = f"<{self.label}>/{found[0]}"
        return spec

    def create_module(self, spec):
        return None

    def exec_module(self, module: ModuleType) -> None:
        name, is_package = self._path(module.__name__)
        if is_package:
            module.__path__ = []
        code = compile(self.files[name], f"<{self.label}>/{name}", "exec")
        exec(code, module.__dict__)


def load_kernel(layer: bytes, digest: str) -> ModuleType:
    """Import the kernel package held in layer (a ZIP of its .py files) as its own package."""
    package = PACKAGE_PREFIX + digest[:16]
    if package in sys.modules:
        return sys.modules[package]
    try:
        files = read_zip(layer, KERNEL_LIMITS)
    except ArchiveError as exc:
        raise KernelLoadError(f"the kernel layer is not a ZIP of modules ({exc})") from None
    if "__init__.py" not in files:
        raise KernelLoadError("the kernel layer has no __init__.py")
    importer = _LayerImporter(package, files, f"kernel {digest[:12]}")
    sys.meta_path.insert(0, importer)
    try:
        return importlib.import_module(package)
    except Exception as exc:
        sys.meta_path.remove(importer)
        for name in [n for n in sys.modules if n == package or n.startswith(package + ".")]:
            del sys.modules[name]
        raise KernelLoadError(f"the kernel does not load: {type(exc).__name__}: {exc}") from None
