"""The HTTPS transport to the PKI server: standard library only (http.client + ssl).

Every call is one JSON request on a fresh connection. A bearer token travels only in the
``Authorization`` header and is never part of an error message or a log line.
"""
from __future__ import annotations

import http.client
import json
import logging
import socket
import ssl
import urllib.parse
from typing import Any, Dict, Optional, Tuple

from ._version import __version__
from .exceptions import PKICertificateError, PKIConnectionError, PKIError, error_from_problem

log = logging.getLogger("vcc_pki_client")

#: A client certificate for mTLS: (certificate chain file, private key file).
ClientCert = Tuple[str, str]


class Transport:
    """Talks JSON to one PKI server, verifying it against ``ca_bundle`` (or the system store)."""

    def __init__(
        self,
        base_url: str,
        *,
        ca_bundle: Optional[str],
        verify_ssl: bool,
        timeout: float,
    ) -> None:
        parts = urllib.parse.urlsplit(base_url.rstrip("/"))
        if parts.scheme not in ("https", "http") or not parts.hostname:
            raise ValueError(f"pki_server_url must be an https:// URL, got {base_url!r}")
        self.base_url = base_url.rstrip("/")
        self._scheme = parts.scheme
        self._host = parts.hostname
        self._port = parts.port
        self._prefix = parts.path.rstrip("/")
        self._ca_bundle = ca_bundle
        self._verify = verify_ssl
        self._timeout = timeout

    def _context(self, client_cert: Optional[ClientCert]) -> ssl.SSLContext:
        if self._verify:
            ctx = ssl.create_default_context(cafile=self._ca_bundle)
        else:
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
        ctx.minimum_version = ssl.TLSVersion.TLSv1_2
        if client_cert is not None:
            certfile, keyfile = client_cert
            try:
                ctx.load_cert_chain(certfile, keyfile)
            except (OSError, ssl.SSLError) as e:
                raise PKICertificateError(
                    f"cannot load the client certificate {certfile} with its key {keyfile}: {e}"
                ) from e
        return ctx

    def _connection(self, client_cert: Optional[ClientCert]) -> http.client.HTTPConnection:
        if self._scheme == "http":
            if client_cert is not None:
                raise PKIConnectionError(
                    f"{self.base_url} is plain HTTP: a client certificate needs an https:// URL"
                )
            return http.client.HTTPConnection(self._host, self._port, timeout=self._timeout)
        return http.client.HTTPSConnection(
            self._host, self._port, timeout=self._timeout, context=self._context(client_cert)
        )

    def request(
        self,
        method: str,
        path: str,
        *,
        what: str,
        body: Optional[Any] = None,
        token: Optional[str] = None,
        client_cert: Optional[ClientCert] = None,
        expect_json: bool = True,
    ) -> Any:
        """Send one request; return the parsed JSON (or text) body of a 2xx answer.

        Raises a :class:`PKIError` subclass for everything else. ``what`` names the operation in
        error messages ("issue certificate").
        """
        headers = {
            "Accept": "application/json, application/problem+json",
            "User-Agent": f"vcc-pki-client-python/{__version__}",
        }
        data: Optional[bytes] = None
        if body is not None:
            data = json.dumps(body).encode("utf-8")
            headers["Content-Type"] = "application/json"
        if token:
            headers["Authorization"] = f"Bearer {token}"
        url = f"{self.base_url}{path}"
        conn = self._connection(client_cert)
        try:
            conn.request(method, self._prefix + path, body=data, headers=headers)
            response = conn.getresponse()
            status = response.status
            raw = response.read()
            content_type = response.getheader("Content-Type", "") or ""
        except ssl.SSLCertVerificationError as e:
            raise PKIConnectionError(
                f"{what}: cannot verify the TLS certificate of the PKI server at {self.base_url}: "
                f"{e.verify_message or e}. Pass ca_bundle= the PKI's root certificate "
                "(<data-dir>/root.crt on the server, or GET /api/ca/bundle)"
            ) from e
        except ssl.SSLError as e:
            raise PKIConnectionError(
                f"{what}: TLS handshake with {self.base_url} failed: {e}"
            ) from e
        except (socket.timeout, TimeoutError) as e:
            raise PKIConnectionError(
                f"{what}: the PKI server at {self.base_url} did not answer within {self._timeout} s"
            ) from e
        except (OSError, http.client.HTTPException) as e:
            raise PKIConnectionError(
                f"{what}: cannot reach the PKI server at {self.base_url} ({e}); is it running?"
            ) from e
        finally:
            conn.close()
        log.debug("%s %s -> %d", method, url, status)
        text = raw.decode("utf-8", errors="replace")
        if 200 <= status < 300:
            if not expect_json:
                return text
            if not text.strip():
                return {}
            try:
                return json.loads(text)
            except ValueError as e:
                raise PKIError(
                    f"{what}: the server answered {status} with a body that is not JSON", status=status
                ) from e
        problem: Optional[Dict[str, Any]] = None
        if "json" in content_type:
            try:
                parsed = json.loads(text)
                problem = parsed if isinstance(parsed, dict) else None
            except ValueError:
                problem = None
        fallback = text.strip()[:200] or (response.reason or "")
        raise error_from_problem(status, problem, fallback, what)

    def call(self, method: str, path: str, *, what: str, **kwargs: Any) -> Dict[str, Any]:
        """:meth:`request` for the API's JSON-object answers."""
        answer = self.request(method, path, what=what, **kwargs)
        if not isinstance(answer, dict):
            raise PKIError(f"{what}: the server's answer is not a JSON object")
        return answer
