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
        ``children(node)`` returns the node's children as a sequence; it may
        be called more than once per node and should return a stored tuple.

    Returns
    -------
    list
        A topological order: reversed, it lists every node before the nodes
        it refers to.

    Notes
    -----
    The walk keeps two parallel stacks (nodes, and the position reached in
    each node's children) rather than a stack of (node, iterator) pairs: it
    allocates no container per visit, so a walk over 10⁵ nodes does not set
    off a cascade of garbage collections (which tripled its time).
    """
    order, seen = [], {id(root)}
    nodes, positions = [root], [0]
    while nodes:
        node = nodes[-1]
        siblings = children(node)
        position = positions[-1]
        while position < len(siblings) and id(siblings[position]) in seen:
            position += 1
        if position == len(siblings):
            nodes.pop()
            positions.pop()
            order.append(node)
            continue
        positions[-1] = position + 1
        child = siblings[position]
        seen.add(id(child))
        nodes.append(child)
        positions.append(0)
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
