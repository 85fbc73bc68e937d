"""GradBench's ``ht`` module on a small synthetic hand, against a numpy hand-tracking objective
written here from the eval's specification (ht.hpp, bone by bone), and its Jacobian against central
differences of that objective."""

import numpy as np
import pytest

from benchmarks.gradbench import ht, tool

PARENTS = [-1, 0, 1, 2, 3, 0, 5, 6, 7, 0, 9, 10, 11, 0, 13, 14, 15, 0, 17, 18, 19, 0]  # the suite's hand
VERTICES = 40


def rigid(rng):
    q, _ = np.linalg.qr(rng.normal(size=(3, 3)))
    transform = np.eye(4)
    transform[:3, :3], transform[:3, 3] = q, rng.normal(0, 0.3, 3)
    return transform


def synthetic_input(n_points, complicated, is_mirrored=False, seed=0):
    """An HTInput message (the JSON the eval sends) for a random hand of 22 bones."""
    rng = np.random.default_rng(seed)
    bones = len(PARENTS)
    weights = np.zeros((VERTICES, bones))
    for v in range(VERTICES):
        chosen = rng.choice(bones, size=3, replace=False)
        weights[v, chosen] = rng.dirichlet(np.ones(3))
    positions = np.c_[rng.normal(0, 1, (VERTICES, 3)), np.ones(VERTICES)]
    triangles = np.array([rng.choice(VERTICES, 3, replace=False) for _ in range(30)])
    model = {"bone_count": bones, "bone_names": [f"bone{b}" for b in range(bones)], "parents": PARENTS,
             "base_relatives": [rigid(rng).tolist() for _ in range(bones)],
             "inverse_base_absolutes": [rigid(rng).tolist() for _ in range(bones)],
             "base_positions": positions.tolist(), "weights": weights.tolist(),
             "triangles": triangles.tolist(), "is_mirrored": is_mirrored}
    correspondences = rng.integers(0, 30 if complicated else VERTICES, n_points)
    us = rng.dirichlet(np.ones(3), n_points)[:, :2] if complicated else np.empty(0)
    theta = np.r_[rng.normal(0, 0.4, 3), rng.normal(0, 0.5, 3), rng.normal(0, 0.3, 20)]
    return {"theta": theta.tolist(), "us": us.tolist(),
            "data": {"model": model, "correspondences": correspondences.tolist(),
                     "points": rng.normal(0, 1, (n_points, 3)).tolist()},
            "min_runs": 1, "min_seconds": 0}


# ---------------------------------------------------------------------------------------------
# The reference, from the specification


def angle_axis_to_rotation(aa):
    norm = np.sqrt(aa @ aa)
    if norm < 1e-4:
        return np.eye(3)
    x, y, z = aa / norm
    s, c = np.sin(norm), np.cos(norm)
    return np.array([[x * x + (1 - x * x) * c, x * y * (1 - c) - z * s, x * z * (1 - c) + y * s],
                     [x * y * (1 - c) + z * s, y * y + (1 - y * y) * c, y * z * (1 - c) - x * s],
                     [x * z * (1 - c) - y * s, z * y * (1 - c) + x * s, z * z + (1 - z * z) * c]])


def euler_xzy_to_rotation(xzy):
    tx, ty, tz = xzy[0], xzy[2], xzy[1]
    rx = np.array([[1, 0, 0], [0, np.cos(tx), -np.sin(tx)], [0, np.sin(tx), np.cos(tx)]])
    ry = np.array([[np.cos(ty), 0, np.sin(ty)], [0, 1, 0], [-np.sin(ty), 0, np.cos(ty)]])
    rz = np.array([[np.cos(tz), -np.sin(tz), 0], [np.sin(tz), np.cos(tz), 0], [0, 0, 1]])
    return rz @ ry @ rx


def pose_params(theta, bones):
    pose = np.zeros((3, bones + 3))
    pose[:, 0], pose[:, 1], pose[:, 2] = theta[0:3], 1.0, theta[3:6]
    i_theta, i_pose = 6, 5
    for _finger in range(5):
        for i in range(2, 5):
            pose[0, i_pose] = theta[i_theta]
            i_theta += 1
            if i == 2:
                pose[1, i_pose] = theta[i_theta]
                i_theta += 1
            i_pose += 1
        i_pose += 1
    return pose


def reference(message, theta=None, us=None):
    """The 3N errors, ht.hpp's objective."""
    model, data = message["data"]["model"], message["data"]
    theta = np.asarray(message["theta"] if theta is None else theta)
    us = np.asarray(message["us"] if us is None else us)
    bones = len(model["parents"])
    pose = pose_params(theta, bones)
    absolutes = []
    for b, parent in enumerate(model["parents"]):
        tr = np.eye(4)
        tr[:3, :3] = euler_xzy_to_rotation(pose[:, b + 3])
        relative = np.asarray(model["base_relatives"][b]) @ tr
        absolutes.append(relative if parent == -1 else absolutes[parent] @ relative)
    base = np.asarray(model["base_positions"]).T  # (4, V)
    weights = np.asarray(model["weights"]).T  # (B, V)
    positions = np.zeros((3, base.shape[1]))
    for b in range(bones):
        moved = absolutes[b] @ np.asarray(model["inverse_base_absolutes"][b]) @ base
        positions += moved[:3] * weights[b]
    if model["is_mirrored"]:
        positions[0] *= -1
    rotation = angle_axis_to_rotation(pose[:, 0]) * pose[:, 1]  # columns scaled by 1
    positions = rotation @ positions + pose[:, 2:3]
    points = np.asarray(data["points"])
    err = np.empty((len(points), 3))
    for i, c in enumerate(data["correspondences"]):
        if us.size:
            v = model["triangles"][c]
            u = us[i]
            err[i] = points[i] - (u[0] * positions[:, v[0]] + u[1] * positions[:, v[1]]
                                  + (1 - u[0] - u[1]) * positions[:, v[2]])
        else:
            err[i] = points[i] - positions[:, c]
    return err.ravel()


def central_differences(message, h=1e-6):
    """(3N, 2 + 26) or (3N, 26): d err / d us[i] (the two entries of error i's own us row, every
    us entry perturbed on its own), then d err / d θ."""
    theta, us = np.asarray(message["theta"]), np.asarray(message["us"])
    columns = []
    if us.size:
        n = len(us)
        block = np.zeros((3 * n, 2))
        for i in range(n):
            for k in range(2):
                up, down = us.copy(), us.copy()
                up[i, k] += h
                down[i, k] -= h
                d = (reference(message, us=up) - reference(message, us=down)) / (2 * h)
                assert np.all(np.delete(d, [3 * i, 3 * i + 1, 3 * i + 2]) == 0)  # only error i reads us[i]
                block[3 * i:3 * i + 3, k] = d[3 * i:3 * i + 3]
        columns.append(block)
    for j in range(26):
        up, down = theta.copy(), theta.copy()
        up[j] += h
        down[j] -= h
        columns.append(((reference(message, theta=up) - reference(message, theta=down)) / (2 * h))[:, None])
    return np.hstack(columns)


def run(function, message):
    prepared = ht.FUNCTIONS[function](message)
    return prepared.output(prepared.call())


CASES = {  # (points, complicated, mirrored): the skinning gathers first when 3N (or N) < 40 vertices
    "complicated, gathered first": (12, True, False),
    "complicated, every vertex": (20, True, False),
    "simple, gathered first, mirrored": (12, False, True),
    "simple, every vertex": (45, False, False),
}


@pytest.mark.parametrize("case", CASES)
def test_objective_and_jacobian_match_numpy(case):
    n_points, complicated, mirrored = CASES[case]
    message = synthetic_input(n_points, complicated, mirrored, seed=n_points)
    expected = reference(message)
    err = run("objective", message)
    assert isinstance(err, list) and len(err) == 3 * n_points
    np.testing.assert_allclose(err, expected, rtol=1e-12, atol=1e-12)

    jacobian = run("jacobian", message)
    assert len(jacobian) == 3 * n_points and {len(row) for row in jacobian} == {28 if complicated else 26}
    J, expected_J = np.asarray(jacobian), central_differences(message)
    assert np.abs(J - expected_J).max() < 1e-6 * (1 + np.abs(expected_J).max())
    assert np.abs(J).max() > 0.1  # a real Jacobian, not zeros


def test_a_pose_without_global_rotation_uses_the_identity():
    message = synthetic_input(12, True, seed=3)
    message["theta"][0:3] = [0.0, 0.0, 0.0]
    np.testing.assert_allclose(run("objective", message), reference(message), rtol=1e-12, atol=1e-12)
    J = np.asarray(run("jacobian", message))
    assert np.all(np.isfinite(J))
    np.testing.assert_allclose(J, central_differences(message), atol=1e-6)
    assert np.all(J[:, 2:5] == 0)  # the identity does not turn with θ[0:3]


def test_through_the_protocol():
    message = synthetic_input(12, True, seed=12)
    response = tool.respond({"id": 3, "kind": "evaluate", "module": "ht", "function": "objective",
                             "input": message | {"min_runs": 3}})
    assert response["success"], response.get("error")
    assert [t["name"] for t in response["timings"]].count("evaluate") == 3
    np.testing.assert_allclose(response["output"], reference(message), rtol=1e-12, atol=1e-12)
