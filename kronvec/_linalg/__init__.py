"""The bottom floor: linear-algebra services shared by every layer above.

* :mod:`.factorization` — one LU/Cholesky factorization per matrix and call,
  through LAPACK directly, with the errors and warnings kronvec promises;
* :mod:`.checks` — validation of matrix arguments, one message style.

Nothing here knows about tracing, operators or derivatives.
"""
