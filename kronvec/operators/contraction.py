"""Contractions: the Jacobian of an ``einsum`` with respect to one operand.

``F = einsum(A₁, …, X, …)`` is linear in X, so its Jacobian applied to a
direction V is the same contraction with V in X's place:
``J vec V = vec einsum(A₁, …, V, …)``.  :class:`Contraction` stores the fixed
operands and the index labels and applies exactly that — one ``einsum`` per
application, O(size of the operands) memory, never an n²×n² matrix.

The labels are read as in NumPy's ``einsum``, generalized so that the set of
operators is closed under transposition:

* an input label repeated (``ii``) reads the diagonal of V, and an input label
  found nowhere else is summed over;
* an output label repeated (``ii``) *places* the result on that diagonal of
  zeros, and an output label found in no input makes the result constant along
  that axis (it broadcasts).

The transpose swaps the roles of the input and output labels: reading a
diagonal is the adjoint of placing on it, summing over an axis is the
adjoint of broadcasting along it.  So ``Contraction.T`` is a Contraction, and
its ``matvec`` is the VJP of the einsum (``notes/derivatives.md`` §21).

Entrywise, with L an assignment of values to the distinct labels of the
output and the input, ``J[row(L), col(L)] = Πₖ Aₖ[L]`` (summed over the labels
of the fixed operands only), where ``row`` and ``col`` are the column-major
positions of the output and input entries that L names.  Distinct L give
distinct (row, col), which is how ``toarray``/``tosparse`` write the matrix
directly, with exactly as many entries as it has structural nonzeros.
"""

from __future__ import annotations

import math

import numpy as np

from .._vec import unvec, vec
from ._base import StructuredOperator, result_float_dtype
from ._formula import Label
from .basic import freeze, owned_readonly

__all__ = ["Contraction", "contract", "einsum_optimize", "plain_einsum"]

try:  # what np.einsum(..., optimize=False) calls: without its Python wrapper's few µs
    from numpy._core.multiarray import c_einsum as _c_einsum
except ImportError:  # pragma: no cover - another NumPy: the public spelling
    _c_einsum = np.einsum


def plain_einsum(subscripts, *operands, optimize=False, out=None):
    """``np.einsum(subscripts, *operands, optimize=optimize, out=out)``, the same numbers."""
    if optimize is False:
        return _c_einsum(subscripts, *operands) if out is None else _c_einsum(subscripts, *operands, out=out)
    return np.einsum(subscripts, *operands, optimize=optimize, out=out)


#: A stack of matrix products meant for column-major memory is computed row-major and
#: copied over by ``_kernels.reverse_axes_fill`` (see :func:`matmul_into`) when each
#: product is at least this large: matmul writes the stack product by product, and
#: while one fits in the L2 cache (2 MiB here) its strided copy costs no more than the
#: kernel's (b = 8: 1.24× the einsum against the kernel's 1.32× at n = 360, even at
#: 440; 1.36× against 1.28× at 500, 1.29× against 1.26× at 1000).
REVERSED_COPY_MIN_MEMBER_BYTES = 3 << 19
#: … and when the stack is short: the column-major memory's rows (one entry of each
#: product) are then this long at most, which the kernel writes whole.
REVERSED_COPY_MAX_ROW_BYTES = 128

#: Below this many scalar multiply-adds of the naive loop, ``np.einsum``'s own
#: loop (a few µs) is cheaper than planning a contraction path (tens of µs).
NAIVE_LOOP_LIMIT = 1 << 15

_LETTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"  # what np.einsum accepts as labels

# Bytes per grid point of one block of a materialization: the rows, columns and
# values (and their flattened copies), the scaled values, the gathered entries
# of the result and their sum, and the fixed operands' product, as 8-byte entries.
_BYTES_PER_ENTRY = 10 * 8


def _distinct(labels):
    """The labels in order of first appearance, each once."""
    return "".join(dict.fromkeys(labels))


def einsum_optimize(labels, out_labels, sizes):
    """The ``optimize=`` argument for contracting operands labelled `labels` into
    `out_labels`: NumPy's own loop for small contractions, and for two operands
    unless they multiply as (stacks of) matrices — a label summed in both and a
    kept label in each, which NumPy's planner hands to BLAS; a greedy pairwise
    path for three operands or more.  (NumPy's planner slows down an
    elementwise-and-sum such as ``ij,ij->i`` about fourfold.)"""
    loop = math.prod(sizes[label] for label in set("".join(labels)) | set(out_labels))
    if loop <= NAIVE_LOOP_LIMIT or len(labels) < 2:
        return False
    if len(labels) > 2:
        return "greedy"
    first, second = set(labels[0]), set(labels[1])
    summed = (first & second) - set(out_labels)
    return bool(summed and (first - second) and (second - first))


def _strided_diagonal(array, labels, distinct):
    """A writeable view of `array` (axes labelled by `labels`) indexed by the
    distinct labels: repeated labels walk a diagonal (their strides add)."""
    strides = [0] * len(distinct)
    for axis, label in enumerate(labels):
        strides[distinct.index(label)] += array.strides[axis]
    shape = [array.shape[labels.index(label)] for label in distinct]
    return np.lib.stride_tricks.as_strided(array, shape=shape, strides=strides, writeable=True)


def contract(operands, labels, out_labels, sizes, dtype=None, out=None):
    """``einsum`` of plain `operands` into `out_labels`, with placement.

    Parameters
    ----------
    operands : sequence of ndarray
    labels : sequence of str
        One label per axis of each operand; sizes must agree exactly (no
        broadcasting here).
    out_labels : str
        The result's axes.  A label may repeat (the result is written on that
        diagonal of zeros) or be absent from every operand (the result is
        constant along it; its size comes from `sizes`).
    sizes : mapping label → size
    dtype : dtype, optional
        The result's dtype (default: NumPy's result type of the operands).
    out : ndarray, optional
        Where to write the result (any memory layout): einsum writes into it
        directly, which spares allocating (and page-faulting) a new array.

    Returns
    -------
    ndarray of shape ``[sizes[l] for l in out_labels]``: `out`, or a new array.
    """
    present = set("".join(labels))
    distinct = _distinct(out_labels)
    computed = "".join(label for label in distinct if label in present)
    spec = ",".join(labels) + "->" + computed
    optimize = einsum_optimize(labels, computed, sizes)
    if computed == out_labels:
        if out is not None:
            return plain_einsum(spec, *operands, optimize=optimize, out=out)
        value = plain_einsum(spec, *operands, optimize=optimize)
        if dtype is not None:
            value = value.astype(dtype, copy=False)
        # (one operand: einsum may return a view of it, and a result never aliases an input)
        return value.copy() if any(np.may_share_memory(value, a) for a in operands) else value
    # place: broadcast along the labels of no operand, then onto the diagonal
    value = plain_einsum(spec, *operands, optimize=optimize)
    expanded = value.reshape([sizes[label] if label in present else 1 for label in distinct])
    if out is None:
        out = np.zeros([sizes[label] for label in out_labels], dtype=dtype or value.dtype)
    else:
        out[...] = 0.0
    _strided_diagonal(out, out_labels, distinct)[...] = expanded
    return out


def _matmul_groups(left, right, out_labels):
    """How ``einsum(left, right -> out_labels)`` is one broadcast ``np.matmul``
    writing straight into a C-ordered result: ``(prefix, rows, summed, columns)``
    with ``out_labels == prefix + rows + columns``, `rows` labels of `left` only,
    `columns` of `right` only, `summed` the labels of both that are summed
    (none of the groups empty); None when the labels do not allow it (a label
    repeated, or summed in one operand only)."""
    if len(set(left)) != len(left) or len(set(right)) != len(right) or len(set(out_labels)) != len(out_labels):
        return None
    if (set(left) ^ set(right)) - set(out_labels) or not set(out_labels) <= set(left) | set(right):
        return None
    summed = "".join(label for label in left if label in right and label not in out_labels)
    end = len(out_labels)
    while end and out_labels[end - 1] in right and out_labels[end - 1] not in left:
        end -= 1
    middle = end
    while middle and out_labels[middle - 1] in left and out_labels[middle - 1] not in right:
        middle -= 1
    if not summed or end == len(out_labels) or middle == end:
        return None
    return out_labels[:middle], out_labels[middle:end], summed, out_labels[end:]


def _as_matmul_operand(array, labels, prefix, first, second, sizes):
    """`array` (axes `labels`) as a stack of matrices: the `prefix` axes (size 1 where
    it has no such label, for matmul to broadcast), then `first` and `second`
    each flattened into one axis — a view when the memory allows, else a copy."""
    order = [labels.index(label) for label in prefix + first + second if label in labels]
    shape = [sizes[label] if label in labels else 1 for label in prefix]
    shape += [math.prod(sizes[label] for label in first), math.prod(sizes[label] for label in second)]
    return array.transpose(order).reshape(shape)


def matmul_into(operands, labels, out_labels, sizes, out):
    """``einsum`` of two plain operands written into `out` (C-ordered) by one
    broadcast ``np.matmul`` — BLAS, as NumPy's optimized einsum, but writing the
    result where it belongs instead of computing it in its own axis order and
    copying it over.  Returns False (and writes nothing) when the labels or
    `out`'s layout do not allow it."""
    if len(operands) != 2:
        return False
    for (left, left_labels), (right, right_labels) in (tuple(zip(operands, labels)),
                                                        tuple(zip(operands, labels))[::-1]):
        groups = _matmul_groups(left_labels, right_labels, out_labels)
        if groups is None:
            continue
        prefix, rows, summed, columns = groups
        shape = ([sizes[label] for label in prefix]
                 + [math.prod(sizes[label] for label in rows), math.prod(sizes[label] for label in columns)])
        if list(out.shape) == shape:
            result = out  # any layout: matmul writes through its strides
        elif out.flags.c_contiguous:
            result = out.reshape(shape)  # a view
        else:  # grouping the axes of this layout would copy: the result would be lost
            return False
        left = _as_matmul_operand(left, left_labels, prefix, rows, summed, sizes)
        right = _as_matmul_operand(right, right_labels, prefix, summed, columns, sizes)
        if (result.ndim == 3 and result.flags.f_contiguous and not result.flags.c_contiguous
                and result.shape[1] * result.shape[2] * result.itemsize >= REVERSED_COPY_MIN_MEMBER_BYTES
                and result.shape[0] * result.itemsize <= REVERSED_COPY_MAX_ROW_BYTES
                and np.result_type(left, right) == result.dtype):
            # A stack written into column-major memory (the unvec of a Jacobian's
            # product): matmul copies each product through strides of the stack's
            # length, a new page per entry once a product outgrows the cache.  Computed
            # row-major, then copied over with its axes reversed (issue 12: the matvec
            # of bij,bjk->bik (b = 8) from 1.36× to 1.28× the einsum at n = 500).
            from .. import _kernels  # (numba is imported where a kernel runs, never by import kronvec)

            _kernels.reverse_axes_fill(np.matmul(left, right), result.T)
            return True
        np.matmul(left, right, out=result)
        return True
    return False


def matmul_groups_of(labels, out_labels):
    """True when two operands labelled `labels` multiply into `out_labels` as one
    broadcast ``np.matmul`` (see :func:`matmul_into`), in either order."""
    return len(labels) == 2 and (_matmul_groups(labels[0], labels[1], out_labels) is not None
                                 or _matmul_groups(labels[1], labels[0], out_labels) is not None)


def broadcast_product_into(operands, labels, out_labels, out):
    """``einsum`` of two plain operands that sums no label and repeats none — an
    entrywise product broadcast over the labels one operand lacks — written into
    `out` by ``np.multiply`` (NumPy's einsum runs such a product through its
    generic loop, up to 1.5× slower).  Returns False when the labels are not
    such a product."""
    if len(operands) != 2 or len(set(out_labels)) != len(out_labels):
        return False
    for operand_labels in labels:
        if len(set(operand_labels)) != len(operand_labels) or not set(operand_labels) <= set(out_labels):
            return False
    aligned = []
    for operand, operand_labels in zip(operands, labels):
        order = [operand_labels.index(label) for label in out_labels if label in operand_labels]
        shape = [operand.shape[operand_labels.index(label)] if label in operand_labels else 1 for label in out_labels]
        aligned.append(operand.transpose(order).reshape(shape))
    np.multiply(aligned[0], aligned[1], out=out)
    return True


def _row_major_readonly(array, dtype):
    """`array` as a read-only, row-major array of `dtype` nobody else can write (kept
    when it already is one, else copied once — from the caller's array, which for a
    row-major operand is a plain copy rather than a transposing one)."""
    array = np.asarray(array)
    if array.flags.c_contiguous:
        return owned_readonly(array, dtype)
    return freeze(np.array(array, dtype=dtype, order="C", copy=True))


def _column_major_readonly(array, dtype):
    """`array` as a read-only, column-major array of `dtype` nobody else can write
    (kept as it is when it already is one, else copied once)."""
    array = np.asarray(array)
    if array.flags.f_contiguous:
        return owned_readonly(array, dtype)
    copy = np.asfortranarray(array, dtype=dtype)
    if copy is array or np.may_share_memory(copy, array):
        copy = copy.copy(order="F")
    copy.flags.writeable = False
    return copy


class Contraction(StructuredOperator):
    """``V ↦ vec einsum(A₁, …, Aₖ, unvec V)``: the Jacobian of an einsum in one operand.

    Parameters
    ----------
    fixed : sequence of array_like
        The other operands (the einsum's constants at the point), each
        copied unless frozen, stored read-only.
    fixed_labels : sequence of str
        One label per axis of each fixed operand.
    in_labels : str
        Labels of the argument's axes (repeats read a diagonal; a label in
        no fixed operand and not in `out_labels` is summed over).
    out_labels : str
        Labels of the result's axes (repeats place on a diagonal; a label in
        no input broadcasts).
    sizes : mapping label → size
        Every label's size (the fixed operands' shapes must agree with it).
    names : sequence of str or None, optional
        The fixed operands' names, for the formula.
    dtype : dtype, optional

    Examples
    --------
    >>> import numpy as np
    >>> A = np.array([[1., 2.], [3., 4.]])
    >>> J = Contraction([A], ["ij"], "jk", "ik", {"i": 2, "j": 2, "k": 3})   # X ↦ A X
    >>> np.allclose(J.toarray(), np.kron(np.eye(3), A))
    True
    >>> J.formula()
    'einsum(ij,·jk→ik; M₁)'
    """

    def __init__(self, fixed, fixed_labels, in_labels, out_labels, sizes, names=None, dtype=None, *,
                 _row_major=None):
        fixed_labels = tuple(str(labels) for labels in fixed_labels)
        if len(fixed_labels) != len(fixed):
            raise ValueError(f"Contraction: {len(fixed)} fixed operands but {len(fixed_labels)} label strings")
        used = set("".join(fixed_labels) + in_labels + out_labels)
        missing = sorted(label for label in used if label not in sizes)
        if missing:
            raise ValueError(f"Contraction: no size given for the labels {missing}")
        self.sizes = {label: int(sizes[label]) for label in sorted(used)}
        if dtype is None:
            dtype = result_float_dtype(*(np.asarray(a).dtype for a in fixed)) if fixed else np.float64
        dtype = result_float_dtype(dtype)
        stored = []
        for array, labels in zip(fixed, fixed_labels):
            array = np.asarray(array)
            expected = tuple(self.sizes[label] for label in labels)
            if array.shape != expected:
                raise ValueError(
                    f"Contraction: a fixed operand of shape {array.shape} does not match its labels "
                    f"{labels!r} (sizes {expected})")
            stored.append(_column_major_readonly(array, dtype))
        self.fixed = tuple(stored)
        self.fixed_labels = fixed_labels
        # Applied with every axis order reversed: the column-major arrays (the fixed
        # operands, unvec of the input, the vec of the output) are then all
        # row-major, and the einsum runs as fast as the one computing the value.
        self._reversed = tuple(array.T for array in self.fixed)
        self._reversed_labels = tuple(labels[::-1] for labels in fixed_labels)
        self.in_labels, self.out_labels = str(in_labels), str(out_labels)
        # A stack of matrix products (bij,bjk->bik) reversed puts the stack label last,
        # where matmul cannot loop over it: such a contraction is applied unreversed, to
        # a row-major copy of the fixed operand (each of its matrices contiguous, for BLAS).
        # (`_row_major`: the transpose's, handed over by _transpose — the same operand)
        self._row_major = None
        if (len(self.fixed) == 1
                and not matmul_groups_of((*self._reversed_labels, self.in_labels[::-1]), self.out_labels[::-1])
                and matmul_groups_of((*self.fixed_labels, self.in_labels), self.out_labels)):
            self._row_major = _row_major if _row_major is not None else (_row_major_readonly(fixed[0], dtype),)
        self.in_shape = tuple(self.sizes[label] for label in self.in_labels)
        self.out_shape = tuple(self.sizes[label] for label in self.out_labels)
        # the label of the right-hand sides' column axis in matmat: a letter of no operand
        self._column_label = next((letter for letter in _LETTERS if letter not in used), None)
        self.names = tuple(names) if names is not None else (None,) * len(self.fixed)
        self._labels = tuple(Label(name, "matrix", array) for name, array in zip(self.names, self.fixed))
        super().__init__((math.prod(self.out_shape), math.prod(self.in_shape)), dtype)

    # ---------------------------------------------------------------- apply
    def _matmat(self, X):
        columns, column = X.shape[1], self._column_label
        # the result, column-major: the einsum writes each column's unvec in place
        result = np.empty((self.shape[0], columns), dtype=X.dtype, order="F")
        if columns == 1:  # one vector: no column label (einsum's loops are simpler without it)
            self._apply_reversed(unvec(X[:, 0], self.in_shape), unvec(result[:, 0], self.out_shape), "")
        elif column is None:  # all 52 letters taken: one vector at a time
            for t in range(columns):
                self._apply_reversed(unvec(X[:, t], self.in_shape), unvec(result[:, t], self.out_shape), "")
        else:
            self._apply_reversed(unvec(vec(X), self.in_shape + (columns,)),
                                 unvec(vec(result), self.out_shape + (columns,)), column)
        return result

    def _apply_reversed(self, V, Y, column):
        """Y = einsum(fixed…, V) for V with axes (in_labels + column) and Y with axes
        (out_labels + column), every axis order reversed inside (see __init__)."""
        sizes = self.sizes
        if column:
            sizes = dict(sizes)
            sizes[column] = V.shape[-1]
        operands, labels = (*self._reversed, V.T), (*self._reversed_labels, (self.in_labels + column)[::-1])
        out_labels = (self.out_labels + column)[::-1]
        # Where NumPy's optimized einsum would multiply by BLAS (einsum_optimize True),
        # one matmul writing into Y's memory: the same products without einsum's
        # copy of its result from the axis order it computes in (issue 12: the matvec
        # within 1.5× of the einsum computing the value).
        if einsum_optimize(labels, out_labels, sizes) is True:
            if matmul_into(operands, labels, out_labels, sizes, Y.T):
                return
            if self._row_major is not None and matmul_into(
                    (*self._row_major, V), (*self.fixed_labels, self.in_labels + column),
                    self.out_labels + column, sizes, Y):
                return
        if broadcast_product_into(operands, labels, out_labels, Y.T):
            return
        contract(operands, labels, out_labels, sizes, out=Y.T)

    @property
    def apply_cost(self):
        """Multiply-adds of the naive loop per vector (an upper bound: large
        contractions of three or more operands take a cheaper pairwise path)."""
        labels = set("".join(self.fixed_labels) + self.in_labels + self.out_labels)
        return math.prod(self.sizes[label] for label in labels)

    def _column_workspace(self):
        # the input's unvec copy, the result and its placement and vec copies,
        # and one intermediate of a pairwise path of at most the result's size
        return 2 * self.shape[1] + 3 * self.shape[0]

    def _transpose(self):
        transposed = Contraction(self.fixed, self.fixed_labels, self.out_labels, self.in_labels,
                                 self.sizes, names=self.names, dtype=self.dtype, _row_major=self._row_major)
        transposed._remember_as_transpose_of(self)
        return transposed

    # ----------------------------------------------------------- materialize
    def _grid(self):
        """The distinct labels of output and input: each assignment of them is one
        structural nonzero."""
        return _distinct(self.out_labels + self.in_labels)

    def _block_product(self, grid, block):
        """The fixed operands' product over the grid labels they carry, for the
        values `block` of the grid's first label, broadcast to the block's grid."""
        sizes = dict(self.sizes)
        if grid:
            sizes[grid[0]] = len(range(*block.indices(self.sizes[grid[0]])))
        shape = [sizes[label] for label in grid]
        if not self.fixed:
            return np.broadcast_to(np.ones((), dtype=self.dtype), shape)
        fixed = self.fixed
        if grid:  # the operands carrying the first label, cut to the block
            fixed = [a[tuple(block if label == grid[0] else slice(None) for label in labels)]
                     for a, labels in zip(self.fixed, self.fixed_labels)]
        carried = "".join(label for label in grid if label in "".join(self.fixed_labels))
        product = contract(fixed, self.fixed_labels, carried, sizes, self.dtype)
        return np.broadcast_to(product.reshape([sizes[c] if c in carried else 1 for c in grid]), shape)

    def _positions(self, grid, labels, shape, block):
        """Column-major positions of the entries the grid points of `block` name."""
        strides = np.cumprod((1,) + shape[:-1]) if shape else ()
        position = np.zeros((1,) * len(grid), dtype=np.int64)
        for axis, label in enumerate(labels):
            k = grid.index(label)
            values = np.arange(self.sizes[label], dtype=np.int64)[block if k == 0 else slice(None)]
            position = position + (values * int(strides[axis])).reshape(
                [-1 if j == k else 1 for j in range(len(grid))])
        return position

    def _block_entries(self):
        """Grid points per block: the workspace of a materialization stays below
        max(1 MiB, result / 4) (kronvec.operators._materialize), one value of
        the first label at least."""
        from ._materialize import WORKSPACE_FLOOR, WORKSPACE_FRACTION

        budget = max(WORKSPACE_FLOOR, self.dense_nbytes // WORKSPACE_FRACTION)
        return min(self.nnz_bound, max(self._largest_row(), budget // _BYTES_PER_ENTRY))

    def _blocks(self, grid):
        """Slices of the grid's first label of about `_block_entries` grid points each."""
        if not grid:
            return [slice(None)]
        step = max(1, self._block_entries() // max(1, self._largest_row()))
        return [slice(start, start + step) for start in range(0, self.sizes[grid[0]], step)] or [slice(0, 0)]

    def _entries(self):
        """(rows, columns, values) of the structural nonzeros, block by block."""
        grid = self._grid()
        for block in self._blocks(grid):
            values = self._block_product(grid, block)
            rows = self._positions(grid, self.out_labels, self.out_shape, block)
            cols = self._positions(grid, self.in_labels, self.in_shape, block)
            rows, cols = np.broadcast_arrays(rows, cols, values)[:2]
            yield rows.ravel(), cols.ravel(), np.ravel(values)

    @property
    def nnz_bound(self):
        return math.prod(self.sizes[label] for label in self._grid())

    def _accumulate_dense(self, out, scale):
        for rows, cols, values in self._entries():
            out[rows, cols] += scale * values  # distinct (row, col) within and across blocks

    def _direct_dense_workspace(self):
        return _BYTES_PER_ENTRY * self._block_entries()

    def _largest_row(self):
        grid = self._grid()
        return math.prod(self.sizes[label] for label in grid[1:]) if grid else 1

    def _sparse_workspace(self):
        # every entry's row, column and value (in blocks, then joined) and the sort
        # order, one block's temporaries, the row counts (bincount) beside the row pointers
        return 5 * 8 * self.nnz_bound + self._direct_dense_workspace() + 16 * (self.shape[0] + 1)

    def _tosparse(self):
        from ..sparse import _index_dtype, _wrap_csr

        parts = ([], [], [])
        for entries in self._entries():
            kept = entries[2] != 0  # no explicit zeros, as the other operators' CSRs
            for part, array in zip(parts, entries):
                part.append(array[kept])
        rows, cols, values = (np.concatenate(part) for part in parts)
        del parts
        index_dtype = _index_dtype(rows.size, *self.shape)
        indptr = np.zeros(self.shape[0] + 1, dtype=index_dtype)
        np.cumsum(np.bincount(rows, minlength=self.shape[0]), out=indptr[1:])
        order = np.lexsort((cols, rows))  # canonical: rows in order, sorted columns in each
        del rows
        values = np.ascontiguousarray(values[order], dtype=self.dtype)
        cols = cols[order].astype(index_dtype)
        return _wrap_csr(values, cols, indptr, self.shape)

    # ---------------------------------------------------------------- print
    def _render(self, parts, placeholders):
        specs = ",".join((*self.fixed_labels, "·" + self.in_labels)) + "→" + self.out_labels
        operands = ", ".join(label.text(placeholders) for label in self._labels)
        return f"einsum({specs}; {operands})" if operands else f"einsum({specs})"
