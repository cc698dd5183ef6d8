"""The package keeps NumPy's OpenBLAS to one thread (its spinning workers took cores from the
models), unless the user chose otherwise."""

from __future__ import annotations

import os
import subprocess
import sys

PROBE = (
    "import voxroom, numpy, threadpoolctl; "
    "print(max(i['num_threads'] for i in threadpoolctl.threadpool_info() "
    "if i['internal_api'] == 'openblas'))"
)


def _openblas_threads(**env: str) -> int:
    clean = {k: v for k, v in os.environ.items() if k != "OPENBLAS_NUM_THREADS"}
    done = subprocess.run(
        [sys.executable, "-c", PROBE], env=clean | env, capture_output=True, text=True, check=True
    )
    return int(done.stdout.strip())


def test_openblas_runs_on_one_thread_by_default() -> None:
    assert _openblas_threads() == 1


def test_the_users_setting_wins() -> None:
    assert _openblas_threads(OPENBLAS_NUM_THREADS="2") == 2
