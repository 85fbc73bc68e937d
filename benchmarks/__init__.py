"""Benchmark scripts (run each as a script) and the GradBench tool (the package benchmarks.gradbench)."""
