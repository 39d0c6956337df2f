"""The command-line tool and the set-up the README promises."""

import importlib
import importlib.metadata
import importlib.util
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import numba
import numpy as np
import pytest
import scipy.sparse

import fastmargin
from fastmargin.cli.timing import (
    TARGET_FORMS,
    floor_bytes,
    hinge_floor_bytes,
    make_batch,
    ranking_floor_bytes,
    target_in_form,
)

REPOSITORY = Path(__file__).resolve().parents[2]
TORCH = importlib.util.find_spec("torch") is not None
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
SMALL = ("--n", "32", "--classes", "12", "--targets", "3", "--repeat", "2", "--warmup", "1")


def compiled_environment():
    """The environment with numba's JIT on: timing plain-Python kernels (a
    suite run with NUMBA_DISABLE_JIT=1) would take hours."""
    environment = dict(os.environ)
    environment.pop("NUMBA_DISABLE_JIT", None)
    return environment


def run_cli(*arguments, env=None):
    return subprocess.run(
        [sys.executable, "-m", "fastmargin", *arguments],
        capture_output=True,
        text=True,
        timeout=300,
        env=dict(compiled_environment(), **(env or {})),
    )


def run_main_without(modules, arguments):
    """Call the CLI's main in a fresh interpreter in which ``modules`` cannot
    be imported (as if they were not installed)."""
    code = (
        "import sys\n"
        f"for name in {list(modules)!r}:\n"
        "    sys.modules[name] = None\n"
        "from fastmargin.__main__ import main\n"
        f"sys.exit(main({list(arguments)!r}))\n"
    )
    return subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=300,
        env=compiled_environment(),
    )


def assert_one_line_error(completed, status, message):
    assert completed.returncode == status, completed.stderr
    lines = completed.stderr.strip().splitlines()
    assert len(lines) == 1, completed.stderr
    assert "error: " in lines[0] and message in lines[0]
    assert "Traceback" not in completed.stderr
    assert completed.stdout == ""


@pytest.mark.slow
def test_info_names_versions_threads_gpu_and_cache():
    completed = run_cli("info")
    assert completed.returncode == 0, completed.stderr
    out = completed.stdout
    assert re.search(rf"^fastmargin +{re.escape(fastmargin.__version__)}$", out, re.M)
    assert re.search(rf"^numba +{re.escape(numba.__version__)}$", out, re.M)
    assert re.search(rf"^numpy +{re.escape(np.__version__)}$", out, re.M)
    assert re.search(rf"^scipy +{re.escape(scipy.__version__)}$", out, re.M)
    assert re.search(
        rf"^threads +{numba.get_num_threads()} threads, fastmargin's own threads "
        r"\(fork-safe, thread-safe\)",
        out,
        re.M,
    )
    assert re.search(
        r"^numba layer +(tbb|omp|workqueue).*; fastmargin does not use it$", out, re.M
    )
    assert re.search(r"^gpu +\S", out, re.M)
    assert re.search(r"^numba cache +\S", out, re.M)
    try:
        importlib.metadata.version("numba-cuda")
    except importlib.metadata.PackageNotFoundError:
        assert re.search(r"^gpu +none: numba-cuda not installed$", out, re.M)


@pytest.mark.slow
def test_info_json_is_one_object():
    completed = run_cli("info", "--json")
    assert completed.returncode == 0, completed.stderr
    info = json.loads(completed.stdout)
    assert info["fastmargin"] == fastmargin.__version__
    assert info["numba"] == numba.__version__
    assert info["numba_threads"] == numba.get_num_threads() >= 1
    assert info["threading_layer"] in ("omp", "tbb", "workqueue")
    # Nothing in `fastmargin info` runs parallel numba code.
    assert info["threading_layer_started"] is False
    assert isinstance(info["gpu_usable"], bool) and info["gpu"]


@pytest.mark.slow
def test_info_says_when_the_disk_cache_is_off():
    completed = run_cli("info", "--json", env={"FASTMARGIN_CACHE": "0"})
    assert completed.returncode == 0, completed.stderr
    info = json.loads(completed.stdout)
    assert info["numba_cache_dir"] is None
    assert info["numba_cache"].startswith("off (FASTMARGIN_CACHE=0)")


@pytest.mark.slow
@pytest.mark.parametrize("layer", ["omp", "workqueue", "tbb"])
def test_info_warns_about_an_unsafe_numba_layer(layer):
    completed = run_cli("info", env={"NUMBA_THREADING_LAYER": layer})
    assert completed.returncode == 0, completed.stderr
    line = next(
        line for line in completed.stdout.splitlines() if line.startswith("numba layer")
    )
    assert f" {layer} (not started)" in line
    assert ("warning: unsafe" in line) == (layer != "tbb")


@pytest.mark.slow
def test_bench_json_has_a_record_per_case_with_every_number():
    completed = run_cli(
        "bench",
        "--json",
        "--loss",
        "ranking",
        "hinge",
        "--n",
        "32",
        "--classes",
        "12",
        "20",
        "--targets",
        "3",
        "--dtype",
        "float32",
        "float64",
        "--form",
        *TARGET_FORMS,
        "--repeat",
        "3",
        "--warmup",
        "1",
    )
    assert completed.returncode == 0, completed.stderr
    records = json.loads(completed.stdout)  # JSON alone on stdout
    cases = {
        (r["loss"], r["n"], r["classes"], r["targets"], r["dtype"], r["form"]) for r in records
    }
    assert len(records) == len(cases) == 2 * 2 * 2 * len(TARGET_FORMS)
    assert {case[2] for case in cases} == {12, 20}
    for record in records:
        fast = record["fastmargin"]
        assert len(fast["times_ms"]) == 3 and min(fast["times_ms"]) > 0
        assert fast["min_ms"] <= fast["q1_ms"] <= fast["median_ms"] <= fast["q3_ms"]
        assert fast["iqr_ms"] == pytest.approx(fast["q3_ms"] - fast["q1_ms"])
        assert record["floor_ms"] > 0
        assert record["x_floor"] == pytest.approx(fast["median_ms"] / record["floor_ms"])
        assert record["device"] == "cpu"
        assert record["machine"]["numba"] == numba.__version__
        assert record["machine"]["copy_bandwidth_gb_s"] > 0
        if TORCH:
            assert record["speedup_vs_pytorch"] == pytest.approx(
                record["pytorch"]["median_ms"] / fast["median_ms"]
            )
        else:
            assert record["pytorch"] is None and record["speedup_vs_pytorch"] is None
        if record["loss"] == "hinge":
            assert record["speedup_vs_numpy"] > 0 and record["numpy"]["median_ms"] > 0
        else:
            assert record["numpy"] is None and record["speedup_vs_numpy"] is None
    padded = next(
        r
        for r in records
        if (r["loss"], r["classes"], r["dtype"], r["form"])
        == ("ranking", 12, "float32", "padded")
    )
    # Scores read and gradient written, 3 targets and the -1 per row read.
    assert padded["floor_bytes"] == 2 * 32 * 12 * 4 + 32 * 4 * 8


@pytest.mark.slow
def test_options_without_a_command_mean_bench_and_print_a_table():
    completed = run_cli("--n", "64", "--classes", "20", "--targets", "3", "--repeat", "2")
    assert completed.returncode == 0, completed.stderr
    out = completed.stdout
    assert "fastmargin (ms)" in out and "x floor" in out
    for loss in ("ranking", "hinge"):
        row = re.search(rf"^\W*{loss} +64 x 20 +3 +float32 +padded .*$", out, re.M)
        assert row, out
        if TORCH:
            assert re.search(r" [0-9.]+x\b", row.group(0)), row.group(0)
    if not TORCH:
        assert "PyTorch is not installed" in out


@pytest.mark.slow
def test_no_arguments_gives_a_short_info_and_the_default_bench():
    completed = run_cli()
    assert completed.returncode == 0, completed.stderr
    first = completed.stdout.splitlines()[0]
    assert first.startswith(f"fastmargin {fastmargin.__version__}, numba {numba.__version__}")
    assert "threads" in first and "GPU" in first
    for loss in ("ranking", "hinge"):
        assert re.search(
            rf"^\W*{loss} +4096 x 1000 +5 +float32 +padded ", completed.stdout, re.M
        )


@pytest.mark.slow
def test_plain_output_and_clear_plot_error_without_the_optional_libraries(tmp_path):
    missing = ["rich", "matplotlib"]
    completed = run_main_without(missing, ["bench", "--loss", "hinge", "--no-compare", *SMALL])
    assert completed.returncode == 0, completed.stderr
    lines = completed.stdout.splitlines()
    header = next(line for line in lines if line.startswith("loss "))
    assert re.match(r"loss +N x C +targets +dtype +form +fastmargin \(ms\)", header)
    # No reference timed: PyTorch, NumPy and both speed-ups are "-".
    assert re.search(
        r"^hinge +32 x 12 +3 +float32 +padded +[0-9.]+ .*( +-){4}$", completed.stdout, re.M
    )
    plot = tmp_path / "out.png"
    completed = run_main_without(missing, ["bench", *SMALL, "--plot", str(plot)])
    assert_one_line_error(completed, 1, "--plot needs matplotlib")
    assert not plot.exists()


@pytest.mark.slow
def test_plot_writes_a_png_against_classes_or_targets(tmp_path):
    by_classes = tmp_path / "classes.png"
    completed = run_cli(
        "bench",
        "--n",
        "32",
        "--classes",
        "10",
        "30",
        "--targets",
        "2",
        "--form",
        "padded",
        "csr",
        "--repeat",
        "2",
        "--warmup",
        "1",
        "--plot",
        str(by_classes),
    )
    assert completed.returncode == 0, completed.stderr
    assert by_classes.read_bytes().startswith(PNG_SIGNATURE)
    by_targets = tmp_path / "targets.png"
    completed = run_cli(
        "bench",
        "--json",
        "--loss",
        "hinge",
        "--n",
        "32",
        "--classes",
        "30",
        "--targets",
        "1",
        "4",
        "--repeat",
        "2",
        "--warmup",
        "1",
        "--plot",
        str(by_targets),
    )
    assert completed.returncode == 0, completed.stderr
    assert len(json.loads(completed.stdout)) == 2  # the plot's note went to stderr
    assert by_targets.read_bytes().startswith(PNG_SIGNATURE)


@pytest.mark.slow
@pytest.mark.parametrize(
    ("arguments", "status", "message"),
    [
        (
            ["--targets", "50", "--classes", "10"],
            2,
            "--targets must lie in [0, --classes], got 50",
        ),
        (["--n", "0"], 2, "must be a positive integer, got 0"),
        (["bench", "--classes", "-3"], 2, "must be a positive integer, got -3"),
        (["bench", "--repeat", "two"], 2, "must be a positive integer, got two"),
        (["bench", "--loss", "squared"], 2, "invalid choice: 'squared'"),
        (["bench", "--dtype", "float16"], 2, "invalid choice: 'float16'"),
        (["bench", "--form", "dense"], 2, "invalid choice: 'dense'"),
        (["bench", "--n", "1000000", "--classes", "10000000"], 1, "GiB"),
        (["bench", "--plot", "out.notanimage"], 1, "--plot"),
        (["frobnicate"], 2, "invalid choice: 'frobnicate'"),
        (["info", "--n", "3"], 2, "unrecognized arguments"),
    ],
)
def test_bad_arguments_give_one_clear_line_and_a_failing_status(arguments, status, message):
    assert_one_line_error(run_cli(*arguments), status, message)


@pytest.mark.slow
@pytest.mark.parametrize(
    ("command", "mentions"),
    [
        ([], ["info", "bench", "--version"]),
        (["info"], ["--json"]),
        (
            ["bench"],
            [
                "--loss",
                "--n",
                "--classes",
                "--targets",
                "--dtype",
                "--form",
                "--repeat",
                "--json",
                "--plot",
            ],
        ),
    ],
)
def test_every_command_has_help(command, mentions):
    completed = run_cli(*command, "--help")
    assert completed.returncode == 0, completed.stderr
    assert completed.stdout.startswith("usage: python -m fastmargin")
    for option in mentions:
        assert option in completed.stdout


@pytest.mark.slow
def test_console_script_entry_point(capsys):
    pyproject = (REPOSITORY / "pyproject.toml").read_text()
    entry = re.search(
        r'^\[project\.scripts\]\n(?:.*\n)*?fastmargin = "([\w.]+):(\w+)"$', pyproject, re.M
    )
    assert entry, "no fastmargin console script in pyproject.toml"
    main = getattr(importlib.import_module(entry.group(1)), entry.group(2))
    # Console scripts run sys.exit(main()): main returns the exit status.
    assert main(["info"]) == 0
    assert f"fastmargin   {fastmargin.__version__}" in capsys.readouterr().out
    assert main(["bench", "--plot", "out.notanimage"]) == 1
    assert "error: --plot" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exited:
        main(["bench", "--n", "0"])
    assert exited.value.code == 2
    script = Path(sys.executable).parent / "fastmargin"
    if script.exists():  # installed (pip install -e .): the script itself
        completed = subprocess.run(
            [str(script), "--version"], capture_output=True, text=True, timeout=300
        )
        assert completed.returncode == 0, completed.stderr
        assert completed.stdout.strip() == f"fastmargin {fastmargin.__version__}"


@pytest.mark.slow
def test_info_imports_numba_cuda_only_when_numba_cuda_is_installed():
    code = (
        "import sys\n"
        "from fastmargin.__main__ import main\n"
        "assert main(['info']) == 0\n"
        "print('numba.cuda imported:', 'numba.cuda' in sys.modules)\n"
    )
    completed = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=300,
        env=compiled_environment(),
    )
    assert completed.returncode == 0, completed.stderr
    try:
        importlib.metadata.version("numba-cuda")
    except importlib.metadata.PackageNotFoundError:
        assert "numba.cuda imported: False" in completed.stdout
    else:
        assert "numba.cuda imported: True" in completed.stdout


class _FakeDevice:
    name = b"Fake GPU 80GB"
    compute_capability = (9, 0)


class _FakeCuda:
    def __init__(self, available=True, error=None):
        self.available, self.error = available, error

    def is_available(self):
        if self.error is not None:
            raise self.error
        return self.available

    def get_current_device(self):
        return _FakeDevice()


@pytest.mark.parametrize(
    ("fake", "usable", "says"),
    [
        (_FakeCuda(), True, "Fake GPU 80GB (compute capability 9.0)"),
        (_FakeCuda(available=False), False, "no CUDA driver"),
        (
            _FakeCuda(error=OSError("libcuda.so: cannot open\nmore")),
            False,
            "CUDA not usable: OSError: libcuda.so: cannot open",
        ),
    ],
)
def test_info_reports_the_gpu_and_why_not(monkeypatch, fake, usable, says):
    from fastmargin.cli import info

    real_version = info.installed_version
    monkeypatch.setattr(
        info,
        "installed_version",
        lambda name: "0.20.0" if name == "numba-cuda" else real_version(name),
    )
    monkeypatch.setattr(numba, "cuda", fake, raising=False)
    found_usable, description = info.gpu_status()
    assert found_usable is usable
    assert description.startswith(says) and "\n" not in description


def test_target_forms_hold_the_same_labels_and_the_floor_counts_what_is_read():
    scores, compact = make_batch(40, 16, 5, layout="compact")
    _, padded = make_batch(40, 16, 5, layout="torch")
    forms = {form: target_in_form(compact, 16, form) for form in TARGET_FORMS}
    np.testing.assert_array_equal(forms["padded"], padded)
    indicator = forms["bool"]
    assert indicator.dtype == np.bool_ and indicator.sum() == 40 * 5
    np.testing.assert_array_equal(forms["csr"].toarray(), indicator)
    assert scipy.sparse.issparse(forms["csr"])
    assert floor_bytes(scores, padded) == ranking_floor_bytes(scores, padded)
    assert floor_bytes(scores, compact) == hinge_floor_bytes(scores, compact)
    assert floor_bytes(scores, indicator) == 2 * scores.nbytes + 40 * 16
    csr = forms["csr"]
    assert floor_bytes(scores, csr) == (
        2 * scores.nbytes + csr.indptr.nbytes + csr.indices.nbytes + csr.data.nbytes
    )


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


def run_in_fresh_cache(cache_dir, *command):
    environment = dict(os.environ, NUMBA_CACHE_DIR=str(cache_dir))
    environment.pop("NUMBA_DISABLE_JIT", None)
    return subprocess.run(
        [sys.executable, *command],
        capture_output=True,
        text=True,
        timeout=600,
        env=environment,
    )


# Prints the fastmargin kernels that the first hinge calls compile.
COMPILED_BY_FIRST_CALLS = """
import numpy as np
from numba.core import event
import fastmargin
scores = np.ones((4, 12), np.float32)
target = np.array([[1, 2, -1]] * 4)
with event.install_recorder("numba:compile") as recorder:
    fastmargin.multilabel_hinge_loss_and_grad(scores, target)
    fastmargin.multilabel_hinge_loss(scores, target)
    fastmargin.AdaptiveMargins(12).loss_and_grad(scores, target)
names = {e.data["dispatcher"].py_func.__module__ for _, e in recorder.buffer}
print(sorted(name for name in names if name.startswith("fastmargin")))
"""


@pytest.mark.slow
def test_precompile_command_fills_the_cache_for_later_processes(tmp_path):
    before = run_in_fresh_cache(tmp_path, "-c", COMPILED_BY_FIRST_CALLS)
    assert before.returncode == 0, before.stderr
    assert "fastmargin.kernels.hinge" in before.stdout  # a cold cache compiles
    cache = tmp_path / "second"
    completed = run_in_fresh_cache(cache, "-m", "fastmargin", "precompile", "--loss", "hinge")
    assert completed.returncode == 0, completed.stderr
    assert "[1/1] hinge: " in completed.stdout
    after = run_in_fresh_cache(cache, "-c", COMPILED_BY_FIRST_CALLS)
    assert after.returncode == 0, after.stderr
    assert after.stdout.strip() == "[]"  # everything loaded from the cache


@pytest.mark.slow
def test_bench_says_when_it_compiles(tmp_path):
    command = (
        "-m",
        "fastmargin",
        "bench",
        "--loss",
        "hinge",
        "--n",
        "8",
        "--classes",
        "10",
        "--no-compare",
        "--repeat",
        "1",
        "--warmup",
        "1",
    )
    first = run_in_fresh_cache(tmp_path, *command)
    second = run_in_fresh_cache(tmp_path, *command)
    assert first.returncode == 0 and second.returncode == 0, first.stderr + second.stderr
    assert "compiling kernels (first run only)" in first.stderr
    assert "compiling kernels" not in second.stderr


@pytest.mark.slow
def test_bench_load_runs_busy_processes_and_says_so():
    completed = run_cli(
        "bench",
        "--json",
        "--loss",
        "hinge",
        "--n",
        "64",
        "--classes",
        "100",
        "--no-compare",
        "--repeat",
        "2",
        "--load",
        "1",
    )
    assert completed.returncode == 0, completed.stderr
    records = json.loads(completed.stdout)
    assert records and all(record["machine"]["busy_processes"] == 1 for record in records)
    text = run_cli(
        "bench",
        "--loss",
        "hinge",
        "--n",
        "8",
        "--classes",
        "10",
        "--no-compare",
        "--repeat",
        "1",
        "--load",
        "1",
    )
    assert "Load: 1 busy process(es)" in text.stdout


@pytest.mark.parametrize(
    "arguments",
    [{"losses": ["ranking", "cosine"]}, {"dtypes": "float32"}, {"targets": ["float"]}],
)
def test_precompile_refuses_unknown_variants(arguments):
    with pytest.raises(ValueError, match=next(iter(arguments))):
        fastmargin.precompile(**arguments)


@pytest.mark.slow
def test_precompile_runs_from_a_script_without_a_main_guard(tmp_path):
    # Workers must not re-import the caller's script (as multiprocessing's
    # spawn does, which fails for a top-level call in a build script).
    script = tmp_path / "build.py"
    script.write_text(
        "import fastmargin\nprint(sorted(fastmargin.precompile(losses=['hinge'])))\n"
    )
    completed = run_in_fresh_cache(tmp_path / "cache", str(script))
    assert completed.returncode == 0, completed.stderr
    assert completed.stdout.split() == ["['hinge']"]
