"""A template process that forks report kernels with the report libraries already imported.

Starting an IPython kernel and importing ipykernel, pandas, matplotlib, scipy and the
report modules into it costs about 2.5 s of CPU; on a 2-core machine that was almost
half the cost of a report. This process pays it once per render worker: it imports
everything, then waits on stdin. For each request (a kernel connection file) it forks a
child that becomes a fresh IPython kernel on that connection file and answers with the
child's pid.

The template never runs report code, so every kernel starts from the same state: the
imports and nothing else. Each kernel still serves exactly one report (see
:mod:`pipeline.render.kernels`), so nothing passes between schools.

Protocol (one JSON object per line): the template writes ``{"ready": true}`` (or
``{"error": ...}`` and exits) once imported; a request ``{"connection_file": ...,
"cwd": ...}`` is answered ``{"pid": N}``. End of input ends the template; running
kernels are not affected (they are in their own sessions).

Run as ``python -m pipeline.render.zygote``.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import traceback

# Reports need no BLAS threads, and a process with fewer threads forks more safely.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")

# Everything a kernel or a report notebook imports (each kernel would pay it again):
# the kernel's own modules (its debugger class is resolved when the kernel starts),
# the libraries, and every module the notebooks import (figures brings seaborn).
PRELOAD = (
    "ipykernel.kernelapp",
    "ipykernel.ipkernel",
    "ipykernel.debugger",
    "IPython.display",
    "matplotlib",
    "matplotlib.pyplot",
    "pandas",
    "pyarrow.parquet",
    "pyarrow.dataset",
    "scipy.optimize",
    "pipeline.reports.data",
    "pipeline.reports.figures",
    "pipeline.reports.html",
    "pipeline.reports.subjects",
    "pipeline.reports.words",
    "pipeline.reports.monitoring",
    "pipeline.reports.specialist",
    "pipeline.reports.principal",
    "pipeline.reports.district",
    "pipeline.stages.partial",
    "pipeline.stats.progress",
)


def _preload() -> None:
    import importlib

    import matplotlib

    matplotlib.use("Agg")
    for name in PRELOAD:
        importlib.import_module(name)


def _become_kernel(connection_file: str, cwd: str | None) -> None:
    """In the forked child: a new session, quiet standard streams, then an IPython kernel."""
    signal.signal(signal.SIGCHLD, signal.SIG_DFL)
    os.setsid()
    devnull = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(devnull, fd)
    if cwd:
        os.chdir(cwd)
    from ipykernel.kernelapp import IPKernelApp

    app = IPKernelApp.instance()
    # No input history: a report kernel runs one notebook once, and its history would
    # be written to an SQLite file in the home folder on a thread of its own.
    app.initialize(["-f", connection_file, "--HistoryManager.enabled=False"])
    app.start()


def _reply(message: dict) -> None:
    sys.stdout.write(json.dumps(message) + "\n")
    sys.stdout.flush()


def main() -> int:
    try:
        _preload()
    except Exception:  # noqa: BLE001 - reported to the parent, which falls back
        _reply({"error": traceback.format_exc(limit=3)})
        return 1
    # Kernels are reaped by the system: no zombies, and the parent sees a kernel that
    # exited as gone.
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)
    _reply({"ready": True})
    for line in sys.stdin:
        request = json.loads(line)
        pid = os.fork()
        if pid == 0:
            code = 0
            try:
                _become_kernel(request["connection_file"], request.get("cwd"))
            except BaseException:  # noqa: BLE001 - a child must never return into the loop
                code = 1
            finally:
                os._exit(code)
        _reply({"pid": pid})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
