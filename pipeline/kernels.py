"""Kernels for report rendering: fresh for every report, started one report ahead.

Starting a kernel and importing pandas and matplotlib into it costs about two seconds,
more than running a report's cells. :class:`WarmKernels` starts the next kernel and its
imports while the current report executes, so a report rarely waits for a kernel. Each
kernel serves exactly one report and is then shut down: nothing passes between schools.

Kernels listen on IPC sockets in a private folder, so parallel workers cannot collide on
TCP ports (papermill issue #511), and a failed start is retried.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
import uuid
from pathlib import Path

from jupyter_client.blocking import BlockingKernelClient
from jupyter_client.manager import AsyncKernelManager
from jupyter_core.utils import run_sync
from papermill.clientwrap import PapermillNotebookClient
from papermill.engines import NBClientEngine, papermill_engines

ENGINE_NAME = "tierwise"
START_ATTEMPTS = 3
WARMUP_TIMEOUT = 120
# What every report imports; paid while the previous report runs.
WARMUP_CODE = (
    "import matplotlib\n"
    "matplotlib.use('Agg')\n"
    "import matplotlib.pyplot, pandas, pyarrow.parquet\n"
    "import pipeline.report, pipeline.report_school, pipeline.progress\n"
)


class KernelStartError(RuntimeError):
    """A kernel did not start, or failed its warm-up imports, after every attempt."""


class PrestartedKernelEngine(NBClientEngine):
    """papermill's nbclient engine, run on a kernel we started; shut down after."""

    @classmethod
    def execute_managed_notebook(
        cls,
        nb_man,
        kernel_name,
        log_output=False,
        stdout_file=None,
        stderr_file=None,
        start_timeout=60,
        execution_timeout=None,
        km=None,
        **kwargs,
    ):
        client = PapermillNotebookClient(
            nb_man,
            km=km,
            kernel_name=kernel_name,
            timeout=execution_timeout,
            startup_timeout=start_timeout,
            log_output=log_output,
            stdout_file=stdout_file,
            stderr_file=stderr_file,
            shutdown_kernel="immediate",
        )
        # cleanup_kc: stop the client's channels and shut the kernel down even though
        # the kernel manager is ours.
        return client.execute(cleanup_kc=True)


papermill_engines.register(ENGINE_NAME, PrestartedKernelEngine)


class WarmKernels:
    """A queue of one: the next report's kernel, already started and imported into."""

    def __init__(self, kernel_name: str, warmup: str = WARMUP_CODE, cwd: Path | None = None):
        self.kernel_name = kernel_name
        self.warmup = warmup
        self.cwd = cwd
        self.socket_dir = Path(tempfile.mkdtemp(prefix="tierwise-kernels-"))
        self._next: tuple[AsyncKernelManager, BlockingKernelClient, str] | None = None
        self.started = 0

    def _start(self) -> tuple[AsyncKernelManager, BlockingKernelClient, str]:
        km = AsyncKernelManager(
            kernel_name=self.kernel_name,
            transport="ipc",
            ip=str(self.socket_dir / f"k-{uuid.uuid4().hex[:12]}"),
        )
        # The kernel's own log lines (shutdown notices) are noise on the console.
        run_sync(km.start_kernel)(
            stderr=subprocess.DEVNULL, cwd=str(self.cwd) if self.cwd else None
        )
        self.started += 1
        client = BlockingKernelClient()
        client.load_connection_info(km.get_connection_info())
        client.start_channels()
        msg_id = client.execute(self.warmup, silent=True, store_history=False)
        return km, client, msg_id

    def _ready(self, km: AsyncKernelManager, client: BlockingKernelClient, msg_id: str) -> None:
        """Wait for the warm-up reply; raise if the kernel died or the imports failed."""
        try:
            while True:
                reply = client.get_shell_msg(timeout=WARMUP_TIMEOUT)
                if reply["parent_header"].get("msg_id") == msg_id:
                    break
            if reply["content"]["status"] != "ok":
                content = reply["content"]
                raise KernelStartError(
                    f"kernel warm-up failed: {content.get('ename')}: {content.get('evalue')}"
                )
        finally:
            client.stop_channels()

    def take(self) -> AsyncKernelManager:
        """A started, warmed kernel for one report; the next one starts right away."""
        last_error: Exception | None = None
        for _ in range(START_ATTEMPTS):
            try:
                pending = self._next or self._start()
                self._next = None
                km, client, msg_id = pending
                try:
                    self._ready(km, client, msg_id)
                except Exception:
                    shutdown(km)
                    raise
                self._next = self._start()
                return km
            except Exception as err:  # noqa: BLE001 - retried, then reported
                last_error = err
        raise KernelStartError(f"no kernel after {START_ATTEMPTS} attempts: {last_error}")

    def close(self) -> None:
        if self._next is not None:
            km, client, _ = self._next
            client.stop_channels()
            shutdown(km)
            self._next = None
        shutil.rmtree(self.socket_dir, ignore_errors=True)


def shutdown(km: AsyncKernelManager) -> None:
    try:
        if run_sync(km.is_alive)():
            run_sync(km.shutdown_kernel)(now=True)
        run_sync(km.cleanup_resources)()
    except Exception:  # noqa: BLE001 - a kernel that is already gone is fine
        pass
