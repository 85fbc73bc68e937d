"""Piecewise reads, and loops split where the pieces meet.

``concatenate`` and ``unslice`` read piecewise: element i of ``concatenate([a, b])`` is ``a[i]``
below the first length and ``b[i - n]`` above it. Written as a conditional expression inside a
loop, the branch on every element stops LLVM from vectorizing the loop (the RK4 ode's step ran
1.4x slower than JAX's for it). So a view whose index along an axis is a loop's own index variable
writes a *piecewise token* instead: the variable, the cuts and one expression per piece. The code
generator resolves tokens when it writes a line: a loop over that variable is split at the cuts
into one loop per piece (so each loop reads one piece, branch-free), and anywhere else a token
becomes the conditional expression it stands for.
"""

from __future__ import annotations

import re

MAX_PIECES = 8  # a loop split into more pieces than this keeps its conditionals (code size)
_TOKEN = re.compile("\x01(\\d+)\x02")


class Pieces:
    """The token table of one kernel: token k is (variable, cuts, expressions)."""

    def __init__(self):
        self.table: list[tuple[str, tuple[int, ...], tuple[str, ...]]] = []

    def token(self, var: str, cuts, pieces) -> str:
        """A read that is ``pieces[k]`` for ``cuts[k-1] <= var < cuts[k]``."""
        cuts, pieces = tuple(cuts), tuple(pieces)
        assert len(pieces) == len(cuts) + 1
        if not cuts:
            return pieces[0]
        self.table.append((var, cuts, pieces))
        return f"\x01{len(self.table) - 1}\x02"

    def cuts(self, texts, var: str, lo: int, hi: int) -> list[int]:
        """Where a loop ``for var in range(lo, hi)`` running ``texts`` should be split."""
        found: set[int] = set()
        stack = [t for t in texts if "\x01" in t]
        while stack:
            for m in _TOKEN.finditer(stack.pop()):
                v, cuts, pieces = self.table[int(m.group(1))]
                if v == var:
                    found.update(c for c in cuts if lo < c < hi)
                stack.extend(p for p in pieces if "\x01" in p)
        return sorted(found)

    def resolve(self, text: str, ranges: dict[str, tuple[int, int]]) -> str:
        """``text`` with each token replaced: by its piece when ``ranges`` (variable -> the
        range a loop runs it over) puts the variable inside one piece, else by a conditional."""
        if "\x01" not in text:
            return text

        def replace(m) -> str:
            var, cuts, pieces = self.table[int(m.group(1))]
            if var in ranges:
                lo, hi = ranges[var]
                bounds = (None,) + cuts + (None,)
                for k, piece in enumerate(pieces):
                    below, above = bounds[k], bounds[k + 1]
                    if (below is None or below <= lo) and (above is None or hi <= above):
                        return self.resolve(piece, ranges)
            expr = self.resolve(pieces[-1], ranges)
            for cut, piece in zip(reversed(cuts), reversed(pieces[:-1])):
                expr = f"({self.resolve(piece, ranges)} if {var} < {cut} else {expr})"
            return expr

        return _TOKEN.sub(replace, text)


def bare_loop_index(i: str) -> bool:
    """Whether an index expression is a loop's own variable (``i0``), so a token can name it."""
    return re.fullmatch(r"i\d+", i) is not None
