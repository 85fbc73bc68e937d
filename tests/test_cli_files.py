"""The command line over graph files: show, grad, hvp, optimize, render, run; their --help, their
usage errors (exit code 2) and graph errors (exit code 1)."""

import subprocess
import sys

import numpy as np
import pytest

import graphc as gc
from graphc import cli, examples

COMMANDS = ["demo", "show", "grad", "hvp", "optimize", "render", "run"]


def graphc(capsys, *argv):
    code = cli.main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def quadratic_file(tmp_path):
    ex = examples.quadratic()
    gc.save(ex.graph, tmp_path / "q.json")
    return ex, tmp_path / "q.json"


@pytest.fixture
def inputs_file(tmp_path):
    ex = examples.quadratic()
    inputs = ex.inputs(np.random.default_rng(5))
    np.savez(tmp_path / "in.npz", **inputs)
    return inputs, tmp_path / "in.npz"


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_has_help(capsys, command):
    code, out, _ = graphc(capsys, command, "--help")
    assert code == 0 and out.startswith(f"usage: graphc {command}")
    assert "exit codes" in out


def test_top_level_help_lists_every_command(capsys):
    code, out, _ = graphc(capsys, "--help")
    assert code == 0
    for command in COMMANDS:
        assert f"\n  {command} " in out


def test_show_prints_the_listing_of_a_file_or_an_example(capsys, quadratic_file):
    ex, path = quadratic_file
    for source in (path, "quadratic"):
        code, out, _ = graphc(capsys, "show", source)
        assert code == 0
        assert out == str(ex.graph) + "\n"
        assert "  %4 = matmul(%A, %x) : f64[4]\n" in out


def test_grad_writes_the_gradient_graph(capsys, quadratic_file, inputs_file, tmp_path):
    ex, path = quadratic_file
    code, out, _ = graphc(capsys, "grad", path, "-o", tmp_path / "g.json", "--wrt", "x")
    assert code == 0 and "wrote" in out and "grad_x" in out
    g = gc.load(tmp_path / "g.json")
    assert g == gc.grad(ex.graph, "x")
    inputs, _ = inputs_file
    np.testing.assert_allclose(gc.compile(g)(**inputs)["grad_x"], ex.gradient(**inputs), rtol=1e-12)


def test_grad_with_several_inputs_and_a_named_output(capsys, tmp_path):
    code, _, _ = graphc(capsys, "grad", "quadratic", "-o", tmp_path / "g.json", "--wrt", "x", "--wrt", "b",
                        "--output", "f")
    assert code == 0
    assert gc.load(tmp_path / "g.json").output_names == ("f", "grad_x", "grad_b")


def test_hvp_writes_the_hessian_vector_product_graph(capsys, tmp_path, inputs_file):
    ex = examples.quadratic()
    code, _, _ = graphc(capsys, "hvp", "quadratic", "-o", tmp_path / "h.json", "--wrt", "x",
                        "--direction", "v")
    assert code == 0
    h = gc.load(tmp_path / "h.json")
    inputs, _ = inputs_file
    v = np.arange(4.0)
    got = gc.compile(h)(**inputs, v=v)["hvp_x"]
    np.testing.assert_allclose(got, ex.hessian(**inputs) @ v, rtol=1e-12)


def test_optimize_writes_an_equivalent_graph(capsys, tmp_path, inputs_file):
    ex = examples.quadratic()
    gc.save(gc.grad(ex.graph, "x"), tmp_path / "g.json")
    code, out, _ = graphc(capsys, "optimize", tmp_path / "g.json", "-o", tmp_path / "o.json")
    assert code == 0 and " nodes" in out
    optimized = gc.load(tmp_path / "o.json")
    assert optimized == gc.optimize(gc.load(tmp_path / "g.json"))
    inputs, _ = inputs_file
    got = gc.compile(optimized, optimize=False)(**inputs)
    np.testing.assert_allclose(got["grad_x"], ex.gradient(**inputs), rtol=1e-12)


def test_render_draws_a_file_or_an_example(capsys, tmp_path, quadratic_file):
    _, path = quadratic_file
    for source, out in ((path, tmp_path / "q.svg"), ("quadratic", tmp_path / "e.svg")):
        code, _, err = graphc(capsys, "render", source, "-o", out)
        assert code == 0, err
        assert "<svg" in out.read_text()


@pytest.mark.parametrize("backend", ["numpy", "numba"])
def test_run_prints_or_saves_the_outputs(capsys, tmp_path, inputs_file, backend):
    ex = examples.quadratic()
    gc.save(gc.grad(ex.graph, "x"), tmp_path / "g.json")
    inputs, npz = inputs_file
    code, out, _ = graphc(capsys, "run", tmp_path / "g.json", "--inputs", npz, "--backend", backend)
    assert code == 0 and "f : f64[] =" in out and "grad_x : f64[4] =" in out
    code, out, _ = graphc(capsys, "run", tmp_path / "g.json", "--inputs", npz, "--backend", backend,
                          "-o", tmp_path / "out.npz")
    assert code == 0 and "wrote" in out
    with np.load(tmp_path / "out.npz") as saved:
        assert sorted(saved.files) == ["f", "grad_x"]
        np.testing.assert_allclose(saved["grad_x"], ex.gradient(**inputs), rtol=1e-12)


def test_run_names_unnamed_outputs_by_position(capsys, tmp_path):
    x = gc.placeholder("x", (2,))
    gc.save(gc.Graph([x], [x * 2.0, gc.sum(x)]), tmp_path / "u.json")
    np.savez(tmp_path / "in.npz", x=np.array([1.0, 2.0]))
    code, _, _ = graphc(capsys, "run", tmp_path / "u.json", "--inputs", tmp_path / "in.npz",
                        "-o", tmp_path / "out.npz")
    assert code == 0
    with np.load(tmp_path / "out.npz") as saved:
        np.testing.assert_array_equal(saved["out0"], [2.0, 4.0])
        np.testing.assert_array_equal(saved["out1"], 3.0)


# ----------------------------------------------------------------------------------------------
# Errors: 2 for the command line, 1 for the graph or its inputs


def test_usage_errors_exit_with_2(capsys, tmp_path, quadratic_file):
    _, path = quadratic_file
    code, _, err = graphc(capsys, "grad", path, "--wrt", "x")
    assert code == 2 and "the following arguments are required: -o/--out" in err
    code, _, err = graphc(capsys, "show", tmp_path / "missing.json")
    assert code == 2 and "is neither a file nor a built-in example" in err
    code, _, err = graphc(capsys, "run", path, "--backend", "fortran")
    assert code == 2 and "invalid choice: 'fortran'" in err
    (tmp_path / "in.txt").write_text("x=1")
    code, _, err = graphc(capsys, "run", path, "--inputs", tmp_path / "in.txt")
    assert code == 2 and "not an .npz file" in err
    code, _, err = graphc(capsys, "grad", path, "-o", tmp_path / "no" / "such" / "dir.json")
    assert code == 2 and "cannot write" in err
    code, _, err = graphc(capsys, "render", path, "-o", tmp_path / "x.svgz")  # exited 1
    assert code == 2 and "give a picture (.dot, .gv, .pdf, .png, .svg)" in err
    code, _, err = graphc(capsys, "render", tmp_path / "missing.json", "-o", tmp_path / "m.svg")
    assert code == 2 and "is neither a file nor a built-in example" in err
    code, _, err = graphc(capsys, "frobnicate")
    assert code == 2 and "invalid choice" in err


def test_graph_errors_exit_with_1_and_say_what_is_wrong(capsys, tmp_path, quadratic_file, inputs_file):
    _, path = quadratic_file
    code, _, err = graphc(capsys, "grad", path, "-o", tmp_path / "g.json", "--wrt", "nope")
    assert code == 1 and err.startswith("graphc grad: error: ") and "no input named 'nope'" in err
    (tmp_path / "bad.json").write_text(path.read_text().replace('"matmul"', '"matmull"', 1))
    code, _, err = graphc(capsys, "show", tmp_path / "bad.json")
    assert code == 1 and "$.nodes[4].op: unknown op 'matmull'" in err
    np.savez(tmp_path / "partial.npz", x=np.ones(4))
    code, _, err = graphc(capsys, "run", path, "--inputs", tmp_path / "partial.npz")
    assert code == 1 and "missing input(s) ['A', 'b', 'c']" in err
    np.savez(tmp_path / "wrong.npz", x=np.ones(3), A=np.eye(4), b=np.ones(4), c=1.0)
    code, _, err = graphc(capsys, "run", path, "--inputs", tmp_path / "wrong.npz")
    assert code == 1 and "input 'x'" in err and "f64[4]" in err
    assert not (tmp_path / "g.json").exists()


def test_the_console_script_returns_the_exit_codes(tmp_path):
    ok = subprocess.run([sys.executable, "-m", "graphc.cli", "show", "logistic"], capture_output=True,
                        text=True)
    assert ok.returncode == 0 and "graph logistic(" in ok.stdout
    bad = subprocess.run([sys.executable, "-m", "graphc.cli", "show", str(tmp_path / "none.json")],
                         capture_output=True, text=True)
    assert bad.returncode == 2 and "graphc show: error:" in bad.stderr


def test_run_ignores_arrays_for_no_input_with_a_note_and_runs_batches(capsys, tmp_path, quadratic_file,
                                                                         inputs_file):
    _, path = quadratic_file
    inputs, _ = inputs_file

    def value(x, A, b, c):
        return 0.5 * x @ A @ x - b @ x + c

    np.savez(tmp_path / "more.npz", direction=np.ones(4), **inputs)  # what the HVP graph also needs
    code, out, err = graphc(capsys, "run", path, "--inputs", tmp_path / "more.npz", "-o", tmp_path / "o.npz")
    assert code == 0 and "ignored: direction" in err
    with np.load(tmp_path / "o.npz") as saved:
        np.testing.assert_allclose(saved["f"], value(**inputs), rtol=1e-12)
    xs = np.stack([inputs["x"], 2 * inputs["x"], -inputs["x"]])
    np.savez(tmp_path / "batch.npz", **{**inputs, "x": xs})
    code, out, err = graphc(capsys, "run", path, "--inputs", tmp_path / "batch.npz", "--batch", "x",
                            "--backend", "numba", "-o", tmp_path / "b.npz")
    assert code == 0, err
    with np.load(tmp_path / "b.npz") as saved:
        want = [value(**{**inputs, "x": x}) for x in xs]
        np.testing.assert_allclose(saved["f"], want, rtol=1e-12)
    code, _, err = graphc(capsys, "run", path, "--inputs", tmp_path / "batch.npz", "--batch", "nope")
    assert code == 1 and "no input named 'nope'" in err
