"""Materialize Kronecker products, sums and selection maps as CSR or dense arrays.

This layer validates inputs, picks dtypes, refuses results above the
configured memory limit *before* allocating (:func:`kronvec._config.check_materialization`),
and then fills the result either with plain NumPy (results with fewer than
``kronvec.config.numba_min_entries`` nonzeros or entries, so small problems
never import numba) or with the numba kernels of :mod:`kronvec._kernels`.

Every sparse result is a ``scipy.sparse.csr_array`` in canonical format
(sorted column indices, no duplicates, ``has_canonical_format`` set) with
int32 indices when they fit and int64 otherwise -- the dtype scipy itself
would choose, so scipy never copies the arrays to convert them.

Kronecker order is NumPy's: ``kron_csr(A, B).toarray() == np.kron(A, B)``
(see ``notes/conventions.md``).
"""

from __future__ import annotations

import numbers
import operator

import numpy as np
import scipy.sparse as sp

from ._config import check_materialization, config

__all__ = [
    "kron_csr",
    "sum_csr",
    "kron_dense",
    "dense_to_csr",
    "dense_to_csr_workspace",
    "csr_row_blocks",
    "SUM_CSR_WORKSPACE_FACTOR",
    "selection_csr",
    "selection_transpose_csr",
]

_INT32_MAX = np.iinfo(np.int32).max
_KERNEL_DTYPES = tuple(np.dtype(t) for t in (np.float32, np.float64, np.complex64, np.complex128))
_SPARSE_ALTERNATIVE = "use matvec on the structured operator instead of materializing it"
_DENSE_ALTERNATIVE = "use matvec on the structured operator, or tosparse()"


# --------------------------------------------------------------------------
# helpers: dtypes, sizes
# --------------------------------------------------------------------------


def _index_dtype(nnz, nrows, ncols):
    """int32 when every index, row pointer and dimension fits, else int64.

    This is scipy's own rule (``get_index_dtype(maxval=max(shape),
    check_contents=True)``), so ``csr_array`` keeps our arrays as they are.
    """
    if max(int(nnz), int(nrows), int(ncols)) <= _INT32_MAX:
        return np.dtype(np.int32)
    return np.dtype(np.int64)


def _value_dtype(dtypes, scalars=()):
    """Result dtype of the factors and Python scalars; integers become float64.

    Python scalars are weak under NumPy 2 promotion, so a float scale keeps
    float32 data float32.  Only the four dtypes the kernels are compiled for
    are produced.
    """
    dtypes = [np.dtype(d) for d in dtypes]
    if not dtypes and not scalars:
        return np.dtype(np.float64)
    dtype = np.result_type(*dtypes, *scalars) if dtypes else np.result_type(*scalars)
    if dtype in _KERNEL_DTYPES:
        return dtype
    if dtype.kind in "biu" or dtype == np.float16:
        return np.dtype(np.float64)
    raise TypeError(
        f"kronvec.sparse supports float32, float64, complex64 and complex128 data "
        f"(integers and booleans become float64); got {dtype}"
    )


def _as_python_scalar(scale, what):
    """A weak Python float or complex, so it never widens float32 data."""
    if isinstance(scale, (numbers.Real, np.bool_)) or (
        isinstance(scale, np.ndarray) and scale.ndim == 0 and scale.dtype.kind in "biuf"
    ):
        return float(scale)
    if isinstance(scale, numbers.Complex) or (
        isinstance(scale, np.ndarray) and scale.ndim == 0 and scale.dtype.kind == "c"
    ):
        return complex(scale)
    raise TypeError(f"{what} must be a real or complex scalar, got {type(scale).__name__}")


def _csr_nbytes(nnz, nrows, value_dtype, index_dtype):
    return int(nnz) * (value_dtype.itemsize + index_dtype.itemsize) + (int(nrows) + 1) * index_dtype.itemsize


def _use_numba(entries):
    return entries >= config.numba_min_entries


def _wrap_csr(data, indices, indptr, shape):
    """csr_array around arrays already in canonical form (no copies)."""
    result = sp.csr_array((data, indices, indptr), shape=shape, copy=False)
    result.has_canonical_format = True
    return result


def _identity_size(factor, what):
    """``n`` if `factor` is an int (meaning I_n), else None."""
    if isinstance(factor, (bool, np.bool_)):
        raise TypeError(f"{what} must be an int (identity size), an array or a sparse matrix, not bool")
    if isinstance(factor, numbers.Integral):
        n = operator.index(factor)
        if n < 0:
            raise ValueError(f"{what}: identity size must be >= 0, got {n}")
        return n
    return None


# --------------------------------------------------------------------------
# canonical CSR factors
# --------------------------------------------------------------------------


class _CSRFactor:
    """A factor of a Kronecker product as canonical CSR arrays, never modified.

    Identities stay lazy (``indptr`` etc. are None, ``dtype`` is None so they
    do not influence the result dtype) until :meth:`arrays` is called, after
    the memory check: ``kron_csr(10**9, A)`` must be refused, not allocate.
    ``indptr`` and ``indices`` are int64 so the numba kernel is compiled for
    one input index type only; factors are small next to the product, so the
    conversion is cheap.
    """

    __slots__ = ("indptr", "indices", "data", "shape", "dtype", "nnz")

    def __init__(self, indptr, indices, data, shape, dtype):
        self.indptr = indptr
        self.indices = indices
        self.data = data
        self.shape = shape
        self.dtype = dtype
        self.nnz = shape[0] if indptr is None else int(indptr[-1])

    @classmethod
    def identity(cls, n):
        return cls(None, None, None, (n, n), None)

    def arrays(self, value_dtype):
        """``(indptr, indices, data)`` with data cast to `value_dtype`."""
        if self.indptr is None:
            positions = np.arange(self.shape[0] + 1, dtype=np.int64)
            return positions, positions[:-1], np.ones(self.shape[0], dtype=value_dtype)
        return self.indptr, self.indices, self.data.astype(value_dtype, copy=False)

    def row_counts(self):
        if self.indptr is None:
            return np.ones(self.shape[0], dtype=np.int64)
        return np.diff(self.indptr)


def _csr_factor(factor, what):
    n = _identity_size(factor, what)
    if n is not None:
        return _CSRFactor.identity(n)
    if sp.issparse(factor):
        if factor.ndim != 2:
            raise ValueError(f"{what} must be 2-D, got a sparse array of shape {factor.shape}")
        csr = _canonical_csr(factor)
        return _CSRFactor(
            csr.indptr.astype(np.int64, copy=False),
            csr.indices.astype(np.int64, copy=False),
            csr.data,
            tuple(csr.shape),
            csr.data.dtype,
        )
    array = np.asarray(factor)
    if array.ndim != 2:
        raise ValueError(f"{what} must be 2-D (or an int for an identity), got shape {array.shape}")
    # np.nonzero walks row-major, so the columns within each row come sorted.
    rows, columns = np.nonzero(array)
    indptr = np.zeros(array.shape[0] + 1, dtype=np.int64)
    np.cumsum(np.bincount(rows, minlength=array.shape[0]), out=indptr[1:])
    return _CSRFactor(indptr, columns.astype(np.int64, copy=False), array[rows, columns], array.shape, array.dtype)


def _canonical_csr(matrix, drop_zeros=True):
    """CSR with sorted indices and no duplicates; input untouched.

    With `drop_zeros`, explicit zeros are removed as well (costs a read of
    the data; the merge kernels drop zeros themselves and skip it).
    """
    csr = matrix.tocsr()
    owned = csr is not matrix
    if not csr.has_canonical_format:
        if not owned:
            csr = csr.copy()
            owned = True
        csr.sum_duplicates()
    if drop_zeros and csr.nnz and not csr.data.all():
        if not owned:
            csr = csr.copy()
        csr.eliminate_zeros()
    return csr


# --------------------------------------------------------------------------
# kron_csr
# --------------------------------------------------------------------------


def kron_csr(A, B):
    """Kronecker product ``A ⊗ B`` as a canonical CSR array, written directly.

    Parameters
    ----------
    A, B : int, 2-D ndarray or scipy sparse array/matrix
        An ``int`` n means the n×n identity.  Explicit zeros of dense or
        sparse factors are dropped, as ``scipy.sparse.kron`` drops them for
        dense input.  Inputs are never modified.

    Returns
    -------
    scipy.sparse.csr_array
        Shape ``(pA*pB, qA*qB)``, equal to ``scipy.sparse.kron(A, B,
        format="csr")`` with sorted indices and no duplicates.  Data dtype is
        the result type of the factors (float32 stays float32; integers and
        booleans become float64; identities do not count); index dtype is
        int32 when it fits, else int64.

    Raises
    ------
    ValueError
        If a factor is not 2-D or an identity size is negative.
    MemoryError
        If the CSR arrays would exceed ``kronvec.config.sparse_limit_bytes``;
        raised before anything is allocated.

    Notes
    -----
    Unlike ``scipy.sparse.kron`` this never goes through COO: the row counts
    of the product are products of the factors' row counts, so the output is
    allocated once at its exact size and each row is written in sorted order.

    Examples
    --------
    >>> import numpy as np
    >>> A = np.array([[1.0, 2.0], [0.0, 3.0]])
    >>> K = kron_csr(2, A)          # I_2 ⊗ A, block diagonal
    >>> K.shape, K.nnz
    ((4, 4), 6)
    >>> bool((K.toarray() == np.kron(np.eye(2), A)).all())
    True
    """
    a = _csr_factor(A, "kron_csr: A")
    b = _csr_factor(B, "kron_csr: B")
    shape = (a.shape[0] * b.shape[0], a.shape[1] * b.shape[1])
    value_dtype = _value_dtype([f.dtype for f in (a, b) if f.dtype is not None])
    nnz = a.nnz * b.nnz  # exact: row counts of a Kronecker product multiply
    index_dtype = _index_dtype(nnz, *shape)
    check_materialization(
        "sparse",
        _csr_nbytes(nnz, shape[0], value_dtype, index_dtype),
        f"kron_csr of shapes {a.shape} and {b.shape}",
        _SPARSE_ALTERNATIVE,
    )

    indptr = np.empty(shape[0] + 1, dtype=index_dtype)
    indptr[0] = 0
    np.cumsum(np.multiply.outer(a.row_counts(), b.row_counts()).ravel(), out=indptr[1:])
    indices = np.empty(nnz, dtype=index_dtype)
    data = np.empty(nnz, dtype=value_dtype)
    a_arrays = a.arrays(value_dtype)
    b_arrays = b.arrays(value_dtype)
    if nnz and _use_numba(nnz):
        from . import _kernels

        _kernels.call(
            _kernels.kron_csr_fill, indices.nbytes + data.nbytes,
            *a_arrays, *b_arrays, np.int64(b.shape[1]), indptr, indices, data,
        )
    elif nnz:
        _kron_csr_fill_numpy(a_arrays, b_arrays, b.shape, indptr, indices, data)
    return _wrap_csr(data, indices, indptr, shape)


#: Nonzeros (dense: entries) handled per block by the NumPy fills, so their
#: index temporaries stay below a few MiB whatever the size of the result.
NUMPY_BLOCK_ENTRIES = 1 << 15


def _kron_csr_fill_numpy(a_arrays, b_arrays, b_shape, indptr, indices, data):
    """Vectorized fill for small products, in the kernel's layout, by blocks of
    rows holding about NUMPY_BLOCK_ENTRIES nonzeros (eight int64 temporaries
    per nonzero: over the whole result they would be 5× its size)."""
    for start, stop in csr_row_blocks(indptr, NUMPY_BLOCK_ENTRIES):
        _kron_csr_fill_rows(a_arrays, b_arrays, b_shape, indptr, indices, data, start, stop)


def csr_row_blocks(indptr, entries):
    """``(start, stop)`` ranges of consecutive CSR rows holding about `entries`
    nonzeros each (at least one row, however long)."""
    nrows = indptr.size - 1
    start = 0
    while start < nrows:
        stop = int(np.searchsorted(indptr, indptr[start] + entries, side="right")) - 1
        stop = min(nrows, max(stop, start + 1))
        yield start, stop
        start = stop


def _kron_csr_fill_rows(a_arrays, b_arrays, b_shape, indptr, indices, data, start, stop):
    a_indptr, a_indices, a_data = a_arrays
    b_indptr, b_indices, b_data = b_arrays
    lo, hi = int(indptr[start]), int(indptr[stop])
    # Each temporary is dropped as soon as it is used: the block's budget (Kron's sparse
    # workspace) counts eight int64 arrays of the block's length alive at once.
    out_row = np.repeat(np.arange(start, stop), np.diff(indptr[start:stop + 1]))
    offset_in_row = np.arange(lo, hi) - indptr[out_row]
    i, k = np.divmod(out_row, b_shape[0])
    del out_row
    # Within a row, entry t pairs A's entry t // count_B with B's t % count_B.
    a_offset, b_offset = np.divmod(offset_in_row, np.diff(b_indptr)[k])
    del offset_in_row
    pa = a_indptr[i]
    pa += a_offset
    del i, a_offset
    pb = b_indptr[k]
    pb += b_offset
    del k, b_offset
    column = a_indices[pa]
    column *= b_shape[1]
    np.add(column, b_indices[pb], out=indices[lo:hi], casting="unsafe")
    del column
    np.multiply(a_data[pa], b_data[pb], out=data[lo:hi])


# --------------------------------------------------------------------------
# sum_csr
# --------------------------------------------------------------------------


#: Merge buffers of :func:`sum_csr` beside its result, in units of the
#: result's upper bound (Σ nnz of the terms): the pairwise merge keeps two
#: levels of partial sums (each ≤ Σ nnz) and may copy a buffer to shrink it
#: (≤ ¾ Σ); the NumPy path keeps the running total, a scaled copy of a term
#: and the new total.
SUM_CSR_WORKSPACE_FACTOR = 3


def sum_csr(terms):
    """Sum ``Σ scale_t · M_t`` of same-shape sparse matrices as one canonical CSR.

    Parameters
    ----------
    terms : sequence of (scalar, sparse array/matrix)
        Every matrix must have the same 2-D shape.  Non-canonical inputs are
        canonicalized on a copy; inputs are never modified.

    Returns
    -------
    scipy.sparse.csr_array
        Sorted indices, no duplicates; entries summing to exactly zero are
        dropped, as scipy's ``+`` drops them.  Data dtype is the result type
        of the matrices and the scales (Python-scalar promotion: a float scale
        keeps float32 data float32; integers become float64).

    Raises
    ------
    ValueError
        If `terms` is empty, or shapes differ (the message names them).
    MemoryError
        If the sum's CSR arrays and the merge buffers could exceed
        ``kronvec.config.sparse_limit_bytes`` (checked on the upper bound, the
        total nonzeros of the terms, and SUM_CSR_WORKSPACE_FACTOR times it
        for the buffers).

    Notes
    -----
    Large sums are merged two at a time by one sorted pass into buffers sized
    for the upper bound (as scipy's ``+`` does), pairing terms in a balanced
    tree; buffers less than 3/4 used are shrunk by a copy.  A k-way kernel
    would need the k inputs concatenated first (numba takes no cheap
    variable-length list of arrays), which copies every input once.

    Examples
    --------
    >>> import numpy as np
    >>> S = sum_csr([(1.0, kron_csr(2, np.eye(2))), (-1.0, kron_csr(np.eye(2), 2))])
    >>> S.nnz                      # I⊗I − I⊗I cancels exactly
    0
    >>> S = sum_csr([(2.0, kron_csr(1, 2)), (0.5, kron_csr(np.ones((2, 2)), 1))])
    >>> S.toarray()
    array([[2.5, 0.5],
           [0.5, 2.5]])
    """
    terms = list(terms)
    if not terms:
        raise ValueError("sum_csr needs at least one (scale, matrix) term")
    scales = []
    matrices = []
    for position, term in enumerate(terms):
        try:
            scale, matrix = term
        except (TypeError, ValueError):
            raise TypeError(f"sum_csr: term {position} must be a (scale, sparse matrix) pair") from None
        if not sp.issparse(matrix):
            raise TypeError(f"sum_csr: term {position} holds {type(matrix).__name__}, not a scipy sparse matrix")
        scales.append(_as_python_scalar(scale, f"sum_csr: scale of term {position}"))
        matrices.append(matrix)
    shapes = [tuple(m.shape) for m in matrices]
    if any(len(s) != 2 for s in shapes) or len(set(shapes)) != 1:
        raise ValueError(f"sum_csr: all terms must have the same 2-D shape, got shapes {shapes}")
    shape = shapes[0]

    value_dtype = _value_dtype([m.dtype for m in matrices], scales)
    bound_nnz = sum(int(m.nnz) for m in matrices)
    index_dtype = _index_dtype(bound_nnz, *shape)
    bound_nbytes = _csr_nbytes(bound_nnz, shape[0], value_dtype, index_dtype)
    check_materialization(
        "sparse",
        bound_nbytes,
        f"sum_csr of {len(terms)} terms of shape {shape}",
        _SPARSE_ALTERNATIVE,
        workspace=SUM_CSR_WORKSPACE_FACTOR * bound_nbytes,
    )

    csrs = [_canonical_csr(m, drop_zeros=False) for m in matrices]
    if not _use_numba(bound_nnz):
        return _sum_csr_numpy(list(zip(scales, csrs)), shape, value_dtype, index_dtype)

    from . import _kernels

    # Each level merges pairs; an unpaired term waits, unscaled data stays shared.
    level = [
        (value_dtype.type(scale), _kernel_arrays(csr, value_dtype, index_dtype))
        for scale, csr in zip(scales, csrs)
    ]
    if len(level) == 1:
        level.append((value_dtype.type(0), _empty_arrays(shape[0], value_dtype, index_dtype)))
    one = value_dtype.type(1)
    while len(level) > 1:
        merged = [
            (one, _merge_pair(_kernels, *level[t], *level[t + 1], shape[0], value_dtype, index_dtype))
            for t in range(0, len(level) - 1, 2)
        ]
        if len(level) % 2:
            merged.append(level[-1])
        level = merged
    indptr, indices, data = level[0][1]
    return _wrap_csr(data, indices, indptr, shape)


def _kernel_arrays(csr, value_dtype, index_dtype):
    return (
        csr.indptr.astype(index_dtype, copy=False),
        csr.indices.astype(index_dtype, copy=False),
        csr.data.astype(value_dtype, copy=False),
    )


def _empty_arrays(nrows, value_dtype, index_dtype):
    return (np.zeros(nrows + 1, index_dtype), np.zeros(0, index_dtype), np.zeros(0, value_dtype))


def _merge_pair(kernels, a_scale, a, b_scale, b, nrows, value_dtype, index_dtype):
    bound = a[1].size + b[1].size
    indptr = np.empty(nrows + 1, dtype=index_dtype)
    indices = np.empty(bound, dtype=index_dtype)
    data = np.empty(bound, dtype=value_dtype)
    nnz = int(kernels.csr_merge(*a, a_scale, *b, b_scale, indptr, indices, data))
    if nnz < 0.75 * bound:
        # Overlaps or cancellations left much of the buffers unused: shrink
        # rather than hold up to twice the memory for the result's lifetime.
        return indptr, indices[:nnz].copy(), data[:nnz].copy()
    return indptr, indices[:nnz], data[:nnz]


def _sum_csr_numpy(terms, shape, value_dtype, index_dtype):
    """Small sums through scipy's own ``+`` (canonical in, canonical out)."""
    total = None
    for scale, csr in terms:
        scaled = sp.csr_array(
            (csr.data.astype(value_dtype) * value_dtype.type(scale), csr.indices, csr.indptr),
            shape=shape,
        )
        scaled.has_canonical_format = True
        total = scaled if total is None else total + scaled
    # A single term (or scale 0) may hold explicit zeros that '+' would drop.
    total.eliminate_zeros()
    indptr = total.indptr.astype(index_dtype, copy=False)
    indices = total.indices.astype(index_dtype, copy=False)
    data = total.data.astype(value_dtype, copy=False)
    return _wrap_csr(data, indices, indptr, shape)


# --------------------------------------------------------------------------
# kron_dense
# --------------------------------------------------------------------------


def kron_dense(A, B, scale=1.0, out=None):
    """``scale * np.kron(A, B)`` written in one pass, or added into `out`.

    Parameters
    ----------
    A, B : int or 2-D array_like
        An ``int`` n means the n×n identity (never materialized: I⊗B is
        written as a block diagonal, A⊗I as scaled identity blocks).
    scale : real or complex scalar, optional
    out : ndarray, optional
        If given, the product is *accumulated*: ``out += scale*kron(A, B)``,
        and `out` is returned.  Any memory layout is accepted;
        C- and Fortran-contiguous arrays are updated in place without a
        temporary.

    Returns
    -------
    ndarray
        Shape ``(pA*pB, qA*qB)``.  A new array (dtype: result type of the
        factors and `scale`, integers become float64) when `out` is None.

    Raises
    ------
    ValueError
        If a factor is not 2-D, or `out` has the wrong shape (both shapes are
        named).
    MemoryError
        If a new result would exceed ``kronvec.config.dense_limit_bytes``;
        raised before allocating.

    Notes
    -----
    ``-np.kron(X, Y)`` builds an outer-product temporary, a reshaped copy and
    the negated copy; this writes the result once.

    Examples
    --------
    >>> import numpy as np
    >>> X = np.array([[1.0, 2.0], [3.0, 4.0]])
    >>> bool(np.array_equal(kron_dense(X.T, X, scale=-1.0), -np.kron(X.T, X)))
    True
    >>> J = np.zeros((4, 4))
    >>> _ = kron_dense(2, X, out=J)          # J += I_2 ⊗ X
    >>> _ = kron_dense(X, 2, out=J)          # J += X ⊗ I_2
    >>> bool(np.array_equal(J, np.kron(np.eye(2), X) + np.kron(X, np.eye(2))))
    True
    """
    scale = _as_python_scalar(scale, "kron_dense: scale")
    n_a = _identity_size(A, "kron_dense: A")
    n_b = _identity_size(B, "kron_dense: B")
    a = _dense_factor(A, n_a, "kron_dense: A")
    b = _dense_factor(B, n_b, "kron_dense: B")
    a_shape = (n_a, n_a) if a is None else a.shape
    b_shape = (n_b, n_b) if b is None else b.shape
    shape = (a_shape[0] * b_shape[0], a_shape[1] * b_shape[1])

    if out is None:
        value_dtype = _value_dtype([f.dtype for f in (a, b) if f is not None], (scale,))
        check_materialization(
            "dense",
            shape[0] * shape[1] * value_dtype.itemsize,
            f"kron_dense of shapes {a_shape} and {b_shape}",
            _DENSE_ALTERNATIVE,
        )
        if a is None and b is None:
            result = np.zeros(shape, dtype=value_dtype)  # calloc: zero pages come free
            np.einsum("ii->i", result)[...] = scale
            return result
        result = np.empty(shape, dtype=value_dtype)
        _kron_dense_into(a, n_a, b, n_b, scale, result, accumulate=False)
        return result

    if not isinstance(out, np.ndarray):
        raise TypeError(f"kron_dense: out must be a numpy.ndarray, got {type(out).__name__}")
    if out.shape != shape:
        raise ValueError(
            f"kron_dense: out has shape {out.shape}, but kron of shapes {a_shape} and "
            f"{b_shape} has shape {shape}"
        )
    if not out.flags.writeable:
        raise ValueError("kron_dense: out is read-only")
    if out.dtype not in _KERNEL_DTYPES:
        raise TypeError(f"kron_dense: out must be float32/64 or complex64/128, got {out.dtype}")
    needed = _value_dtype([f.dtype for f in (a, b) if f is not None], (scale,))
    if not np.can_cast(needed, out.dtype, casting="same_kind"):
        raise TypeError(f"kron_dense: a {needed} product cannot accumulate into {out.dtype} out")
    if a is None and b is None:
        np.einsum("ii->i", out)[...] += scale
        return out
    if out.flags.c_contiguous:
        _kron_dense_into(a, n_a, b, n_b, scale, out, accumulate=True)
    elif out.flags.f_contiguous:
        # outᵀ is C-contiguous and outᵀ += scale*kron(Aᵀ, Bᵀ).
        _kron_dense_into(
            None if a is None else a.T, n_a, None if b is None else b.T, n_b, scale, out.T, accumulate=True
        )
    else:
        out += kron_dense(A, B, scale)
    return out


def _dense_factor(factor, n, what):
    if n is not None:
        return None
    if sp.issparse(factor):
        raise TypeError(f"{what}: kron_dense takes int or dense arrays; use kron_csr for sparse factors")
    array = np.asarray(factor)
    if array.ndim != 2:
        raise ValueError(f"{what} must be 2-D (or an int for an identity), got shape {array.shape}")
    return array


def _kron_dense_into(a, n_a, b, n_b, scale, out, accumulate):
    """Write (or add) ``scale*kron`` into the C-contiguous `out`; one factor may be I."""
    dtype = out.dtype
    scale_value = dtype.type(scale)
    a = None if a is None else np.ascontiguousarray(a, dtype=dtype)
    b = None if b is None else np.ascontiguousarray(b, dtype=dtype)
    if out.size == 0:
        return
    if _use_numba(out.size):
        from . import _kernels

        if a is None:
            _kernels.call(
                _kernels.kron_identity_dense_fill, out.nbytes, np.int64(n_a), b, scale_value, out, accumulate
            )
        elif b is None:
            _kernels.call(
                _kernels.kron_dense_identity_fill, out.nbytes, a, np.int64(n_b), scale_value, out, accumulate
            )
        else:
            _kernels.call(_kernels.kron_dense_fill, out.nbytes, a, b, scale_value, out, accumulate)
        return

    # Small results: write through 4-D views of `out` (einsum with a repeated
    # subscript returns a writable view of the diagonal blocks).
    if a is None:
        # I⊗B: out[i*p + k, i*q + l] = scale*B[k, l]
        p, q = b.shape
        target = np.einsum("ikil->ikl", out.reshape(n_a, p, n_a, q))
        values = scale_value * b
    elif b is None:
        # A⊗I: out[i*n + k, j*n + k] = scale*A[i, j]
        p, q = a.shape
        target = np.einsum("ikjk->ijk", out.reshape(p, n_b, q, n_b))
        values = (scale_value * a)[:, :, None]
    else:
        # Dense ⊗ dense: broadcast straight into out; accumulating needs the
        # product as a temporary, so it goes by blocks of A's columns.
        target = out.reshape(a.shape[0], b.shape[0], a.shape[1], b.shape[1])
        scaled_a = (scale_value * a)[:, None, :, None]
        if not accumulate:
            np.multiply(scaled_a, b[None, :, None, :], out=target)
            return
        row_entries = max(1, b.size * a.shape[1])  # entries of out per row of A
        rows = max(1, NUMPY_BLOCK_ENTRIES // row_entries)
        columns = a.shape[1] if rows > 1 else max(1, NUMPY_BLOCK_ENTRIES // max(1, b.size))
        for i in range(0, a.shape[0], rows):
            for j in range(0, a.shape[1], columns):
                block = scaled_a[i:i + rows, :, j:j + columns, :] * b[None, :, None, :]
                target[i:i + rows, :, j:j + columns, :] += block
                del block  # before the next block is allocated
        return
    if accumulate:
        target += values
    else:
        if target.size != out.size:
            out[...] = 0
        target[...] = values


# --------------------------------------------------------------------------
# selection maps
# --------------------------------------------------------------------------


def _selection_index(index, ncols, what):
    ncols = operator.index(ncols)
    if ncols < 0:
        raise ValueError(f"{what}: ncols must be >= 0, got {ncols}")
    index = np.asarray(index)
    if index.ndim != 1:
        raise ValueError(f"{what}: index must be 1-D, got shape {index.shape}")
    if index.size and index.dtype.kind not in "iu":
        raise TypeError(f"{what}: index must hold integers, got {index.dtype}")
    if index.size and (index.min() < 0 or index.max() >= ncols):
        raise ValueError(
            f"{what}: index values must lie in [0, {ncols}), got range "
            f"[{index.min()}, {index.max()}]"
        )
    return index, ncols


def selection_csr(index, ncols):
    """CSR of S with ``S[r, index[r]] = 1``: one nonzero per row.

    Commutation, duplication and elimination matrices are such maps
    (:func:`kronvec._vec.commutation_index` and friends), so
    ``S @ v == v[index]``.

    Parameters
    ----------
    index : 1-D array of int
        Values in ``[0, ncols)``.
    ncols : int

    Returns
    -------
    scipy.sparse.csr_array
        Shape ``(len(index), ncols)``, float64 ones, canonical.

    Examples
    --------
    >>> import numpy as np
    >>> S = selection_csr(np.array([2, 0, 1]), 3)
    >>> S @ np.array([10.0, 20.0, 30.0])
    array([30., 10., 20.])
    """
    index, ncols = _selection_index(index, ncols, "selection_csr")
    nrows = index.size
    index_dtype = _index_dtype(nrows, nrows, ncols)
    check_materialization(
        "sparse",
        _csr_nbytes(nrows, nrows, np.dtype(np.float64), index_dtype),
        f"selection_csr of shape {(nrows, ncols)}",
        _SPARSE_ALTERNATIVE,
    )
    indptr = np.arange(nrows + 1, dtype=index_dtype)
    indices = index.astype(index_dtype, copy=True)  # copy: never share the caller's array
    return _wrap_csr(np.ones(nrows), indices, indptr, (nrows, ncols))


def selection_transpose_csr(index, ncols):
    """CSR of Sᵀ, where ``S[r, index[r]] = 1`` (see :func:`selection_csr`).

    Row ``c`` of Sᵀ lists, in increasing order, every ``r`` with
    ``index[r] == c``; so ``Sᵀ @ w`` scatter-adds ``w`` into ``ncols`` slots.

    Parameters
    ----------
    index : 1-D array of int
        Values in ``[0, ncols)``.
    ncols : int

    Returns
    -------
    scipy.sparse.csr_array
        Shape ``(ncols, len(index))``, float64 ones, canonical.

    Examples
    --------
    >>> import numpy as np
    >>> St = selection_transpose_csr(np.array([1, 0, 1]), 2)
    >>> St.toarray()
    array([[0., 1., 0.],
           [1., 0., 1.]])
    """
    index, ncols = _selection_index(index, ncols, "selection_transpose_csr")
    nnz = index.size
    index_dtype = _index_dtype(nnz, ncols, nnz)
    check_materialization(
        "sparse",
        _csr_nbytes(nnz, ncols, np.dtype(np.float64), index_dtype),
        f"selection_transpose_csr of shape {(ncols, nnz)}",
        _SPARSE_ALTERNATIVE,
    )
    indptr = np.empty(ncols + 1, dtype=index_dtype)
    indptr[0] = 0
    np.cumsum(np.bincount(index, minlength=ncols) if nnz else np.zeros(ncols, np.int64), out=indptr[1:])
    if _use_numba(nnz):
        from . import _kernels

        indices = np.empty(nnz, dtype=index_dtype)
        _kernels.selection_transpose_fill(index.astype(np.int64, copy=False), indptr, indices)
    else:
        # A stable sort by column keeps the rows of each column increasing.
        indices = np.argsort(index, kind="stable").astype(index_dtype, copy=False)
    return _wrap_csr(np.ones(nnz), indices, indptr, (ncols, nnz))


# --------------------------------------------------------------------------
# dense → CSR
# --------------------------------------------------------------------------

#: Entries of a dense matrix converted per block by :func:`dense_to_csr`.
_DENSE_BLOCK_ENTRIES = 1 << 14


def dense_to_csr_workspace(shape):
    """Bytes :func:`dense_to_csr` needs beside its input and its CSR: the row
    counts, and per block of rows its nonzeros' row and column numbers (int64),
    their values, and NumPy's boolean mask of the block."""
    block = max(_DENSE_BLOCK_ENTRIES, int(shape[1]))
    return 8 * int(shape[0]) + (3 * 8 + 1) * block


def dense_to_csr(array):
    """The nonzeros of a dense 2-D array as a canonical CSR array, allocated once.

    ``scipy.sparse.csr_array(array)`` goes through COO (row, column and value
    arrays, then a conversion): about twice the CSR's size on top of it.
    Here the nonzeros are counted per row first, the CSR arrays allocated at
    their exact size (after the memory check), and filled block of rows by
    block of rows, so the temporaries stay below ~2¹⁶ entries.

    Parameters
    ----------
    array : array_like, 2-D
        float32 or float64 (integers and booleans become float64).  Not modified.

    Returns
    -------
    scipy.sparse.csr_array
        Sorted indices, no duplicates, no explicit zeros (NaN is kept).

    Raises
    ------
    MemoryError
        If the CSR arrays would exceed ``kronvec.config.sparse_limit_bytes``;
        raised before they are allocated.

    Examples
    --------
    >>> dense_to_csr(np.array([[0.0, 2.0], [3.0, 0.0]])).toarray()
    array([[0., 2.],
           [3., 0.]])
    """
    array = np.asarray(array)
    if array.ndim != 2:
        raise ValueError(f"dense_to_csr needs a 2-D array, got shape {array.shape}")
    value_dtype = _value_dtype([array.dtype])
    nrows, ncols = array.shape
    step = max(1, _DENSE_BLOCK_ENTRIES // max(1, ncols))
    counts = np.empty(nrows, dtype=np.int64)
    for start in range(0, nrows, step):
        counts[start:start + step] = np.count_nonzero(array[start:start + step], axis=1)
    nnz = int(counts.sum())
    index_dtype = _index_dtype(nnz, nrows, ncols)
    check_materialization(
        "sparse",
        _csr_nbytes(nnz, nrows, value_dtype, index_dtype),
        f"dense_to_csr of shape {array.shape}",
        _SPARSE_ALTERNATIVE,
    )
    indptr = np.zeros(nrows + 1, dtype=index_dtype)
    np.cumsum(counts, out=indptr[1:])
    del counts
    indices = np.empty(nnz, dtype=index_dtype)
    data = np.empty(nnz, dtype=value_dtype)
    for start in range(0, nrows, step):
        block = array[start:start + step]
        rows, columns = np.nonzero(block)  # row-major: columns sorted within each row
        lo = indptr[start]
        indices[lo:lo + columns.size] = columns
        data[lo:lo + columns.size] = block[rows, columns]
    return _wrap_csr(data, indices, indptr, (nrows, ncols))
