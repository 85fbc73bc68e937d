"""Every GradBench eval against graphc (numba backend), the suite's C++ ``manual`` tool and its JAX
tool (timed until ready), at the suite's default workload sizes; writes the table into
benchmarks/README.md (between the ``gradbench`` markers) and prints it.

    uv run python -m benchmarks.gradbench.suite        # once: the suite, its venv, manual built
    uv run python -m benchmarks.gradbench.run_all [--evals gmm ba] [--min-seconds 1]

graphc runs each eval twice against one fresh kernel cache: the first session (one run per
workload) gives the cold ``compile`` timings (nothing cached), the second the warm ones (kernels
loaded from disk) and the ``evaluate`` medians reported; both are validated by the eval. A tool
runs an eval only if the suite lists it in the tool's ``evals.txt`` (JAX: 6 evals, manual: 10).
Each tool runs as its own session (the protocol gives one tool per session), one after the
other, on a quiet machine; the timed processes run without ``OPENBLAS_CORETYPE``/``OPENBLAS_L2_SIZE``."""

from __future__ import annotations

import argparse
import json
import platform
import re
import tempfile
import time
from pathlib import Path

from .intermediary import DEFAULT_SUITE, REPO, Workload, run

# the runners' own defaults, except where stated: (arguments, why)
SIZES: dict[str, tuple[list[str], str]] = {
    "hello": ([], "default"),
    "lse": ([], "default"),
    "llsq": ([], "default"),
    "det": ([], "default"),
    "kmeans": ([], "default"),
    "gmm": ([], "default"),
    "ode": ([], "default"),
    "lstm": ([], "default"),
    "ba": ([], "default (ba1-ba14)"),
    "ht": (["--max", "11"], "hand1-hand11: the suite's mirror here lacks hand12's data (its largest file)"),
    "particle": ([], "default"),
    "saddle": ([], "default"),
}
MARKERS = ("<!-- gradbench:start -->", "<!-- gradbench:end -->")


def listed(suite: Path, tool: str) -> set[str]:
    return set((suite / "tools" / tool / "evals.txt").read_text().split())


def _ms(seconds: float | None) -> str:
    return "-" if seconds is None else f"{seconds * 1e3:.3f}" if seconds < 0.1 else f"{seconds * 1e3:.1f}"


def _ratio(a: float | None, b: float | None) -> str:
    return "-" if a is None or b is None or b == 0 else f"{a / b:.2f}x"


def measure(names: list[str], suite: Path, min_seconds: float, logs: Path) -> list[dict]:
    rows = []
    jax_evals, manual_evals = listed(suite, "jax"), listed(suite, "manual")
    for name in names:
        sizes, _ = SIZES[name]
        args = [*sizes, "--min-seconds", str(min_seconds)] if name != "hello" else sizes
        once = [*sizes, "--min-seconds", "0"] if name != "hello" else sizes  # compiles, validates, one run
        with tempfile.TemporaryDirectory() as cache:
            env = {"GRAPHC_CACHE_DIR": cache}
            started = time.perf_counter()
            cold = run(name, "graphc", once, suite=suite, log=logs / f"{name}-graphc-cold.jsonl", env=env)
            warm = run(name, "graphc", args, suite=suite, log=logs / f"{name}-graphc.jsonl", env=env)
            print(f"{name}: graphc, two sessions, {time.perf_counter() - started:.0f} s", flush=True)
        peers: dict[str, list[Workload]] = {}
        for tool, evals in (("jax", jax_evals), ("manual", manual_evals)):
            if name in evals:
                started = time.perf_counter()
                peers[tool] = run(name, tool, args, suite=suite, log=logs / f"{name}-{tool}.jsonl")
                print(f"{name}: {tool}, {time.perf_counter() - started:.0f} s", flush=True)
        for i, w in enumerate(warm):
            row = {
                "eval": name,
                "workload": w.description,
                "function": w.function,
                "outcome": w.outcome
                if cold[i].outcome == "success"
                else f"{w.outcome} (cold: {cold[i].outcome})",
                "graphc": w.median_seconds,
                "compile_cold": cold[i].compile_ns / 1e9,
                "compile_warm": w.compile_ns / 1e9,
            }
            for tool, workloads in peers.items():
                p = workloads[i] if i < len(workloads) else None
                row[tool] = p.median_seconds if p and p.outcome == "success" else None
                row[f"{tool}_outcome"] = p.outcome if p else "missing"
            rows.append(row)
    return rows


def markdown(rows: list[dict], min_seconds: float) -> str:
    lines = [
        f"Measured {time.strftime('%Y-%m-%d')} on {platform.processor() or platform.machine()}, "
        f"{len(__import__('os').sched_getaffinity(0))} cores; medians of each tool's `evaluate` timings "
        f"(every run for at least {min_seconds:g} s), in ms. graphc: numba backend, both cores; JAX: the "
        "suite's tool with `--multithreaded`, timed until ready; manual: the suite's C++, one thread. "
        "Outcome is the eval's own validation of graphc's answers. Compile: graphc's build and compile "
        "of the workload's graph, cold (empty kernel cache) and warm (kernels from the disk cache), in s.",
        "",
        "| eval | workload | function | outcome | graphc | JAX | manual | graphc/JAX | graphc/manual | "
        "compile cold | compile warm |",
        "|---|---|---|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        lines.append(
            f"| {r['eval']} | {r['workload']} | {r['function']} | {r['outcome']} | {_ms(r['graphc'])} | "
            f"{_ms(r.get('jax'))} | {_ms(r.get('manual'))} | {_ratio(r['graphc'], r.get('jax'))} | "
            f"{_ratio(r['graphc'], r.get('manual'))} | {r['compile_cold']:.2f} | {r['compile_warm']:.2f} |"
        )
    sizes = "; ".join(f"{name}: {why}" for name, (_, why) in SIZES.items() if why != "default")
    lines += ["", f"Sizes: the runners' defaults, except {sizes}."]
    return "\n".join(lines)


def write_readme(text: str) -> None:
    path = REPO / "benchmarks" / "README.md"
    readme = path.read_text()
    block = f"{MARKERS[0]}\n{text}\n{MARKERS[1]}"
    if MARKERS[0] in readme:
        readme = re.sub(
            re.escape(MARKERS[0]) + ".*?" + re.escape(MARKERS[1]), lambda _: block, readme, flags=re.S
        )
    else:
        readme += f"\n## GradBench\n\n{block}\n"
    path.write_text(readme)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--evals", nargs="+", default=list(SIZES), choices=list(SIZES))
    parser.add_argument("--suite", type=Path, default=DEFAULT_SUITE)
    parser.add_argument("--min-seconds", type=float, default=1.0)
    parser.add_argument("--logs", type=Path, default=Path(tempfile.gettempdir()) / "gradbench-logs")
    parser.add_argument("--no-readme", action="store_true", help="print the table only")
    args = parser.parse_args()
    args.logs.mkdir(parents=True, exist_ok=True)
    rows = measure(args.evals, args.suite, args.min_seconds, args.logs)
    (args.logs / "rows.json").write_text(json.dumps(rows, indent=1))
    text = markdown(rows, args.min_seconds)
    print(text)
    if not args.no_readme:
        write_readme(text)


if __name__ == "__main__":
    main()
