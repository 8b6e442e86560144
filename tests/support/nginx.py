"""A real nginx reverse proxy of a test's own on a free loopback port (Debian's nginx, which
scripts/ensure-nginx installs); it builds X-Forwarded-For as the shipped Ingress does."""

from __future__ import annotations

import asyncio
import shutil
from pathlib import Path

from bench.procs import free_port
from tests.support.http import wait_http_ok

_CONF = """
daemon off;
master_process off;
pid {dir}/nginx.pid;
error_log {dir}/error.log warn;
events {{ worker_connections 256; }}
http {{
    access_log off;
    client_body_temp_path {dir}/body;
    proxy_temp_path {dir}/proxy;
    fastcgi_temp_path {dir}/fastcgi;
    uwsgi_temp_path {dir}/uwsgi;
    scgi_temp_path {dir}/scgi;
    server {{
        listen 127.0.0.1:{port};
        location / {{
            proxy_pass {upstream};
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header Host $host;
            # The client's chain plus the address nginx received the request from.
            proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
        }}
    }}
}}
"""


def nginx_binary() -> str | None:
    """nginx on PATH or where Debian puts it."""
    found = shutil.which("nginx")
    if found:
        return found
    return "/usr/sbin/nginx" if Path("/usr/sbin/nginx").is_file() else None


class Nginx:
    """nginx proxying http://127.0.0.1:PORT/ to an upstream URL."""

    def __init__(self, workdir: Path, upstream: str) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self._dir = workdir
        self._upstream = upstream.rstrip("/")
        self._proc: asyncio.subprocess.Process | None = None

    async def start(self, binary: str) -> None:
        """Write the config, start nginx and wait until it proxies /healthz."""
        self._dir.mkdir(parents=True, exist_ok=True)
        conf = self._dir / "nginx.conf"
        conf.write_text(_CONF.format(dir=self._dir, port=self.port, upstream=self._upstream))
        self._proc = await asyncio.create_subprocess_exec(
            binary, "-p", str(self._dir), "-c", str(conf), "-e", str(self._dir / "error.log"),
            stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL)
        proc = self._proc
        await wait_http_ok(self.url + "/healthz", what="nginx",
                           alive=lambda: None if proc.returncode is None else self.log())

    def log(self) -> str:
        """nginx's error log (for assertion messages)."""
        path = self._dir / "error.log"
        return path.read_text() if path.exists() else ""

    async def stop(self) -> None:
        """Stop it (by its own pid) and reap it."""
        if self._proc is not None and self._proc.returncode is None:
            self._proc.terminate()
            await self._proc.wait()
        self._proc = None
