"""Regenerate the picture in the README: ``uv run python docs/make_readme_picture.py``.

The notes' univariate logistic least-squares model, forward and adjoint in one picture, with the
values at the notes' point and every adjoint checked against finite differences.
"""

from pathlib import Path

from graphc import examples
from graphc.viz import render

NOTES_POINT = {"w": 1.0, "b": 0.0, "x": 2.0, "t": 1.0}
ROOT = Path(__file__).resolve().parent.parent

if __name__ == "__main__":
    ex = examples.logistic_least_squares()
    out = render(ex.graph, ROOT / "docs" / "logistic_least_squares_adjoint.svg", view="both",
                 wrt=["w", "b", "x"], values=NOTES_POINT, check=True)
    # hover texts name the source line of each node: keep them relative to the repository
    out.write_text(out.read_text(encoding="utf-8").replace(f"{ROOT}/", ""), encoding="utf-8")
