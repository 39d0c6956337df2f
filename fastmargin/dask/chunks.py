"""Dask inputs brought to the form the chunk tasks take: scores chunked by
rows in one class chunk, and targets (and per-row ``grad_output``) split
into the same row chunks. Everything here runs when the graph is built."""

import math

import dask.array as da
import numpy as np
import scipy.sparse

import fastmargin

# The largest chunk that rechunking scores chunked along classes may make
# (rows of one row chunk times all classes); beyond it the call is refused.
MAX_CHUNK_BYTES = 1 << 30


def _known(array, name):
    if any(math.isnan(size) for sizes in array.chunks for size in sizes):
        raise ValueError(
            f"{name} has unknown chunk sizes (NaN): call {name}.compute_chunk_sizes() "
            "first, so that its rows can be matched"
        )


def row_chunked_scores(input):
    """``input`` as a 2-D Dask array with one class chunk: rechunked along
    classes (row chunks kept) when it has several, refused when a chunk
    would then exceed :data:`MAX_CHUNK_BYTES`."""
    if not isinstance(input, da.Array):
        raise TypeError(
            f"input must be a dask.array.Array, got {type(input).__name__}: for "
            "in-memory arrays use the functions of fastmargin itself"
        )
    if input.ndim != 2:
        raise ValueError(f"input must be 2-D (N, C), chunked by rows, got shape {input.shape}")
    _known(input, "input")
    if input.numblocks[1] == 1:
        return input
    largest = max(input.chunks[0]) * input.shape[1] * input.dtype.itemsize
    if largest > MAX_CHUNK_BYTES:
        raise ValueError(
            f"input is chunked along classes ({input.numblocks[1]} class chunks); joining "
            f"them would make chunks of {largest / 2**20:.0f} MiB, over the "
            f"{MAX_CHUNK_BYTES >> 20} MiB limit: rechunk to fewer rows per chunk with "
            "all classes in one chunk, e.g. input.rechunk({0: 'auto', 1: -1})"
        )
    return input.rechunk({1: -1})


def resolve_target_format(target, n_classes, target_format):
    """For an in-memory integer target of the scores' width read with
    "auto": "indices" when any entry lies outside {0, 1} (so that chunks
    holding only 0s and 1s are read as the whole is); else as given (a
    target that is 0/1 throughout stays ambiguous, as in memory)."""
    if (
        target_format == "auto"
        and isinstance(target, np.ndarray)
        and target.dtype != np.bool_
        and np.issubdtype(target.dtype, np.integer)
        and target.ndim == 2
        and target.shape[1] == n_classes
        and not np.isin(target, (0, 1)).all()
    ):
        return "indices"
    return target_format


def as_host_target(target):
    """A target that is not a Dask array, as an array or CSR matrix whose
    rows can be sliced: ragged label lists are padded."""
    if scipy.sparse.issparse(target):
        return scipy.sparse.csr_matrix(target)
    try:
        array = np.asarray(target)
    except ValueError:  # ragged nested sequences
        return fastmargin.targets_from_lists(target)
    if array.dtype == object:
        return fastmargin.targets_from_lists(target)
    return array


def row_blocks(value, row_chunks, name):
    """``value`` (a Dask array, NumPy array or CSR matrix with N rows) split
    into the row chunks: a list with one entry a chunk, each a graph key
    ``(name, i, ...)`` of a Dask array or an in-memory slice, and the Dask
    arrays the entries depend on."""
    n_rows = sum(row_chunks)
    if isinstance(value, da.Array):
        _known(value, name)
        if value.ndim not in (1, 2) or value.shape[0] != n_rows:
            raise ValueError(
                f"{name} must have the input's {n_rows} rows, got shape {value.shape}"
            )
        if value.chunks[0] != tuple(row_chunks):
            raise ValueError(
                f"{name}'s row chunks {value.chunks[0]} differ from the input's "
                f"{tuple(row_chunks)}: rechunk one of them to the other's chunks"
            )
        if value.ndim == 2 and value.numblocks[1] > 1:
            value = value.rechunk({1: -1})
        tail = (0,) * (value.ndim - 1)
        return [(value.name, i, *tail) for i in range(len(row_chunks))], [value]
    if value.ndim == 0 or value.shape[0] != n_rows:
        raise ValueError(
            f"{name} must have the input's {n_rows} rows, got shape {value.shape}"
        )
    stops = np.cumsum(row_chunks)
    return [value[stop - size : stop] for size, stop in zip(row_chunks, stops)], []
