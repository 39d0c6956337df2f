"""fastmargin's own threads: serial kernels run over chunks of rows on a
small pool of Python threads.

Why not numba's ``parallel=True``: numba runs ``prange`` loops on a
threading layer chosen once per process, and on a machine without TBB that
is GNU OpenMP (a fork after any parallel call kills the child: every
``multiprocessing`` pool and PyTorch ``DataLoader`` worker) or numba's
workqueue (it aborts when two Python threads run parallel code at once).
OpenMP's threads also spin at the barrier, so under CPU load a call waits
for threads the OS has descheduled. Here the kernels are serial, compiled
with ``nogil=True``, and the work is split in Python instead:

- the calling thread always works on its own call, helpers from the pool
  take chunks from the same shared counter, so a helper the OS has put to
  sleep only means that the others take more chunks (nobody waits for a
  thread that has nothing left to do);
- waiting is a blocking wait on an event, never a spin;
- after a fork the child starts with a new, empty pool (its parent's
  threads do not exist there);
- any number of Python threads may call at once: each call waits only for
  its own chunks, and pool threads never wait for anything;
- numba's threading layer is never started or chosen by fastmargin, so a
  layer that the user picked for their own code stays as it is (and one
  that cannot load does not stop fastmargin).

The number of threads is numba's for the calling thread, so
``numba.set_num_threads`` and ``NUMBA_NUM_THREADS`` apply as to any numba
code. Results never depend on it: every kernel computes each row (or block
of rows) on its own, whatever the chunking.
"""

import os
import queue
import threading

import numba

# Chunks per thread: more than one lets a thread that runs late (another
# process holds its core) hand its share to the others.
CHUNKS_PER_THREAD = 4


def thread_count():
    """Threads a call may use, the calling thread included:
    ``numba.get_num_threads()`` once numba's threads are running (a
    ``numba.set_num_threads`` starts them), else ``NUMBA_NUM_THREADS``.
    Asking numba earlier would start its threading layer, or fail where the
    layer that the user chose cannot load."""
    try:
        numba.threading_layer()
    except ValueError:  # numba's threads not started: its count is the default
        return numba.config.NUMBA_NUM_THREADS
    return numba.get_num_threads()


def chunk_count(n_items, work, min_chunk_work):
    """How many chunks ``n_items`` items of ``work`` units in all split into:
    each chunk at least ``min_chunk_work`` (below that a thread's launch
    costs more than it saves), at most ``CHUNKS_PER_THREAD`` per thread. 1
    means: run serially in the calling thread."""
    by_work = work // max(min_chunk_work, 1)
    if by_work < 2:  # most small calls: no need to ask numba for a count
        return 1
    return int(max(1, min(n_items, by_work, CHUNKS_PER_THREAD * thread_count())))


def parallel_for(body, n_items, n_chunks):
    """Call ``body(start, stop)`` over ``[0, n_items)`` split into
    ``n_chunks`` contiguous chunks; the calling thread works too, pool
    threads help. Returns once every chunk is done; re-raises the first
    exception a chunk raised."""
    n_chunks = max(1, min(n_chunks, n_items))
    if n_chunks == 1:
        if n_items:
            body(0, n_items)
        return
    helpers = min(thread_count(), n_chunks) - 1
    call = _Call(body, n_items, n_chunks)
    if helpers > 0:
        _pool.request(call.work, helpers)
    try:
        call.work()
        call.done.wait()
    except BaseException:  # KeyboardInterrupt: no chunk may run after we return
        call.cancel()
        raise
    finally:
        call.body = None  # queued helpers keep the call: let go of its arrays
    if call.errors:
        raise call.errors[0]


class _Call:
    """One ``parallel_for``: its chunks, taken in order by whichever thread
    asks next, and an event set when the last one is done."""

    def __init__(self, body, n_items, n_chunks):
        self.body = body
        self.n_items = n_items
        self.n_chunks = n_chunks
        # A range iterator hands each chunk out once, atomically under the GIL.
        self.chunks = iter(range(n_chunks))
        self.lock = threading.Lock()
        self.remaining = n_chunks
        self.errors = []
        self.cancelled = False
        self.done = threading.Event()

    def work(self):
        """Run chunks until none is left (called by the caller and helpers);
        once cancelled, only count them off."""
        for chunk in self.chunks:
            try:
                if not self.cancelled:
                    start = chunk * self.n_items // self.n_chunks
                    stop = (chunk + 1) * self.n_items // self.n_chunks
                    self.body(start, stop)
            except Exception as error:  # re-raised in the calling thread
                self.errors.append(error)
            finally:
                with self.lock:
                    self.remaining -= 1
                    if self.remaining == 0:
                        self.done.set()

    def cancel(self):
        """Skip the chunks nobody has started, and wait for those that run:
        their writes must end before the caller's arrays are used again (a
        second KeyboardInterrupt stops the wait)."""
        self.cancelled = True
        for _ in self.chunks:  # count off what is left, here
            with self.lock:
                self.remaining -= 1
                if self.remaining == 0:
                    self.done.set()
        self.done.wait()


class _Pool:
    """Daemon threads that run the work functions put on a queue."""

    def __init__(self):
        self.lock = threading.Lock()
        self.tasks = queue.SimpleQueue()
        self.threads = []

    def request(self, work, helpers):
        """Have ``helpers`` pool threads call ``work()``; start threads up to
        that many (they are kept for later calls)."""
        with self.lock:
            while len(self.threads) < helpers:
                thread = threading.Thread(
                    target=self._serve, name=f"fastmargin-{len(self.threads)}", daemon=True
                )
                thread.start()
                self.threads.append(thread)
        for _ in range(helpers):
            self.tasks.put(work)

    def _serve(self):
        while True:
            work = self.tasks.get()
            try:
                work()
            except Exception:  # never: work() keeps its chunks' errors
                pass
            del work  # hold no finished call while waiting for the next


_pool = _Pool()


def _reset_after_fork():
    """In a forked child the parent's pool threads do not exist: start over."""
    global _pool
    _pool = _Pool()


if hasattr(os, "register_at_fork"):  # POSIX; elsewhere there is no fork
    os.register_at_fork(after_in_child=_reset_after_fork)
