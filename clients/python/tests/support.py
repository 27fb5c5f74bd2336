"""Test kit: a real ``vcc-pki serve`` in a temp dir with a Root and an Intermediate CA, and helpers.

The server binary is ``$VCC_PKI_BIN``, else ``target/release/vcc-pki``, else ``target/debug/vcc-pki``
of this repository. Nothing is skipped: a missing binary or package fails the test with a message.
"""
from __future__ import annotations

import http.client
import json
import os
import queue
import shutil
import ssl
import subprocess
import sys
import tempfile
import threading
import time
import unittest
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence

CLIENT_DIR = Path(__file__).resolve().parent.parent  # clients/python
REPO_ROOT = CLIENT_DIR.parent.parent
# Test the working copy of the package, installed or not.
if str(CLIENT_DIR) not in sys.path:
    sys.path.insert(0, str(CLIENT_DIR))

from vcc_pki_client import PKIClient  # noqa: E402

PASSWORD = "correct horse battery staple"


def server_binary() -> str:
    candidates: List[Path] = []
    env = os.environ.get("VCC_PKI_BIN")
    if env:
        candidates.append(Path(env))
    candidates += [
        REPO_ROOT / "target" / "release" / "vcc-pki",
        REPO_ROOT / "target" / "debug" / "vcc-pki",
    ]
    for c in candidates:
        if c.is_file() and os.access(c, os.X_OK):
            return str(c)
    raise AssertionError(
        "vcc-pki server binary not found (looked at "
        + ", ".join(str(c) for c in candidates)
        + "): build it with `cargo build --release` or set VCC_PKI_BIN"
    )


def require_module(name: str, install: str) -> Any:
    """Import a test dependency or fail (never skip) with how to install it."""
    try:
        return __import__(name)
    except ImportError as e:
        raise AssertionError(
            f"the Python package '{name}' is needed by this test and is not installed: {install}"
        ) from e


class PKIServer:
    """One ``vcc-pki serve --port 0`` with its own data dir; CA set up, TLS from the intermediate."""

    def __init__(self, extra_args: Sequence[str] = ()) -> None:
        self.extra_args = list(extra_args)
        self.tmp = Path(tempfile.mkdtemp(prefix="vcc-pki-pytest-"))
        self.data_dir = self.tmp / "data"
        self.url = ""
        self.token = ""
        self._proc: Optional[subprocess.Popen] = None
        self._pump: Optional[threading.Thread] = None

    @property
    def root_crt(self) -> str:
        return str(self.data_dir / "root.crt")

    def start(self) -> "PKIServer":
        env = dict(os.environ, VCC_CA_PASSWORD=PASSWORD, VCC_PKI_LOG="warn")
        self._proc = subprocess.Popen(
            [server_binary(), "serve", "--port", "0", "--data-dir", str(self.data_dir),
             *self.extra_args],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            stdin=subprocess.DEVNULL,
            env=env,
            text=True,
        )
        lines: "queue.Queue[Optional[str]]" = queue.Queue()

        def pump() -> None:  # keeps draining stdout so the server never blocks on a full pipe
            assert self._proc is not None and self._proc.stdout is not None
            for line in self._proc.stdout:
                lines.put(line)
            lines.put(None)

        self._pump = threading.Thread(target=pump, daemon=True)
        self._pump.start()
        deadline = time.monotonic() + 60
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                self.stop()
                raise AssertionError("vcc-pki serve did not announce its address within 60 s")
            try:
                line = lines.get(timeout=remaining)
            except queue.Empty:
                continue
            if line is None:
                self.stop()
                raise AssertionError("vcc-pki serve exited before listening")
            if line.startswith("vcc-pki listening on "):
                self.url = line.split("vcc-pki listening on ", 1)[1].strip()
                break
        self.token = (self.data_dir / "admin.token").read_text().strip()
        # Until the intermediate exists the server's certificate is self-signed: these two calls
        # alone skip verification.
        unverified = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        unverified.check_hostname = False
        unverified.verify_mode = ssl.CERT_NONE
        for path, cn in (("/api/ca/root", "Test Root"), ("/api/ca/intermediate", "Test Int")):
            status, body = self.call("POST", path, {"common_name": cn, "key_type": "ecdsa-p256"},
                                     context=unverified)
            if status != 201:
                self.stop()
                raise AssertionError(f"{path} answered {status}: {body}")
        # From now on: verified against the root only.
        deadline = time.monotonic() + 20
        while True:
            try:
                status, _ = self.call("GET", "/api/health", None, token=None)
                if status == 200:
                    break
            except ssl.SSLError:
                pass
            if time.monotonic() > deadline:
                self.stop()
                raise AssertionError("the server never presented a certificate from its intermediate")
            time.sleep(0.2)
        return self

    def call(
        self,
        method: str,
        path: str,
        body: Optional[Dict[str, Any]],
        *,
        token: Optional[str] = "admin",
        context: Optional[ssl.SSLContext] = None,
    ) -> "tuple[int, Any]":
        """A raw API call (admin token by default), independent of the client under test."""
        host, port = self.url.split("://", 1)[1].rsplit(":", 1)
        ctx = context or ssl.create_default_context(cafile=self.root_crt)
        conn = http.client.HTTPSConnection(host, int(port), context=ctx, timeout=30)
        headers = {"Content-Type": "application/json"}
        if token:
            headers["Authorization"] = f"Bearer {self.token if token == 'admin' else token}"
        try:
            conn.request(method, path, body=json.dumps(body) if body is not None else None,
                         headers=headers)
            resp = conn.getresponse()
            raw = resp.read().decode()
        finally:
            conn.close()
        try:
            return resp.status, json.loads(raw)
        except ValueError:
            return resp.status, raw

    def enroll(
        self,
        service_id: str,
        allowed_dns: Sequence[str],
        allowed_ip: Sequence[str] = (),
    ) -> str:
        """Register a service (admin) and return its one-time enrollment token."""
        status, body = self.call(
            "POST",
            "/api/services/register",
            {
                "service_id": service_id,
                "service_name": service_id,
                "endpoints": [],
                "allowed_dns": list(allowed_dns),
                "allowed_ip": list(allowed_ip),
            },
        )
        assert status == 201, f"register {service_id}: {status} {body}"
        return str(body["enrollment_token"])

    def stop(self) -> None:
        if self._proc is not None:
            if self._proc.poll() is None:
                self._proc.terminate()
                try:
                    self._proc.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    self._proc.kill()
                    self._proc.wait()
            if self._pump is not None:
                self._pump.join(5)  # ends at EOF, now that the server has exited
            if self._proc.stdout is not None and not (self._pump and self._pump.is_alive()):
                self._proc.stdout.close()
            self._proc = None
        shutil.rmtree(self.tmp, ignore_errors=True)


class ServerTestCase(unittest.TestCase):
    """A test class with its own server (``cls.server``) and a storage dir per test."""

    server: PKIServer

    @classmethod
    def setUpClass(cls) -> None:
        cls.server = PKIServer().start()

    @classmethod
    def tearDownClass(cls) -> None:
        cls.server.stop()

    def setUp(self) -> None:
        self.storage = tempfile.mkdtemp(prefix="vcc-pki-client-")
        self.addCleanup(shutil.rmtree, self.storage, True)

    def client(self, service_id: str, token: Optional[str] = None, **kwargs: Any) -> PKIClient:
        pki = PKIClient(
            self.server.url,
            service_id,
            token=token,
            ca_bundle=self.server.root_crt,
            storage_dir=self.storage,
            **kwargs,
        )
        self.addCleanup(pki.disable_auto_renewal)
        return pki

    def enrolled_client(
        self, service_id: str, names: Sequence[str] = ("localhost",), ips: Sequence[str] = ("127.0.0.1",)
    ) -> PKIClient:
        """A service registered for ``service_id`` + ``names`` + ``ips`` that holds its first certificate."""
        token = self.server.enroll(service_id, [service_id, *names], ips)
        pki = self.client(service_id, token=token)
        pki.request_certificate(service_id, san_dns=list(names), san_ip=list(ips))
        return pki


class _PeerHandler(BaseHTTPRequestHandler):
    """Answers every GET with what the server saw of the client's certificate."""

    def setup(self) -> None:
        self.request.do_handshake()  # in this connection's thread, not the accept loop
        super().setup()

    def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
        peer = self.connection.getpeercert() or {}
        subject = dict(item[0] for item in peer.get("subject", ()))
        body = json.dumps(
            {"peer_cn": subject.get("commonName"), "peer_serial": peer.get("serialNumber")}
        ).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:  # quiet
        pass


class MTLSHTTPServer(ThreadingHTTPServer):
    """An ``http.server`` on 127.0.0.1 whose connections use ``context`` (e.g. get_ssl_context()).

    The same context object wraps every new connection, so a reload shows on the next handshake.
    Failed handshakes are recorded in ``errors``.
    """

    daemon_threads = True

    def __init__(self, context: ssl.SSLContext) -> None:
        super().__init__(("127.0.0.1", 0), _PeerHandler)
        self.context = context
        self.errors: List[BaseException] = []
        self._thread = threading.Thread(target=self.serve_forever, kwargs={"poll_interval": 0.1},
                                        daemon=True)

    @property
    def port(self) -> int:
        return int(self.server_address[1])

    def get_request(self) -> Any:
        sock, addr = self.socket.accept()
        return self.context.wrap_socket(sock, server_side=True, do_handshake_on_connect=False), addr

    def handle_error(self, request: Any, client_address: Any) -> None:
        self.errors.append(sys.exc_info()[1] or RuntimeError("unknown error"))

    def __enter__(self) -> "MTLSHTTPServer":
        self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.shutdown()
        self.server_close()
        self._thread.join(10)


def https_get(
    port: int, context: ssl.SSLContext, path: str = "/", host: str = "localhost"
) -> "tuple[Dict[str, Any], str]":
    """GET over TLS; returns (JSON body, serial number of the certificate the server presented)."""
    conn = http.client.HTTPSConnection(host, port, context=context, timeout=15)
    try:
        conn.connect()
        assert isinstance(conn.sock, ssl.SSLSocket)
        server_serial = str((conn.sock.getpeercert() or {})["serialNumber"])
        conn.request("GET", path)
        resp = conn.getresponse()
        body = json.loads(resp.read().decode() or "{}")
        assert resp.status == 200, f"GET {path}: {resp.status} {body}"
        return body, server_serial
    finally:
        conn.close()


def same_serial(a: str, b: str) -> bool:
    """Serials compared as numbers (the server writes lower-case hex, OpenSSL upper-case)."""
    return int(a, 16) == int(b, 16)
