"""Private keys and CSRs made on the client, with ``cryptography`` when it is installed.

Without ``cryptography`` the client asks the server to make the key (the issue response then
carries ``private_key_pem``); everything else in the package is standard library only.
"""
from __future__ import annotations

import ipaddress
from datetime import datetime, timezone
from typing import List, Optional, Sequence, Tuple

try:  # optional dependency
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
    from cryptography.x509.oid import NameOID

    HAVE_CRYPTOGRAPHY = True
except ImportError:  # pragma: no cover - exercised where cryptography is absent
    HAVE_CRYPTOGRAPHY = False

#: Key types the server accepts (SPEC §6); the first is the default.
KEY_TYPES: Tuple[str, ...] = (
    "ecdsa-p256",
    "ecdsa-p384",
    "rsa-2048",
    "rsa-3072",
    "rsa-4096",
    "ed25519",
)
DEFAULT_KEY_TYPE = "ecdsa-p256"


def check_key_type(key_type: str) -> str:
    if key_type not in KEY_TYPES:
        raise ValueError(f"key_type {key_type!r}: expected one of {', '.join(KEY_TYPES)}")
    return key_type


def generate_key_and_csr(
    key_type: str, common_name: str, san_dns: Sequence[str], san_ip: Sequence[str]
) -> Tuple[str, str]:
    """Make a new private key and a CSR for it; return (PKCS#8 key PEM, CSR PEM).

    The CSR names the CN (also as a SAN, as the server does) and the requested SANs; the server
    checks them against the service's allowed names.
    """
    if not HAVE_CRYPTOGRAPHY:
        raise RuntimeError("generate_key_and_csr needs the 'cryptography' package")
    check_key_type(key_type)
    key: "ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey | ed25519.Ed25519PrivateKey"
    if key_type == "ecdsa-p256":
        key = ec.generate_private_key(ec.SECP256R1())
    elif key_type == "ecdsa-p384":
        key = ec.generate_private_key(ec.SECP384R1())
    elif key_type.startswith("rsa-"):
        key = rsa.generate_private_key(public_exponent=65537, key_size=int(key_type[4:]))
    else:
        key = ed25519.Ed25519PrivateKey.generate()

    names: List["x509.GeneralName"] = []
    dns = list(san_dns)
    ips = list(san_ip)
    try:
        ipaddress.ip_address(common_name)
        ips.insert(0, common_name)
    except ValueError:
        dns.insert(0, common_name)
    for d in dict.fromkeys(dns):
        names.append(x509.DNSName(d))
    for i in dict.fromkeys(ips):
        names.append(x509.IPAddress(ipaddress.ip_address(i)))
    builder = x509.CertificateSigningRequestBuilder().subject_name(
        x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    )
    if names:
        builder = builder.add_extension(x509.SubjectAlternativeName(names), critical=False)
    algorithm = None if key_type == "ed25519" else hashes.SHA256()
    csr = builder.sign(key, algorithm)
    key_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode("ascii")
    return key_pem, csr.public_bytes(serialization.Encoding.PEM).decode("ascii")


def certificate_validity(cert_pem: str) -> Optional[Tuple[datetime, datetime]]:
    """(not_before, not_after) of a PEM certificate, or None without ``cryptography``."""
    if not HAVE_CRYPTOGRAPHY:
        return None
    cert = x509.load_pem_x509_certificate(cert_pem.encode("ascii"))
    before = getattr(cert, "not_valid_before_utc", None)
    after = getattr(cert, "not_valid_after_utc", None)
    if before is None or after is None:  # cryptography < 42
        before = cert.not_valid_before.replace(tzinfo=timezone.utc)
        after = cert.not_valid_after.replace(tzinfo=timezone.utc)
    return before, after
