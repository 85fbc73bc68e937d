"""graphc's execution backends (installed as ``graphc.backends``).

Each backend module owns its lowering table from op name to implementation; backends are found
through the registry in :mod:`graphc.backend_registry`.
"""

from graphc.context import register_internal_dir

register_internal_dir(__file__)
