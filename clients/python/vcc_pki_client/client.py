"""``PKIClient``: a service's certificate from VCC PKI, kept renewed, as ready TLS configurations."""
from __future__ import annotations

import logging
import os
import ssl
import threading
import warnings
from datetime import datetime, timezone
from pathlib import Path
from types import TracebackType
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple, Type

from . import keys
from ._http import Transport
from .exceptions import PKIAuthError, PKICertificateError, PKIError, PKINotFoundError
from .renewal import AutoRenewer, renewal_due
from .ssl_helpers import ContextRegistry, client_context, server_context
from .storage import CertificateStore

log = logging.getLogger("vcc_pki_client")

#: Fields of an issue/renew response kept in ``metadata.json`` (no secrets).
_METADATA_FIELDS = (
    "service_id",
    "serial_number",
    "common_name",
    "san_dns",
    "san_ip",
    "not_before",
    "not_after",
    "fingerprint_sha256",
    "key_type",
    "profile",
    "renewed_from",
)


def _utcnow() -> datetime:
    return datetime.now(timezone.utc)


def parse_time(value: str) -> datetime:
    """An RFC 3339 time from the server (``2026-01-02T03:04:05Z``) as an aware datetime."""
    text = value.strip()
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    parsed = datetime.fromisoformat(text)
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)


class PKIClient:
    """A service's client of the VCC PKI server.

    ``token`` is an enrollment token (from ``service register``; buys the first certificate) or an
    admin token. ``ca_bundle`` is the PEM file that verifies the PKI server (its root certificate,
    ``<data-dir>/root.crt``); without it the system store is used. ``verify_ssl=False`` turns
    verification off (with a warning; for experiments only). Files live in
    ``<storage_dir>/<service_id>/``. A plain ``http://`` server URL is refused (tokens and private
    keys would cross the network in clear) unless ``allow_insecure_http=True`` says it is a test.
    """

    def __init__(
        self,
        pki_server_url: str,
        service_id: str,
        token: Optional[str] = None,
        ca_bundle: Optional[str] = None,
        verify_ssl: bool = True,
        storage_dir: str = "pki_client",
        *,
        timeout: float = 30.0,
        allow_insecure_http: bool = False,
    ) -> None:
        scheme = pki_server_url.split("://", 1)[0].lower() if "://" in pki_server_url else ""
        if scheme == "http" and not allow_insecure_http:
            raise PKIError(
                f"refusing the plain-HTTP PKI server URL {pki_server_url!r}: enrollment tokens and "
                "private keys would cross the network in clear; use https:// (or pass "
                "allow_insecure_http=True in a test)"
            )
        if scheme not in ("https", "http"):
            raise PKIError(f"the PKI server URL must start with https:// (got {pki_server_url!r})")
        if scheme == "http":
            warnings.warn(
                "vcc_pki_client: plain-HTTP PKI server URL allowed (allow_insecure_http=True); "
                "for tests only",
                stacklevel=2,
            )
        self.pki_server_url = pki_server_url.rstrip("/")
        self.service_id = service_id
        self.storage_dir = Path(storage_dir)
        self.verify_ssl = verify_ssl
        self.ca_bundle = os.fspath(ca_bundle) if ca_bundle is not None else None
        self._token = token
        self._store = CertificateStore(self.storage_dir, service_id)
        if self.ca_bundle is not None and not os.path.isfile(self.ca_bundle):
            raise PKICertificateError(f"ca_bundle {self.ca_bundle} does not exist")
        if not verify_ssl:
            warnings.warn(
                "vcc_pki_client: TLS verification of the PKI server is OFF (verify_ssl=False); "
                "pass ca_bundle= the PKI's root certificate instead",
                stacklevel=2,
            )
        self._http = Transport(
            self.pki_server_url,
            ca_bundle=self.ca_bundle,
            verify_ssl=verify_ssl,
            timeout=timeout,
        )
        self._lock = threading.RLock()
        self._contexts = ContextRegistry()
        self._renewer: Optional[AutoRenewer] = None
        self._renewer_lock = threading.Lock()
        #: The clock auto-renewal decides by (replaceable in tests).
        self._now: Callable[[], datetime] = _utcnow

    def __repr__(self) -> str:  # never shows the token
        return f"PKIClient({self.pki_server_url!r}, service_id={self.service_id!r})"

    # -- files -------------------------------------------------------------------------------

    @property
    def cert_dir(self) -> Path:
        return self._store.paths.directory

    @property
    def cert_path(self) -> Path:
        """The service certificate alone (PEM)."""
        return self._store.paths.cert

    @property
    def key_path(self) -> Path:
        """The private key (PKCS#8 PEM, mode 0600)."""
        return self._store.paths.key

    @property
    def ca_chain_path(self) -> Path:
        """Intermediate then root CA certificate: what verifies the other services."""
        return self._store.paths.ca_chain

    @property
    def fullchain_path(self) -> Path:
        """Service certificate then intermediate: what a TLS endpoint presents."""
        return self._store.paths.fullchain

    def has_certificate(self) -> bool:
        return self._store.has_certificate()

    # -- certificate lifecycle ---------------------------------------------------------------

    def request_certificate(
        self,
        common_name: str,
        san_dns: Optional[Sequence[str]] = None,
        san_ip: Optional[Sequence[str]] = None,
        *,
        key_type: str = keys.DEFAULT_KEY_TYPE,
        validity_days: Optional[int] = None,
        profile: Optional[str] = None,
    ) -> Dict[str, Any]:
        """Get a new certificate with the ``token`` given to the constructor and store it.

        The key is made here when ``cryptography`` is installed (only a CSR is sent); otherwise the
        server makes it and returns it once. Returns the certificate's details (no key).
        """
        keys.check_key_type(key_type)
        if not self._token:
            raise PKIAuthError(
                "request_certificate needs a token: PKIClient(..., token=<enrollment or admin token>)"
            )
        dns = list(san_dns or [])
        ips = list(san_ip or [])
        body: Dict[str, Any] = {
            "service_id": self.service_id,
            "common_name": common_name,
            "san_dns": dns,
            "san_ip": ips,
        }
        key_pem: Optional[str] = None
        if keys.HAVE_CRYPTOGRAPHY:
            key_pem, body["csr_pem"] = keys.generate_key_and_csr(key_type, common_name, dns, ips)
        else:
            body["key_type"] = key_type
        if validity_days is not None:
            body["validity_days"] = validity_days
        if profile is not None:
            body["profile"] = profile
        issued = self._http.call(
            "POST", "/api/certificates/issue", what="issue certificate", body=body, token=self._token
        )
        server_key = issued.pop("private_key_pem", None)
        if key_pem is None:
            if not server_key:
                raise PKICertificateError("the server returned no private key for a server-made key")
            key_pem = server_key
        self._store_issued(issued, key_pem=key_pem, key_source="client" if body.get("csr_pem") else "server")
        log.info(
            "certificate %s issued for %s (valid until %s)",
            issued.get("serial_number"),
            self.service_id,
            issued.get("not_after"),
        )
        return issued

    def renew_certificate(self) -> Dict[str, Any]:
        """Renew over mTLS with the current certificate: same key, new serial, new validity.

        If the server no longer accepts the certificate (e.g. it expired) and an admin ``token``
        was given, the admin renews it instead (still the same key). The new files replace the
        old ones atomically and every context this client handed out is reloaded. Returns the
        new certificate's details.
        """
        with self._lock:
            self._store.require_certificate()
            old = (self._store.metadata() or {}).get("serial_number")
            try:
                issued = self._http.call(
                    "POST",
                    "/api/certificates/renew",
                    what="renew certificate",
                    client_cert=self._client_cert(),
                )
            except PKIAuthError as refused:
                if not self._token:
                    raise
                try:
                    issued = self._http.call(
                        "POST",
                        "/api/certificates/renew",
                        what="renew certificate (with the token)",
                        body={"service_id": self.service_id},
                        token=self._token,
                    )
                except PKIAuthError:
                    raise refused from None
            issued.pop("private_key_pem", None)  # renewal keeps the key; none is expected
            self._store_issued(issued, key_pem=None, key_source=None)
        log.info(
            "certificate of %s renewed: %s -> %s (valid until %s)",
            self.service_id,
            old,
            issued.get("serial_number"),
            issued.get("not_after"),
        )
        return issued

    def get_certificate_info(self) -> Dict[str, Any]:
        """The server's record of this service's current certificate (serial, status,
        days_until_expiry, validity, names, …), asked over mTLS with the stored certificate.

        Raises :class:`PKINotFoundError` when no certificate is stored here yet.
        """
        if not self._store.has_certificate():
            raise PKINotFoundError(
                f"no certificate stored for {self.service_id} in {self.cert_dir}; "
                "call request_certificate() first"
            )
        return self._http.call(
            "GET",
            f"/api/certificates/{self.service_id}",
            what="get certificate info",
            client_cert=self._client_cert(),
        )

    def register_service(
        self,
        service_name: str,
        endpoints: Sequence[str],
        *,
        allowed_dns: Optional[Sequence[str]] = None,
        allowed_ip: Optional[Sequence[str]] = None,
        description: Optional[str] = None,
    ) -> Dict[str, Any]:
        """Register this service, or update its name and endpoints.

        With a stored certificate (and no ``allowed_*``) the service updates its own entry over
        mTLS. Otherwise this needs an admin ``token``; the answer then carries a one-time
        ``enrollment_token`` for the allowed names (keep it secret).
        """
        body: Dict[str, Any] = {
            "service_id": self.service_id,
            "service_name": service_name,
            "endpoints": list(endpoints),
        }
        if description is not None:
            body["description"] = description
        admin_change = allowed_dns is not None or allowed_ip is not None
        if admin_change:
            body["allowed_dns"] = list(allowed_dns or [])
            body["allowed_ip"] = list(allowed_ip or [])
        if self._store.has_certificate() and not admin_change:
            return self._http.call(
                "POST",
                "/api/services/register",
                what="update service entry",
                body=body,
                client_cert=self._client_cert(),
            )
        if not self._token:
            raise PKIAuthError(
                "register_service needs the service's certificate or an admin token "
                "(PKIClient(..., token=<admin token>))"
            )
        return self._http.call(
            "POST", "/api/services/register", what="register service", body=body, token=self._token
        )

    # -- auto-renewal ------------------------------------------------------------------------

    def enable_auto_renewal(
        self, check_interval_hours: float = 6, renewal_threshold_days: float = 30
    ) -> None:
        """Check in a daemon thread, now and every ``check_interval_hours`` (fractions allowed),
        and renew when less than ``renewal_threshold_days`` or a third of the certificate's
        lifetime remains, whichever is shorter. Failures are retried sooner (backoff).
        Calling it again replaces the running checker."""
        if check_interval_hours <= 0:
            raise ValueError("check_interval_hours must be positive")
        if renewal_threshold_days < 0:
            raise ValueError("renewal_threshold_days must not be negative")
        self._store.require_certificate()
        with self._renewer_lock:
            if self._renewer is not None:
                self._renewer.stop()
            self._renewer = AutoRenewer(
                lambda: self.renew_if_due(renewal_threshold_days),
                check_interval_hours * 3600.0,
                name=f"vcc-pki-renewal-{self.service_id}",
            )
            self._renewer.start()
        log.info(
            "auto-renewal of %s enabled: every %.3g h, threshold %.3g days",
            self.service_id,
            check_interval_hours,
            renewal_threshold_days,
        )

    def disable_auto_renewal(self, timeout: Optional[float] = 30.0) -> None:
        """Stop the checker thread and wait for it (a renewal in flight completes first)."""
        with self._renewer_lock:
            renewer, self._renewer = self._renewer, None
        if renewer is not None:
            renewer.stop(timeout)
            log.info("auto-renewal of %s disabled", self.service_id)

    @property
    def auto_renewal_enabled(self) -> bool:
        renewer = self._renewer
        return renewer is not None and renewer.alive

    def renew_if_due(self, renewal_threshold_days: float = 30) -> bool:
        """Renew now if the stored certificate is within its renewal window; return whether it did."""
        not_before, not_after = self._validity()
        if not renewal_due(not_before, not_after, self._now(), renewal_threshold_days):
            return False
        self.renew_certificate()
        return True

    # -- TLS configurations ------------------------------------------------------------------

    def get_ssl_context(self) -> ssl.SSLContext:
        """A server-side context: presents this service's certificate and requires client
        certificates issued by the PKI (mTLS). Reloaded in place after each renewal."""
        self._store.require_certificate()
        with self._lock:
            return self._contexts.add(server_context(self._store.paths))

    def get_client_ssl_context(self) -> ssl.SSLContext:
        """A client-side context: verifies servers against the PKI and presents this service's
        certificate when asked (mTLS). Reloaded in place after each renewal."""
        self._store.require_certificate()
        with self._lock:
            return self._contexts.add(client_context(self._store.paths))

    def get_httpx_config(self) -> Dict[str, Any]:
        """Keyword arguments for ``httpx.Client(**cfg)``: ``cert`` (certificate, key) and
        ``verify`` (the CA chain file). Files are re-read per client, not per renewal; for a
        long-lived client prefer ``verify=pki.get_client_ssl_context()``."""
        self._store.require_certificate()
        return {"cert": self._client_cert(), "verify": str(self.ca_chain_path)}

    def get_requests_config(self) -> Dict[str, Any]:
        """Attributes for a ``requests.Session``: ``cert`` (certificate, key) and ``verify`` (the CA
        chain file), e.g. ``session.cert, session.verify = cfg["cert"], cfg["verify"]``."""
        self._store.require_certificate()
        return {"cert": self._client_cert(), "verify": str(self.ca_chain_path)}

    # -- context manager ---------------------------------------------------------------------

    def __enter__(self) -> "PKIClient":
        return self

    def __exit__(
        self,
        exc_type: Optional[Type[BaseException]],
        exc: Optional[BaseException],
        tb: Optional[TracebackType],
    ) -> None:
        self.disable_auto_renewal()

    # -- internals ---------------------------------------------------------------------------

    def _client_cert(self) -> Tuple[str, str]:
        return (str(self.fullchain_path), str(self.key_path))

    def _store_issued(
        self, issued: Dict[str, Any], *, key_pem: Optional[str], key_source: Optional[str]
    ) -> None:
        for field in ("certificate_pem", "ca_chain_pem", "serial_number"):
            if not issued.get(field):
                raise PKIError(f"the server's answer lacks {field}")
        with self._lock:
            metadata = {k: issued[k] for k in _METADATA_FIELDS if k in issued}
            previous = self._store.metadata() or {}
            metadata["key_source"] = key_source or previous.get("key_source", "unknown")
            metadata["stored_at"] = _utcnow().strftime("%Y-%m-%dT%H:%M:%SZ")
            self._store.save(issued["certificate_pem"], issued["ca_chain_pem"], metadata, key_pem)
            reloaded = self._contexts.reload(self._store.paths)
            if reloaded:
                log.info("reloaded the new certificate into %d TLS context(s)", reloaded)

    def _validity(self) -> Tuple[datetime, datetime]:
        """(not_before, not_after) of the stored certificate: from metadata.json, else from the
        certificate itself (cryptography), else from the server."""
        meta = self._store.metadata() or {}
        try:
            return parse_time(meta["not_before"]), parse_time(meta["not_after"])
        except (KeyError, TypeError, ValueError):
            pass
        validity = keys.certificate_validity(self._store.certificate_pem())
        if validity is not None:
            return validity
        info = self.get_certificate_info()
        return parse_time(info["not_before"]), parse_time(info["not_after"])


__all__: List[str] = ["PKIClient", "parse_time"]
