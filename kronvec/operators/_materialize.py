"""Materialize operators with the peak memory bounded by the configured limits.

``config.dense_limit_bytes`` and ``config.sparse_limit_bytes`` bound the
*peak* of a materialization — the result plus every temporary needed to
build it — and the refusal comes before the result is allocated.

Dense (:func:`toarray`).  An operator is first written as a linear
combination ``Σ cₜ Tₜ`` of non-Sum, non-Scaled terms (sharing respected:
coefficients of a term reached twice add up).  Terms that can write
themselves into an array (Kron, Dense, Sparse, Diag, selections…: their
``_direct_dense_workspace`` is not None) are accumulated straight into the
one preallocated result.  The other terms (Products, adjoints of DAGs,
wrapped LinearOperators) are evaluated together, as one DAG so that shared
operators are applied once, on blocks of identity columns (or rows, from
the narrow side), each block written into the result in place.  The block
width keeps the workspace below ``max(WORKSPACE_FLOOR, result /
WORKSPACE_FRACTION)``, or below what the limit leaves, down to one column.

Sparse (:func:`tosparse`).  The DAG is materialized node by node, children
first, each CSR freed when its last user has consumed it.  Before anything
is allocated, the bytes held so far plus an upper bound on the new arrays
(exact for Kron and selections, ``Σ nnz`` for sums, the multiplication count
``Σₖ nnz(A[:, k])·nnz(B[k, :])`` for products) are checked against the
limit, so the peak never exceeds it.
"""

from __future__ import annotations

import numpy as np

from .._config import check_materialization, config
from ._dag import fold, post_order
from ._formula import _formula_children

__all__ = ["toarray", "dense_peak_nbytes", "tosparse", "WORKSPACE_FRACTION", "WORKSPACE_FLOOR"]

#: The workspace of a dense materialization is kept below
#: ``max(WORKSPACE_FLOOR, result_bytes // WORKSPACE_FRACTION)`` when one block
#: column of workspace fits in that.
WORKSPACE_FRACTION = 4
WORKSPACE_FLOOR = 1 << 20

# Counted so that the documented peak covers everything tracemalloc sees:
# NumPy's ufunc iterator buffers (np.getbufsize() = 8192 elements per
# operand; a broadcast or strided update uses up to ~4 such buffers of 8
# bytes: measured 100-150 KiB per statement), and the Python bookkeeping of a
# DAG walk (dicts, lists, small objects) per node.
_FIXED_OVERHEAD = 64 << 10
_NODE_OVERHEAD = 1 << 10


def _ufunc_buffers():
    return 4 * 8 * np.getbufsize()
_ENTRY_BYTES = 8  # workspace entries are counted as float64, whatever the dtype

_DENSE_ALTERNATIVE = "apply it with matvec/matmat, or build tosparse()"
_SPARSE_ALTERNATIVE = "apply it with matvec/matmat instead"


def _describe(op):
    return lambda: f"the {op.shape[0]}×{op.shape[1]} operator {op.formula()}"


# ---------------------------------------------------------------------------
# dense
# ---------------------------------------------------------------------------


def _linear_children(op):
    parts = op._linear_parts()
    return () if parts is None else [child for _, child in parts]


def linear_terms(root):
    """``[(c, T)]`` with ``root = Σ c·T`` over terms that are neither Sums nor Scaled.

    A term reached along several paths appears once, with the coefficients
    of all paths added (in time linear in the DAG, not in the paths).
    """
    order = post_order(root, _linear_children)
    coefficients = {id(root): 1.0}
    terms = []
    for op in reversed(order):  # every user before its parts
        coefficient = coefficients.pop(id(op))
        parts = op._linear_parts()
        if parts is None:
            if coefficient != 0.0:
                terms.append((coefficient, op))
            continue
        for alpha, child in parts:
            coefficients[id(child)] = coefficients.get(id(child), 0.0) + coefficient * alpha
    return terms


def _lazy_root(terms):
    """One operator for ``Σ c·T`` over the terms applied by evaluation."""
    from .composite import Scaled, Sum

    scaled = [term if c == 1.0 else Scaled(c, term) for c, term in terms]
    return scaled[0] if len(scaled) == 1 else Sum(scaled)


def _operands(op):
    return op._shared_operands() if op.is_composite else ()


class DensePlan:
    """How ``toarray()`` of one operator will run, and its peak memory.

    Attributes
    ----------
    result_nbytes : int
    workspace_nbytes : int
        Upper bound on the bytes alive on top of the result at any time.
    """

    def __init__(self, op, limit, scatter=True):
        self.op = op
        m, n = op.shape
        self.result_nbytes = m * n * op.dtype.itemsize
        self.transposed = op._dense_transpose_of()
        own_workspace = op._direct_dense_workspace()
        self.direct_fast = own_workspace is not None and op._linear_parts() is None
        if self.direct_fast:  # a leaf that writes itself: no walk needed
            self.workspace_nbytes = own_workspace + _ufunc_buffers()
            return
        target = op if self.transposed is None else self.transposed
        self.direct, self.scattered, lazy, direct_workspace = [], [], [], 0
        # (never inside a CSR build, which itself may write a node densely; the bounds are
        # walked only when a term cannot write itself: most Jacobians never need them)
        sparse_bounds = None
        for c, term in linear_terms(target):
            workspace = term._direct_dense_workspace()
            if workspace is None:
                if scatter and sparse_bounds is None:
                    sparse_bounds = _SparseBounds(target)
                workspace = None if sparse_bounds is None else sparse_bounds.scatter_workspace(term, self.result_nbytes)
                if workspace is None:
                    lazy.append((c, term))
                    continue
                self.scattered.append((c, term))
            else:
                self.direct.append((c, term))
            direct_workspace = max(direct_workspace, workspace)
        self.lazy = _lazy_root(lazy) if lazy else None
        lazy_workspace = self._plan_blocks(target.shape, limit - _ufunc_buffers()) if lazy else 0
        self.workspace_nbytes = max(direct_workspace, lazy_workspace) + _ufunc_buffers()

    def _plan_blocks(self, shape, limit):
        """Choose the orientation and block width; return the lazy part's workspace."""
        from .basic import Wrapped

        m, n = shape
        # apply to unit columns, else the transpose to unit rows: from the narrow side, and
        # for a square result along the target's memory (blocks of rows of a C-ordered
        # array are contiguous; adding blocks of its columns took twice as long) -- unless
        # it holds a user's LinearOperator, whose adjoint may be slow or missing
        along_rows = self.transposed is None and not any(
            type(node) is Wrapped for node in post_order(self.lazy, _formula_children))
        self.forward = m > n or (m == n and not along_rows)
        applied = self.lazy if self.forward else self.lazy.T
        units = n if self.forward else m
        self.per_unit = max(1, applied._column_workspace() + units) * _ENTRY_BYTES  # + identity block
        nodes = len(post_order(applied, _operands)) + (0 if self.forward else len(post_order(self.lazy, _operands)))
        # (+ what operators build on their first apply and keep: a leaf's transpose, applied in
        # an adjoint sweep, builds its own, of the size its original states)
        setup = sum(node._setup_nbytes() for node in post_order(self.lazy, _formula_children))
        overhead = _FIXED_OVERHEAD + _NODE_OVERHEAD * nodes + setup
        budget = max(WORKSPACE_FLOOR, self.result_nbytes // WORKSPACE_FRACTION)
        room = limit - self.result_nbytes - overhead
        if room >= self.per_unit:
            budget = min(budget, room)
        self.width = max(1, min(units, budget // self.per_unit))
        return self.width * self.per_unit + overhead

    def run(self):
        """The dense matrix (checked against the limit beforehand by :func:`toarray`)."""
        if self.direct_fast:
            return self.op._toarray()
        if self.lazy is None and self.transposed is None and len(self.direct) == 1 and not self.scattered:
            c, term = self.direct[0]
            if term.dtype == self.op.dtype:  # c·T: the term writes itself (no zeros to add to)
                return term._dense_times(c)
        m, n = self.op.shape
        out = np.zeros((m, n), dtype=self.op.dtype)  # calloc: untouched zero pages are free
        target = out if self.transposed is None else out.T
        for c, term in self.direct:
            term._accumulate_dense(target, c)
        for c, term in self.scattered:
            _scatter_add(target, c, term)
        if self.lazy is not None:
            self._accumulate_lazy(target, overwrite=not (self.direct or self.scattered))
        return out

    def _accumulate_lazy(self, target, overwrite):
        """Add the lazy part to `target`, one block of unit columns (or rows) at a time;
        with `overwrite` (nothing written before it) each block is assigned instead,
        which costs half as much as adding it into strided memory."""
        m, n = target.shape
        units = n if self.forward else m
        applied = self.lazy if self.forward else self.lazy.T
        # one block of identity columns, moved along: the ones of the previous block are
        # cleared and the next ones set (each block is consumed before the next is made,
        # so nothing returned may still read it)
        unit = np.zeros((units, self.width), dtype=self.op.dtype)
        diagonal = np.arange(self.width)
        for start in range(0, units, self.width):
            width = min(self.width, units - start)
            if start:
                unit[start - self.width + diagonal, diagonal] = 0.0
            unit[start + diagonal[:width], diagonal[:width]] = 1.0
            block = applied._matmat(unit[:, :width])
            section = target[:, start:start + width] if self.forward else target[start:start + width, :]
            values = block if self.forward else block.T
            if overwrite:
                section[...] = values
            else:
                section += values
            del block, values


#: A composite term whose CSR bound is at most this fraction of the dense result's
#: bytes is built as a CSR and scattered into the result, instead of being applied
#: to blocks of unit columns (a product of selections — the Jacobian of a
#: concatenation, of a Kronecker product of slices — has a few nonzeros per column,
#: and applying it to n² unit columns cost 30–60 ms at n = 32 where its CSR takes 1–2).
SCATTER_FRACTION = 16


class _SparseBounds:
    """The nonzero bounds of every node of one DAG, from one walk (asked node by node,
    each bound walks the node's own sub-DAG: quadratic for the 10⁴ terms of a deep
    chain), and the bytes of all their CSRs together."""

    def __init__(self, root):
        from .composite import nnz_bounds

        bounds = nnz_bounds(root)
        self.bound = {id(node): bound for node, bound in bounds}  # (root keeps every node alive)
        self.all_csr_nbytes = sum(csr_bound_nbytes(bound, node.shape[0], node.dtype) for node, bound in bounds)

    def scatter_workspace(self, term, result_nbytes):
        """Bytes to build `term`'s CSR and scatter it, when that is the cheaper way to
        write it (its CSR bound at most 1/SCATTER_FRACTION of the result); else None.
        Every CSR of the DAG is counted as alive at once, twice (SciPy's product makes
        its result beside its operands), plus what the scatter adds per nonzero: its
        row indices, the scaled values and the gathered entries (8 bytes each, and 8
        spare)."""
        nnz = self.bound.get(id(term))
        if not term.is_composite or nnz is None or nnz * (term.dtype.itemsize + 4) * SCATTER_FRACTION > result_nbytes:
            return None
        if not term._sparse_children():  # (its CSR would come from its dense matrix: nothing gained)
            return None
        workspace = 2 * self.all_csr_nbytes + nnz * 32
        return workspace if workspace <= config.sparse_limit_bytes else None


def _scatter_add(target, c, term):
    """``target += c·term`` through term's canonical CSR (no repeated coordinates, so
    one fancy-indexed addition adds each entry once)."""
    csr = tosparse(term)
    rows = np.repeat(np.arange(csr.shape[0]), np.diff(csr.indptr))
    target[rows, csr.indices] += c * csr.data


def dense_peak_nbytes(op):
    """Peak bytes of ``op.toarray()`` under the current limit: result + workspace."""
    plan = DensePlan(op, config.dense_limit_bytes)
    return plan.result_nbytes + plan.workspace_nbytes


def toarray(op):
    """``op`` as a dense array, refused before allocating when its peak exceeds the limit."""
    plan = DensePlan(op, config.dense_limit_bytes)
    check_materialization(
        "dense", plan.result_nbytes, _describe(op), _DENSE_ALTERNATIVE, workspace=plan.workspace_nbytes
    )
    return plan.run()


# ---------------------------------------------------------------------------
# sparse
# ---------------------------------------------------------------------------


def csr_nbytes(matrix):
    return matrix.data.nbytes + matrix.indices.nbytes + matrix.indptr.nbytes


def csr_bound_nbytes(nnz, nrows, dtype):
    """Bytes of a CSR with at most `nnz` nonzeros (int64 indices when int32 may not do)."""
    index_bytes = 8 if max(nnz, nrows) > np.iinfo(np.int32).max else 4
    return nnz * (np.dtype(dtype).itemsize + index_bytes) + (nrows + 1) * index_bytes


class _SparseBudget:
    """The CSR bytes held by one materialization, checked before each allocation."""

    def __init__(self, root):
        self.root = root
        self.held = 0

    def reserve(self, nbytes, what):
        """Refuse (MemoryError) unless `nbytes` more fit beside what is held."""
        check_materialization(
            "sparse",
            self.held,
            lambda: f"{what} while building {_describe(self.root)()}",
            _SPARSE_ALTERNATIVE,
            workspace=nbytes,
        )


def _sparse_children(op):
    return op._sparse_children()


def _nearly_dense(op):
    """True when the CSR of `op` may be as large as its dense array: nnz_bound
    entries of value and column index take ≥ the m·n values of the array."""
    m, n = op.shape
    itemsize = op.dtype.itemsize
    return op.is_composite and op.nnz_bound * (itemsize + 4) >= m * n * itemsize


def tosparse(op):
    """``op`` as a canonical CSR array, node by node within the sparse limit.

    A composite whose CSR cannot be much smaller than its dense array (e.g.
    the 9×9 Jacobian of a long chain) is evaluated densely as one DAG and
    compressed, instead of multiplying CSRs node by node.
    """
    budget = _SparseBudget(op)
    if _nearly_dense(op) and op.dense_nbytes <= config.dense_limit_bytes:
        return dense_then_csr(op, budget)

    def held(matrix):
        budget.held += csr_nbytes(matrix)
        return matrix

    def released(matrix):
        budget.held -= csr_nbytes(matrix)

    return fold(
        op,
        _sparse_children,
        leaf=lambda node: held(_leaf_sparse(node, budget)),
        combine=lambda node, matrices, last_use: held(node._combine_sparse(matrices, last_use, budget)),
        released=released,
    )


def _leaf_sparse(op, budget):
    """A leaf's CSR, after checking its bound (and its own workspace) fits."""
    workspace = op._sparse_workspace()
    if workspace is None:  # no direct CSR writer: densify within the limits, then compress
        return dense_then_csr(op, budget)
    budget.reserve(csr_bound_nbytes(op.nnz_bound, op.shape[0], op.dtype) + workspace, type(op).__name__)
    return op._tosparse()


def dense_then_csr(op, budget):
    """CSR of `op` through its dense matrix: for operators far smaller dense than
    their factors' CSR, and for operators without a sparse structure."""
    from ..sparse import dense_to_csr, dense_to_csr_workspace

    plan = DensePlan(op, min(config.dense_limit_bytes, config.sparse_limit_bytes - budget.held), scatter=False)
    check_materialization("dense", plan.result_nbytes, _describe(op), _DENSE_ALTERNATIVE,
                          workspace=plan.workspace_nbytes)
    budget.reserve(plan.result_nbytes + plan.workspace_nbytes, f"the dense {type(op).__name__}")
    dense = plan.run()
    nnz = int(np.count_nonzero(dense))
    csr = csr_bound_nbytes(nnz, op.shape[0], op.dtype) + dense_to_csr_workspace(op.shape)
    budget.reserve(plan.result_nbytes + csr + _ufunc_buffers(), "its CSR")
    return dense_to_csr(dense)


def product_nnz_bound(A, B):
    """Upper bound on nnz(A @ B) for CSR A, B: the multiplication count
    ``Σₖ nnz(A[:, k]) · nnz(B[k, :])``, capped by the full size."""
    column_counts = np.bincount(A.indices, minlength=A.shape[1]).astype(np.int64)
    row_counts = np.diff(B.indptr).astype(np.int64)
    return int(min(int(column_counts @ row_counts), A.shape[0] * B.shape[1]))
