"""GradBench's ``ht`` (hand tracking): the 3N errors between N measured points and the points a
skinned hand model puts where they correspond, for a pose of 26 parameters θ, and their dense
Jacobian.

The model (ht.hpp): each bone's pose is its base transform times a rotation by Euler angles read
from θ; the bones' absolute transforms compose down the tree (``parents``, parents
before children); every vertex is the weighted sum of its base position moved by each bone's
absolute-times-inverse-base transform, then the whole hand turns by the angle-axis θ[0:3] and moves
by θ[3:6]. A "complicated" input (``us`` not empty) matches each point with a point inside a
triangle, ``u0 v0 + u1 v1 + (1 − u0 − u1) v2``; a "simple" one with a vertex.

Only the vertices the correspondences read are skinned when they are fewer than the model's (a
gather of their weights first), else every vertex is skinned and the result gathered: the same
function either way, the cheaper evaluation order for the shape.

The Jacobian is forward mode (one JVP per parameter, see ``jacobian_graph``) of the errors with
respect to one input vector ``[s0, s1, θ]`` whose ``s`` is added to every row of ``us`` and fed as 0. Error i
reads ``us[i]`` only, so d error / d s is exactly the suite's two ``us`` columns (the diagonal
blocks of d error / d us, which it sends as an (3N, 2) block before θ's 26 columns)."""

from __future__ import annotations

import numpy as np

import graphc as gc

from .runs import Prepared, compiled

N_THETA = 26


def _pose_index(bone_count: int) -> np.ndarray:
    """For each bone, the index + 1 into θ of its three Euler angles, rows (x, z, y) as ht.hpp's
    ``to_pose_params`` lays them out (0: the angle is 0): per finger, the first of its three posed
    bones reads two angles, the next two one each, the fourth (the tip) none."""
    if bone_count < 21:
        raise ValueError(f"the hand model needs at least 21 bones for θ's 5 fingers, got {bone_count}")
    index = np.zeros((bone_count, 3), dtype=np.int32)
    i_theta, bone = 6, 2
    for _finger in range(5):
        for joint in range(3):
            index[bone, 0] = 1 + i_theta
            i_theta += 1
            if joint == 0:
                index[bone, 1] = 1 + i_theta
                i_theta += 1
            bone += 1
        bone += 1
    return index


def _euler_rotations(angles):
    """(B, 3, 3) rotations Rz(t_z) Ry(t_y) Rx(t_x), for angle rows (t_x, t_z, t_y), the product
    written out entry by entry (nine elementwise expressions rather than two matrix products)."""
    tx, tz, ty = angles[:, 0], angles[:, 1], angles[:, 2]
    cx, sx, cy, sy, cz, sz = gc.cos(tx), gc.sin(tx), gc.cos(ty), gc.sin(ty), gc.cos(tz), gc.sin(tz)
    entries = [cz * cy, cz * sy * sx - sz * cx, sz * sx + cz * sy * cx,
               sz * cy, cz * cx + sz * sy * sx, sz * sy * cx - cz * sx,
               -sy, cy * sx, cy * cx]
    return gc.reshape(gc.stack(entries, axis=1), (angles.shape[0], 3, 3))


def _small_matmul(a, b):
    """a @ b for stacks of 3×3 and 4×4 matrices, as a product and a sum the numba backend fuses into
    one loop nest (its matmul calls ?gemm once per matrix, which costs more than the product)."""
    return gc.sum(gc.expand_dims(a, -1) * gc.expand_dims(b, -3), axis=-2)


def _depth(parents: tuple[int, ...]) -> int:
    depth = [0] * len(parents)
    for bone, parent in enumerate(parents):
        if parent >= bone:
            raise ValueError(f"bone {bone}'s parent {parent} does not come before it")
        depth[bone] = 0 if parent < 0 else depth[parent] + 1
    return max(depth)


def _absolutes(relatives, parents: tuple[int, ...]):
    """(B, 4, 4) absolute transforms: a root's is its relative, a child's its parent's absolute
    times its relative. All bones at once, depth-of-the-tree times: after k rounds every bone
    at depth < k+1 holds its final product (the same product, in the same order, as bone by bone)."""
    roots = np.array([p < 0 for p in parents])[:, None, None]
    gather = np.array([max(p, 0) for p in parents], dtype=np.int32)
    absolutes = relatives
    for _ in range(_depth(parents)):
        absolutes = gc.where(roots, relatives, _small_matmul(gc.take(absolutes, gather, axis=0), relatives))
    return absolutes


def _angle_axis_rotation(aa):
    """The (3, 3) rotation by the angle-axis vector aa; the identity when |aa| < 1e-4."""
    sq = gc.sum(aa * aa)
    small = gc.sqrt(sq) < 1e-4
    norm = gc.sqrt(gc.where(small, 1.0, sq))  # a safe operand: no inf·0 in the derivative
    x, y, z = aa[0] / norm, aa[1] / norm, aa[2] / norm
    s, c = gc.sin(norm), gc.cos(norm)
    rotation = gc.reshape(gc.stack([
        x * x + (1 - x * x) * c, x * y * (1 - c) - z * s, x * z * (1 - c) + y * s,
        x * y * (1 - c) + z * s, y * y + (1 - y * y) * c, y * z * (1 - c) - x * s,
        x * z * (1 - c) - y * s, z * y * (1 - c) + x * s, z * z + (1 - z * z) * c]), (3, 3))
    return gc.where(small, np.eye(3), rotation)


def hand_errors(theta, us, model: dict, parents: tuple[int, ...], is_mirrored: bool):
    """The (N, 3) errors points − model point for pose θ (26,); ``us`` (N, 2) or None (simple).
    ``model`` holds the nodes base_relatives, inverse_base_absolutes (B, 4, 4), base_positions
    (V, 4), weights (V, B), correspondences (N,), points (N, 3) and, with ``us``, triangles (T, 3)."""
    bones = len(parents)
    vertices = model["base_positions"].shape[0]
    angles = gc.take(gc.concatenate([gc.zeros_like(theta[:1]), theta]), _pose_index(bones))
    base_relatives = model["base_relatives"]
    rotations = _euler_rotations(angles)
    relatives = gc.concatenate([_small_matmul(base_relatives[:, :, :3], rotations), base_relatives[:, :, 3:]],
                               axis=2)
    transforms = _small_matmul(_absolutes(relatives, parents), model["inverse_base_absolutes"])
    moves = gc.reshape(transforms[:, :3, :], (bones, 12))

    if us is None:
        read = model["correspondences"]
    else:
        read = gc.reshape(gc.take(model["triangles"], model["correspondences"], axis=0), (-1,))
    gather_first = read.shape[0] < vertices
    weights, base = model["weights"], model["base_positions"]
    if gather_first:
        weights, base = gc.take(weights, read, axis=0), gc.take(base, read, axis=0)
    blended = gc.reshape(weights @ moves, (weights.shape[0], 3, 4))  # Σ_b w_b T_b, one per vertex
    positions = gc.sum(blended * gc.expand_dims(base, 1), axis=2)
    if is_mirrored:
        positions = positions * np.array([-1.0, 1.0, 1.0])
    positions = positions @ gc.transpose(_angle_axis_rotation(theta[0:3])) + theta[3:6]
    if not gather_first:
        positions = gc.take(positions, read, axis=0)

    if us is None:
        return model["points"] - positions
    corners = gc.reshape(positions, (-1, 3, 3))
    u0, u1 = us[:, 0:1], us[:, 1:2]
    inside = u0 * corners[:, 0] + u1 * corners[:, 1] + (1.0 - u0 - u1) * corners[:, 2]
    return model["points"] - inside


class Workload:
    """One ht input as arrays, with the static facts its graph depends on (``key``)."""

    def __init__(self, message: dict):
        data, model = message["data"], message["data"]["model"]
        self.theta = np.asarray(message["theta"], dtype=np.float64)
        us = np.asarray(message.get("us", []), dtype=np.float64)
        self.complicated = us.size > 0
        self.parents = tuple(int(p) for p in model["parents"])
        self.is_mirrored = bool(model["is_mirrored"])
        self.arrays = {
            "base_relatives": np.asarray(model["base_relatives"], dtype=np.float64),
            "inverse_base_absolutes": np.asarray(model["inverse_base_absolutes"], dtype=np.float64),
            "base_positions": np.asarray(model["base_positions"], dtype=np.float64),
            "weights": np.asarray(model["weights"], dtype=np.float64),
            "correspondences": np.asarray(data["correspondences"], dtype=np.int32),
            "points": np.asarray(data["points"], dtype=np.float64),
        }
        if self.complicated:
            self.arrays["triangles"] = np.asarray(model["triangles"], dtype=np.int32)
            self.arrays["us"] = us.reshape(-1, 2)
        self.shapes = {name: (a.shape, a.dtype.name) for name, a in self.arrays.items()}
        self.key = (self.parents, self.is_mirrored, tuple(sorted(self.shapes.items())))

    def placeholders(self) -> dict:
        return {name: gc.placeholder(name, shape, dtype) for name, (shape, dtype) in self.shapes.items()}


def objective_graph(workload: Workload) -> gc.Graph:
    nodes = workload.placeholders()
    theta = gc.placeholder("theta", (N_THETA,))
    err = hand_errors(theta, nodes.get("us"), nodes, workload.parents, workload.is_mirrored)
    return gc.Graph([theta, *nodes.values()], {"err": err}, name="ht objective")


def jacobian_graph(workload: Workload) -> gc.Graph:
    """Outputs ``err`` (N, 3) and ``jacobian_params`` (N, 3, P): d err / d params by
    ``gc.jacobian``, P = 28 (the us shift, then θ) or 26 (simple). The Jacobian is tall, so
    ``gc.jacobian`` pushes a JVP along each basis direction, as one loop over them (``gc.optimize``
    hoists the primal errors, which do not depend on the direction, out of it)."""
    nodes = workload.placeholders()
    shift = 2 if workload.complicated else 0
    params = gc.placeholder("params", (shift + N_THETA,))
    us = nodes["us"] + params[:2] if workload.complicated else None
    err = hand_errors(params[shift:], us, nodes, workload.parents, workload.is_mirrored)
    return gc.jacobian(gc.Graph([params, *nodes.values()], {"err": err}, name="ht errors"), "params")


def objective(message: dict) -> Prepared:
    workload = Workload(message)
    fn, ns = compiled(("ht", "objective", workload.key), lambda: objective_graph(workload))
    arrays = dict(workload.arrays, theta=workload.theta)
    return Prepared(lambda: fn(**arrays)["err"], lambda err: err.ravel().tolist(), ns)


def jacobian(message: dict) -> Prepared:
    workload = Workload(message)
    fn, ns = compiled(("ht", "jacobian", workload.key), lambda: jacobian_graph(workload))
    params = np.concatenate([np.zeros(2), workload.theta]) if workload.complicated else workload.theta
    arrays = dict(workload.arrays, params=params)

    def output(jacobian):  # rows err[i, c] in row-major order, one column per parameter
        return jacobian.reshape(-1, jacobian.shape[-1]).tolist()

    return Prepared(lambda: fn(**arrays)["jacobian_params"], output, ns)


FUNCTIONS = {"objective": objective, "jacobian": jacobian}
