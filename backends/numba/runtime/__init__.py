"""What runs inside or beside a generated kernel: BLAS and LAPACK helpers compiled once per
machine, the vectorizable tanh, and the workspace of large intermediates."""
