"""Where spreading a call over threads starts to pay, per loss: the
measurement behind ``fastmargin/_host.py``'s smallest chunk of work
(``RANKING_CHUNK_SCORES``, ``HINGE_CHUNK_SCORES``).

For batches of growing size (rows x 100 or 1000 classes, 5 targets a row,
float32), times the fused loss + gradient with one thread and with all of
them, alternating, and prints the ratio. Below the chunk size the dispatcher
runs a call serially whatever the thread count, so there both columns time
the same thing; the chunk size is right where, just above it, the parallel
call is already no slower.

Run: ``python benchmarks/serial_threshold.py [--load K]``.
"""

import argparse

import numba
import numpy as np

from fastmargin._host import HINGE_CHUNK_SCORES, RANKING_CHUNK_SCORES
from fastmargin.cli.timing import (
    add_load_option,
    alternating_times,
    busy_processes,
    fastmargin_hinge_call,
    fastmargin_ranking_call,
    load_note,
    machine_line,
    make_batch,
)

ROWS = (8, 16, 32, 64, 128, 256, 512, 1024)


def with_threads(n_threads, call):
    def timed():
        previous = numba.get_num_threads()
        numba.set_num_threads(n_threads)
        try:
            call()
        finally:
            numba.set_num_threads(previous)

    return timed


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_load_option(parser)
    parser.add_argument("--repeat", type=int, default=60)
    args = parser.parse_args()
    threads = numba.config.NUMBA_NUM_THREADS
    print(machine_line())
    print(load_note(args.load))
    print(f"chunk sizes: ranking {RANKING_CHUNK_SCORES}, hinge {HINGE_CHUNK_SCORES} scores\n")
    print(f"| loss | N x C | scores | 1 thread (us) | {threads} threads (us) | ratio |")
    print("|---|---|---|---|---|---|")
    with busy_processes(args.load):
        for loss, make_call in (
            ("ranking", fastmargin_ranking_call),
            ("hinge", fastmargin_hinge_call),
        ):
            for n_classes in (100, 1000):
                for n_rows in ROWS:
                    scores, targets = make_batch(n_rows, n_classes, 5)
                    call = make_call(scores, targets if loss == "ranking" else targets[:, :5])
                    times = alternating_times(
                        {"one": with_threads(1, call), "all": with_threads(threads, call)},
                        repeat=args.repeat,
                        warmup=2,
                    )
                    one, every = (float(np.median(times[key])) * 1e6 for key in ("one", "all"))
                    print(
                        f"| {loss} | {n_rows} x {n_classes} | {n_rows * n_classes} "
                        f"| {one:.1f} | {every:.1f} | {every / one:.2f} |",
                        flush=True,
                    )


if __name__ == "__main__":
    main()
