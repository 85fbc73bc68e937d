"""Runs one GradBench eval against one tool and relays the protocol between them, as the suite's
own ``gradbench run`` does (its Rust CLI needs crates this machine cannot fetch).

Each message the eval writes goes to the tool and each response back; every line is logged as
the suite logs it (``{"elapsed": {"nanoseconds": …}, "message" | "response": …}``). At the end a
table gives, per ``evaluate``: the function, the eval's description of the workload, the outcome
(``success`` only when the eval's own analysis found the answer valid), the median of the tool's
``evaluate`` timings and its ``compile`` timing.

    uv run python -m benchmarks.gradbench.intermediary --eval llsq --tool graphc -o llsq.jsonl -- -n 16 32

Tools: ``graphc`` (this repository), ``manual`` (the suite's hand-written C++, built by
``suite.py``) and ``jax`` (the suite's JAX tool, timed until its results are ready:
``jax_ready.py``). The timed processes run without ``OPENBLAS_CORETYPE``/``OPENBLAS_L2_SIZE``, as
on a user's machine."""

from __future__ import annotations

import argparse
import json
import os
import queue
import statistics
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
DEFAULT_SUITE = Path.home() / ".cache" / "graphc-gradbench" / "suite"
BLAS_QUIRKS = ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")


@dataclass
class Workload:
    """One evaluate message, its response and the eval's verdict."""

    id: int
    function: str
    description: str
    outcome: str = "no response"
    evaluate_ns: list[int] = field(default_factory=list)
    compile_ns: int = 0
    error: str = ""

    @property
    def median_seconds(self) -> float | None:
        return statistics.median(self.evaluate_ns) / 1e9 if self.evaluate_ns else None


def tool_command(tool: str, suite: Path) -> tuple[list[str], Path]:
    """The command that starts ``tool`` and the folder it runs in."""
    suite_python = str(suite / ".venv" / "bin" / "python")
    if tool == "graphc":
        return [sys.executable, "-m", "benchmarks.gradbench.tool"], REPO
    if tool == "manual":
        return [suite_python, "python/gradbench/gradbench/cpp.py", "manual"], suite
    if tool == "jax":
        return [
            suite_python,
            str(REPO / "benchmarks" / "gradbench" / "jax_ready.py"),
            "--multithreaded",
        ], suite
    raise SystemExit(f"unknown tool {tool!r}: graphc, manual or jax")


def eval_command(name: str, suite: Path, args: list[str]) -> list[str]:
    runner = suite / "python" / "gradbench" / "gradbench" / "evals" / name / "run.py"
    if not runner.is_file():
        raise SystemExit(f"no eval {name!r} in {suite} (run benchmarks/gradbench/suite.py first)")
    return [str(suite / ".venv" / "bin" / "python"), str(runner), *args]


def _lines(stream, into: queue.Queue) -> None:
    for line in stream:
        into.put(line)
    into.put(None)


def _env(extra: dict[str, str] | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in BLAS_QUIRKS}
    env.pop("VIRTUAL_ENV", None)
    return env | (extra or {})


def run(
    eval_name: str,
    tool: str,
    eval_args: list[str],
    *,
    suite: Path = DEFAULT_SUITE,
    log: Path | None = None,
    timeout: float = 1800.0,
    env: dict[str, str] | None = None,
) -> list[Workload]:
    """Relay one session; returns its workloads. ``timeout`` bounds each response of the tool and
    each message of the eval (in seconds): a tool that takes longer is stopped and the workload is
    reported as ``timeout``. ``env`` adds variables to the tool's environment."""
    command, cwd = tool_command(tool, suite)
    logs = log or Path(os.devnull)
    evaluator = subprocess.Popen(
        eval_command(eval_name, suite, eval_args),
        cwd=suite,
        env=_env(),
        text=True,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=open(f"{logs}.eval.stderr" if log else os.devnull, "w"),
    )
    toolproc = subprocess.Popen(
        command,
        cwd=cwd,
        env=_env(env),
        text=True,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=open(f"{logs}.tool.stderr" if log else os.devnull, "w"),
    )
    from_eval, from_tool = queue.Queue(), queue.Queue()
    threading.Thread(target=_lines, args=(evaluator.stdout, from_eval), daemon=True).start()
    threading.Thread(target=_lines, args=(toolproc.stdout, from_tool), daemon=True).start()
    start = time.perf_counter_ns()
    workloads: dict[int, Workload] = {}
    out = open(log, "w") if log else None

    def record(kind: str, body: dict) -> None:
        if out:
            out.write(
                json.dumps({"elapsed": {"nanoseconds": time.perf_counter_ns() - start}, kind: body}) + "\n"
            )
            out.flush()

    try:
        while True:
            try:
                line = from_eval.get(timeout=timeout)
            except queue.Empty:
                break
            if line is None:
                break
            message = json.loads(line)
            record("message", message)
            if message.get("kind") == "end":
                break
            if message.get("kind") == "evaluate":
                workloads[message["id"]] = Workload(
                    message["id"], message["function"], message.get("description", "")
                )
            if message.get("kind") == "analysis" and message["of"] in workloads:
                w = workloads[message["of"]]
                w.outcome = "success" if message["valid"] else "invalid"
                w.error = message.get("error") or ""
            toolproc.stdin.write(line if line.endswith("\n") else line + "\n")
            toolproc.stdin.flush()
            try:
                answer = from_tool.get(timeout=timeout)
            except queue.Empty:
                if message["id"] in workloads:
                    workloads[message["id"]].outcome = "timeout"
                break
            if answer is None:
                if message["id"] in workloads:
                    workloads[message["id"]].outcome = "tool exited"
                break
            response = json.loads(answer)
            record("response", response)
            if message.get("kind") == "define" and not response.get("success"):
                print(f"{tool} does not define {eval_name}: {response.get('error', '')}", file=sys.stderr)
            if message["id"] in workloads:
                w = workloads[message["id"]]
                timings = response.get("timings") or []
                w.evaluate_ns = [t["nanoseconds"] for t in timings if t["name"] == "evaluate"]
                w.compile_ns = sum(t["nanoseconds"] for t in timings if t["name"] == "compile")
                if not response.get("success"):
                    w.outcome, w.error = "error", response.get("error", "")
                else:
                    w.outcome = "unvalidated"  # until the eval's analysis comes
            evaluator.stdin.write(answer)
            evaluator.stdin.flush()
    finally:
        for proc in (evaluator, toolproc):
            try:
                proc.stdin.close()
            except OSError:
                pass
        for proc in (evaluator, toolproc):
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
        if out:
            out.close()
    return list(workloads.values())


def table(eval_name: str, tool: str, workloads: list[Workload]) -> str:
    rows = [
        f"{eval_name} on {tool}",
        "| function | workload | outcome | median evaluate | compile |",
        "|---|---|---|---:|---:|",
    ]
    for w in workloads:
        median = f"{w.median_seconds * 1e3:.3f} ms" if w.median_seconds is not None else "-"
        rows.append(
            f"| {w.function} | {w.description} | {w.outcome} | {median} | {w.compile_ns / 1e9:.2f} s |"
        )
    return "\n".join(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--eval", required=True)
    parser.add_argument("--tool", required=True, choices=["graphc", "manual", "jax"])
    parser.add_argument("--suite", type=Path, default=DEFAULT_SUITE)
    parser.add_argument("-o", "--log", type=Path, help="write the session's JSON-lines log here")
    parser.add_argument("--timeout", type=float, default=1800.0, help="seconds allowed per response")
    parser.add_argument("eval_args", nargs="*", help="passed to the eval's runner (after --)")
    args = parser.parse_args()
    workloads = run(
        args.eval, args.tool, args.eval_args, suite=args.suite, log=args.log, timeout=args.timeout
    )
    print(table(args.eval, args.tool, workloads))
    for w in workloads:
        if w.outcome not in ("success",) and w.error:
            print(f"\n{w.function} {w.description}: {w.outcome}\n{w.error[-2000:]}", file=sys.stderr)
    sys.exit(0 if workloads and all(w.outcome == "success" for w in workloads) else 1)


if __name__ == "__main__":
    main()
