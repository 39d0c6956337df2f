"""fastmargin inside real programs: forks after calls, many Python threads at
once, the user's numba threading layer, and fastmargin's own thread pool.

Each fork scenario runs as a script in a fresh interpreter with a timeout, so
that a child that dies (and a parent that then waits forever, as
``multiprocessing.Pool.map`` does) fails the test instead of hanging the run.
The parent always makes calls large enough to use several threads before it
forks, and the children make such calls too.
"""

import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numba
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import fastmargin
from fastmargin import _threads

REPOSITORY = Path(__file__).resolve().parents[2]
# A fork scenario takes a few seconds (a warm numba cache); compiling cold
# takes longer, but never this long.
SCRIPT_TIMEOUT = 240

# Defines work(seed): losses and gradients of a batch large enough to be
# split over threads, as bytes, so parent and child results can be compared.
COMMON = textwrap.dedent(
    """
    import hashlib
    import numpy as np
    import fastmargin as fm

    def work(seed):
        rng = np.random.default_rng(seed)
        scores = rng.standard_normal((512, 300)).astype(np.float32)
        target = rng.integers(-1, 300, size=(512, 12))
        digest = hashlib.sha256()
        for result in (
            fm.multilabel_margin_loss_and_grad(scores, target),
            fm.multilabel_hinge_loss_and_grad(scores, target),
        ):
            for array in result:
                digest.update(np.asarray(array).tobytes())
        return digest.hexdigest()
    """
)


def run_script(body, **env):
    """Run COMMON + body in a fresh interpreter; return its stdout lines."""
    environment = dict(os.environ, **env)
    environment.pop("NUMBA_DISABLE_JIT", None)
    completed = subprocess.run(
        [sys.executable, "-c", COMMON + textwrap.dedent(body)],
        cwd=REPOSITORY,
        env=environment,
        capture_output=True,
        text=True,
        timeout=SCRIPT_TIMEOUT,
    )
    assert completed.returncode == 0, completed.stdout + completed.stderr
    assert "Terminating" not in completed.stderr, completed.stderr
    return completed.stdout.split()


def assert_children_match_parent(lines):
    parent, *children = lines
    assert len(children) == 4
    assert children == [parent] * 4


@pytest.mark.slow
def test_pool_map_after_calls_in_the_parent():
    lines = run_script(
        """
        import multiprocessing as mp
        if __name__ == "__main__":
            assert mp.get_start_method() == "fork"
            print(work(1))
            with mp.Pool(2) as pool:
                for digest in pool.map_async(work, [1] * 4).get(timeout=120):
                    print(digest)
        """
    )
    assert_children_match_parent(lines)


@pytest.mark.slow
def test_process_after_calls_in_the_parent():
    lines = run_script(
        """
        import multiprocessing as mp

        def child(queue):
            queue.put(work(2))

        if __name__ == "__main__":
            print(work(2))
            queue = mp.Queue()
            processes = [mp.Process(target=child, args=(queue,)) for _ in range(4)]
            for process in processes:
                process.start()
            digests = [queue.get(timeout=120) for _ in processes]
            for process in processes:
                process.join(timeout=120)
                assert process.exitcode == 0, process.exitcode
            print("\\n".join(digests))
        """
    )
    assert_children_match_parent(lines)


@pytest.mark.slow
def test_process_pool_executor_after_calls_in_the_parent():
    lines = run_script(
        """
        from concurrent.futures import ProcessPoolExecutor
        if __name__ == "__main__":
            print(work(3))
            with ProcessPoolExecutor(2) as executor:
                for digest in executor.map(work, [3] * 4, timeout=120):
                    print(digest)
        """
    )
    assert_children_match_parent(lines)


@pytest.mark.slow
def test_torch_dataloader_workers_call_fastmargin():
    pytest.importorskip("torch")
    lines = run_script(
        """
        import torch
        from torch.utils.data import DataLoader, Dataset

        class Losses(Dataset):
            def __len__(self):
                return 4

            def __getitem__(self, index):
                return work(4)

        if __name__ == "__main__":
            print(work(4))
            loader = DataLoader(Losses(), batch_size=None, num_workers=2, timeout=120)
            for digest in loader:
                print(digest)
        """
    )
    assert_children_match_parent(lines)


@pytest.mark.slow
def test_fork_while_another_thread_computes():
    """A fork while a pool thread is busy: the child starts a new pool."""
    lines = run_script(
        """
        import multiprocessing as mp
        import threading
        if __name__ == "__main__":
            print(work(5))
            stop = threading.Event()

            def busy():
                while not stop.is_set():
                    work(6)

            thread = threading.Thread(target=busy)
            thread.start()
            try:
                with mp.Pool(2) as pool:
                    for digest in pool.map_async(work, [5] * 4).get(timeout=120):
                        print(digest)
            finally:
                stop.set()
                thread.join()
        """
    )
    assert_children_match_parent(lines)


def results_of(seed, n_rows=300, n_classes=257):
    """Every loss and gradient of one batch (ranking, hinge, adaptive)."""
    rng = np.random.default_rng(seed)
    scores = rng.standard_normal((n_rows, n_classes))
    target = rng.integers(-1, n_classes, size=(n_rows, 10 + seed % 5))
    adaptive = fastmargin.AdaptiveMargins(n_classes, rate=0.5)
    return [
        *fastmargin.multilabel_margin_loss_and_grad(scores, target, reduction="none"),
        fastmargin.multilabel_margin_loss(scores.astype(np.float32), target),
        *fastmargin.multilabel_hinge_loss_and_grad(scores, target, squared=True),
        *adaptive.loss_and_grad(scores, target),
        adaptive.margins,
        fastmargin.indicator_from_targets(target, n_classes),
    ]


def test_sixteen_python_threads_at_once_give_the_serial_results():
    seeds = list(range(16))
    serial = [results_of(seed) for seed in seeds]
    barrier = threading.Barrier(16)

    def together(seed):
        barrier.wait()  # all sixteen call at the same moment
        return [results_of(seed) for _ in range(3)]

    with ThreadPoolExecutor(16) as executor:
        concurrent = list(executor.map(together, seeds))
    for expected, repeats in zip(serial, concurrent, strict=True):
        for results in repeats:
            for a, b in zip(expected, results, strict=True):
                assert np.asarray(a).dtype == np.asarray(b).dtype
                assert np.array_equal(a, b, equal_nan=True)


@pytest.mark.slow
@pytest.mark.parametrize("layer", ["workqueue", "omp"])
def test_the_users_threading_layer_is_kept_and_safe(layer):
    """fastmargin never picks numba's layer: the user's stays, their own
    parallel code runs on it, and fastmargin is safe for threads (workqueue
    aborts on concurrent parallel calls) and forks (GNU OpenMP kills a
    child forked after a parallel region) whatever the layer."""
    lines = run_script(
        f"""
        import multiprocessing as mp
        from concurrent.futures import ThreadPoolExecutor
        import numba

        @numba.njit(parallel=True)
        def users_own(values):
            total = 0.0
            for i in numba.prange(values.size):
                total += values[i]
            return total

        if __name__ == "__main__":
            with ThreadPoolExecutor(8) as executor:
                digests = set(executor.map(work, [7] * 16))
            assert len(digests) == 1
            assert numba.config.THREADING_LAYER == "{layer}", numba.config.THREADING_LAYER
            print(digests.pop())
            with mp.Pool(2) as pool:
                for digest in pool.map_async(work, [7] * 4).get(timeout=120):
                    print(digest)
            users_own(np.ones(1000))
            print("layer", numba.threading_layer())
        """,
        NUMBA_THREADING_LAYER=layer,
    )
    assert lines[-2:] == ["layer", layer]
    assert_children_match_parent(lines[:-2])


@pytest.mark.slow
def test_numba_set_num_threads_sets_fastmargins_threads():
    lines = run_script(
        """
        import threading
        import numba
        numba.set_num_threads(1)
        one = work(8)
        print(sorted(t.name for t in threading.enumerate() if t.name.startswith("fastmargin")))
        numba.set_num_threads(2)
        two = work(8)
        print(sorted(t.name for t in threading.enumerate() if t.name.startswith("fastmargin")))
        print(one == two)
        """,
        NUMBA_NUM_THREADS="2",
    )
    assert lines == ["[]", "['fastmargin-0']", "True"]


@pytest.mark.slow
def test_small_calls_run_in_the_calling_thread():
    lines = run_script(
        """
        import threading
        import numpy as np
        scores = np.random.default_rng(0).standard_normal((64, 100))
        target = np.array([[1, 5, -1]] * 64)
        fm.multilabel_margin_loss_and_grad(scores, target)
        fm.multilabel_hinge_loss_and_grad(scores, target)
        print(sum(t.name.startswith("fastmargin") for t in threading.enumerate()))
        """,
        NUMBA_NUM_THREADS="2",
    )
    assert lines == ["0"]


@given(
    n_items=st.integers(0, 200),
    n_chunks=st.integers(1, 50),
    n_threads=st.integers(1, numba.config.NUMBA_NUM_THREADS),
)
def test_parallel_for_covers_every_item_once(n_items, n_chunks, n_threads):
    seen = np.zeros(n_items, np.int64)
    lock = threading.Lock()

    def body(start, stop):
        assert 0 <= start < stop <= n_items
        with lock:
            seen[start:stop] += 1

    previous = numba.get_num_threads()
    numba.set_num_threads(n_threads)
    try:
        _threads.parallel_for(body, n_items, n_chunks)
    finally:
        numba.set_num_threads(previous)
    assert np.all(seen == 1)


def test_parallel_for_raises_a_chunks_error_after_all_chunks_ran():
    done = []

    def body(start, stop):
        done.append(start)
        if start == 0:
            raise ZeroDivisionError("chunk 0")

    with pytest.raises(ZeroDivisionError, match="chunk 0"):
        _threads.parallel_for(body, 8, 8)
    assert sorted(done) == [0, 1, 2, 3, 4, 5, 6, 7]


def test_chunk_count():
    n_threads = numba.get_num_threads()
    assert _threads.chunk_count(10, 100, 1000) == 1  # too little work
    assert _threads.chunk_count(3, 10**9, 1) == min(3, _threads.CHUNKS_PER_THREAD * n_threads)
    assert _threads.chunk_count(10**6, 10**9, 1) == _threads.CHUNKS_PER_THREAD * n_threads
    assert _threads.chunk_count(0, 0, 1) == 1


# Compiles the ranking kernels without the cache (numba shows no LLVM IR of
# cached code) and prints, for each, how many arrays its code allocates.
KERNEL_ALLOCATIONS = textwrap.dedent(
    """
    import numpy as np
    import fastmargin as fm
    from fastmargin.kernels import ranking as _ranking

    scores = np.random.default_rng(0).standard_normal((4, 20))
    scores[3, 0] = np.inf
    rows = [[1, 2], [0, 5], list(range(10)), [0, 1]]  # many targets; infinite
    target = np.array([row + [-1] * (11 - len(row)) for row in rows])
    fm.multilabel_margin_loss_and_grad(scores, target)
    for kernel in (_ranking.ranking_few_targets[True], _ranking.ranking_many_targets[True],
                   _ranking.ranking_exact[True]):
        ir = kernel.inspect_llvm(kernel.signatures[0])
        print(ir.count("@NRT_MemInfo_alloc"))
    """
)


@pytest.mark.slow
def test_ranking_kernels_allocate_nothing(tmp_path):
    """The ranking kernels work on borrowed views (no reference counting),
    which is safe only for arrays that the caller keeps alive: a kernel that
    borrowed an array it allocated itself would write to freed memory (numba
    frees an array after its last use), as an earlier version did."""
    completed = subprocess.run(
        [sys.executable, "-c", KERNEL_ALLOCATIONS],
        cwd=REPOSITORY,
        env=dict(os.environ, NUMBA_CACHE_DIR=str(tmp_path)),
        capture_output=True,
        text=True,
        timeout=SCRIPT_TIMEOUT,
    )
    assert completed.returncode == 0, completed.stderr
    assert completed.stdout.split() == ["0", "0", "0"]


# Every entry point with every target form, float32 scores: how many
# variants of each kernel numba compiled.
COMPILED_VARIANTS = textwrap.dedent(
    """
    import numpy as np
    import scipy.sparse
    import fastmargin as fm
    from fastmargin.kernels import hinge as _hinge, ranking as _ranking

    scores = np.linspace(-1, 1, 18, dtype=np.float32).reshape(3, 6)
    labels = [[1, 2], [0], [3, 4, 5]]
    padded = np.array([row + [-1] * (6 - len(row)) for row in labels])
    forms = [
        padded, padded[:, :3], padded.astype(np.int32), padded[:, :3].astype(np.int32),
        padded.astype(np.int16), fm.indicator_from_targets(padded, 6),
        scipy.sparse.csr_array(fm.indicator_from_targets(padded, 6)),
    ]
    for target in forms:
        fm.multilabel_margin_loss_and_grad(scores, target)
        fm.multilabel_margin_loss(scores, target)
        fm.multilabel_hinge_loss_and_grad(scores, target)
        fm.multilabel_hinge_loss(scores, target)
        fm.AdaptiveMargins(6).loss_and_grad(scores, target)
    for kernel in (
        _ranking.ranking_few_targets[True], _ranking.ranking_few_targets[False],
        _hinge.hinge_rows,
    ):
        print(len(kernel.signatures))
    """
)


@pytest.mark.slow
def test_every_target_form_runs_the_same_compiled_kernels():
    """Each variant of a kernel costs a second or two of compiling on its
    first call: the target forms (int64, int32 and other integer indices,
    padded or compact, bool indicators, CSR) all reach the kernels as the
    same types, so a program that uses several compiles each kernel once
    per score dtype and entry point (fused, loss only, adaptive)."""
    assert run_script(COMPILED_VARIANTS) == ["1", "1", "3"]


@pytest.mark.skipif(not hasattr(signal, "pthread_kill"), reason="POSIX signals")
def test_an_interrupt_returns_only_after_the_running_chunks_and_skips_the_rest():
    """Ctrl-C in the calling thread while a pool thread runs a chunk: no
    chunk may still write into the caller's arrays once the call has raised
    (a notebook user catches it and calls again with the same out=)."""
    lock = threading.Lock()
    running = [0]
    finished = []
    interrupted = []

    def body(start, stop):
        with lock:
            running[0] += 1
        try:
            if threading.current_thread() is threading.main_thread():
                time.sleep(0.005)  # slow enough for the helper to take a chunk
            else:
                if not interrupted:
                    interrupted.append(start)
                    time.sleep(0.1)  # the caller has done its chunks: it waits
                    signal.pthread_kill(threading.main_thread().ident, signal.SIGINT)
                time.sleep(0.1)
                finished.append(start)
        finally:
            with lock:
                running[0] -= 1

    with pytest.raises(KeyboardInterrupt):
        _threads.parallel_for(body, 8, 8)
    assert interrupted and running[0] == 0
    done = len(finished)
    time.sleep(0.3)
    assert len(finished) == done  # nothing started afterwards


@pytest.mark.slow
@pytest.mark.skipif(
    not os.access("/proc/self/clear_refs", os.W_OK), reason="needs Linux's clear_refs"
)
def test_one_huge_row_allocates_little_beside_the_scores():
    """Regression (peak memory): the hinge expanded a scalar margin to a
    (C,) array and wrote every row's terms to a (C,) float64 buffer, 131 MB
    beside 40 MB of float32 scores for one row of 10**7 classes (3.2 times
    the scores; the ranking loss takes 1.2). Now it allocates a bool label
    mask (C bytes) and fixed scratch; with the gradient, the gradient too.
    Growth of the peak resident memory over one call, in a fresh process."""
    lines = run_script(
        """
        def peak_growth(call):
            def field(name):
                with open("/proc/self/status") as status:
                    line = next(l for l in status if l.startswith(name + ":"))
                return int(line.split()[1]) * 1024
            with open("/proc/self/clear_refs", "w") as clear_refs:
                clear_refs.write("5")  # the peak is now the current size
            before = field("VmRSS")
            call()
            return field("VmHWM") - before

        n_classes = 10**7
        scores = np.random.default_rng(0).standard_normal((1, n_classes), np.float32)
        target = np.array([[3, 1, 4, 1, 5]])
        for name in ("multilabel_hinge_loss", "multilabel_hinge_loss_and_grad",
                     "multilabel_margin_loss"):
            function = getattr(fm, name)
            function(scores[:, :10], target)  # compiled before it is measured
            growth = peak_growth(lambda: function(scores, target))
            print(name, growth / scores.nbytes)
        """
    )
    ratios = dict(zip(lines[::2], map(float, lines[1::2])))
    assert ratios["multilabel_hinge_loss"] < 0.5, ratios
    assert ratios["multilabel_hinge_loss_and_grad"] < 1.5, ratios
    assert ratios["multilabel_margin_loss"] < 1.5, ratios


@pytest.mark.slow
@pytest.mark.parametrize("setting, writes_cache", [("0", False), ("1", True)])
def test_fastmargin_cache_setting(tmp_path, setting, writes_cache):
    """FASTMARGIN_CACHE=0 keeps numba from writing fastmargin's kernels to
    its disk cache; anything else (the default) caches them."""
    run_script(
        """
        fm.multilabel_hinge_loss(np.ones((2, 3), np.float32), np.array([[0], [1]]))
        """,
        NUMBA_CACHE_DIR=str(tmp_path),
        FASTMARGIN_CACHE=setting,
    )
    cached = [path.name for path in tmp_path.rglob("*") if path.suffix in (".nbi", ".nbc")]
    assert bool(cached) == writes_cache, cached
