"""`hotline run` as separate processes (the workers of docs/deploy.md), for the chaos test and benchmarks.

Each worker gets the same environment but its own webhook listen port; its output goes to a log file in
``tmp``. Started in their own process groups; stopped with SIGTERM (SIGKILL after 30 s), never by name.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from pathlib import Path


class Workers:
    def __init__(
        self, tmp: Path, env: dict[str, str], ports: list[int], line_ports: list[int] | None = None
    ) -> None:
        self.tmp, self.env, self.ports = tmp, env, ports
        self.line_ports = line_ports  # each worker's HOTLINE_LINE_WEBHOOK_LISTEN, when LINE is on
        self.processes: list[asyncio.subprocess.Process] = []

    async def start(self) -> None:
        for i, port in enumerate(self.ports):
            env = {**self.env, "HOTLINE_TELEGRAM_WEBHOOK_LISTEN": f"127.0.0.1:{port}"}
            if self.line_ports is not None:
                env["HOTLINE_LINE_WEBHOOK_LISTEN"] = f"127.0.0.1:{self.line_ports[i]}"
            with (self.tmp / f"worker{i}.log").open("wb") as log:  # the child keeps its own copy
                self.processes.append(
                    await asyncio.create_subprocess_exec(
                        sys.executable,
                        "-m",
                        "hotline.cli",
                        "run",
                        env=env,
                        stdout=log,
                        stderr=log,
                        start_new_session=True,
                    )
                )

    async def wait_listening(self, timeout: float = 90.0) -> None:
        async def one(port: int) -> None:
            while True:
                try:
                    _reader, writer = await asyncio.open_connection("127.0.0.1", port)
                except OSError:
                    await asyncio.sleep(0.1)
                    continue
                writer.close()
                return

        try:
            await asyncio.wait_for(asyncio.gather(*(one(p) for p in self.ports)), timeout)
        except TimeoutError:
            raise AssertionError(f"the workers did not come up:\n{self.logs()}") from None

    def logs(self) -> str:
        return "\n".join(
            f"--- worker {i}\n" + (self.tmp / f"worker{i}.log").read_text(errors="replace")[-3000:]
            for i in range(len(self.ports))
        )

    async def stop(self) -> None:
        for process in self.processes:
            if process.returncode is None:
                process.send_signal(signal.SIGTERM)
        for process in self.processes:
            try:
                await asyncio.wait_for(process.wait(), 30)
            except TimeoutError:
                os.killpg(process.pid, signal.SIGKILL)
                await process.wait()
