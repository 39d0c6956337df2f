"""The CPU kernels: numba functions that only loop over rows and classes.

Each takes arrays in a fixed contract that the front end guarantees (see
each module's docstring) and never re-checks it. ``options`` is the one
place that sets numba's compile options; ``labels`` reads targets in their
canonical form, ``sorting`` sorts and searches small arrays, ``ranking``
and ``hinge`` compute the two losses. The GPU twins in ``fastmargin.gpu``
compile some of these same functions for the device.
"""
