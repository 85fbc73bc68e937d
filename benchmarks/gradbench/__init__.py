"""graphc as a GradBench tool (github:gradbench/gradbench): one module per eval, a protocol loop
(``tool.py``), an intermediary that runs an eval's runner against a tool (``intermediary.py``) and
the script that fills benchmarks/README.md's GradBench table (``run_all.py``).

Every function an eval asks for is a graphc graph, and every derivative is derived from it by
graphc's passes; nothing here is differentiated by hand."""
