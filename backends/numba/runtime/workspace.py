"""The kernel's workspace: large intermediate arrays that live between calls, sharing memory
where their lifetimes allow.

A generated kernel takes each large intermediate as an argument of its own (see
``WORKSPACE_MIN_BYTES`` in :mod:`.codegen`). Two of them can be views of one buffer when
one is dead before the other is first written. Lifetimes come from the generated source itself:
a top-level statement of the kernel body (a line, or a whole loop nest with everything indented
under it) is one step, and an array lives from the first step that mentions it to the last. Two
arrays share a buffer only when those step ranges do not touch, so an array read for the last
time in a loop never shares memory with one that the same loop writes. The kernel code does not
change: numba assumes nothing about arguments not aliasing, and the arrays never overlap in time.
"""

from __future__ import annotations

import re

import numpy as np

ALIGN = 64  # bytes: every array of the workspace starts on a cache line


def lifetimes(body: str, names: list[str], aliases: dict[str, str] | None = None) -> list[tuple[int, int]]:
    """(first, last) top-level statement of the kernel body ``body`` mentioning each name, or a
    view of it (``aliases``: view name -> array name; a reshape's result reads its array's memory
    for as long as it is read; the second buffer of a loop's carry is an alias of the first, as
    their names swap at every step: both live as long as either is mentioned)."""
    steps: list[str] = []
    for line in body.splitlines()[1:]:  # after "def kernel(...):"
        if line.startswith("    ") and not line.startswith("     "):
            steps.append(line)
        elif steps:
            steps[-1] += "\n" + line
    found = []
    for name in names:
        group = [name] + [view for view, base in (aliases or {}).items() if base == name]
        if name in (aliases or {}):  # a loop's carry buffers, swapped: each may end up the other
            group.append(aliases[name])
        pattern = re.compile(r"\b(" + "|".join(map(re.escape, group)) + r")\b")
        hits = [i for i, text in enumerate(steps) if pattern.search(text)]
        found.append((hits[0], hits[-1]) if hits else (0, len(steps)))
    return found


def plan(sizes: list[int], spans: list[tuple[int, int]]) -> tuple[list[int], int]:
    """Byte offsets of arrays of ``sizes`` bytes living over ``spans`` in one buffer, and the
    buffer's size: first fit over blocks freed by arrays whose lifetime has ended."""
    order = sorted(range(len(sizes)), key=lambda i: spans[i])
    offsets = [0] * len(sizes)
    live: list[tuple[int, int, int]] = []  # (last step, offset, size) of arrays placed so far
    total = 0
    for i in order:
        first = spans[i][0]
        live = [block for block in live if block[0] >= first]  # the others have ended
        size = -(-sizes[i] // ALIGN) * ALIGN
        offset = 0
        for _, start, length in sorted(live, key=lambda b: b[1]):
            if offset + size <= start:
                break
            offset = max(offset, start + length)
        offsets[i] = offset
        live.append((spans[i][1], offset, size))
        total = max(total, offset + size)
    return offsets, total


class Workspace:
    """The arrays of one workspace, built from one buffer by :func:`plan`."""

    def __init__(self, body: str, arrays: list[tuple[str, tuple[int, ...], np.dtype]],
                 aliases: dict[str, str] | None = None):
        self.shapes = [(shape, np.dtype(dtype)) for _, shape, dtype in arrays]
        sizes = [int(np.prod(shape, dtype=np.int64)) * dtype.itemsize for shape, dtype in self.shapes]
        self.offsets, self.nbytes = plan(sizes, lifetimes(body, [name for name, _, _ in arrays], aliases))

    def allocate(self) -> tuple[np.ndarray, ...]:
        buffer = np.empty(self.nbytes + ALIGN, np.uint8)
        base = (-buffer.ctypes.data) % ALIGN
        return tuple(
            buffer[base + offset:base + offset + int(np.prod(shape, dtype=np.int64)) * dtype.itemsize]
            .view(dtype).reshape(shape)
            for offset, (shape, dtype) in zip(self.offsets, self.shapes)
        )
