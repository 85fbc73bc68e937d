"""The backend registry, fed by the ``graphc.backends`` entry-point group.

A backend is an object with a ``name`` and ``compile(graph, batch=(), **options)`` returning a
kernel: a callable taking the list of input arrays (already checked, in input order) and returning
the list of output arrays. A third-party package registers one by declaring an entry point in that
group; :func:`register_backend` does the same at run time.
"""

from __future__ import annotations

import threading
from importlib.metadata import entry_points

from .errors import BackendError

_factories: dict[str, object] = {}
_instances: dict[str, object] = {}
_loaded_entry_points = False
# Threads compiling at once in a fresh process: the registry is filled, and each backend made,
# exactly once, and nobody sees it half-filled (it was marked loaded before it was filled).
_lock = threading.RLock()


def _load_entry_points() -> None:
    global _loaded_entry_points
    if _loaded_entry_points:
        return
    with _lock:
        if _loaded_entry_points:
            return
        for ep in entry_points(group="graphc.backends"):
            _factories.setdefault(ep.name, ep)
        # the built-in backends, also when graphc runs from a checkout without installed metadata
        _factories.setdefault("numpy", "graphc.backends.numpy_backend:NumpyBackend")
        _factories.setdefault("numba", "graphc.backends.numba:NumbaBackend")
        _loaded_entry_points = True


def register_backend(name: str, factory) -> None:
    """Register a backend factory (a class or callable returning a backend) under ``name``."""
    with _lock:
        _factories[name] = factory
        _instances.pop(name, None)


def list_backends() -> list[str]:
    """Names of the available backends."""
    _load_entry_points()
    return sorted(_factories)


def get_backend(name: str):
    _load_entry_points()
    if not isinstance(name, str) or name not in _factories:
        raise BackendError(f"unknown backend {name!r}; available backends: {', '.join(list_backends())}")
    found = _instances.get(name)
    if found is not None:
        return found
    with _lock:
        if name not in _instances:
            factory = _factories[name]
            if isinstance(factory, str):
                module, _, attr = factory.partition(":")
                import importlib

                factory = getattr(importlib.import_module(module), attr)
            elif hasattr(factory, "load"):
                factory = factory.load()
            _instances[name] = factory()
        return _instances[name]
