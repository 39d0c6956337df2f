"""The one place that decides how fastmargin's kernels are compiled.

Every CPU kernel is decorated through :func:`cpu_kernel`, so compile options
cannot drift from one module to another.

``FASTMATH`` deliberately leaves out ``nnan`` and ``ninf``: with them LLVM may
assume that no score is NaN or infinite and delete the checks that make a NaN
score propagate to the loss. It leaves out ``arcp`` too: a division by C
stays a correctly rounded division, whatever the compiler hoists.

``reassoc`` is added only for loops whose float sums must be vectorised
(``VECTOR_REDUCTION_FASTMATH``): it lets LLVM split a sum into SIMD lanes. The
order is fixed by the compiled code, so results stay identical run to run and
for any thread count, but may differ in the last bits from a sequential sum.
"""

import os

import numba
from numba.core import cgutils, types
from numba.extending import intrinsic

FASTMATH = frozenset({"nsz", "contract"})
VECTOR_REDUCTION_FASTMATH = FASTMATH | {"reassoc"}
# Neither ``reassoc`` nor ``contract``: the compiled order of every sum (and
# whether a multiply is fused into an add) must not depend on which variant
# of a kernel is compiled (the hinge's loss only, fused, adaptive) or on the
# build, so that all of them give the same bits.
ORDERED_FASTMATH = FASTMATH - {"contract"}

# Kernels are cached on disk: a fresh interpreter loads them instead of
# recompiling (measured by ``benchmarks/compile_time.py``). FASTMARGIN_CACHE=0
# in the environment (read at import) turns the cache off, for many
# processes on shared storage, where each would otherwise write and lock
# cache files.
CACHE = os.environ.get("FASTMARGIN_CACHE", "1") != "0"


def cpu_kernel(*, fastmath=FASTMATH, inline="never", internal=False):
    """Return the ``numba.njit`` decorator used for every CPU kernel.

    Parameters
    ----------
    fastmath : set of str, optional
        LLVM fast-math flags, :data:`FASTMATH` by default.
    inline : {"never", "always"}, optional
        Inline into callers at numba's IR level (small per-row helpers).
    internal : bool, optional
        Called only from other kernels: no Python or C entry point is built
        (less to compile).

    Returns
    -------
    decorator : callable
        ``numba.njit`` configured with fastmargin's options.

    Examples
    --------
    >>> from fastmargin.kernels.options import FASTMATH, cpu_kernel
    >>> sorted(FASTMATH)  # never "nnan" or "ninf": NaN must propagate
    ['contract', 'nsz']
    >>> decorate = cpu_kernel(internal=True)
    """
    return numba.njit(
        fastmath=set(fastmath),
        cache=CACHE,
        error_model="numpy",
        nogil=True,
        inline=inline,
        no_cpython_wrapper=internal,
        no_cfunc_wrapper=internal,
    )


def gpu_kernel(*, device=False):
    """Return the ``numba.cuda.jit`` decorator used for every GPU kernel.

    ``numba.cuda`` comes from the ``numba-cuda`` package (the ``cuda``
    extra); it is imported here, when a GPU module is first imported, so
    that importing fastmargin never needs it. No ``fastmath``: on the GPU it
    flushes denormals and approximates division. Not cached on disk: the
    GPU kernels are compiled once per process, on first use. Kernels accept
    None for an optional array (see :class:`NoneArgument`).

    Parameters
    ----------
    device : bool, optional
        Build a device function (called from kernels) instead of a kernel.

    Returns
    -------
    decorator : callable
        ``numba.cuda.jit`` configured with fastmargin's options.
    """
    from numba import cuda
    from numba.cuda import config

    if device or config.ENABLE_CUDASIM:  # the simulator calls kernels as Python
        return cuda.jit(device=device)
    return cuda.jit(extensions=[NoneArgument()])


class NoneArgument:
    """Launch-time conversion of a None kernel argument.

    The kernels take None for an optional array (no gradient, no indicator)
    and the compiler prunes the branches that use it; numba-cuda types None
    as an opaque pointer-sized parameter but has no launch conversion for it
    (``NotImplementedError: (none, None)``). This passes a null pointer.
    """

    def prepare_args(self, ty, val, stream=None, retr=None):
        from numba.cuda import types

        if isinstance(ty, types.NoneType):
            return types.uint64, 0
        return ty, val


@intrinsic
def borrowed(typingctx, array):
    """A view of ``array`` that holds no reference to its memory.

    numba counts references to an array's memory with atomic operations,
    and inlined per-row helpers make several of them per row (about 0.2
    microseconds of each row at 100 classes, and cache-line contention
    between threads on the same counters). numba's own parallel loops see
    their arrays without references; kernels do the same by hand: a kernel
    whose arrays are all its caller's (which keeps them alive for the whole
    call) works on borrowed views of them. Never borrow an array the kernel
    allocates itself (numba frees an array right after its last use, which
    would be the ``borrowed`` call). None (an optional array left out) stays
    None.
    """

    if isinstance(array, types.NoneType):  # an optional array left out
        return array(
            array
        ), lambda context, builder, signature, arguments: context.get_dummy_value()

    def codegen(context, builder, signature, arguments):
        source = context.make_array(array)(context, builder, arguments[0])
        view = context.make_array(array)(context, builder, source._getvalue())
        view.meminfo = cgutils.get_null_value(view.meminfo.type)
        view.parent = cgutils.get_null_value(view.parent.type)
        return view._getvalue()

    return array(array), codegen


if numba.config.DISABLE_JIT:  # kernels run as Python: nothing is counted

    def borrowed(array):  # noqa: F811
        return array
