"""The build context: what a node being built now is tagged with, read from the caller.

Three things travel with the code that builds nodes, not with the nodes' operands:

* the **scope** (``with gc.scope("layer1"):``), nested names that pictures draw as clusters;
* the **provenance** a pass sets around the nodes it builds (``pass_name``, ``rule``, ``role``,
  ...: any :class:`~graphc.ir.Meta` field), so every derived node says where it came from;
* the **location**: the file and line of the innermost stack frame outside graphc, so that a
  shape error names the user's line and a node's tooltip its source.

They live in context variables, so threads and asyncio tasks building graphs at once never see
each other's scope or provenance. Packages that build nodes on a user's behalf (graphc's own
backends and pictures) register their folders with :func:`register_internal_dir` so their frames
are skipped when the location is read.
"""

from __future__ import annotations

import contextlib
import contextvars
import os
import sys
from dataclasses import dataclass


@dataclass(frozen=True)
class Location:
    """The file and line of user code that built a node."""

    file: str
    line: int

    def __str__(self) -> str:
        return f"{self.file}:{self.line}"


_scope: contextvars.ContextVar[tuple[str, ...]] = contextvars.ContextVar("graphc_scope", default=())
_provenance: contextvars.ContextVar[dict | None] = contextvars.ContextVar("graphc_provenance", default=None)


@contextlib.contextmanager
def scope(name: str):
    """Nodes built inside ``with gc.scope("layer1"):`` are tagged with that (nested) scope."""
    from .errors import GraphTypeError

    if not isinstance(name, str) or not name:
        raise GraphTypeError(f"scope name must be a non-empty string, got {name!r}")
    token = _scope.set(_scope.get() + (name,))
    try:
        yield
    finally:
        _scope.reset(token)


def current_scope() -> tuple[str, ...]:
    return _scope.get()


@contextlib.contextmanager
def provenance(**fields):
    """Nodes built inside get these Meta fields (used by passes: pass_name, rule, role, ...).

    Nested uses merge, the inner one winning; a ``location`` or ``scope`` given here replaces the
    one that would be read from the user's stack.
    """
    outer = _provenance.get() or {}
    token = _provenance.set({**outer, **fields})
    try:
        yield
    finally:
        _provenance.reset(token)


def current_provenance() -> dict | None:
    """The fields set by the enclosing :func:`provenance` blocks (None outside any)."""
    return _provenance.get()


def set_provenance(fields: dict) -> contextvars.Token:
    """Replace the provenance (not merged with the enclosing one) until :func:`reset_provenance`:
    what ``with provenance(...)`` does, without a generator's cost, for a rewrite driver that
    sets it around every rule it applies."""
    return _provenance.set(fields)


def reset_provenance(token: contextvars.Token) -> None:
    _provenance.reset(token)


_INTERNAL_DIRS: tuple[str, ...] = ()
_CONTEXTLIB = os.path.dirname(contextlib.__file__)


def register_internal_dir(path: str) -> None:
    """Frames from files in the folder of ``path`` (a module's ``__file__``) are not the user's."""
    global _INTERNAL_DIRS
    folder = os.path.dirname(os.path.abspath(path))
    if folder not in _INTERNAL_DIRS:
        _INTERNAL_DIRS = _INTERNAL_DIRS + (folder,)


register_internal_dir(__file__)


def user_location() -> Location | None:
    """The innermost stack frame outside graphc: where the user's code built the node."""
    frame = sys._getframe(1)
    while frame is not None:
        filename = frame.f_code.co_filename
        if not filename.startswith(_INTERNAL_DIRS) and not filename.startswith(_CONTEXTLIB):
            return Location(filename, frame.f_lineno)
        frame = frame.f_back
    return None


def where(meta) -> str:
    """`` (at file:line)`` for error messages about a node (its ``meta``), or nothing when the
    location is unknown."""
    if meta is not None and meta.location is not None:
        return f" (at {meta.location})"
    return ""
