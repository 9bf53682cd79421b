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

__all__ = ["post_order", "reference_counts", "fold"]


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
    # (a third stack keeps each node's children: asked again on every return to a node,
    # `children` would rebuild them, k times for a node of k children — quadratic for the
    # wide sums of a deep Hessian)
    nodes, positions, kids = [root], [0], [children(root)]
    while nodes:
        node = nodes[-1]
        siblings = kids[-1]
        position = positions[-1]
        while position < len(siblings) and id(siblings[position]) in seen:
            position += 1
        if position == len(siblings):
            nodes.pop()
            positions.pop()
            kids.pop()
            order.append(node)
            continue
        positions[-1] = position + 1
        child = siblings[position]
        seen.add(id(child))
        nodes.append(child)
        positions.append(0)
        kids.append(children(child))
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


def fold(root, children, leaf, combine, released=None):
    """The value of `root`, computed children first, each value freed after its last use.

    Parameters
    ----------
    root : object
    children : callable
        ``children(node)``: the nodes whose values `node`'s value is made of
        (empty for a leaf).
    leaf : callable
        ``leaf(node)``: the value of a node without children.
    combine : callable
        ``combine(node, values, last_use)``: the value of a node from its
        children's values; ``last_use[i]`` is True when this is the only
        remaining use of child i's value, which may then be modified in place.
    released : callable, optional
        Called with each value when its last user has consumed it.

    Notes
    -----
    Values live from their computation to their last use only, so a chain of
    10⁴ shared operators holds a few values at a time, not 10⁴.
    """
    order = post_order(root, children)
    users = reference_counts(order, children)
    values = {}
    for node in order:
        operands = children(node)
        if not operands:
            values[id(node)] = leaf(node)
            continue
        inputs = [values[id(operand)] for operand in operands]
        last_use = [users[id(operand)] == 1 for operand in operands]
        if len(operands) > 1:  # an operand listed twice (Sum([A, A])) is used twice here
            # (by id, counted once per node: operands.count(operand) per operand was
            # quadratic in the node's width — a sum of 10⁴ terms in a deep Hessian)
            times = {}
            for operand in operands:
                times[id(operand)] = times.get(id(operand), 0) + 1
            if len(times) < len(operands):
                last_use = [last and times[id(operand)] == 1 for last, operand in zip(last_use, operands)]
        values[id(node)] = combine(node, inputs, last_use)
        for operand in operands:
            users[id(operand)] -= 1
            if users[id(operand)] == 0:
                value = values.pop(id(operand))
                if released is not None:
                    released(value)
    return values[id(root)]
