"""The same labels written in every target form fastmargin accepts.

Helpers shared by the hinge, target-form and edge-case tests: given a bool
(N, C) indicator, build padded index rows (PyTorch's (N, C) layout, compact,
unsorted, with duplicates and junk after the -1) and scipy.sparse matrices
and arrays of every format, including non-canonical ones (unsorted and
duplicate entries, explicit stored zeros); and the hypothesis strategy of
padded index rows that the reference tests of both losses draw from. None
of these calls fastmargin.
"""

import warnings

import numpy as np
import scipy.sparse
from hypothesis import strategies as st

SPARSE_FORMATS = ("csr", "csc", "coo", "lil", "dok", "bsr", "dia")
# scipy.sparse classes by format: the matrix and the array flavour.
SPARSE_CLASSES = {
    fmt: (getattr(scipy.sparse, f"{fmt}_matrix"), getattr(scipy.sparse, f"{fmt}_array"))
    for fmt in SPARSE_FORMATS
}
SPARSE_FORM_NAMES = tuple(
    f"{fmt}_{kind}" for fmt in SPARSE_FORMATS for kind in ("matrix", "array")
) + ("coo_messy", "csr_messy", "csr_messy_array", "bsr_blocks")


def label_lists(indicator):
    """Each row's labels, ascending, as Python lists."""
    return [list(np.flatnonzero(row)) for row in np.asarray(indicator, dtype=bool)]


def padded_rows(
    indicator, rng, *, width=None, dtype=np.int64, shuffle=True, duplicates=True, junk=True
):
    """-1 padded index rows of ``indicator``'s labels, width at least the
    longest row (+1 when any row needs its ending -1).

    Rows are shuffled, some labels repeated (a label listed twice is still
    one label for the hinge), and entries after the first -1 are junk
    (out of range, negative), never read.
    """
    n_rows, n_classes = indicator.shape
    rows = []
    for labels in label_lists(indicator):
        labels = list(labels)
        if duplicates and labels and rng.random() < 0.5:
            labels += list(rng.choice(labels, size=int(rng.integers(1, 3))))
        if shuffle:
            labels = list(rng.permutation(labels)) if labels else []
        rows.append(labels)
    longest = max((len(row) for row in rows), default=0)
    if width is None:
        width = longest + int(rng.integers(0, 3))
    assert width >= longest
    target = np.full((n_rows, width), -1, dtype=np.int64)
    for i, labels in enumerate(rows):
        target[i, : len(labels)] = labels
        if junk and len(labels) + 1 < width:
            target[i, len(labels) + 1 :] = rng.choice(
                [-7, -1, 0, 1, n_classes, n_classes + 5, 999], size=width - len(labels) - 1
            )
    return target.astype(dtype)


def pytorch_layout(indicator, dtype=np.int64):
    """PyTorch's (N, C) layout: each row's labels, ascending, then -1s.

    A row listing every class has no -1; that only looks like a 0/1
    indicator when C <= 2 (callers avoid or expect the warning).
    """
    n_rows, n_classes = indicator.shape
    target = np.full((n_rows, n_classes), -1, dtype=dtype)
    for i, labels in enumerate(label_lists(indicator)):
        target[i, : len(labels)] = labels
    return target


def _messy_coo_parts(indicator, rng):
    """(data, rows, cols) of a COO listing every label once or twice, in
    random order, plus explicit zeros at non-labels (and at labels, next to
    a non-zero duplicate). Data values are non-zero, of varied sign."""
    rows, cols = np.nonzero(indicator)
    data = rng.choice([1.0, 2.5, -1.0, 7.0], size=rows.size)
    # Duplicates with non-zero values of the same sign (they sum to a
    # non-zero): still one label.
    repeat = rng.random(rows.size) < 0.5
    extra_rows, extra_cols = rows[repeat], cols[repeat]
    extra_data = data[repeat]
    # Explicit zeros at a few non-labels and at a few labels.
    zero_rows, zero_cols = np.nonzero(~indicator)
    keep = rng.random(zero_rows.size) < 0.3
    zero_rows, zero_cols = zero_rows[keep], zero_cols[keep]
    label_zero = rng.random(rows.size) < 0.3
    all_rows = np.concatenate([rows, extra_rows, zero_rows, rows[label_zero]])
    all_cols = np.concatenate([cols, extra_cols, zero_cols, cols[label_zero]])
    all_data = np.concatenate(
        [data, extra_data, np.zeros(zero_rows.size), np.zeros(int(label_zero.sum()))]
    )
    order = rng.permutation(all_rows.size)
    return all_data[order], all_rows[order], all_cols[order]


def sparse_form(indicator, name, rng):
    """``indicator`` as the sparse form ``name`` (one of SPARSE_FORM_NAMES).

    "<fmt>_matrix" / "<fmt>_array": the class built from the dense
    indicator (bool, int8 or float data); "coo_messy": unsorted COO with
    duplicates and explicit zeros; "csr_messy[_array]": the same, as a CSR
    built with the raw (data, indices, indptr) constructor (unsorted
    indices, duplicates, stored zeros); "bsr_blocks": BSR with 2x2 blocks
    (or 1x1 when a side is odd), whose blocks store zeros.
    """
    indicator = np.asarray(indicator, dtype=bool)
    shape = indicator.shape
    if name == "coo_messy":
        data, rows, cols = _messy_coo_parts(indicator, rng)
        return scipy.sparse.coo_matrix((data, (rows, cols)), shape=shape)
    if name.startswith("csr_messy"):
        data, rows, cols = _messy_coo_parts(indicator, rng)
        order = np.argsort(rows, kind="stable")  # grouped by row, columns unsorted
        indptr = np.zeros(shape[0] + 1, dtype=np.int32)
        np.cumsum(np.bincount(rows, minlength=shape[0]), out=indptr[1:])
        cls = scipy.sparse.csr_array if name.endswith("array") else scipy.sparse.csr_matrix
        return cls((data[order], cols[order].astype(np.int32), indptr), shape=shape)
    if name == "bsr_blocks":
        blocksize = (2 if shape[0] % 2 == 0 else 1, 2 if shape[1] % 2 == 0 else 1)
        return scipy.sparse.bsr_matrix(indicator.astype(np.int8), blocksize=blocksize)
    fmt, kind = name.split("_")
    cls = SPARSE_CLASSES[fmt][kind == "array"]
    dense_dtype = (np.bool_, np.int8, np.float64)[int(rng.integers(0, 3))]
    values = indicator.astype(dense_dtype)
    if dense_dtype == np.float64:
        values = values * rng.choice([1.0, -2.0, 0.5], size=shape)
    with warnings.catch_warnings():
        # DIA of a random matrix has many diagonals: scipy warns it is slow.
        warnings.simplefilter("ignore", scipy.sparse.SparseEfficiencyWarning)
        return cls(values)


def sparse_snapshot(matrix):
    """Copies of every array a sparse object holds, to check it is unchanged."""
    if isinstance(matrix, (scipy.sparse.dok_matrix, scipy.sparse.dok_array)):
        return ("dok", dict(matrix.items()))
    if isinstance(matrix, (scipy.sparse.lil_matrix, scipy.sparse.lil_array)):
        return ("lil", [list(r) for r in matrix.rows], [list(d) for d in matrix.data])
    parts = []
    for attribute in ("data", "indices", "indptr", "row", "col", "coords", "offsets"):
        value = getattr(matrix, attribute, None)
        if isinstance(value, tuple):
            parts.extend(np.array(v, copy=True) for v in value)
        elif value is not None:
            parts.append(np.array(value, copy=True))
    return (type(matrix).__name__, matrix.shape, parts)


def snapshots_equal(first, second):
    if first[0] != second[0] or len(first) != len(second):
        return False
    if first[0] in ("dok", "lil"):
        return first[1:] == second[1:]
    if first[1] != second[1] or len(first[2]) != len(second[2]):
        return False
    return all(
        a.dtype == b.dtype and a.shape == b.shape and np.array_equal(a, b)
        for a, b in zip(first[2], second[2], strict=True)
    )


@st.composite
def padded_index_rows(draw, n_rows, n_classes, width, junk):
    """``n_rows`` lists of ``width`` class indices: each row's used entries
    (duplicates likely), then -1, then entries drawn from ``junk`` that are
    never read."""
    rows = []
    for _ in range(n_rows):
        n_used = draw(st.integers(0, width))
        used = draw(st.lists(st.integers(0, n_classes - 1), min_size=n_used, max_size=n_used))
        tail = []
        if n_used < width:
            tail = [-1] + draw(
                st.lists(junk, min_size=width - n_used - 1, max_size=width - n_used - 1)
            )
        rows.append(used + tail)
    return rows


def pytorch_layout_targets(rng, n_rows, n_classes):
    """(N, C) int64 targets: full rows, empty rows, duplicates, valid padding."""
    target = np.empty((n_rows, n_classes), dtype=np.int64)
    for row in range(n_rows):
        kind = row % 5
        if kind == 0:  # empty row
            n_used = 0
        elif kind == 1:  # every class a target, in random order
            n_used = n_classes
        else:
            n_used = int(rng.integers(1, n_classes + 1))
        if kind == 1:
            used = rng.permutation(n_classes)
        elif kind == 4:  # duplicates, often several
            used = rng.integers(0, max(1, n_classes // 3), size=n_used)
        else:
            used = rng.integers(0, n_classes, size=n_used)
        target[row, :n_used] = used
        if n_used < n_classes:
            target[row, n_used] = -1
            # Padding: anything PyTorch accepts, never read by either side.
            target[row, n_used + 1 :] = rng.integers(
                -1, n_classes, size=n_classes - n_used - 1
            )
    return target
