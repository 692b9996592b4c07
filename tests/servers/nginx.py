"""A private nginx for tests: the configuration of docs/deploy.md, run unprivileged on a free port.

Everything lives in one temporary directory (prefix, config, pid file, logs, temp paths); the process is
started in its own process group and stopped through it, never by name. A system nginx, if any, is never
touched. nginx is installed by ``make services`` (scripts/ensure-services.sh); a missing binary FAILS.
"""

from __future__ import annotations

import os
import pwd
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

NGINX = shutil.which("nginx") or "/usr/sbin/nginx"
DEPLOY_DOC = Path(__file__).resolve().parents[2] / "docs" / "deploy.md"
MARK = "<!-- nginx: hotline.conf -->"


class NginxMissing(RuntimeError):
    pass


def deploy_config() -> str:
    """The nginx site configuration as docs/deploy.md gives it (the code block after its marker)."""
    text = DEPLOY_DOC.read_text(encoding="utf-8")
    after = text.split(MARK, 1)[1]
    match = re.search(r"```nginx\n(.*?)```", after, re.S)
    assert match is not None, "docs/deploy.md lost its nginx block"
    return match.group(1)


def fill_ports(
    config: str, listen_file: Path, worker_ports: list[int], line_ports: list[int] | None = None
) -> str:
    """The doc's config with this test's workers (one upstream line each, written as the doc writes
    them: Telegram's listeners in ``hotline_workers``, LINE's in ``hotline_line``, which gets the Telegram
    ports when the test runs no LINE) and listen file; nothing else changes."""
    wanted = {"hotline_workers": worker_ports, "hotline_line": line_ports or worker_ports}

    def fill(block: re.Match[str]) -> str:
        name, body = block.group(1), block.group(2)
        servers = re.findall(r"^\s*server 127\.0\.0\.1:\d+ .*;\n", body, re.M)
        assert servers, f"the doc's upstream {name} lost its server lines"
        lines = "".join(re.sub(r":\d+", f":{port}", servers[0], count=1) for port in wanted[name])
        assert "".join(servers) in body, f"the doc's server lines of {name} are not together"
        return block.group(0).replace("".join(servers), lines, 1)

    config, blocks = re.subn(r"upstream (\w+) \{(.*?)\}", fill, config, flags=re.S)
    assert blocks == len(wanted), "the doc's upstreams are not hotline_workers and hotline_line"
    assert config.count("server 127.0.0.1:") == sum(map(len, wanted.values()))
    config, count = re.subn(r"include \S+hotline-listen\.conf;", f"include {listen_file};", config)
    assert count == 1, "the doc's server block lost its listen include"
    return config


@dataclass
class NginxServer:
    port: int
    root: Path
    process: subprocess.Popen[bytes] = field(repr=False)

    @classmethod
    def start(cls, site_config_for: Callable[[Path], str], port: int) -> NginxServer:
        if not os.path.exists(NGINX):
            raise NginxMissing("nginx is not installed; `make services` installs it")
        root = Path(tempfile.mkdtemp(prefix="hotline-nginx-"))
        for sub in ("logs", "temp"):
            (root / sub).mkdir()
        listen = root / "listen.conf"
        listen.write_text(f"listen 127.0.0.1:{port};\n")
        (root / "hotline.conf").write_text(site_config_for(listen))
        temp = root / "temp"
        (root / "nginx.conf").write_text(
            f"""
worker_processes 1;
pid {root}/nginx.pid;
error_log {root}/logs/error.log warn;
events {{ worker_connections 256; }}
http {{
    access_log off;
    client_body_temp_path {temp}/body;
    proxy_temp_path {temp}/proxy;
    fastcgi_temp_path {temp}/fastcgi;
    uwsgi_temp_path {temp}/uwsgi;
    scgi_temp_path {temp}/scgi;
    include {root}/hotline.conf;
}}
"""
        )
        user = None
        if os.geteuid() == 0:  # never run it as root: hand the directory to nobody and run as nobody
            nobody = pwd.getpwnam("nobody")
            for path in (root, *root.rglob("*")):
                os.chown(path, nobody.pw_uid, nobody.pw_gid)
            user = nobody.pw_uid
        command = [NGINX, "-p", str(root), "-c", str(root / "nginx.conf"), "-e", str(root / "logs/error.log")]
        check = subprocess.run([*command, "-t"], capture_output=True, text=True, timeout=20, user=user)
        if check.returncode:
            raise RuntimeError(f"nginx rejects the configuration: {check.stderr.strip()}")
        process = subprocess.Popen(
            [*command, "-g", "daemon off;"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
            user=user,
        )
        server = cls(port, root, process)
        server._wait_listening()
        return server

    def _wait_listening(self, timeout: float = 20.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"nginx exited: {self.error_log()}")
            with socket.socket() as sock:
                if sock.connect_ex(("127.0.0.1", self.port)) == 0:
                    return
            time.sleep(0.05)
        raise RuntimeError(f"nginx did not listen on {self.port}: {self.error_log()}")

    def error_log(self) -> str:
        path = self.root / "logs/error.log"
        return path.read_text(errors="replace")[-2000:] if path.exists() else ""

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)  # its own group: master and its worker
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=10)
        shutil.rmtree(self.root, ignore_errors=True)
