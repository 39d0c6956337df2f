"""The asv suite runs: every benchmark in ``benchmarks/`` executes once
(``asv run --python=same --quick``) against the installed fastmargin, and
none fails.

asv runs from a copy of ``asv.conf.json`` in a temporary directory whose
environment, results and html directories are temporary too, with a
temporary HOME for ``asv machine``'s ``~/.asv-machine.json``: nothing is
left in the repository or the user's home. Slow: a few minutes, most of it
one Python process per benchmark and parameter combination.
"""

import importlib.util
import json
import os
import pathlib
import re
import site
import subprocess
import sys

import pytest

REPO = pathlib.Path(__file__).resolve().parents[2]

# asv marks a failed benchmark (or parameter combination) with "failed",
# and a broken suite with "Importing benchmark suite failed".
FAILURE = re.compile(r"\bfailed\b", re.IGNORECASE)


def _asv(arguments, config, environment):
    return subprocess.run(
        [sys.executable, "-m", "asv", *arguments, "--config", str(config)],
        cwd=REPO,
        env=environment,
        capture_output=True,
        text=True,
        timeout=1800,
        check=False,
    )


@pytest.mark.slow
def test_asv_quick_run_executes_every_benchmark_without_failure(tmp_path):
    import json5  # asv's own dependency, to read the comments in asv.conf.json

    config = json5.loads((REPO / "asv.conf.json").read_text(encoding="utf-8"))
    config.update(
        repo=str(REPO),
        benchmark_dir=str(REPO / config["benchmark_dir"]),
        env_dir=str(tmp_path / "env"),
        results_dir=str(tmp_path / "results"),
        html_dir=str(tmp_path / "html"),
    )
    config_path = tmp_path / "asv.conf.json"
    config_path.write_text(json.dumps(config, indent=4), encoding="utf-8")
    home = tmp_path / "home"
    home.mkdir()
    # A temporary HOME for ~/.asv-machine.json. User site-packages and the
    # user-wide caches (numba's, where the package directory is read-only)
    # stay where they were.
    environment = dict(
        os.environ,
        HOME=str(home),
        PYTHONUSERBASE=site.getuserbase(),
        XDG_CACHE_HOME=os.environ.get("XDG_CACHE_HOME", str(pathlib.Path.home() / ".cache")),
    )
    # The benchmarks time the compiled kernels, even in a NUMBA_DISABLE_JIT
    # run of this suite (uncompiled, the big shapes would take hours).
    environment.pop("NUMBA_DISABLE_JIT", None)

    machine = _asv(["machine", "--yes"], config_path, environment)
    assert machine.returncode == 0, machine.stdout + machine.stderr

    run = _asv(["run", "--python=same", "--quick", "--show-stderr"], config_path, environment)
    output = run.stdout + run.stderr
    # asv 0.6 exits 2 when a benchmark failed and 1 when the suite does not
    # import; its report is read as well, for any asv that exits 0 anyway.
    assert run.returncode == 0, output
    failures = [line for line in output.splitlines() if FAILURE.search(line)]
    assert not failures, "\n".join(failures) + "\n\n" + output
    # Every benchmark reported once, "ok" (a benchmark with parameters is
    # "ok" when none of its combinations failed).
    discovered = json.loads((tmp_path / "results" / "benchmarks.json").read_text())
    names = [name for name in discovered if name != "version"]
    # ("···" is "---" where asv's output is not Unicode)
    reported_ok = re.findall(r"^\[[^]]*\] [·-]{3} \S+\s+ok$", output, re.MULTILINE)
    assert names and len(reported_ok) == len(names), output
    # At this commit every feature exists: only a missing PyTorch may skip.
    if importlib.util.find_spec("torch") is not None:
        assert "asv: skipped" not in output, output
