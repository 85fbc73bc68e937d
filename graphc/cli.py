"""The ``graphc`` command line: the notes' demo, and graph files (docs/graph-format.md) that it
differentiates, optimizes, renders, runs and lists.

Every command that reads a graph takes a graph file or the name of a built-in example, so a
teacher can start from ``graphc show quadratic`` without writing any Python. ``main`` returns the
exit code instead of exiting, so tests can call it.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

EXIT_OK, EXIT_GRAPH, EXIT_USAGE = 0, 1, 2

DESCRIPTION = """\
graphc: a dataflow-graph compiler for Python. Build static computation graphs with a numpy-like
API, derive gradient graphs with the adjoint pass, and run them on a backend.

commands:
  demo      differentiate the worked examples of the reference notes, check every gradient
            against its closed form and against finite differences, and print the tables
  show      print the listing of a graph, one line per node
  grad      write the gradient graph of a graph (the adjoint pass)
  hvp       write the Hessian-vector-product graph of a graph
  optimize  write a graph after the rewrite passes (cse, constant folding, simplification, dce)
  render    draw a graph with graphviz: a picture (.svg, .png, .pdf, .dot) or, for an
            output without a suffix, a folder of pages showing every compilation stage
  run       run a graph on inputs from an .npz file and print or save its outputs

GRAPH is a graph file written by gc.save (see docs/graph-format.md) or the name of a
built-in example: quadratic, log_quadratic, frobenius_residual, logistic, logistic_least_squares.
"""

EPILOG = """\
exit codes: 0 success; 1 the graph or its inputs are wrong (a graphc error); 2 the command
line is wrong (unknown command or option, a file that cannot be read or written, an unknown
example)."""

GRAPH_HELP = "a graph file (.json) or the name of a built-in example"


class UsageError(Exception):
    """The command line asks for something that does not exist (exit code 2)."""


# ----------------------------------------------------------------------------------------------
# Reading and writing


def _example_graphs() -> dict:
    from . import examples

    return {ex.name: ex.graph for ex in examples.all_examples()}


def read_graph(spec: str):
    """The graph in file ``spec``, or the built-in example of that name."""
    from .serialize import load

    path = Path(spec)
    if path.is_file():
        try:
            return load(path)
        except OSError as exc:
            raise UsageError(f"cannot read {spec}: {exc.strerror or exc}") from None
    graphs = _example_graphs()
    if spec in graphs:
        return graphs[spec]
    raise UsageError(f"{spec!r} is neither a file nor a built-in example ({', '.join(graphs)})")


def write_graph(graph, out: str) -> None:
    from .errors import SerializationError
    from .serialize import save

    try:
        save(graph, out)
    except SerializationError as exc:  # a folder that is not there, a device, a FIFO
        raise UsageError(str(exc)) from None
    print(f"wrote {out}: {graph.name or 'graph'}, {len(graph)} nodes, outputs {_output_labels(graph)}")


def _output_labels(graph) -> str:
    if graph.output_names is not None:
        return ", ".join(graph.output_names)
    return ", ".join(f"out{i}" for i in range(len(graph.outputs)))


def _output(text: str | None):
    """``--output``: an output name, or its index when the text is an integer."""
    if text is None:
        return 0
    try:
        return int(text)
    except ValueError:
        return text


# ----------------------------------------------------------------------------------------------
# Commands


def _demo(args) -> int:
    from . import demo

    return demo.run()


def _show(args) -> int:
    print(read_graph(args.graph))
    return EXIT_OK


def _grad(args) -> int:
    from .adjoint import grad

    graph = read_graph(args.graph)
    write_graph(grad(graph, wrt=args.wrt, output=_output(args.output)), args.out)
    return EXIT_OK


def _hvp(args) -> int:
    from .hvp import hvp

    graph = read_graph(args.graph)
    options = {"mode": args.mode}
    if args.direction is not None:
        options["direction"] = args.direction
    write_graph(hvp(graph, wrt=args.wrt, output=_output(args.output), **options), args.out)
    return EXIT_OK


def _optimize(args) -> int:
    import graphc

    graph = read_graph(args.graph)
    optimized = graphc.optimize(graph, mode="fast" if args.fast else "ieee")
    print(f"{len(graph)} -> {len(optimized)} nodes")
    write_graph(optimized, args.out)
    return EXIT_OK


def _render(args) -> int:
    from graphc import viz
    from graphc.viz.target import FORMATS

    if not Path(args.graph).is_file() and args.graph not in _example_graphs():
        raise UsageError(f"{args.graph!r} is neither a file nor a built-in example "
                         f"({', '.join(_example_graphs())})")
    suffix = Path(args.out).suffix.lower()
    if suffix and suffix not in FORMATS:  # a bad output path is a usage error (exit 2), as the help says
        raise UsageError(f"cannot write {args.out!r}: give a picture ({', '.join(sorted(FORMATS))}) or a "
                         "folder for the pipeline pages")
    try:
        written = viz.render_target(args.graph, args.out)
    except OSError as exc:
        raise UsageError(f"cannot render {args.graph} to {args.out}: {exc.strerror or exc}") from None
    print(f"wrote {written}")
    return EXIT_OK


def _read_inputs(path: str | None) -> dict:
    import zipfile

    import numpy as np

    from .serialize import NPZ_ERRORS

    if path is None:
        return {}
    if not zipfile.is_zipfile(path):
        raise UsageError(f"--inputs {path}: not an .npz file (write one with np.savez(path, x=...))")
    try:
        with np.load(path, allow_pickle=False) as npz:
            return {key: npz[key] for key in npz.files}
    except NPZ_ERRORS as exc:
        raise UsageError(f"--inputs {path}: cannot read it: {exc}") from None


def _run(args) -> int:
    import numpy as np

    from .compile import compile as compile_graph

    graph = read_graph(args.graph)
    inputs = _read_inputs(args.inputs)
    extra = [name for name in inputs if name not in graph.input_names]
    if extra:  # one inputs file feeds a graph and its gradient, which has inputs the graph has not
        print(f"note: {args.inputs} holds arrays {graph.name or 'the graph'} has no input for, ignored: "
              f"{', '.join(extra)}", file=sys.stderr)
        inputs = {name: value for name, value in inputs.items() if name not in extra}
    batch = tuple(b for b in (args.batch or "").split(",") if b)
    results = compile_graph(graph, backend=args.backend, batch=batch)(**inputs)
    if isinstance(results, dict):
        named = results
    else:
        named = {f"out{i}": r for i, r in enumerate(results)}
    if args.out:
        try:
            with open(args.out, "wb") as f:
                np.savez(f, **named)
        except OSError as exc:
            raise UsageError(f"cannot write {args.out}: {exc.strerror or exc}") from None
        print(f"wrote {args.out}: {', '.join(named)}")
        return EXIT_OK
    from .dtypes import type_string

    for key, value in named.items():
        value = np.asarray(value)
        text = np.array2string(value, threshold=40, max_line_width=100)
        print(f"{key} : {type_string(value.shape, value.dtype)} =\n{text}")
    return EXIT_OK


# ----------------------------------------------------------------------------------------------
# The parser


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="graphc", description=DESCRIPTION, epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=_version())
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    def command(name, func, summary, description):
        p = sub.add_parser(name, help=summary, description=description, epilog=EPILOG)
        p.set_defaults(func=func)
        return p

    command("demo", _demo, "run the notes' examples and check their derivatives",
            "Differentiate the notes' worked examples and check them.")

    p = command("show", _show, "print the listing of a graph",
                "Print a graph one node per line: %4 = matmul(%A, %x) : f64[3].")
    p.add_argument("graph", metavar="GRAPH", help=GRAPH_HELP)

    p = command("grad", _grad, "write the gradient graph",
                "Differentiate a scalar output of GRAPH (the adjoint pass) and write the gradient "
                "graph: the original outputs followed by grad_<input> for each --wrt input.")
    p.add_argument("graph", metavar="GRAPH", help=GRAPH_HELP)
    p.add_argument("-o", "--out", required=True, metavar="OUT", help="the graph file to write")
    p.add_argument("--wrt", action="append", metavar="INPUT",
                   help="an input to differentiate against (repeat for several; default: every float input)")
    p.add_argument("--output", metavar="NAME_OR_INDEX", help="the scalar output (default: the first)")

    p = command("hvp", _hvp, "write the Hessian-vector-product graph",
                "Write the graph of H v, the Hessian of a scalar output of GRAPH with respect to "
                "one input, times a direction v that becomes a new input of the graph.")
    p.add_argument("graph", metavar="GRAPH", help=GRAPH_HELP)
    p.add_argument("-o", "--out", required=True, metavar="OUT", help="the graph file to write")
    p.add_argument("--wrt", required=True, metavar="INPUT", help="the input of the Hessian")
    p.add_argument("--output", metavar="NAME_OR_INDEX", help="the scalar output (default: the first)")
    p.add_argument("--direction", metavar="NAME", help="name of the direction input (default: direction)")
    p.add_argument("--mode", choices=("fwd-rev", "rev-rev"), default="fwd-rev",
                   help="forward-over-reverse (default) or reverse-over-reverse")

    p = command("optimize", _optimize, "write the graph after the rewrite passes",
                "Run the rewrite passes (cse, constant folding, simplification, dce) on GRAPH and "
                "write the result; outputs are unchanged up to rounding, with their NaNs, infinities "
                "and signed zeros (--fast: also the rewrites that hold only in real arithmetic).")
    p.add_argument("graph", metavar="GRAPH", help=GRAPH_HELP)
    p.add_argument("--fast", action="store_true",
                   help="also reassociate and distribute where IEEE results could change (overflow, "
                        "NaN, signed zeros), as -ffast-math does")
    p.add_argument("-o", "--out", required=True, metavar="OUT", help="the graph file to write")

    p = command("render", _render, "draw a graph with graphviz",
                "Draw GRAPH with graphviz. An OUT ending in .svg, .png, .pdf or .dot gets one picture "
                "(for an example: forward and adjoint graphs, with values); any other OUT is a folder "
                "that gets pages showing every stage of compilation (index.html).")
    p.add_argument("graph", metavar="GRAPH", help=GRAPH_HELP)
    p.add_argument("-o", "--out", required=True, metavar="OUT", help="the picture or folder to write")

    p = command("run", _run, "run a graph on inputs from an .npz file",
                "Compile GRAPH with a backend, call it with the arrays of an .npz file (one per "
                "input, by name; arrays for no input are ignored, with a note), and print the "
                "outputs or save them to an .npz file.")
    p.add_argument("graph", metavar="GRAPH", help=GRAPH_HELP)
    p.add_argument("--inputs", metavar="IN.npz", help="the input arrays, by input name (np.savez)")
    p.add_argument("--backend", default="numpy", choices=_backends(), help="the backend (default: numpy)")
    p.add_argument("--batch", metavar="NAME[,NAME...]",
                   help="inputs given with an extra leading axis, one graph evaluation per entry")
    p.add_argument("-o", "--out", metavar="OUT.npz", help="save the outputs here instead of printing them")
    return parser


def _backends() -> list[str]:
    from .backend_registry import list_backends

    return list_backends()


def _version() -> str:
    from . import __version__

    return f"graphc {__version__}"


def main(argv=None) -> int:
    """Run the command line; returns the exit code (0 ok, 1 graph error, 2 usage error)."""
    from .errors import GraphError, GraphTypeError

    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help, --version, or argparse's usage error
        return exc.code if isinstance(exc.code, int) else EXIT_USAGE
    if not getattr(args, "func", None):
        parser.print_help()
        return EXIT_USAGE
    try:
        return args.func(args)
    except UsageError as exc:
        print(f"graphc {args.command}: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except (GraphError, GraphTypeError) as exc:
        print(f"graphc {args.command}: error: {exc}", file=sys.stderr)
        return EXIT_GRAPH


if __name__ == "__main__":
    sys.exit(main())
