"""Lazy package attributes (PEP 562): a package lists which submodule defines each public name,
and a name's submodule is imported the first time the name is used. This keeps torch out of
``bcviewer --help`` and of the viewer's start-up while ``from bcviewer.nets import load_model``
still works."""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterable, Mapping, MutableMapping
from typing import Any


def lazy_attributes(namespace: MutableMapping[str, Any], package: str, submodules: Mapping[str, Iterable[str]],
                    public: Iterable[str]) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """The ``__getattr__`` and ``__dir__`` of ``package``, whose ``namespace`` is its globals():
    ``submodules`` maps each submodule to the names it defines; ``public`` is ``__all__``."""
    where = {name: module for module, names in submodules.items() for name in names}
    listed = set(public)

    def get(name: str) -> Any:
        module = where.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(module), name)
        namespace[name] = value  # imported once: later lookups find it without this function
        return value

    def listing() -> list[str]:
        return sorted(set(namespace) | listed)

    return get, listing
