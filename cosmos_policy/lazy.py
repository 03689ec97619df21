"""Lazy package exports: ``import cosmos_policy.x`` stays cheap until a name is used."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any


def lazy_exports(package: str, exports: dict[str, str]
                 ) -> tuple[Callable[[str], Any], list[str]]:
    """A module ``__getattr__`` that imports ``exports[name]`` (a module path) on first use of
    ``name``, and the package's ``__all__``. Usage in a package's ``__init__``::

        __getattr__, __all__ = lazy_exports(__name__, {"Name": "package.module"})
    """

    def __getattr__(name: str) -> Any:
        if name in exports:
            return getattr(importlib.import_module(exports[name]), name)
        raise AttributeError(f"module {package!r} has no attribute {name!r}")

    return __getattr__, sorted(exports)
