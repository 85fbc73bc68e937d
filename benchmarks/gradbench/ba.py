"""GradBench's ``ba`` (bundle adjustment): the reprojection errors of p observations of m points by
n cameras, the weight errors 1 − w², and the sparse Jacobian of both.

Each observation's residual depends only on its own camera (11 parameters), its point (3) and its
weight (1), so the Jacobian is p blocks of 2 × 15: ``gc.jacobian`` of the graph of ONE
observation's residual (written on scalars, so the numba kernel keeps every intermediate in a
register) gives the block, and the kernel runs it for every observation at once (``batch=``), its
camera and point gathered from the shared ``cams`` and ``X`` by the observation's indices. The same
kernel writes each block's column indices; the weight rows' derivative is ``gc.grad`` of the
weight error. The result is the suite's CSR matrix (``SparseJacobian``), its rows of reprojection
errors and of weight errors kept as two segments rather than copied into one array.

The eval sends one camera, point, weight and feature with n, m, p; the problem is rebuilt from them
as the suite's reference does (``replicate``) and every observation is computed, none reused."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

import graphc as gc

from .runs import Prepared, compiled

CAMERA = ("r1", "r2", "r3", "c1", "c2", "c3", "f", "u0", "v0", "k1", "k2")
POINT = ("x1", "x2", "x3")
BLOCK = CAMERA + POINT + ("w",)  # one reprojection row's nonzero columns, in the suite's order
HEAD = 30  # the eval checks the first 30 entries of each list and the last one


@dataclass
class Problem:
    """A bundle-adjustment problem as arrays: ``obs[i]`` = (camera, point) of observation i."""

    cams: np.ndarray  # (n, 11)
    X: np.ndarray  # (m, 3)
    w: np.ndarray  # (p,)
    feats: np.ndarray  # (p, 2)
    obs: np.ndarray  # (p, 2) int32

    @property
    def shape(self) -> tuple[int, int, int]:
        return len(self.cams), len(self.X), len(self.w)


def replicate(message: dict) -> Problem:
    """The eval's problem: the one camera n times, the one point m times, the weight and feature p
    times, observation i seeing camera i mod n and point i mod m (ba.hpp's ``from_json``)."""
    n, m, p = int(message["n"]), int(message["m"]), int(message["p"])
    i = np.arange(p)
    return Problem(cams=np.tile(np.asarray(message["cam"], float), (n, 1)),
                   X=np.tile(np.asarray(message["x"], float), (m, 1)),
                   w=np.full(p, float(message["w"])),
                   feats=np.tile(np.asarray(message["feat"], float), (p, 1)),
                   obs=np.stack([i % n, i % m], axis=1).astype(np.int32))


def _cross(a, b):
    return (a[1] * b[2] - a[2] * b[1], a[2] * b[0] - a[0] * b[2], a[0] * b[1] - a[1] * b[0])


def observation_graph() -> gc.Graph:
    """One observation: inputs the 11 camera parameters, the 3 point coordinates, the weight and the
    feature, each a scalar; outputs ``r`` = w (project(cam, X) − feat), shape (2,), and ``w_err``.

    project: Xcam = R(rot) (X − C) by Rodrigues' formula (rot itself, to first order, when
    |rot| = 0), p = Xcam[:2] / Xcam[2], distorted by L = 1 + k1 |p|² + k2 |p|⁴, then f p L + (u0, v0)."""
    cam = [gc.placeholder(name) for name in CAMERA]
    x = [gc.placeholder(name) for name in POINT]
    w, fx, fy = gc.placeholder("w"), gc.placeholder("fx"), gc.placeholder("fy")
    rot, center, focal, principal, radial = cam[0:3], cam[3:6], cam[6], cam[7:9], cam[9:11]
    xo = [x[i] - center[i] for i in range(3)]
    sqtheta = rot[0] * rot[0] + rot[1] * rot[1] + rot[2] * rot[2]
    turning = sqtheta != 0.0
    theta = gc.sqrt(gc.where(turning, sqtheta, 1.0))  # a safe operand: no inf·0 in the derivative
    axis = [r / theta for r in rot]
    cos, sin = gc.cos(theta), gc.sin(theta)
    along = (axis[0] * xo[0] + axis[1] * xo[1] + axis[2] * xo[2]) * (1.0 - cos)
    axis_cross, rot_cross = _cross(axis, xo), _cross(rot, xo)
    xcam = [gc.where(turning, xo[i] * cos + axis_cross[i] * sin + axis[i] * along, xo[i] + rot_cross[i])
            for i in range(3)]
    px, py = xcam[0] / xcam[2], xcam[1] / xcam[2]
    rsq = px * px + py * py
    distortion = 1.0 + radial[0] * rsq + radial[1] * rsq * rsq
    r = gc.stack([w * (px * distortion * focal + principal[0] - fx),
                  w * (py * distortion * focal + principal[1] - fy)])
    return gc.Graph(cam + x + [w, fx, fy], {"r": r, "w_err": 1.0 - w * w}, name="ba observation")


def _observed(n: int, m: int, per_observation: gc.Graph):
    """The inputs of a kernel over observations, and ``per_observation`` applied to the camera and
    point each observation reads (gathered by its indices from the shared ``cams`` and ``X``)."""
    cams, X = gc.placeholder("cams", (n, 11)), gc.placeholder("X", (m, 3))
    obs, w, feat = gc.placeholder("obs", (2,), "int32"), gc.placeholder("w"), gc.placeholder("feat", (2,))
    cam, x = cams[obs[0]], X[obs[1]]
    outputs = per_observation(*[cam[i] for i in range(11)], *[x[i] for i in range(3)], w, feat[0], feat[1])
    return [cams, X, obs, w, feat], outputs


def objective_graph(n: int, m: int) -> gc.Graph:
    """Per observation (batched): the reprojection error (2,) and the weight error."""
    inputs, out = _observed(n, m, observation_graph())
    return gc.Graph(inputs, {"reproj_err": out["r"], "w_err": out["w_err"]},
                    name=f"ba objective(n={n}, m={m})")


def jacobian_graph(n: int, m: int) -> gc.Graph:
    """Per observation (batched, with its index ``index``): the 2 × 15 block of d r / d (camera,
    point, weight) by ``gc.jacobian`` (two VJPs), its column indices in the suite's layout (camera
    block at 11·cam, point block at 11n + 3·pt, weight at 11n + 3m + index), and d w_err / d w by
    ``gc.grad``."""
    observation = observation_graph()
    derived = gc.grad(gc.jacobian(observation, list(BLOCK), output="r"), "w", output="w_err")
    inputs, out = _observed(n, m, derived)
    index = gc.placeholder("index", (), "int32")
    obs = inputs[2]
    vals = gc.stack([out[f"jacobian_{name}"] for name in BLOCK], axis=1)
    cols = gc.concatenate([11 * obs[0] + np.arange(11, dtype=np.int32),
                           11 * n + 3 * obs[1] + np.arange(3, dtype=np.int32),
                           gc.expand_dims(11 * n + 3 * m + index, 0)])
    return gc.Graph(inputs + [index], {"vals": vals, "cols": gc.broadcast_to(cols, (2, 15)),
                                       "w_d": out["grad_w"]}, name=f"ba jacobian(n={n}, m={m})")


@dataclass
class SparseJacobian:
    """The suite's CSR matrix of shape (3p, 11n + 3m + p): ``rows`` the 3p + 1 row offsets; the
    2p reprojection rows (15 entries each, ``reproj_vals``/``reproj_cols`` of shape (p, 2, 15))
    come before the p weight rows (one entry each, ``w_vals``/``w_cols``)."""

    rows: np.ndarray
    reproj_cols: np.ndarray
    reproj_vals: np.ndarray
    w_cols: np.ndarray
    w_vals: np.ndarray

    @property
    def cols(self) -> np.ndarray:
        return np.concatenate([self.reproj_cols.ravel(), self.w_cols])

    @property
    def vals(self) -> np.ndarray:
        return np.concatenate([self.reproj_vals.ravel(), self.w_vals])


def _head_and_last(first: np.ndarray, second: np.ndarray) -> np.ndarray:
    """The first HEAD entries and the last one of ``first`` followed by ``second`` (only those copied)."""
    head = np.concatenate([first.ravel()[:HEAD], second[:HEAD]])[:HEAD]
    return np.append(head, second[-1] if len(second) else first.ravel()[-1])


def _offsets(p: int) -> np.ndarray:
    return np.concatenate([np.arange(0, 30 * p + 1, 15), 30 * p + np.arange(1, p + 1)]).astype(np.int32)


def jacobian_of(problem: Problem, fn, index: np.ndarray) -> SparseJacobian:
    """The sparse Jacobian of ``problem`` by ``fn``, the compiled ``jacobian_graph`` (``index`` is
    ``arange(p)``, as int32)."""
    n, m, p = problem.shape
    out = fn(cams=problem.cams, X=problem.X, obs=problem.obs, w=problem.w, feat=problem.feats, index=index)
    return SparseJacobian(_offsets(p), out["cols"], out["vals"], index + np.int32(11 * n + 3 * m), out["w_d"])


def compiled_jacobian(n: int, m: int):
    """The compiled ``jacobian_graph`` for n cameras and m points, and what compiling it cost."""
    return compiled(("ba", "jacobian", n, m), lambda: jacobian_graph(n, m),
                    batch=("obs", "w", "feat", "index"))


def compiled_objective(n: int, m: int):
    """The compiled ``objective_graph`` for n cameras and m points, and what compiling it cost."""
    return compiled(("ba", "objective", n, m), lambda: objective_graph(n, m), batch=("obs", "w", "feat"))


def objective_of(problem: Problem, fn) -> dict:
    """``reproj_err`` (p, 2) and ``w_err`` (p,) of ``problem`` by ``fn``, the compiled ``objective_graph``."""
    return fn(cams=problem.cams, X=problem.X, obs=problem.obs, w=problem.w, feat=problem.feats)


def objective(message: dict) -> Prepared:
    problem = replicate(message)
    n, m, p = problem.shape
    fn, ns = compiled_objective(n, m)

    def output(out):
        return {"reproj_error": {"elements": out["reproj_err"][0].tolist(), "repeated": p},
                "w_err": {"element": float(out["w_err"][0]), "repeated": p}}

    return Prepared(lambda: objective_of(problem, fn), output, ns)


def jacobian(message: dict) -> Prepared:
    problem = replicate(message)
    n, m, p = problem.shape
    fn, ns = compiled_jacobian(n, m)
    index = np.arange(p, dtype=np.int32)

    def output(J: SparseJacobian):
        rows = np.append(J.rows[:HEAD], J.rows[-1])
        return {"rows": [int(v) for v in rows],
                "cols": [int(v) for v in _head_and_last(J.reproj_cols, J.w_cols)],
                "vals": [float(v) for v in _head_and_last(J.reproj_vals, J.w_vals)]}

    return Prepared(lambda: jacobian_of(problem, fn, index), output, ns)


FUNCTIONS = {"objective": objective, "jacobian": jacobian}
