"""Compile every GPU kernel of fastmargin to PTX for an H100 (sm_90),
without a GPU, for every argument-type combination its launcher uses.

The CUDA simulator runs kernels as Python and type-checks nothing; this
runs the real compiler (numba-cuda's NVVM), so a kernel that would fail to
compile on a GPU fails here. Run by tests/gpu/test_device.py in its own process:
numba-cuda asks the (absent) GPU for its compute capability when it compiles
a device function, so that one query is answered here with (9, 0).

Prints one line per compiled kernel signature; exits non-zero on the first
failure.
"""

import types

import numba.cuda.dispatcher
from numba import cuda

COMPUTE_CAPABILITY = (9, 0)
numba.cuda.dispatcher.get_current_device = lambda: types.SimpleNamespace(
    compute_capability=COMPUTE_CAPABILITY
)

from gpu_signatures import SIGNATURES  # noqa: E402


def main():
    count = 0
    for module, signatures in SIGNATURES.items():
        for kernel, signature in signatures():
            cuda.compile_ptx(kernel, signature, cc=COMPUTE_CAPABILITY)
            print(f"{module}.{kernel.__name__}{signature[4:]}")
            count += 1
    print(f"{count} kernel signatures compiled for sm_{''.join(map(str, COMPUTE_CAPABILITY))}")


if __name__ == "__main__":
    main()
