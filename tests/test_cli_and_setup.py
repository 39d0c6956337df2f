"""The command-line tool and the set-up the README promises."""

import re
import subprocess
import sys
from pathlib import Path

import numpy as np

from fastmargin._bench import make_batch, ranking_floor_bytes

REPOSITORY = Path(__file__).resolve().parent.parent


def run_cli(*arguments):
    return subprocess.run(
        [sys.executable, "-m", "fastmargin", *arguments],
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_cli_times_the_fused_call_and_compares_with_torch():
    completed = run_cli("--n", "64", "--classes", "20", "--targets", "3", "--repeat", "2")
    assert completed.returncode == 0, completed.stderr
    assert re.search(r"fastmargin loss\+grad: +[0-9.]+ ms per call", completed.stdout)
    assert re.search(r"speed-up over PyTorch: [0-9.]+x", completed.stdout)


def test_cli_rejects_bad_arguments_with_one_clear_line():
    completed = run_cli("--targets", "50", "--classes", "10")
    assert completed.returncode == 2
    assert "--targets must lie in [0, --classes], got 50" in completed.stderr
    completed = run_cli("--n", "0")
    assert completed.returncode == 2
    assert "must be a positive integer, got 0" in completed.stderr


def test_ci_runs_the_readme_test_command_verbatim():
    readme = (REPOSITORY / "README.md").read_text()
    commands = re.findall(r"```bash\n(.*?)\n```", readme, flags=re.S)
    assert commands == [
        "pip install . && python -m fastmargin",
        'pip install -e ".[test]" && python -m pytest',
    ]
    ci_lines = (REPOSITORY / ".ci" / "run").read_text().splitlines()
    assert commands[1] in ci_lines


def test_make_batch_gives_distinct_labels_and_the_floor_counts_used_entries():
    scores, targets = make_batch(50, 30, 7, dtype=np.float64)
    used = targets[:, :7]
    assert np.all(targets[:, 7:] == -1)
    assert all(len(set(row)) == 7 for row in used.tolist())
    # 7 used entries and the -1 that ends each row, 8 bytes each.
    assert ranking_floor_bytes(scores, targets) == 2 * scores.nbytes + 50 * 8 * 8
    _, compact = make_batch(50, 30, 7, layout="compact")
    assert compact.shape == (50, 7) and compact.dtype == np.int64


def test_readme_python_examples_run():
    readme = (REPOSITORY / "README.md").read_text()
    blocks = re.findall(r"```python\n(.*?)```", readme, flags=re.DOTALL)
    assert len(blocks) >= 2
    namespace = {}
    for block in blocks:  # later blocks use names from earlier ones
        exec(compile(block, "README.md", "exec"), namespace)
    assert namespace["grad"].shape == namespace["scores"].shape
    # The adaptive margins moved from their initial 1.0 after one batch.
    assert not np.all(namespace["adaptive"].margins == 1.0)
