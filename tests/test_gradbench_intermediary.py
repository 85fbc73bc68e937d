"""The intermediary that relays a GradBench eval and a tool: run against graphc's tool and a
stand-in eval runner laid out as the suite lays out its runners (the suite itself is not
installable in CI), it must relay every message, log both sides, and report the eval's verdicts."""

import json
import sys
import textwrap

from benchmarks.gradbench import intermediary

RUNNER = textwrap.dedent('''
    import json, sys

    def send(message):
        print(json.dumps(message), flush=True)
        return json.loads(sys.stdin.readline())

    send({"id": 0, "kind": "start", "eval": "hello"})
    assert send({"id": 1, "kind": "define", "module": "hello"})["success"]
    square = send({"id": 2, "kind": "evaluate", "module": "hello", "function": "square", "input": 3.0,
                   "description": "x=3"})
    send({"id": 3, "kind": "analysis", "of": 2, "valid": square["output"] == 9.0})
    double = send({"id": 4, "kind": "evaluate", "module": "hello", "function": "double", "input": 3.0})
    send({"id": 5, "kind": "analysis", "of": 4, "valid": double["output"] == 7.0, "error": "expected 7"})
    send({"id": 6, "kind": "evaluate", "module": "hello", "function": "cube", "input": 3.0})
''')


def test_relays_both_sides_and_reports_the_evals_verdicts(tmp_path):
    runner = tmp_path / "python" / "gradbench" / "gradbench" / "evals" / "hello" / "run.py"
    runner.parent.mkdir(parents=True)
    runner.write_text(RUNNER)
    (tmp_path / ".venv" / "bin").mkdir(parents=True)
    (tmp_path / ".venv" / "bin" / "python").symlink_to(sys.executable)
    log = tmp_path / "session.jsonl"
    workloads = intermediary.run("hello", "graphc", [], suite=tmp_path, log=log, timeout=120)
    assert [(w.function, w.description, w.outcome) for w in workloads] == [
        ("square", "x=3", "success"), ("double", "", "invalid"), ("cube", "", "error")]
    assert workloads[1].error == "expected 7" and "has no function 'cube'" in workloads[2].error
    assert len(workloads[0].evaluate_ns) == 1 and workloads[0].compile_ns >= 0
    lines = [json.loads(line) for line in log.read_text().splitlines()]
    assert [("message" in line, (line.get("message") or line["response"])["id"]) for line in lines] == [
        (side, i) for i in range(7) for side in (True, False)]
    assert all(line["elapsed"]["nanoseconds"] > 0 for line in lines)
