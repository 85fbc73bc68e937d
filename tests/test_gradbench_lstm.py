"""GradBench's ``lstm`` module against a plain numpy loop written from the eval's specification
(ADBench's layout: per layer a weight row and a bias row of [forget, ingate, outgate, change],
per layer a hidden row and a cell row, extra rows [in_weight, out_weight, out_bias], and the
log(Σ exp + 2) normaliser), a value computed by hand, and central differences; on the numba
backend, which the benchmark runs."""

import math

import numpy as np
import pytest

from benchmarks.gradbench import lstm, tool


def sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


def numpy_objective(main_params, extra_params, state, sequence) -> float:
    layers, b = main_params.shape[0] // 2, sequence.shape[1]
    hidden = [state[2 * i].copy() for i in range(layers)]
    cell = [state[2 * i + 1].copy() for i in range(layers)]
    total = 0.0
    for t in range(len(sequence) - 1):
        layer_input = sequence[t] * extra_params[0]
        for i in range(layers):
            w, bias = main_params[2 * i].reshape(4, b), main_params[2 * i + 1].reshape(4, b)
            forget = sigmoid(layer_input * w[0] + bias[0])
            ingate = sigmoid(hidden[i] * w[1] + bias[1])
            outgate = sigmoid(layer_input * w[2] + bias[2])
            change = np.tanh(hidden[i] * w[3] + bias[3])
            cell[i] = cell[i] * forget + ingate * change
            hidden[i] = outgate * np.tanh(cell[i])
            layer_input = hidden[i]
        prediction = layer_input * extra_params[1] + extra_params[2]
        normalised = prediction - np.log(np.sum(np.exp(prediction)) + 2.0)
        total += np.sum(sequence[t + 1] * normalised)
    return -total / ((len(sequence) - 1) * b)


def workload(layers: int, c: int, b: int, seed: int = 0) -> dict:
    """Random parameters in [0, 1) and a sequence of bits, as the eval generates them."""
    rng = np.random.default_rng(seed)
    return {"main_params": rng.random((2 * layers, 4 * b)), "extra_params": rng.random((3, b)),
            "state": rng.random((2 * layers, b)), "sequence": rng.integers(0, 2, (c, b)).astype(float)}


def message(arrays: dict) -> dict:
    return {name: value.tolist() for name, value in arrays.items()}


def run(function: str, arrays: dict):
    prepared = lstm.FUNCTIONS[function](message(arrays))
    return prepared.output(prepared.call())


def central_differences(arrays: dict, eps: float = 1e-6) -> np.ndarray:
    """∂objective/∂(main_params, extra_params), both flattened row-major, concatenated."""
    main, extra = arrays["main_params"], arrays["extra_params"]
    flat = np.concatenate([main.ravel(), extra.ravel()])

    def at(point):
        return numpy_objective(point[:main.size].reshape(main.shape), point[main.size:].reshape(extra.shape),
                               arrays["state"], arrays["sequence"])

    steps = np.eye(flat.size) * eps
    return np.array([(at(flat + e) - at(flat - e)) / (2 * eps) for e in steps])


@pytest.mark.parametrize("layers, c, b", [(1, 6, 3), (2, 9, 4), (3, 5, 2)])
def test_objective_matches_numpy(layers, c, b):
    arrays = workload(layers, c, b, seed=layers)
    value = run("objective", arrays)
    assert isinstance(value, float)
    assert value == pytest.approx(numpy_objective(**arrays), rel=1e-13)


@pytest.mark.parametrize("layers, c, b", [(1, 6, 3), (2, 9, 4)])
def test_jacobian_matches_central_differences(layers, c, b):
    arrays = workload(layers, c, b, seed=layers)
    jacobian = np.asarray(run("jacobian", arrays))
    assert jacobian.shape == (8 * layers * b + 3 * b,)
    np.testing.assert_allclose(jacobian, central_differences(arrays), rtol=1e-6, atol=1e-9)


def test_zero_parameters_give_the_normaliser_alone():
    """All parameters and the state 0: every gate is σ(0) = ½ and tanh(0) = 0, so the cells and
    hidden states stay 0, every prediction is 0 and each bit scores -log(b + 2)."""
    layers, c, b = 2, 9, 4
    arrays = workload(layers, c, b)
    for name in ("main_params", "extra_params", "state"):
        arrays[name] = np.zeros_like(arrays[name])
    expected = arrays["sequence"][1:].sum() * math.log(b + 2) / ((c - 1) * b)
    assert run("objective", arrays) == pytest.approx(expected, rel=1e-14)


def test_the_graph_does_not_grow_with_layers_or_characters():
    assert len(lstm._objective(1, 5, 3)) == len(lstm._objective(6, 500, 3))


def test_through_the_protocol():
    arrays = workload(2, 9, 4, seed=5)
    response = tool.respond({"id": 1, "kind": "evaluate", "module": "lstm", "function": "jacobian",
                             "input": message(arrays) | {"min_runs": 2, "min_seconds": 0}})
    assert response["success"], response.get("error")
    assert all(isinstance(v, float) for v in response["output"])
    np.testing.assert_allclose(response["output"], central_differences(arrays), rtol=1e-6, atol=1e-9)
    assert [t["name"] for t in response["timings"]].count("evaluate") == 2


def test_a_misshapen_input_is_refused():
    arrays = workload(2, 9, 4)
    arrays["state"] = arrays["state"][:3]
    response = tool.respond({"id": 2, "kind": "evaluate", "module": "lstm", "function": "objective",
                             "input": message(arrays)})
    assert response["success"] is False and "state (3, 4)" in response["error"]
