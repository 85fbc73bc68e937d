"""graphc.viz: graphviz pictures of graphs and of the passes that derive them, for teaching.

* :func:`to_dot` / :func:`render` draw one graph: primal, adjoint or both, with readable names
  (x̄, v̄₇, the seed f̄ = 1), the chain-rule term on every contribution, Σ nodes at fan-in, scopes
  as clusters mirrored on the adjoint side, values, and a finite-difference check;
* :func:`render_backprop` plays the adjoint pass back, one frame per step, with the notes'
  backward table;
* :func:`render_pipeline` draws every stage of compilation on one page;
* :func:`render_target` is what ``graphc render FILE_OR_EXAMPLE -o OUT`` runs.
"""

from graphc.context import register_internal_dir

register_internal_dir(__file__)

from .backprop import backprop_steps, render_backprop  # noqa: E402
from .dot import render, to_dot  # noqa: E402
from .errors import GraphTooLargeError, RenderError, RenderTimeoutError  # noqa: E402
from .pipeline import render_pipeline  # noqa: E402
from .target import render_target, write_example_pages  # noqa: E402

__all__ = ["GraphTooLargeError", "RenderError", "RenderTimeoutError", "backprop_steps", "render",
           "render_backprop", "render_pipeline", "render_target", "to_dot", "write_example_pages"]
