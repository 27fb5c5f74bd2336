"""TLS contexts built from a service's stored files, and their reload after a renewal.

The client keeps a weak reference to every context it hands out; after a renewal it calls
``load_cert_chain`` on those same objects, so a server or client built on them presents the new
certificate on its next handshake without a restart. Connections already open keep the old one.
"""
from __future__ import annotations

import logging
import ssl
import threading
import weakref
from typing import List

from .exceptions import PKICertificateError
from .storage import ServicePaths

log = logging.getLogger("vcc_pki_client")


def _load(ctx: ssl.SSLContext, paths: ServicePaths) -> None:
    try:
        ctx.load_cert_chain(str(paths.fullchain), str(paths.key))
        ctx.load_verify_locations(cafile=str(paths.ca_chain))
    except (OSError, ssl.SSLError) as e:
        raise PKICertificateError(
            f"cannot load the certificate files in {paths.directory}: {e}"
        ) from e


def server_context(paths: ServicePaths) -> ssl.SSLContext:
    """A server-side context that presents the service certificate and *requires* a client
    certificate issued by the PKI (mTLS)."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.verify_mode = ssl.CERT_REQUIRED
    _load(ctx, paths)
    return ctx


def client_context(paths: ServicePaths) -> ssl.SSLContext:
    """A client-side context that verifies peers against the PKI (host names checked) and
    presents the service certificate when a server asks for one."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.check_hostname = True
    ctx.verify_mode = ssl.CERT_REQUIRED
    _load(ctx, paths)
    return ctx


class ContextRegistry:
    """Weak references to the contexts handed out, so a renewal can reload them in place."""

    def __init__(self) -> None:
        self._contexts: "weakref.WeakSet[ssl.SSLContext]" = weakref.WeakSet()
        self._lock = threading.Lock()

    def add(self, ctx: ssl.SSLContext) -> ssl.SSLContext:
        with self._lock:
            self._contexts.add(ctx)
        return ctx

    def __len__(self) -> int:
        with self._lock:
            return len(self._contexts)

    def reload(self, paths: ServicePaths) -> int:
        """Load the current files into every live context; return how many were reloaded.

        A context that fails to reload keeps its previous certificate; the failure is logged and
        the first one is raised after all the others were tried.
        """
        with self._lock:
            contexts: List[ssl.SSLContext] = list(self._contexts)
        first_error: "PKICertificateError | None" = None
        for ctx in contexts:
            try:
                _load(ctx, paths)
            except PKICertificateError as e:
                log.warning("could not reload a TLS context: %s", e)
                first_error = first_error or e
        if first_error is not None:
            raise first_error
        return len(contexts)
