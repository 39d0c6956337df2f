"""Time per class as the number of targets T grows: the measurement behind
the kernel's choice of path by T (``fastmargin/kernels/ranking.py``: eight
written-out thresholds up to 8 targets, vectorised linear counts with 16, 24
or 32 slots up to 32, a bucket grid beyond).

Run: ``python benchmarks/ranking_paths.py [--classes 10000] [--rows 256]``.
Prints, for each T, the median time of the fused loss + gradient per row and
per class (float32 scores, compact targets, all threads, warm).
"""

import argparse

from fastmargin.cli.timing import best_and_median, fastmargin_ranking_call, make_batch

TARGET_COUNTS = (1, 4, 8, 9, 12, 16, 17, 20, 24, 25, 32, 33, 48, 64, 96, 128, 129, 192, 512)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--classes", type=int, default=10000)
    parser.add_argument("--rows", type=int, default=256)
    parser.add_argument("--repeat", type=int, default=9)
    args = parser.parse_args()
    print("| targets | us per row | ns per class |")
    print("|---|---|---|")
    for n_targets in TARGET_COUNTS:
        if n_targets > args.classes:
            break
        scores, targets = make_batch(args.rows, args.classes, n_targets, layout="compact")
        _, median = best_and_median(
            fastmargin_ranking_call(scores, targets), repeat=args.repeat, warmup=2
        )
        per_row = median / args.rows
        print(f"| {n_targets} | {per_row * 1e6:.2f} | {per_row / args.classes * 1e9:.3f} |")


if __name__ == "__main__":
    main()
