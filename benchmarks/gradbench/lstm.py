"""GradBench's ``lstm`` (ADBench's): a stack of l LSTM layers with diagonal weights run over a
sequence of c characters of b bits; ``objective`` is the mean negative log-likelihood of each next
character under the stack's prediction, ``jacobian`` its gradient with respect to ``main_params``
and ``extra_params``, derived by ``gc.grad`` and returned flattened row-major, concatenated.

The layout is the reference's (``cpp/gradbench/evals/lstm.hpp``): ``main_params`` (2l, 4b) holds
layer i's weights in row 2i and biases in row 2i + 1, each as [forget, ingate, outgate, change];
``state`` (2l, b) holds layer i's hidden state in row 2i and cell in row 2i + 1; ``extra_params``
(3, b) is [in_weight, out_weight, out_bias]. At step t (t < c - 1) the input is sequence[t] ·
in_weight; in each layer forget = σ(input·w_f + b_f), ingate = σ(hidden·w_i + b_i), outgate =
σ(input·w_o + b_o), change = tanh(hidden·w_c + b_c), cell ← cell·forget + ingate·change, hidden ←
outgate·tanh(cell), and the layer's new hidden is the next layer's input; the prediction is
top_hidden · out_weight + out_bias, normalised by log(Σ exp(prediction) + 2) (ADBench's quirk: the
"+ 2" is where its sum starts), and scored against sequence[t + 1].

Why the loops are layer-major: layer i's hidden at step t depends on layer i's step t - 1 and on
layer i - 1's step t only, so the stack is a scan over the layers whose body is one scan over the
time steps of one layer. The graph (and its compile time) is then one layer's size for every l
and c, and the forget and outgate gates, which read only the layer's input, are computed for the
whole sequence at once outside the sequential loop, which keeps three of the five transcendental
functions per element. The prediction and the loss are outside the loops as well."""

from __future__ import annotations

import numpy as np

import graphc as gc

from .runs import Prepared, compiled

GATES = 4  # forget, ingate, outgate, change


def _layer(inputs, params, b: int):
    """One LSTM layer over the whole sequence: ``inputs`` (steps, b) to its hidden states (steps, b)."""
    weight, bias, hidden0, cell0 = params
    w_forget, w_ingate, w_outgate, w_change = (weight[k * b:(k + 1) * b] for k in range(GATES))
    b_forget, b_ingate, b_outgate, b_change = (bias[k * b:(k + 1) * b] for k in range(GATES))
    forget = gc.sigmoid(inputs * w_forget + b_forget)
    outgate = gc.sigmoid(inputs * w_outgate + b_outgate)

    def step(carry, gates):
        hidden, cell = carry
        forget_t, outgate_t = gates
        ingate = gc.sigmoid(hidden * w_ingate + b_ingate)
        change = gc.tanh(hidden * w_change + b_change)
        cell = cell * forget_t + ingate * change
        hidden = outgate_t * gc.tanh(cell)
        return (hidden, cell), hidden

    _, hiddens = gc.scan(step, (hidden0, cell0), xs=(forget, outgate), name="lstm_steps")
    return hiddens, None


def _objective(l: int, c: int, b: int) -> gc.Graph:
    main = gc.placeholder("main_params", (2 * l, GATES * b))
    extra = gc.placeholder("extra_params", (3, b))
    state = gc.placeholder("state", (2 * l, b))
    sequence = gc.placeholder("sequence", (c, b))
    layers = gc.reshape(main, (l, 2, GATES * b))  # [layer, weight | bias, gate · b]
    states = gc.reshape(state, (l, 2, b))         # [layer, hidden | cell, b]
    per_layer = (layers[:, 0], layers[:, 1], states[:, 0], states[:, 1])
    top, _ = gc.scan(lambda inputs, params: _layer(inputs, params, b), sequence[:-1] * extra[0],
                     xs=per_layer, name="lstm_layers")
    prediction = top * extra[1] + extra[2]
    normaliser = gc.log(gc.sum(gc.exp(prediction), axis=1, keepdims=True) + 2.0)
    loss = -gc.sum(sequence[1:] * (prediction - normaliser)) / ((c - 1) * b)
    return gc.Graph([main, extra, state, sequence], {"loss": loss}, name=f"lstm(l={l}, c={c}, b={b})")


def _inputs(message: dict) -> dict[str, np.ndarray]:
    arrays = {name: np.asarray(message[name], dtype=np.float64)
              for name in ("main_params", "extra_params", "state", "sequence")}
    main, extra, state, sequence = arrays.values()
    l, b = main.shape[0] // 2, sequence.shape[1] if sequence.ndim == 2 else -1
    if (main.shape != (2 * l, GATES * b) or l < 1 or extra.shape != (3, b) or state.shape != (2 * l, b)
            or sequence.shape[0] < 2):
        given = ", ".join(f"{name} {value.shape}" for name, value in arrays.items())
        raise ValueError(f"lstm needs main_params (2l, 4b), extra_params (3, b), state (2l, b) and a "
                         f"sequence (c >= 2, b); got {given}")
    return arrays


def _sizes(arrays: dict[str, np.ndarray]) -> tuple[int, int, int]:
    c, b = arrays["sequence"].shape
    return arrays["main_params"].shape[0] // 2, c, b


def objective(message: dict) -> Prepared:
    arrays = _inputs(message)
    sizes = _sizes(arrays)
    fn, ns = compiled(("lstm", "objective", sizes), lambda: _objective(*sizes))
    return Prepared(lambda: fn(**arrays)["loss"], float, ns)


def jacobian(message: dict) -> Prepared:
    arrays = _inputs(message)
    sizes = _sizes(arrays)
    fn, ns = compiled(("lstm", "jacobian", sizes),
                      lambda: gc.grad(_objective(*sizes), ["main_params", "extra_params"], output="loss"))

    def output(result: dict) -> list[float]:
        gradients = (result["grad_main_params"], result["grad_extra_params"])
        return np.concatenate([g.ravel() for g in gradients]).tolist()

    return Prepared(lambda: fn(**arrays), output, ns)


FUNCTIONS = {"objective": objective, "jacobian": jacobian}
