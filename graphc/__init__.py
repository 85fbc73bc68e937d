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

from . import linalg, ops
from .adjoint import adjoints, grad, vjp
from .backend_registry import list_backends, register_backend
from .builder import *  # noqa: F403 - the builder functions: the primitives' and the composites
from .compile import CompiledGraph, compile
from .context import Location, provenance, scope
from .custom import custom_vjp
from .errors import (
    BackendError,
    DeclarationError,
    DTypeError,
    GraphError,
    GraphTypeError,
    InputError,
    SerializationError,
    ShapeError,
)
from .fitting import Objective, Residuals
from .forward import jvp
from .hvp import hessian, hvp, jacobian, taylor
from .ir import Graph, Meta, Node
from .linalg import *  # noqa: F403 - the linear-algebra builder functions
from .loops import fori_loop, scan, while_loop
from .ops.declare import defop
from .pipeline import Stage, trace_pipeline
from .rewrite import optimize
from .serialize import load, save

__version__ = "0.1.0"

__all__ = [name for name in dir() if not name.startswith("_")]
