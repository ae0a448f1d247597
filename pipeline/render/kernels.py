"""Kernels for report rendering: fresh for every report, started one report ahead.

Starting a kernel and importing ipykernel, pandas, matplotlib and scipy into it costs
about 2.5 s of CPU, more than running a report's cells. Two things keep that off the
bill. Where the system can fork, each render worker keeps one template process
(:mod:`pipeline.render.zygote`) that has imported everything once, and every kernel is a
fork of it: a new process, with the imports and nothing else. Elsewhere a kernel is
started the usual way and the imports run in it as a warm-up. Either way
:class:`WarmKernels` starts the next kernel while the current report executes, so a
report rarely waits for one, and each kernel serves exactly one report and is then shut
down: nothing passes between schools.

Kernels listen on IPC sockets in a private folder, so parallel workers cannot collide on
TCP ports (papermill issue #511), and a failed start is retried.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

from jupyter_client.blocking import BlockingKernelClient
from jupyter_client.manager import AsyncKernelManager
from jupyter_client.provisioning import LocalProvisioner
from jupyter_core.utils import run_sync
from papermill.clientwrap import PapermillNotebookClient
from papermill.engines import NBClientEngine, papermill_engines

from pipeline.errors import RenderError

ENGINE_NAME = "tierwise"
START_ATTEMPTS = 3
WARMUP_TIMEOUT = 120
# What every report imports; paid while the previous report runs.
WARMUP_CODE = (
    "import matplotlib\n"
    "matplotlib.use('Agg')\n"
    "import matplotlib.pyplot, pandas, pyarrow.parquet\n"
    "import pipeline.reports.specialist, pipeline.reports.principal, pipeline.stats.progress\n"
)


class KernelStartError(RenderError):
    """A kernel did not start, or failed its warm-up imports, after every attempt."""


class ForkedProcess:
    """What jupyter_client needs of a kernel process (poll, wait, signals) for a kernel
    forked by the template: it is the template's child, not ours, so it is polled by pid
    (the template lets the system reap it)."""

    stdin = stdout = stderr = None

    def __init__(self, pid: int):
        self.pid = pid
        self.returncode: int | None = None

    def poll(self) -> int | None:
        if self.returncode is None:
            try:
                os.kill(self.pid, 0)
            except ProcessLookupError:
                self.returncode = 0
            except PermissionError:  # the pid was reused by another user's process
                self.returncode = 0
        return self.returncode

    def wait(self, timeout: float | None = None) -> int:
        deadline = None if timeout is None else time.monotonic() + timeout
        while self.poll() is None:
            if deadline is not None and time.monotonic() > deadline:
                raise subprocess.TimeoutExpired(f"kernel {self.pid}", timeout)
            time.sleep(0.02)
        return self.returncode

    def send_signal(self, signum: int) -> None:
        os.kill(self.pid, signum)

    def terminate(self) -> None:
        self.send_signal(signal.SIGTERM)

    def kill(self) -> None:
        self.send_signal(signal.SIGKILL)


class Zygote:
    """The template process of :mod:`pipeline.render.zygote`: forks kernels on request."""

    def __init__(self, cwd: Path | None = None):
        self.process = subprocess.Popen(
            [sys.executable, "-m", "pipeline.render.zygote"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            cwd=str(cwd) if cwd else None,
            text=True,
            bufsize=1,
        )
        self.ready = self._read().get("ready", False)

    def _read(self) -> dict:
        line = self.process.stdout.readline()
        if not line:
            return {"error": "the kernel template exited"}
        return json.loads(line)

    def fork(self, connection_file: str, cwd: str | None) -> int:
        if not self.ready or self.process.poll() is not None:
            raise KernelStartError("the kernel template is not running")
        self.process.stdin.write(json.dumps({"connection_file": connection_file, "cwd": cwd}))
        self.process.stdin.write("\n")
        self.process.stdin.flush()
        answer = self._read()
        if "pid" not in answer:
            raise KernelStartError(f"the kernel template failed: {answer.get('error')}")
        return int(answer["pid"])

    def close(self) -> None:
        try:
            self.process.stdin.close()
            self.process.wait(timeout=10)
        except Exception:  # noqa: BLE001 - a template that is already gone is fine
            self.process.kill()


class ForkProvisioner(LocalProvisioner):
    """jupyter_client's local provisioner, launching by fork from the template."""

    zygote: Zygote | None = None

    async def launch_kernel(self, cmd: list[str], **kwargs):
        cwd = kwargs.get("cwd")
        pid = self.zygote.fork(self.parent.connection_file, str(cwd) if cwd else None)
        self.process = ForkedProcess(pid)
        self.pid = self.pgid = pid  # the kernel leads its own session and process group
        self.cwd = cwd or Path.cwd()
        return self.connection_info


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

    def __init__(
        self,
        kernel_name: str,
        warmup: str = WARMUP_CODE,
        cwd: Path | None = None,
        fork: bool = True,
    ):
        self.kernel_name = kernel_name
        self.warmup = warmup
        self.cwd = cwd
        self.socket_dir = Path(tempfile.mkdtemp(prefix="tierwise-kernels-"))
        self._next: tuple[AsyncKernelManager, BlockingKernelClient, str] | None = None
        self.started = 0
        self.zygote: Zygote | None = None
        if fork and hasattr(os, "fork"):
            zygote = Zygote(cwd)
            if zygote.ready:
                self.zygote = zygote
            else:  # the template could not import: start kernels the usual way
                zygote.close()

    def _start(self) -> tuple[AsyncKernelManager, BlockingKernelClient, str]:
        km = AsyncKernelManager(
            kernel_name=self.kernel_name,
            transport="ipc",
            ip=str(self.socket_dir / f"k-{uuid.uuid4().hex[:12]}"),
        )
        if self.zygote is not None:
            km.kernel_id = str(uuid.uuid4())
            km.provisioner = ForkProvisioner(
                kernel_id=km.kernel_id, kernel_spec=km.kernel_spec, parent=km
            )
            km.provisioner.zygote = self.zygote
        # The kernel's own log lines (shutdown notices) are noise on the console.
        run_sync(km.start_kernel)(
            stderr=subprocess.DEVNULL, cwd=str(self.cwd) if self.cwd else None
        )
        self.started += 1
        client = BlockingKernelClient()
        client.load_connection_info(km.get_connection_info())
        client.start_channels()
        # A forked kernel has the imports already; asking it anything still waits until
        # it answers, so a report never starts on a kernel that is not up.
        warmup = "pass" if self.zygote is not None else self.warmup
        msg_id = client.execute(warmup, silent=True, store_history=False)
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
        if self.zygote is not None:
            self.zygote.close()
            self.zygote = None
        shutil.rmtree(self.socket_dir, ignore_errors=True)


def shutdown(km: AsyncKernelManager) -> None:
    try:
        if run_sync(km.is_alive)():
            run_sync(km.shutdown_kernel)(now=True)
        run_sync(km.cleanup_resources)()
    except Exception:  # noqa: BLE001 - a kernel that is already gone is fine
        pass
