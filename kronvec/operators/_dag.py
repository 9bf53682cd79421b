"""Walking operator DAGs without recursion.

A Jacobian built by forward composition of k operations is a DAG of Sums,
Products and Scaled operators that share sub-operators, k levels deep.
Python's recursion limit (~1000 frames) is far below the depths users reach
(10⁴ chained operations), so every traversal in :mod:`kronvec.operators`
uses the explicit-stack walk below.

Nodes are identified by ``id()`` only for the duration of one walk, while
the root keeps every node alive, so an id cannot be reused meanwhile.
"""

from __future__ import annotations

__all__ = ["post_order", "reference_counts"]


def post_order(root, children):
    """Every node reachable from `root`, each once, children before parents.

    Parameters
    ----------
    root : object
    children : callable
        ``children(node)`` returns the node's children (a sequence).

    Returns
    -------
    list
        A topological order: reversed, it lists every node before the nodes
        it refers to.
    """
    order, seen = [], {id(root)}
    stack = [(root, iter(children(root)))]
    while stack:
        node, pending = stack[-1]
        for child in pending:
            if id(child) not in seen:
                seen.add(id(child))
                stack.append((child, iter(children(child))))
                break
        else:
            stack.pop()
            order.append(node)
    return order


def reference_counts(order, children):
    """``{id(node): number of references to it from the nodes of `order`}``.

    A child referred to twice by one parent (``Sum([A, A])``) counts twice.
    """
    counts = {id(node): 0 for node in order}
    for node in order:
        for child in children(node):
            counts[id(child)] += 1
    return counts
