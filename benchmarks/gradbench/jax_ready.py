"""The suite's own JAX tool (``gradbench.tools.jax``), timed until its results are ready.

Its ``wrap`` decorators time the call of a jitted function, which returns as soon as JAX has
dispatched the work; its results are computed later, while they are converted to JSON. Here each
decorated function is wrapped in ``jax.block_until_ready`` before the suite's decorators time it,
so an ``evaluate`` timing covers the computation, as the C++ tools' and graphc's do. Everything
else (the protocol loop, the eval modules, ``--multithreaded``) is the suite's. Run with the suite's
Python (``suite.py`` makes it), from the suite's root."""

import sys
from pathlib import Path

import jax
from gradbench import wrap
from gradbench.tools.jax import run


def _until_ready(decorator_factory):
    def factory(*args, **kwargs):
        decorate = decorator_factory(*args, **kwargs)

        def decorator(function):
            return decorate(lambda value: jax.block_until_ready(function(value)))

        return decorator

    return factory


wrap.multiple_runs = _until_ready(wrap.multiple_runs)
wrap.function = _until_ready(wrap.function)

if __name__ == "__main__":
    # the suite starts its run.py as a script, so the eval modules it imports by name (``hello``,
    # ``gmm``...) are found beside it; this file's own folder must not shadow them
    sys.path[0] = str(Path(run.__file__).parent)
    run.main()
