"""The README's FastAPI/uvicorn service, run as written against a real vcc-pki server, called over mTLS.

Needs uvicorn and fastapi (``pip install uvicorn fastapi``): missing, the tests fail, never skip.
"""
from __future__ import annotations

import http.client
import inspect
import json
import os
import re
import shutil
import signal
import ssl
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any, List, Optional

from support import (
    CLIENT_DIR,
    PKIServer,
    ServerTestCase,
    https_get,
    require_module,
    same_serial,
)

README = CLIENT_DIR / "README.md"
INSTALL = "pip install uvicorn fastapi"
SERVICE_ID = "veritas-backend"


def readme_block(marker: str) -> str:
    """The fenced python block that follows ``<!-- tested: marker -->`` in the README."""
    text = README.read_text(encoding="utf-8")
    m = re.search(r"<!-- tested: " + re.escape(marker) + r" -->\s*```python\n(.*?)```", text, re.DOTALL)
    if not m:
        raise AssertionError(f"README.md has no python block marked 'tested: {marker}'")
    return m.group(1)


def service_source(hot_reload: bool) -> str:
    source = readme_block("service.py")
    if not hot_reload:
        return source
    # The README's other uvicorn.run(...) call, in place of the first one.
    lines = source.splitlines(keepends=True)
    start = next(i for i, line in enumerate(lines) if line.startswith("        uvicorn.run("))
    end = next(i for i in range(start, len(lines)) if lines[i].rstrip() == "        )")
    replacement = readme_block("uvicorn.run with ssl_context_factory")
    return "".join(lines[:start]) + replacement + "".join(lines[end + 1 :])


class UvicornService:
    """``python service.py`` in its own working directory (so ./pki_client/ is fresh)."""

    def __init__(self, server: PKIServer, source: str, token: str) -> None:
        self.cwd = Path(tempfile.mkdtemp(prefix="vcc-pki-uvicorn-"))
        (self.cwd / "service.py").write_text(source, encoding="utf-8")
        env = dict(
            os.environ,
            PYTHONPATH=os.pathsep.join([str(CLIENT_DIR), os.environ.get("PYTHONPATH", "")]),
            VCC_PKI_SERVER=server.url,
            VCC_PKI_CA_BUNDLE=server.root_crt,
            VCC_PKI_TOKEN=token,
            PORT="0",
            PYTHONUNBUFFERED="1",
        )
        self.proc = subprocess.Popen(
            [sys.executable, "service.py"],
            cwd=self.cwd,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        self.output: List[str] = []
        self._started = threading.Event()
        self.port = 0
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        if not self._started.wait(60) or not self.port:
            self.stop()
            raise AssertionError("service.py did not start uvicorn:\n" + "".join(self.output))

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.output.append(line)
            m = re.search(r"Uvicorn running on https://127\.0\.0\.1:(\d+)", line)
            if m:
                self.port = int(m.group(1))
                self._started.set()
        self._started.set()  # exited

    @property
    def metadata(self) -> Any:
        return json.loads((self.cwd / "pki_client" / SERVICE_ID / "metadata.json").read_text())

    def stop(self) -> Optional[int]:
        if self.proc.poll() is None:
            self.proc.terminate()  # uvicorn shuts down gracefully; `with pki:` then stops renewal
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._reader.join(5)
        if self.proc.stdout is not None and not self._reader.is_alive():
            self.proc.stdout.close()
        shutil.rmtree(self.cwd, ignore_errors=True)
        return self.proc.returncode


class _ReadmeServiceTest(ServerTestCase):
    hot_reload = False

    @classmethod
    def setUpClass(cls) -> None:
        require_module("uvicorn", INSTALL)
        require_module("fastapi", INSTALL)
        super().setUpClass()

    def test_readme_service_serves_mtls(self) -> None:
        token = self.server.enroll(
            SERVICE_ID, [SERVICE_ID, f"{SERVICE_ID}.internal", "localhost"], ["127.0.0.1"]
        )
        caller = self.enrolled_client("veritas-frontend")
        service = UvicornService(self.server, service_source(self.hot_reload), token)
        try:
            body, served_serial = https_get(service.port, caller.get_client_ssl_context(), "/hello")
            self.assertEqual(body, {"hello": "over mTLS"})
            self.assertTrue(same_serial(served_serial, service.metadata["serial_number"]))

            # A caller without a client certificate is refused.
            anonymous = ssl.create_default_context(cafile=str(caller.ca_chain_path))
            with self.assertRaises((ssl.SSLError, ConnectionError, http.client.HTTPException)):
                https_get(service.port, anonymous, "/hello")

            # register_service() over mTLS updated the entry.
            status, entry = self.server.call("GET", f"/api/services/{SERVICE_ID}", None)
            self.assertEqual(status, 200)
            self.assertEqual(entry["service_name"], "VERITAS Backend")
            self.assertEqual(entry["endpoints"], ["https://veritas-backend.internal:8001"])
        finally:
            code = service.stop()
        output = "".join(service.output)
        # uvicorn shuts down gracefully, then re-raises the SIGTERM it caught (so -15 is normal).
        self.assertIn(code, (0, -signal.SIGTERM), "service.py did not exit cleanly:\n" + output)
        self.assertIn("Finished server process", output)
        self.assertNotIn("Traceback", output)


class ReadmeServiceWithFilesTest(_ReadmeServiceTest):
    """uvicorn.run(..., ssl_certfile=, ssl_keyfile=, ssl_ca_certs=, ssl_cert_reqs=) as in the README."""

    hot_reload = False

    def test_uvicorn_takes_the_documented_arguments(self) -> None:
        uvicorn = require_module("uvicorn", INSTALL)
        params = inspect.signature(uvicorn.run).parameters
        for name in ("ssl_certfile", "ssl_keyfile", "ssl_ca_certs", "ssl_cert_reqs"):
            self.assertIn(name, params, f"uvicorn {uvicorn.__version__} has no {name}")
        self.assertNotIn("ssl_context", params)
        readme = README.read_text(encoding="utf-8")
        self.assertIn(f"uvicorn {uvicorn.__version__}", readme,
                      "README.md names another uvicorn release than the one tested")


class ReadmeServiceWithContextFactoryTest(_ReadmeServiceTest):
    """uvicorn.run(..., ssl_context_factory=lambda config, default_factory: pki.get_ssl_context())."""

    hot_reload = True

    def test_uvicorn_on_the_client_context_presents_a_renewed_certificate(self) -> None:
        uvicorn = require_module("uvicorn", INSTALL)
        self.assertIn("ssl_context_factory", inspect.signature(uvicorn.Config).parameters)
        backend = self.enrolled_client("hot-backend")
        caller = self.enrolled_client("hot-caller")

        async def app(scope: Any, receive: Any, send: Any) -> None:
            if scope["type"] != "http":
                return
            await send({"type": "http.response.start", "status": 200,
                        "headers": [(b"content-type", b"application/json")]})
            await send({"type": "http.response.body", "body": b"{}"})

        config = uvicorn.Config(
            app, host="127.0.0.1", port=0, log_level="warning", lifespan="off",
            ssl_context_factory=lambda config, default_factory: backend.get_ssl_context(),
        )
        server = uvicorn.Server(config)
        thread = threading.Thread(target=server.run, daemon=True)
        thread.start()
        try:
            port = self._wait_for_port(server)
            _, served1 = https_get(port, caller.get_client_ssl_context())
            renewed = backend.renew_certificate()["serial_number"]
            _, served2 = https_get(port, caller.get_client_ssl_context())
            self.assertFalse(same_serial(served1, served2))
            self.assertTrue(same_serial(served2, renewed))
        finally:
            server.should_exit = True
            thread.join(15)
        self.assertFalse(thread.is_alive())

    @staticmethod
    def _wait_for_port(server: Any) -> int:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if server.started and server.servers:
                return int(server.servers[0].sockets[0].getsockname()[1])
            time.sleep(0.05)
        raise AssertionError("in-process uvicorn did not start")


del _ReadmeServiceTest  # a base, not a test class of its own
