"""Docstring sections that the six loss functions share, and the decorator
that fills them into each docstring, written at its ``def``: a line
``{name}`` stands for the section ``name``.
"""

REDUCTION_AND_NORMALIZE = """    reduction : {"mean", "sum", "none"}, optional
        "none" gives one loss per sample, "mean" averages them over samples,
        "sum" adds them up. Default "mean".
    normalize : bool, optional
        Divide each sample's sum of hinge terms by C, as PyTorch does
        (default True). False gives the plain sum of the terms, as in a
        LIBLINEAR-style objective ``0.5 * ||W||**2 + C * loss`` with
        ``reduction="sum"``; the gradient follows.
"""

RANKING_PARAMETERS = (
    """
    Parameters
    ----------
    input : array_like, shape (C,) or (N, C)
        Scores of C classes for each of N samples. float32 and float64 are
        computed natively; other real dtypes (booleans, integers, float16,
        longdouble) are converted to float64, and results are then float64.
    target : array_like or scipy.sparse matrix
        Each sample's targets, in one of these forms:

        - class indices of any integer dtype, shape (K,) or (N, K) for any
          K >= 0: PyTorch's (N, C) layout and a compact (N, K) both work.
          Each row is read up to its first -1; later entries are padding and
          are ignored (PyTorch also range-checks the padding). Duplicated
          indices count as often as they appear, as in PyTorch;
        - ragged label lists, ``[[0, 3], [1], []]`` (lists, arrays, a pandas
          Series of lists), read as :func:`targets_from_lists` pads them;
        - a 0/1 indicator of the input's shape: bool, or floats that are all
          0 or 1 (multi-hot ``y_true``; any other float is a TypeError), or
          integers with ``target_format="indicator"``;
        - a ``scipy.sparse`` matrix or array of shape (N, C) whose stored
          non-zeros are the targets (CSR is read as it is, other formats are
          converted to CSR).
    target_format : {"auto", "indices", "indicator"}, optional
        How to read a dense target. "auto" (the default) goes by its dtype:
        integers are class indices, bools and floats indicators; an integer
        target of the input's shape holding only 0s and 1s and no -1 (as
        scikit-learn's ``MultiLabelBinarizer`` writes labels) reads both
        ways, and is a ValueError that asks for "indices" or "indicator".
        "indices" reads integers as class indices always (PyTorch's
        reading); "indicator" reads any 0/1 array of the input's shape as
        an indicator.
    margin : float, optional
        The hinge margin, finite (PyTorch fixes it to 1), converted to the
        scores' dtype. Default 1.0.
"""
    + REDUCTION_AND_NORMALIZE
)


HINGE_PARAMETERS = (
    """
    Parameters
    ----------
    input : array_like, shape (C,) or (N, C)
        Scores of C labels for each of N samples. float32 and float64 are
        computed natively; other real dtypes are converted to float64, and
        results are then float64.
    target : array_like or scipy.sparse matrix
        Each sample's labels: class indices of any integer dtype, shape (K,)
        or (N, K), each row read up to its first -1 (a label listed twice is
        one label); ragged label lists (see :func:`targets_from_lists`); a
        0/1 indicator of the input's shape (bool, or floats all 0 or 1); or
        a ``scipy.sparse`` matrix or array of shape (N, C) whose stored
        non-zeros are the labels (CSR is read as it is).
    target_format : {"auto", "indices", "indicator"}, optional
        How to read a dense target, as for :func:`multilabel_margin_loss`:
        "auto" refuses an integer target of the input's shape holding only
        0s and 1s and no -1 (it reads two ways); "indicator" reads such a
        0/1 matrix (scikit-learn's label format) as labels, "indices" as
        class indices.
    margin : float or array_like, shape (C,), optional
        The margin, one for all labels or one per label, finite in the
        scores' dtype. Default 1.0.
    squared : bool, optional
        Use the squared hinge ``max(0, z)**2`` (the L2-SVM loss). Default
        False.
"""
    + REDUCTION_AND_NORMALIZE
)


GRAD_OUTPUT_AND_OUT = """    grad_output : array_like, optional
        Gradient of the caller's objective with respect to the loss: the
        result is the gradient of ``sum(grad_output * loss)``. Shape (N,)
        (or () for 1-D input) with ``reduction="none"``, a scalar otherwise.
        Defaults to ones.
    out : ndarray, optional
        Where to write the gradient: a C-contiguous, writeable array of the
        input's shape and float dtype that shares no memory with the
        inputs; it is returned. Without it, a gradient of 32 MiB or more
        comes from one of at most two buffers (1 GiB in all) that fastmargin
        keeps and hands out again once no array refers to them: freshly
        mapped memory is zeroed page by page by the operating system, which
        for a 40 MB gradient costs a sixth of the ranking kernel. ``out``
        lets the caller own that memory instead. On the GPU, ``out`` is a
        GPU array (a NumPy array for host inputs with ``device="cuda"``).
"""


DEVICE = """    device : {"auto", "cpu", "cuda"}, optional
        Where to compute. "auto" (the default) runs on the GPU when ``input``
        is a GPU array (a PyTorch CUDA tensor, a CuPy array, a Numba device
        array, anything with ``__cuda_array_interface__`` or CUDA DLPack),
        and on the CPU otherwise. "cuda" also takes host arrays: they are
        copied to the GPU and the results come back as NumPy. "cpu" refuses
        GPU arrays (it never copies them to the host on its own). On the
        GPU, kernels run on the input library's current stream and results
        are arrays of that library, on the GPU: the gradient, the "none"
        losses, and "mean"/"sum" losses as 0-d arrays. The host waits for
        the GPU once per call, to read back whether a target entry was bad.
        The GPU path needs the ``cuda`` extra (numba-cuda) and an NVIDIA
        GPU; without them "cuda" raises a RuntimeError saying which is
        missing.
"""


RANKING_NOTES = """
    Notes
    -----
    Per sample, the loss is the sum over used targets t and over classes j
    that are not among the sample's targets of ``max(0, margin - x[t] + x[j])``,
    divided by C (unless ``normalize=False``). Whether a pair is violated is
    decided as PyTorch decides it, ``(margin - x[t]) + x[j] > 0`` in the
    scores' dtype, so gradients match PyTorch's even at exact ties; at the
    kink the slope is 0.

    The kernels sort each row's target scores and count, for every class, the
    targets it violates by branch-free comparisons (up to 96 targets) or an
    O(1) grid lookup: O(C log T) work per row at most, instead of PyTorch's
    O(T * C), in parallel over samples. Sums accumulate in float64 and are
    reduced in a fixed order, so results do not depend on the number of
    threads. Each row's loss is accurate to its own pair terms, whatever
    the scores' magnitudes (one huge target score included): to float32's
    rounding for float32 scores, and within 2**-44 (about 6e-14) of itself
    for float64 scores, about the error of a pair-by-pair sum of a few
    hundred terms. The fast sums are checked for cancellation; a row they
    cannot give that accurately is summed again from terms that never
    cancel.

    Differences from ``torch.nn.functional.multilabel_margin_loss``, on
    purpose:

    - a NaN score in a sample that has at least one target and one
      non-target makes that sample's loss and gradient NaN (PyTorch silently
      drops NaN pairs); so does a pair of equal infinite scores;
    - an empty batch gives NaN for "mean" and 0 for "sum" (PyTorch's CPU
      kernel returns uninitialised memory);
    - ``margin`` is a parameter, compact (N, K) targets and int32 targets are
      accepted, and padding after the first -1 is never range-checked;
    - a 0-D input (PyTorch reads it as one sample of one class, whose loss
      is always 0) is refused with a ValueError; ``input.reshape(1)`` gives
      PyTorch's reading.
"""


HINGE_NOTES = """
    Notes
    -----
    Per sample, the loss is ``sum over labels c of h(margin[c] - s[c] * x[c])``
    divided by C (unless ``normalize=False``), where ``s[c]`` is +1 for a
    label the sample has and -1 otherwise, and ``h(z) = max(0, z)`` (or its
    square): the one-vs-rest hinge written by hand as
    ``max(0, margin - y*x + (1 - y)*x)`` for 0/1 labels y.
    ``z`` is computed in the scores' dtype and the terms are summed in
    float64, in a fixed order (results do not depend on the number of
    threads). At the kink ``z = 0`` the slope taken is 0. A NaN score makes
    its sample's loss NaN and its own gradient entry NaN; the other entries
    are unaffected. An empty batch gives NaN for "mean" and 0 for "sum".
"""


LOSS_RETURNS = """
    Returns
    -------
    loss : ndarray or scalar
        With "none", an array of shape (N,) (0-d for 1-D input) in the input's
        float dtype; otherwise a NumPy scalar of that dtype.
"""


SECTIONS = {
    "ranking_parameters": RANKING_PARAMETERS,
    "hinge_parameters": HINGE_PARAMETERS,
    "grad_output_and_out": GRAD_OUTPUT_AND_OUT,
    "device": DEVICE,
    "ranking_notes": RANKING_NOTES,
    "hinge_notes": HINGE_NOTES,
    "loss_returns": LOSS_RETURNS,
}


def fill_doc(function):
    """Replace each ``{name}`` line of ``function``'s docstring by the
    section ``name`` (a KeyError for an unknown one)."""
    lines = []
    for line in function.__doc__.split("\n"):
        name = line.strip()
        if name.startswith("{") and name.endswith("}"):
            lines.append(SECTIONS[name[1:-1]].strip("\n"))
        else:
            lines.append(line)
    function.__doc__ = "\n".join(lines)
    return function
