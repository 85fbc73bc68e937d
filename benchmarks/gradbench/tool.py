"""graphc's side of GradBench's protocol (CONTRIBUTING.md, "Protocol"): JSON lines in on stdin,
one response line per message on stdout.

``define`` imports the eval's module from this package (only names in ``EVALS``: a message never
picks an arbitrary module); ``evaluate`` prepares the workload (building and compiling its graph
once per shape), runs it as ``min_runs``/``min_seconds`` ask and answers with the output and one
``evaluate`` timing per run, plus a ``compile`` timing the first time a shape is seen. A failure
is answered as ``success: false`` with the error, and the session goes on.

Run from the repository's root: ``uv run python -m benchmarks.gradbench.tool``."""

from __future__ import annotations

import importlib
import json
import sys
import time
import traceback

from .runs import BACKEND, repeat

EVALS = ("hello", "lse", "llsq", "det", "kmeans", "gmm", "ode", "lstm", "ba", "ht", "particle", "saddle")


def _module(name: str):
    if name not in EVALS:
        raise LookupError(f"graphc has no GradBench module {name!r}; it has {', '.join(EVALS)}")
    return importlib.import_module(f"{__package__}.{name}")


def respond(message: dict) -> dict:
    """The response to one protocol message."""
    response: dict = {"id": message["id"]}
    kind = message.get("kind")
    if kind == "start":
        response["tool"] = "graphc"
        response["config"] = {"backend": BACKEND}
    elif kind == "define":
        start = time.perf_counter_ns()
        try:
            _module(message["module"])
        except Exception as error:  # reported to the eval, which then stops
            response |= {"success": False, "error": "".join(traceback.format_exception(error))}
        else:
            ns = time.perf_counter_ns() - start
            response |= {"success": True, "timings": [{"name": "import", "nanoseconds": ns}]}
    elif kind == "evaluate":
        try:
            functions = _module(message["module"]).FUNCTIONS
            if message["function"] not in functions:
                raise LookupError(f"module {message['module']!r} has no function {message['function']!r}; "
                                  f"it has {', '.join(functions)}")
            given = message["input"]
            prepared = functions[message["function"]](given)
            runs = given if isinstance(given, dict) else {}
            min_runs, min_seconds = int(runs.get("min_runs", 1)), float(runs.get("min_seconds", 0))
            output, timings = repeat(prepared, min_runs, min_seconds)
        except Exception as error:
            response |= {"success": False, "error": "".join(traceback.format_exception(error))}
        else:
            response |= {"success": True, "output": output, "timings": timings}
    return response


def main() -> None:
    for line in sys.stdin:
        if not line.strip():
            continue
        print(json.dumps(respond(json.loads(line))), flush=True)


if __name__ == "__main__":
    main()
