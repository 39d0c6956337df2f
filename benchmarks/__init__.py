"""fastmargin's benchmarks.

Two kinds live here:

- ``bench_*.py``: the asv (airspeed velocity) suite, configured by
  ``asv.conf.json`` at the top of the repository (``asv run``,
  ``asv continuous main HEAD``, ``asv publish``). ``bench_common.py`` holds
  the helpers the suite shares and defines no benchmarks.
- the other modules are scripts, run as ``python benchmarks/<name>.py``: the
  README's tables and measurements. asv imports them while it discovers the
  suite; they define no asv benchmark names and do nothing on import.

This file makes the directory a regular package, so that asv imports it
under the name ``benchmarks`` and never mixes it up with another
``benchmarks`` on ``sys.path``.
"""
