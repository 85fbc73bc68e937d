"""A working copy of the GradBench suite, ready to run its eval runners and its C++ ``manual`` and
JAX tools on this machine, without Docker and without the suite's Rust CLI.

``uv run python -m benchmarks.gradbench.suite --source SRC --into DIR``: SRC is a clone of
github:gradbench/gradbench (its git directory or work tree); DIR gets

- the suite's files at SRC's HEAD (nothing of ours is mixed in); a blob the clone lacks (a
  partial mirror keeps none of its largest files, e.g. ``ht``'s hand12 data) is listed and left
  out, so that eval runs up to the workloads it has; lstm's text, which every lstm workload
  needs, is replaced by a stand-in (``SUBSTITUTES``),
- ``cpp/json.hpp`` (and the headers it includes) from PyPI's ``nlohmann-json`` (the suite's
  Makefile would wget it from GitHub, which this machine cannot reach),
- the ``manual`` tool built by its Makefile with the system compiler (``tools/manual/bin/*``; the
  eval runners validate against these binaries),
- ``.venv``: a Python with the suite's package (``python/gradbench``) and what its runners import
  (numpy, scipy, pydantic, dataclasses-json) plus jax[cpu] for its JAX tool.

Nothing here is a dependency of graphc: the suite is not on the package registries, so CI never
builds it; running it is the benchmark's job (``run_all.py``)."""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
from pathlib import Path

RUNNER_PACKAGES = ["numpy", "scipy", "pydantic", "dataclasses-json", "jax[cpu]", "nlohmann-json"]


def _run(*args: str | Path, cwd: Path | None = None) -> str:
    done = subprocess.run([str(a) for a in args], cwd=cwd, text=True, capture_output=True)
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(map(str, args))} failed ({done.returncode}):\n{done.stderr[-4000:]}")
    return done.stdout


def _text_corpus(into: Path) -> str:
    """A text for the lstm eval, which reads characters of ADBench's lstm_full.txt and turns them
    into bit vectors: the suite's own Markdown files, in path order (deterministic)."""
    return "".join(p.read_text(encoding="utf8") for p in sorted(into.rglob("*.md")))


# files the runners read that a partial clone may lack, and how to make a stand-in
SUBSTITUTES = {"evals/lstm/data/lstm_full.txt": _text_corpus}
SUBSTITUTES_WHY = {
    "evals/lstm/data/lstm_full.txt": "the suite's Markdown files, concatenated: the lstm workloads' bits "
    "per character follow from the characters, so they may differ from ADBench's text"
}


def git_dir(source: Path) -> Path:
    """SRC's git directory, whether SRC is a bare clone, a mirror or a work tree."""
    for candidate in (source / ".git", source / "repo", source):
        if (candidate / "HEAD").is_file() and (candidate / "objects").is_dir():
            return candidate
    raise SystemExit(f"{source} is not a clone of github:gradbench/gradbench (no git directory found)")


def extract(git: Path, into: Path) -> list[str]:
    """Write HEAD's files under ``into``; returns the paths whose blobs the clone lacks."""
    listing = _run("git", "--git-dir", git, "ls-tree", "-r", "-z", "HEAD").split("\0")
    entries = []
    for line in filter(None, listing):
        meta, path = line.split("\t", 1)
        mode, kind, sha = meta.split()
        if kind == "blob":
            entries.append((mode, sha, path))
    batch = subprocess.run(
        ["git", "--git-dir", str(git), "cat-file", "--batch"],
        capture_output=True,
        input="".join(f"{sha}\n" for _, sha, _ in entries).encode(),
        check=True,
    ).stdout
    missing, at = [], 0
    for mode, _sha, path in entries:
        header_end = batch.index(b"\n", at)
        header = batch[at:header_end].split()
        at = header_end + 1
        if header[-1] == b"missing":
            missing.append(path)
            continue
        size = int(header[2])
        target = into / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(batch[at : at + size])
        if mode == "100755":
            target.chmod(0o755)
        at += size + 1
    return missing


def python_of(venv: Path) -> Path:
    return venv / "bin" / "python"


def prepare(source: Path, into: Path) -> Path:
    """Make DIR a runnable copy of the suite; returns DIR. Steps already done are not redone."""
    into.mkdir(parents=True, exist_ok=True)
    if not (into / "python" / "gradbench").is_dir():
        missing = extract(git_dir(source), into)
        if missing:
            print(
                f"left out {len(missing)} files the clone does not hold: {', '.join(missing)}",
                file=sys.stderr,
            )
    for path, make in SUBSTITUTES.items():
        if not (into / path).exists():
            (into / path).parent.mkdir(parents=True, exist_ok=True)
            (into / path).write_text(make(into), encoding="utf8")
            print(f"{path}: not in the clone; wrote a stand-in ({SUBSTITUTES_WHY[path]})", file=sys.stderr)
    venv = into / ".venv"
    if not python_of(venv).exists():
        _run("uv", "venv", "--python", f"{sys.version_info.major}.{sys.version_info.minor}", venv)
        _run(
            "uv",
            "pip",
            "install",
            "--python",
            python_of(venv),
            *RUNNER_PACKAGES,
            into / "python" / "gradbench",
        )
    header = into / "cpp" / "json.hpp"
    if not header.exists():
        # PyPI's package holds the multi-header tree: cpp/nlohmann/ beside the suite's -I../../cpp
        # serves json.hpp's own #include <nlohmann/...>
        found = _run(
            python_of(venv),
            "-c",
            "import nlohmann_json, pathlib; "
            "print(pathlib.Path(nlohmann_json.__file__).parent / 'include' / 'nlohmann')",
        ).strip()
        if not (Path(found) / "json.hpp").is_file():
            raise SystemExit(f"PyPI's nlohmann-json holds no include/nlohmann/json.hpp (looked in {found})")
        shutil.copytree(found, into / "cpp" / "nlohmann", dirs_exist_ok=True)
        shutil.copyfile(Path(found) / "json.hpp", header)
    _run("make", "-C", into / "tools" / "manual", "-j2")
    return into


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--source",
        type=Path,
        default=Path("/work/.mirror/gradbench+gradbench"),
        help="a clone of github:gradbench/gradbench",
    )
    parser.add_argument(
        "--into",
        type=Path,
        default=Path.home() / ".cache" / "graphc-gradbench" / "suite",
        help="where the runnable copy goes",
    )
    args = parser.parse_args()
    print(prepare(args.source, args.into))


if __name__ == "__main__":
    main()
