"""graphc: a dataflow-graph compiler for Python.

Build a static graph with numpy-like code, derive gradient / JVP / HVP graphs from it with compiler
passes, and run any graph on a backend::

    import graphc as gc
    x = gc.placeholder("x", (3,))
    f = gc.sum(gc.exp(x))
    g = gc.grad(gc.Graph([x], [f]))
    print(g)
    gc.compile(g)(x=[0.0, 1.0, 2.0])
"""

from . import (
    linalg,
    ops,  # noqa: F401 - declares the primitives
)
from .adjoint import adjoints, grad, vjp
from .backend_registry import list_backends, register_backend
from .builder import (
    abs,
    add,
    amax,
    amin,
    as_node,
    broadcast_to,
    cast,
    concatenate,
    constant,
    cos,
    divide,
    dot,
    equal,
    exp,
    expand_dims,
    expm1,
    greater,
    greater_equal,
    isfinite,
    less,
    less_equal,
    log,
    log1p,
    logsumexp,
    matmul,
    matrix_transpose,
    max,
    maximum,
    mean,
    min,
    minimum,
    multiply,
    negative,
    not_equal,
    ones_like,
    outer,
    placeholder,
    power,
    reshape,
    sigmoid,
    sign,
    sin,
    softplus,
    sqrt,
    square,
    squeeze,
    stack,
    stop_gradient,
    subtract,
    sum,
    tanh,
    transpose,
    vdot,
    where,
    zeros_like,
)
from .compile import CompiledGraph, compile
from .context import Location, provenance, scope
from .errors import (
    BackendError,
    DTypeError,
    GraphError,
    GraphTypeError,
    InputError,
    SerializationError,
    ShapeError,
)
from .forward import jvp
from .hvp import hessian, hvp, jacobian, taylor
from .ir import Graph, Meta, Node
from .linalg import (
    cholesky,
    det,
    diag,
    diagonal,
    eigh,
    eigvalsh,
    einsum,
    inv,
    logdet,
    norm,
    slogdet,
    solve,
    svd,
    svdvals,
    symmetrize,
    trace,
)
from .pipeline import Stage, trace_pipeline
from .rewrite import optimize
from .serialize import load, save

__version__ = "0.1.0"

__all__ = [name for name in dir() if not name.startswith("_")]
