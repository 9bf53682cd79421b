"""Compiled transformations (``compile=True``): record once per call signature, replay.

``guard`` refuses decisions on traced values outside recorded operations,
``signature`` keys a program, ``cache`` holds a function's programs,
``program`` writes a recording out as straight-line Python, ``replay``
recomputes a recording node by node, ``transform`` is the front end they
share, ``gradient`` and ``replay`` build the transformations.  See
``notes/compile.md``.
"""
