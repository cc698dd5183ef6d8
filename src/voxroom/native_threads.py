"""Thread settings of the native libraries, set before any of them loads (imported first by
the package).

NumPy's OpenBLAS starts a worker thread per core and lets each spin-wait after every
multithreaded call. Our numpy work is small arrays (audio frames, Whisper's mel filterbank),
so those threads bring no speed-up, only spinning beside the models on the same cores:
`perf` on a server with 3 talking sessions found them at 9 % of its samples
(`blas_thread_server`), and one talking session used 28.9 % of a core with one BLAS thread
against 33.5 % without (`voxroom bench capacity`, issue 17). A value the user sets wins.
"""

from __future__ import annotations

import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
