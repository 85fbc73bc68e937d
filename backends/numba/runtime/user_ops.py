"""The scalar and array functions of user-declared ops, as the generated kernels call them.

A kernel module that calls a user op's function binds it as a global when it is imported:
``_op_mylib_log1pexp = function("mylib.log1pexp")``. The function is the op's declaration's
(``scalar=`` for an elementwise op, ``numba=`` for another), compiled here by ``numba.njit``
with numpy's error model (1/0 is inf, as in every kernel) unless it is a numba dispatcher
already. The op must be declared in the process that imports the kernel: a kernel module is
only ever imported by the backend that compiled its graph, so it always is.
"""

from __future__ import annotations

import numba
from numba.core.dispatcher import Dispatcher

from graphc.errors import BackendError
from graphc.ops.core import PRIMITIVES, Primitive

_COMPILED: dict[Primitive, Dispatcher] = {}


def function(op: str) -> Dispatcher:
    prim = PRIMITIVES.get(op)
    if prim is None:
        raise BackendError(f"a kernel calls op {op!r}, which is not declared in this process")
    found = _COMPILED.get(prim)
    if found is None:
        fn = prim.scalar if prim.category == "elementwise" else prim.numba
        if fn is None:
            raise BackendError(f"op {op!r} declares no function for the numba backend")
        found = fn if isinstance(fn, Dispatcher) else numba.njit(error_model="numpy")(fn)
        _COMPILED[prim] = found
    return found
