"""The argument types with which fastmargin launches each GPU kernel, for
compiling every one ahead (``compile_gpu_kernels.py``) and for checking
that the launches use no other (the simulator tests)."""

from fastmargin.gpu.common import (
    copy_cast,
    copy_rows,
    divide_weights,
    fill,
    fill_padded_indptr,
    labels_from_indicator,
    reduce_rows,
    summarise_status,
)
from fastmargin.gpu.hinge import hinge_rows_kernel
from fastmargin.gpu.ranking import ranking_kernel, ranking_long_kernel


def common_signatures():
    """``(python function, signature)`` of every kernel here, for every
    argument type the front end launches it with (tests compile each to
    PTX without a GPU)."""
    signatures = [
        (summarise_status, "void(int64[::1], int64[::1])"),
        (fill_padded_indptr, "void(int64[::1], int64)"),
        (fill, "void(float64[::1], float64)"),
        (labels_from_indicator, "void(boolean[:, ::1], int64[:, ::1])"),
    ]
    for dtype in ("float32", "float64"):
        signatures += [
            (reduce_rows, f"void(float64[::1], float64, {dtype}[::1])"),
            (copy_cast, f"void(float64[::1], {dtype}[::1])"),
            (fill, f"void({dtype}[::1], float64)"),
        ]
    # Copies into C-contiguous arrays, from any strided source a caller may
    # hold: scores into float32/float64, weights into their own dtype,
    # indices into int32/int64 (others become int64), indicators into bool.
    reals = ("float16", "float32", "float64", "int32", "int64", "uint8", "boolean")
    integers = ("int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64")
    conversions = [(source, score) for source in reals for score in ("float32", "float64")]
    conversions += [(source, source) for source in reals]
    conversions += [(source, "int64") for source in integers] + [("int32", "int32")]
    conversions.append(("boolean", "boolean"))
    for source, destination in sorted(set(conversions)):
        signatures += [
            (copy_rows, f"void({source}[:, :], {destination}[:, ::1])"),
            (copy_cast, f"void({source}[:], {destination}[::1])"),
        ]
    for source in reals:
        signatures.append((divide_weights, f"void({source}[::1], float64, float64[::1])"))
    return [(kernel.py_func, signature) for kernel, signature in signatures]


def ranking_signatures():
    """``(kernel.py_func, signature)`` for every argument-type combination
    that ``launch_ranking`` launches: scores float32/float64, indices
    int32/int64, gradient or None; for ``cuda.compile_ptx`` checks."""
    result = []
    for dtype in ("float32", "float64"):
        for index in ("int32", "int64"):
            for with_grad in (False, True):
                grad = f"{dtype}[:, ::1], float64[::1]" if with_grad else "none, none"
                head = (
                    f"{dtype}[:, ::1], int64[::1], {index}[::1], boolean, float64, float64, "
                    f"float64[::1], int64[::1], {grad}"
                )
                result.append((ranking_kernel.py_func, f"void({head}, int64)"))
                result.append(
                    (
                        ranking_long_kernel.py_func,
                        f"void({head}, int64[:, ::1], float64[:, ::1], float64[:, ::1], "
                        "int64[:, ::1], float64[:, ::1])",
                    )
                )
    return result


def hinge_signatures():
    """Every (kernel Python function, signature) that ``launch_hinge`` can
    launch, for compiling them ahead (e.g. ``cuda.compile_ptx``) in a test."""
    signatures = []
    for scores in ("float32", "float64"):
        for index in ("int32", "int64"):
            for indicator in ("none", "boolean[:, ::1]"):
                for grad in (False, True):
                    for label_sums in ("none", "float64[:, ::1]"):
                        grad_types = (
                            (f"{scores}[:, ::1]", "float64[::1]") if grad else ("none", "none")
                        )
                        arguments = (
                            f"{scores}[:, ::1]",
                            "int64[::1]",
                            f"{index}[::1]",
                            "boolean",
                            indicator,
                            f"{scores}[::1]",
                            "boolean",
                            "float64",
                            "float64[::1]",
                            "int64[::1]",
                            *grad_types,
                            label_sums,
                            "int64[:, ::1]",
                            "uint8[:, ::1]",
                        )
                        signatures.append(
                            (hinge_rows_kernel.py_func, f"void({', '.join(arguments)})")
                        )
    return signatures


# By module: what compile_gpu_kernels.py compiles.
SIGNATURES = {
    "fastmargin.gpu.common": common_signatures,
    "fastmargin.gpu.ranking": ranking_signatures,
    "fastmargin.gpu.hinge": hinge_signatures,
}
