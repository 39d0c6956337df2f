"""``python -m fastmargin`` and the ``fastmargin`` console script: ``info``
(versions, threads, GPU, numba cache) and ``bench`` (timings against PyTorch
and NumPy); see ``python -m fastmargin --help`` and :mod:`fastmargin.cli`."""

import sys

from .cli import main

__all__ = ["main"]

if __name__ == "__main__":
    sys.exit(main())
