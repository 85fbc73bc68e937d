"""Nested containers of nodes (a loop's carry, its per-step inputs and outputs): flattened to a
list of leaves and a structure, and rebuilt from leaves, like JAX's pytrees.

A tree is a leaf (a node, or a number or array that becomes a constant node), None (no leaves),
or a tuple, list or dict of trees (dict keys sorted, as JAX does). Every leaf has a path,
``carry['h']`` or ``carry[0][1]``, by which errors and pictures name it.
"""

from __future__ import annotations

from dataclasses import dataclass

from .errors import GraphTypeError


@dataclass(frozen=True)
class Structure:
    """The shape of a tree: ``kind`` is "leaf", "none", "tuple", "list" or "dict"; ``keys`` the
    dict keys; ``children`` the sub-structures."""

    kind: str
    keys: tuple = ()
    children: tuple = ()

    @property
    def size(self) -> int:
        if self.kind == "leaf":
            return 1
        return sum(c.size for c in self.children)

    def describe(self) -> str:
        if self.kind == "leaf":
            return "*"
        if self.kind == "none":
            return "None"
        if self.kind == "dict":
            return "{" + ", ".join(f"{k!r}: {c.describe()}" for k, c in zip(self.keys, self.children)) + "}"
        inner = ", ".join(c.describe() for c in self.children)
        return f"({inner},)" if self.kind == "tuple" and len(self.children) == 1 else (
            f"({inner})" if self.kind == "tuple" else f"[{inner}]")


def flatten(tree, root: str = "tree") -> tuple[list, list[str], Structure]:
    """(leaves, their paths, the structure)."""
    leaves: list = []
    paths: list[str] = []

    def visit(t, path):
        if t is None:
            return Structure("none")
        if isinstance(t, (tuple, list)):
            kids = tuple(visit(v, f"{path}[{i}]") for i, v in enumerate(t))
            return Structure("tuple" if isinstance(t, tuple) else "list", children=kids)
        if isinstance(t, dict):
            keys = tuple(sorted(t, key=repr))
            for k in keys:
                if not isinstance(k, (str, int)):
                    raise GraphTypeError(f"{path}: dict keys must be strings or ints, got {k!r}")
            return Structure("dict", keys, tuple(visit(t[k], f"{path}[{k!r}]") for k in keys))
        leaves.append(t)
        paths.append(path)
        return Structure("leaf")

    structure = visit(tree, root)
    return leaves, paths, structure


def unflatten(structure: Structure, leaves):
    """The tree of ``structure`` holding ``leaves`` in order."""
    it = iter(leaves)

    def build(s):
        if s.kind == "leaf":
            return next(it)
        if s.kind == "none":
            return None
        kids = [build(c) for c in s.children]
        if s.kind == "dict":
            return dict(zip(s.keys, kids))
        return tuple(kids) if s.kind == "tuple" else kids

    return build(structure)
