"""Ops declared by users (gc.defop): the README's example, every pass and both backends, bad
declarations, files and processes (entry points), and the kernel cache."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import numba
import numpy as np
import pytest
from readme import ROOT, readme_block

import graphc as gc
from graphc.checks import numeric_gradient
from graphc.ops.core import PRIMITIVES


@pytest.fixture(scope="module")
def readme():
    """The README's worked example, run as written."""
    namespace: dict = {}
    exec(compile(readme_block("Your own ops"), "README.md", "exec"), namespace)  # noqa: S102
    yield namespace
    PRIMITIVES.pop("mylib.log1pexp", None)


def test_the_readme_example_runs_and_its_derivatives_match_finite_differences(readme):
    f, point, v = readme["f"], readme["point"], readme["v"]
    expected_value = np.sum(np.logaddexp(0.0, point) * point)
    assert readme["value"] == pytest.approx(expected_value, rel=1e-14)
    fd = numeric_gradient(f, {"x": point}, "x")
    np.testing.assert_allclose(readme["grad_x"], fd, rtol=1e-7, atol=1e-9)
    sigma = 1.0 / (1.0 + np.exp(-point))
    hessian_diagonal = 2 * sigma + point * sigma * (1 - sigma)  # d²/dx² of x·log1pexp(x)
    np.testing.assert_allclose(readme["hv"], hessian_diagonal * v, rtol=1e-12)
    grad = gc.grad(f, "x")
    run = gc.compile(grad)
    fd_hv = (run(x=point + 1e-6 * v)["grad_x"] - run(x=point - 1e-6 * v)["grad_x"]) / 2e-6
    np.testing.assert_allclose(readme["hv"], fd_hv, rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize("backend", ["numpy", "numba"])
def test_a_user_op_works_in_every_pass(readme, backend):
    log1pexp = readme["log1pexp"]
    x = gc.placeholder("x", (3,))
    y = gc.placeholder("y", (3,))
    loss = gc.sum(log1pexp(x * y) + log1pexp(x) ** 2)
    f = gc.Graph([x, y], {"f": loss})
    inputs = {"x": np.array([0.3, -1.2, 2.0]), "y": np.array([1.5, 0.4, -0.7])}

    def run(graph, **extra):
        return list(gc.compile(graph, backend=backend)(**inputs, **extra).values())

    fd_x = numeric_gradient(f, inputs, "x")
    np.testing.assert_allclose(run(gc.grad(f, ["x", "y"]))[1], fd_x, rtol=1e-7)
    np.testing.assert_allclose(run(gc.vjp(f, "x", cotangent="u"), u=2.0)[1], 2.0 * fd_x, rtol=1e-7)
    t = np.array([1.0, 0.5, -1.0])
    np.testing.assert_allclose(run(gc.jvp(f, "x"), x_dot=t)[1], fd_x @ t, rtol=1e-7)
    hessian = run(gc.hessian(f, "x"))[1]
    np.testing.assert_allclose(hessian, numeric_gradient(gc.grad(f, "x"), inputs, "x", output=1), rtol=1e-6)
    for mode in ("fwd-rev", "rev-rev"):
        np.testing.assert_allclose(run(gc.hvp(f, "x", mode=mode), direction=t)[0], hessian @ t, rtol=1e-10)
    z = gc.Graph([x, y], {"z": log1pexp(x * y)})
    jac = run(gc.jacobian(z, "x"))[1]
    np.testing.assert_allclose(jac, numeric_gradient(z, inputs, "x"), rtol=1e-7)
    second = run(gc.taylor(f, "x", order=2), x0=inputs["x"] + 0.01)[0]
    assert second == pytest.approx(run(f)[0], rel=1e-5)
    batched = gc.compile(gc.grad(f, "x"), backend=backend, batch=("x",))(
        x=np.stack([inputs["x"], -inputs["x"]]), y=inputs["y"])
    np.testing.assert_allclose(batched["grad_x"][0], fd_x, rtol=1e-7)


def test_rewrites_fold_a_user_op_of_constants_and_keep_it_otherwise(readme):
    log1pexp = readme["log1pexp"]
    x = gc.placeholder("x", (2,))
    g = gc.optimize(gc.Graph([x], [x * log1pexp(gc.constant([0.0, 1.0])) + log1pexp(x)]))
    ops = [n.op for n in g.nodes]
    assert ops.count("mylib.log1pexp") == 1  # the constant one is folded by its numpy implementation
    assert "mylib.log1pexp(%x)" in str(g)


def test_a_user_op_is_drawn_with_its_formula(readme, tmp_path):
    from graphc.viz import to_dot

    x = gc.placeholder("x", ())
    f = gc.Graph([x], [readme["log1pexp"](x, name="s") * x])
    dot = to_dot(gc.grad(f, "x"), view="both").source
    assert "s = ln(1 + e^x)" in dot
    assert "x̄ += s̄·σ(x)" in dot  # the term its derivative builds


# --- a general op: an attribute, a numba array function, rules that use the op itself -------------


@numba.njit
def _cumsum(x, reverse):
    out = np.empty_like(x)
    total = 0.0
    n = x.shape[0]
    for k in range(n):
        i = n - 1 - k if reverse else k
        total += x[i]
        out[i] = total
    return out


def _infer_cumsum(x, *, reverse):
    if x.ndim != 1:
        raise gc.ShapeError(f"cumsum takes a vector, got {x.type_string}")
    return x.shape, x.dtype


@pytest.fixture(scope="module")
def cumsum():
    op = gc.defop(
        "tests.cumsum", _infer_cumsum,
        impl=lambda x, reverse: np.cumsum(x[::-1])[::-1] if reverse else np.cumsum(x),
        vjp=lambda g, out, x, reverse: PRIMITIVES["tests.cumsum"](g, reverse=not reverse),
        jvp=lambda t, out, x, reverse: PRIMITIVES["tests.cumsum"](t, reverse=reverse),
        numba=_cumsum, formula="cumsum({0})", replace=True)
    yield op
    PRIMITIVES.pop("tests.cumsum", None)


@pytest.mark.parametrize("backend", ["numpy", "numba"])
def test_a_general_user_op_with_an_array_function_and_attributes(cumsum, backend):
    x = gc.placeholder("x", (4,))
    f = gc.Graph([x], [gc.sum(gc.tanh(cumsum(x, reverse=False)) * cumsum(x * x, reverse=True))])
    point = np.array([0.1, -0.4, 0.3, 0.2])
    grad = gc.compile(gc.grad(f), backend=backend)(x=point)[1]
    np.testing.assert_allclose(grad, numeric_gradient(f, {"x": point}, "x"), rtol=1e-7)
    v = np.array([1.0, 0.0, -1.0, 2.0])
    hv = gc.compile(gc.hvp(f), backend=backend)(x=point, direction=v)["hvp_x"]
    fd = numeric_gradient(gc.grad(f), {"x": point}, "x", output=1) @ v
    np.testing.assert_allclose(hv, fd, rtol=1e-6, atol=1e-9)
    batch = gc.compile(gc.Graph([x], [cumsum(x, reverse=True)]), backend=backend, batch=("x",))
    np.testing.assert_allclose(batch(x=np.stack([point, v]))[0], [np.cumsum(point[::-1])[::-1],
                                                                  np.cumsum(v[::-1])[::-1]])


def test_a_general_op_s_shape_rule_errors_name_the_user_s_line(cumsum):
    with pytest.raises(gc.ShapeError, match=r"tests.cumsum: cumsum takes a vector, got f64\[2,2\]"
                                             r".*test_user_ops"):
        cumsum(gc.placeholder("m", (2, 2)), reverse=False)


def test_a_numba_function_of_the_wrong_shape_is_an_error_naming_the_op(declare):
    bad = declare("tests.bad_shape", lambda x: (x.shape, x.dtype), impl=lambda x: x,
                  numba=numba.njit(lambda x: x[:1].copy()))
    x = gc.placeholder("x", (3,))
    fn = gc.compile(gc.Graph([x], [bad(x) * 2.0]), backend="numba")
    with pytest.raises(gc.GraphError, match="op 'tests.bad_shape': its numba function returned"):
        fn(x=np.ones(3))


def test_an_implementation_of_the_wrong_type_is_refused_naming_the_op(declare):
    wrong = declare("tests.wrong_impl", lambda x: (x.shape, x.dtype), impl=lambda x: x.astype(np.float32))
    x = gc.placeholder("x", (3,))
    with pytest.raises(gc.BackendError, match="implementation of op 'tests.wrong_impl' returned .*float32"):
        gc.compile(gc.Graph([x], [wrong(x)]))(x=np.ones(3))


def test_a_scalar_function_numba_cannot_compile_is_a_backend_error_naming_the_op(declare):
    op = declare("tests.uncompilable", elementwise=True, derivative=lambda g, out, x: g,
                 impl=lambda x: x + 0.0, scalar=lambda x: {"a": x}["b"] + object())
    x = gc.placeholder("x", (3,))
    with pytest.raises(gc.BackendError, match="numba could not compile"):
        gc.compile(gc.Graph([x], [op(x)]), backend="numba", cache=False)


# --- bad declarations ---------------------------------------------------------------------------


def test_bad_declarations_fail_when_they_are_made():
    sq = dict(impl=np.square, derivative=lambda g, out, x: 2 * x * g, elementwise=True)
    with pytest.raises(gc.DeclarationError, match="'exp' is graphc's own op"):
        gc.defop("exp", **sq)
    with pytest.raises(gc.DeclarationError, match=r"op name 'my op' must be identifiers joined by dots"):
        gc.defop("my op", **sq)
    with pytest.raises(gc.DeclarationError, match=r"3 derivative rule\(s\) given for 2 operand\(s\)"):
        gc.defop("tests.three", elementwise=True, impl=np.add, derivative=[None, None, None], arity=2)
    with pytest.raises(gc.DeclarationError, match=r"1 vjp rule\(s\) given for 2 operand\(s\)"):
        gc.defop("tests.rules", lambda a, b: (a.shape, a.dtype), impl=lambda a, b: a,
                 vjp=[lambda g, o, a, b: g])
    with pytest.raises(gc.GraphTypeError, match="vjp rule 1 must be a function or None, got int"):
        gc.defop("tests.rules", lambda a, b: (a.shape, a.dtype), impl=lambda a, b: a, vjp=[None, 3])
    with pytest.raises(gc.DeclarationError, match="declare its numpy implementation"):
        gc.defop("tests.noimpl", elementwise=True, derivative=lambda g, out, x: g, arity=1)
    with pytest.raises(gc.DeclarationError, match="unknown flag"):
        gc.defop("tests.flag", flags=["fast"], **sq)
    assert not {"tests.three", "tests.rules", "tests.noimpl", "tests.flag", "my op"} & set(PRIMITIVES)


def test_declaring_a_name_twice_needs_replace(declare):
    declare("tests.twice", elementwise=True, derivative=lambda g, out, x: g, impl=lambda x: x + 0.0)
    with pytest.raises(gc.DeclarationError, match="declared twice.*replace=True"):
        gc.defop("tests.twice", elementwise=True, derivative=lambda g, out, x: g, impl=lambda x: x + 0.0)


def test_a_shape_rule_that_returns_something_else_is_named_when_first_used(declare):
    op = declare("tests.bad_rule", lambda x: x.shape, impl=lambda x: x)
    with pytest.raises(gc.DeclarationError, match=r"shape rule of op 'tests.bad_rule' returned \(3,\).*"
                                                   r"must return \(shape, dtype\)"):
        op(gc.placeholder("x", (3,)))


def test_a_rule_that_builds_the_wrong_type_is_named_when_first_used(declare):
    op = declare("tests.bad_vjp", elementwise=True, impl=lambda x: 2 * x,
                 derivative=lambda g, out, x: gc.sum(g))  # a scalar for a vector
    x = gc.placeholder("x", (3,))
    f = gc.Graph([x], [gc.sum(op(x))])
    with pytest.raises(gc.DeclarationError, match=r"VJP rule from the derivative 0 of op 'tests.bad_vjp' "
                                                   r"\(declared with defop\) built f64\[\].*type f64\[3\]"):
        gc.grad(f)
    g = gc.placeholder("g", (3,))
    general = declare("tests.bad_general_vjp", lambda x: (x.shape, x.dtype), impl=lambda x: x,
                      vjp=lambda g, out, x: gc.sum(g))
    with pytest.raises(gc.DeclarationError, match=r"the VJP tests.bad_general_vjp\[0\] rule of op "
                                                   r"'tests.bad_general_vjp' built f64\[\] for a value "
                                                   r"of type f64\[3\]"):
        gc.grad(gc.Graph([g], [gc.sum(general(g))]))


# --- the kernel cache ---------------------------------------------------------------------------


def test_a_changed_scalar_function_is_compiled_again(declare, tmp_path, monkeypatch):
    monkeypatch.setenv("GRAPHC_CACHE_DIR", str(tmp_path))
    x = gc.placeholder("x", (3,))
    results = []
    for scale in (2.0, 3.0):
        scalar = eval(f"lambda v: v * {scale}")  # noqa: S307 - two functions of different code
        op = declare("tests.scaled", elementwise=True, derivative=lambda g, out, v: g, impl=lambda v: v * 2.0,
                     scalar=scalar)
        results.append(gc.compile(gc.Graph([x], [op(x)]), backend="numba")(x=np.ones(3))[0])
    np.testing.assert_array_equal(results[0], [2.0, 2.0, 2.0])
    np.testing.assert_array_equal(results[1], [3.0, 3.0, 3.0])


# --- files and processes ------------------------------------------------------------------------

PLUGIN = '''
import numpy as np
import graphc as gc

gc.defop("plugin.cube", elementwise=True, derivative=lambda g, out, x: 3.0 * x * x * g,
         impl=lambda x: x ** 3, scalar=lambda x: x * x * x, formula="{0}³")
'''


@pytest.fixture(scope="module")
def plugin_dir(tmp_path_factory):
    """A folder holding an installed package (as its metadata says) that declares an op through
    an entry point of the group graphc.ops."""
    folder = tmp_path_factory.mktemp("plugin")
    (folder / "cube_ops.py").write_text(PLUGIN)
    info = folder / "cube_ops-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: cube-ops\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text("[graphc.ops]\ncube = cube_ops\n")
    return folder


@pytest.fixture(scope="module")
def cube_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("files") / "cube.json"
    code = PLUGIN + textwrap.dedent(f'''
        x = gc.placeholder("x", (2,))
        from graphc.ops import primitive
        gc.save(gc.grad(gc.Graph([x], [gc.sum(primitive("plugin.cube")(x))])), {str(path)!r})
    ''')
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT)
    return path


LOAD = """
import sys, numpy as np, graphc as gc
try:
    g = gc.load(sys.argv[1])
except gc.SerializationError as exc:
    print("SerializationError:", exc)
else:
    print(gc.compile(g, backend=sys.argv[2])(x=np.array([1.0, 2.0]))[1].tolist())
print("imported cube_ops" if "cube_ops" in sys.modules else "cube_ops not imported")
"""


def _load(path, plugin=None, backend="numpy"):
    env = {**os.environ, "PYTHONPATH": str(plugin) if plugin else ""}
    done = subprocess.run([sys.executable, "-c", LOAD, str(path), backend], capture_output=True, text=True,
                          env=env, cwd=ROOT, timeout=300)
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_a_file_with_a_user_op_loads_only_where_the_op_is_declared(cube_file):
    out = _load(cube_file)
    assert "SerializationError: $.nodes[1].op: unknown op 'plugin.cube': it is not declared in this " \
           "process; import the module that declares it" in out
    assert "entry point of the group 'graphc.ops'" in out and "cube_ops not imported" in out


@pytest.mark.parametrize("backend", ["numpy", "numba"])
def test_an_entry_point_declares_the_op_for_a_process_that_loads_the_file(cube_file, plugin_dir, backend):
    out = _load(cube_file, plugin_dir, backend)
    assert "[3.0, 12.0]" in out and "imported cube_ops" in out


def test_loading_never_imports_a_module_the_file_names(tmp_path):
    x = gc.placeholder("x", (2,))
    text = gc.Graph([x], [gc.exp(x)]).to_json().replace('"exp"', '"cube_ops.cube"')
    (tmp_path / "cube_ops.py").write_text("raise SystemExit('imported!')\n")
    path = tmp_path / "g.json"
    path.write_text(text)
    out = _load(path, tmp_path)
    assert "unknown op 'cube_ops.cube'" in out and "cube_ops not imported" in out


def test_dask_workers_find_a_user_op_through_its_entry_point(cube_file, plugin_dir):
    code = textwrap.dedent(f'''
        import dask.array as da, numpy as np, graphc as gc
        from distributed import Client, LocalCluster
        g = gc.load({str(cube_file)!r})
        fn = gc.compile(g, batch=("x",))
        with LocalCluster(n_workers=1, threads_per_worker=1, processes=True, dashboard_address=None) as c, \\
                Client(c) as client:
            points = da.from_array(np.arange(8.0).reshape(4, 2), chunks=(2, 2))
            grad = client.compute(fn(x=points)[1]).result()
        print(grad.tolist())
    ''')
    env = {**os.environ, "PYTHONPATH": str(plugin_dir)}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=ROOT,
                          timeout=600)
    assert done.returncode == 0, done.stderr
    assert eval(done.stdout.strip().splitlines()[-1]) == (3 * np.arange(8.0).reshape(4, 2) ** 2).tolist()
