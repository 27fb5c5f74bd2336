"""VCC PKI client: a service's certificate from the VCC PKI server, renewed in the background,
handed out as ready TLS / mTLS configurations.

    from vcc_pki_client import PKIClient

    with PKIClient("https://pki.internal:8443", "my-service", token=..., ca_bundle="root.crt") as pki:
        pki.request_certificate("my-service", san_dns=["my-service.internal"])
        pki.enable_auto_renewal()
        ctx = pki.get_ssl_context()

Standard library only; ``cryptography``, when installed, makes the key on the client.
"""
import logging

from ._version import __version__
from .client import PKIClient
from .exceptions import (
    PKIAuthError,
    PKICertificateError,
    PKIConnectionError,
    PKIError,
    PKINotFoundError,
    PKIServerError,
    PKIValidationError,
)
from .keys import HAVE_CRYPTOGRAPHY, KEY_TYPES

# A library logs; the application decides where it goes (renewals at INFO, failed checks at WARNING).
logging.getLogger("vcc_pki_client").addHandler(logging.NullHandler())

__all__ = [
    "__version__",
    "PKIClient",
    "PKIError",
    "PKIConnectionError",
    "PKIAuthError",
    "PKINotFoundError",
    "PKIValidationError",
    "PKIServerError",
    "PKICertificateError",
    "HAVE_CRYPTOGRAPHY",
    "KEY_TYPES",
]
