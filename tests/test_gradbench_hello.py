"""The GradBench tool's protocol loop and its ``hello`` module (x² and its gradient)."""

import json
import subprocess
import sys

import pytest

from benchmarks.gradbench import tool


def test_hello_square_and_double_through_the_protocol():
    assert tool.respond({"id": 0, "kind": "start", "eval": "hello"})["tool"] == "graphc"
    assert tool.respond({"id": 1, "kind": "define", "module": "hello"})["success"] is True
    ask = {"kind": "evaluate", "module": "hello", "input": 1.5}
    square = tool.respond({"id": 2, "function": "square"} | ask)
    double = tool.respond({"id": 3, "function": "double"} | ask)
    assert square["success"] and square["output"] == 2.25
    assert double["success"] and double["output"] == 3.0
    assert [t["name"] for t in double["timings"]][-1] == "evaluate"
    assert tool.respond({"id": 4, "kind": "analysis", "of": 3, "valid": True}) == {"id": 4}


@pytest.mark.parametrize(
    "message, error",
    [
        ({"id": 5, "kind": "define", "module": "os"}, "graphc has no GradBench module 'os'"),
        ({"id": 6, "kind": "evaluate", "module": "hello", "function": "cube", "input": 1.0},
         "module 'hello' has no function 'cube'; it has square, double"),
    ],
)
def test_unknown_modules_and_functions_are_answered_not_raised(message, error):
    response = tool.respond(message)
    assert response["id"] == message["id"] and response["success"] is False
    assert error in response["error"]


def test_min_runs_and_min_seconds_are_honoured():
    from benchmarks.gradbench.runs import Prepared, repeat

    calls = []
    output, timings = repeat(Prepared(lambda: calls.append(1) or 7, lambda r: r * 2, 5), 3, 0.0)
    assert output == 14 and len(calls) == 3
    assert [t["name"] for t in timings] == ["compile", "evaluate", "evaluate", "evaluate"]


def test_the_tool_speaks_json_lines_on_stdin_and_stdout():
    lines = [{"id": 0, "kind": "start"}, {"id": 1, "kind": "define", "module": "hello"},
             {"id": 2, "kind": "evaluate", "module": "hello", "function": "double", "input": -4.0}]
    proc = subprocess.run([sys.executable, "-m", "benchmarks.gradbench.tool"], text=True, capture_output=True,
                          input="".join(json.dumps(m) + "\n" for m in lines), timeout=120,
                          cwd=__file__.rsplit("/tests/", 1)[0])
    responses = [json.loads(line) for line in proc.stdout.splitlines()]
    assert proc.returncode == 0, proc.stderr
    assert [r["id"] for r in responses] == [0, 1, 2] and responses[2]["output"] == -8.0
