"""The on-disk kernel cache of the numba backend.

A generated module is written once to ``$GRAPHC_CACHE_DIR/numba/graphc_<key>.py`` (default
``$XDG_CACHE_HOME/graphc`` or ``~/.cache/graphc``) and imported from there, so that numba's own
``cache=True`` stores the compiled machine code beside it (``__pycache__``) and a later process
loads it instead of compiling. The key hashes the graph's structural digest, the batch signature,
the backend options, the generated source, the source of the BLAS / LAPACK helpers it links in
(:mod:`.runtime.lapack`) and of tanh's intrinsics (:mod:`.runtime.tanh`), and the numba, numpy,
Python and graphc versions: a changed graph, helper or numba never meets a stale entry.

Writes are atomic: the module is written to a temporary file in the same folder and hard-linked
into place (``os.link`` fails if another process got there first, so a published file is never
rewritten and numba's source stamp, its modification time, stays valid); numba writes its own
index and data files the same way (temporary file, then ``os.replace``). Two processes compiling
one graph at once therefore both succeed, and at worst both compile.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import sys
import tempfile
import warnings
from pathlib import Path

import numba
import numpy as np

import graphc

from .codegen import CODEGEN_VERSION
from .runtime import lapack, tanh


def cache_dir() -> Path:
    """The cache folder: ``$GRAPHC_CACHE_DIR``, else ``$XDG_CACHE_HOME/graphc``, else
    ``~/.cache/graphc``."""
    env = os.environ.get("GRAPHC_CACHE_DIR")
    if env:
        return Path(env).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "graphc"


def _helpers_digest() -> str:
    """The hash of the sources of runtime.lapack and runtime.tanh: a cached kernel holds the machine
    code of the helpers it calls (linked in) and of tanh's intrinsics (inlined), so a changed
    helper must not meet a kernel compiled before."""
    h = hashlib.sha256()
    for module in (lapack, tanh):
        h.update(Path(module.__file__).read_bytes())
    return h.hexdigest()


_HELPERS_DIGEST = _helpers_digest()


def kernel_key(digest: str, batch: tuple[str, ...], options: dict, source: str) -> str:
    h = hashlib.sha256()
    for part in (digest, repr(batch), repr(sorted(options.items())), source, numba.__version__,
                 np.__version__, sys.version, graphc.__version__, CODEGEN_VERSION, _HELPERS_DIGEST):
        h.update(part.encode())
        h.update(b"\0")
    return h.hexdigest()[:40]


def publish(source: str, key: str) -> Path:
    """The cache file holding ``source``, written atomically if it is not there yet."""
    folder = cache_dir() / "numba"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"graphc_{key}.py"
    try:
        if path.read_text(encoding="utf-8") == source:
            return path
        stale = True  # same key, other text: a damaged file; replace it
    except FileNotFoundError:
        stale = False
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=f".{path.stem}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(source)
        if stale:
            os.replace(tmp, path)
        else:
            try:
                os.link(tmp, path)
            except FileExistsError:
                pass  # another process published the same text first
            except OSError:  # a file system without hard links
                os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return path


def import_module(path: Path):
    """Import the module at ``path`` under a unique name (its file name)."""
    name = path.stem
    module = sys.modules.get(name)
    if module is not None:
        return module
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        del sys.modules[name]
        raise
    return module


def discard(path) -> bool:
    """Remove the cache entry of the kernel module at ``path`` (its source, numba's index and
    machine code) and forget the module; True if there was anything to remove."""
    path = Path(path)
    if not path.is_file():
        return False
    sys.modules.pop(path.stem, None)
    removed = False
    for found in [path, *(path.parent / "__pycache__").glob(f"{path.stem}.*")]:
        try:
            found.unlink()
            removed = True
        except OSError:
            pass
    return removed


_warned_unusable = False


def warn_unusable(exc: OSError) -> None:
    """Once per process: the cache folder cannot be written, kernels compile in memory."""
    global _warned_unusable
    if not _warned_unusable:
        _warned_unusable = True
        reason = exc.strerror or exc
        warnings.warn(f"graphc's kernel cache {cache_dir() / 'numba'} cannot be used ({reason}); "
                      "kernels are compiled in memory and not kept (set GRAPHC_CACHE_DIR to a writable "
                      "folder)", RuntimeWarning, stacklevel=4)
