"""The ``graphc`` command line."""

from __future__ import annotations

import argparse
import sys

DESCRIPTION = """\
graphc: a dataflow-graph compiler for Python. Build static computation graphs with a numpy-like
API, derive gradient graphs with the adjoint pass, and run them on a backend.

commands:
  demo      differentiate the worked examples of the reference notes, check every gradient
            against its closed form and against finite differences, and print the tables
"""


def _demo(args) -> int:
    from . import demo

    return demo.run()


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="graphc", description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--version", action="version", version=_version())
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    demo = sub.add_parser("demo", help="run the notes' examples and check their derivatives",
                          description="Differentiate the notes' worked examples and check them.")
    demo.set_defaults(func=_demo)
    return parser


def _version() -> str:
    from . import __version__

    return f"graphc {__version__}"


def main(argv=None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
