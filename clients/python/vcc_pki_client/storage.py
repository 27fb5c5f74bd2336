"""The files of one service under ``<storage_dir>/<service_id>/``.

``cert.pem`` (the leaf), ``key.pem`` (0600), ``ca_chain.pem`` (intermediate then root, the trust
anchors for peers), ``fullchain.pem`` (leaf then intermediate: what a TLS endpoint presents) and
``metadata.json`` (serial, names, validity; never a secret).

Every file is written to a temporary file in the same directory, fsynced and renamed over the old
one, so no reader ever sees a half-written file. The key is renamed before the certificate, and only
when it changed (renewal keeps the key): a reader never sees a new certificate with an old key.
Before anything is renamed the new certificate is checked against the key it will be used with.
"""
from __future__ import annotations

import json
import os
import re
import ssl
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, List, Mapping, Optional, Tuple

from .exceptions import PKICertificateError

_SERVICE_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
_PEM_CERT = re.compile(
    r"-----BEGIN CERTIFICATE-----\s.*?-----END CERTIFICATE-----", re.DOTALL
)


def validate_service_id(service_id: str) -> str:
    """The server's rule (1–64 of ``[A-Za-z0-9._-]``, starting alphanumeric); also keeps paths safe."""
    if not _SERVICE_ID.match(service_id or ""):
        raise ValueError(
            f"invalid service_id {service_id!r}: use 1 to 64 letters, digits, '.', '_' or '-', "
            "starting with a letter or digit"
        )
    return service_id


def pem_certificates(pem: str) -> List[str]:
    """The PEM certificate blocks in ``pem``, in order."""
    return [m.group(0) + "\n" for m in _PEM_CERT.finditer(pem)]


@dataclass(frozen=True)
class ServicePaths:
    directory: Path

    @property
    def cert(self) -> Path:
        return self.directory / "cert.pem"

    @property
    def key(self) -> Path:
        return self.directory / "key.pem"

    @property
    def ca_chain(self) -> Path:
        return self.directory / "ca_chain.pem"

    @property
    def fullchain(self) -> Path:
        return self.directory / "fullchain.pem"

    @property
    def metadata(self) -> Path:
        return self.directory / "metadata.json"


class CertificateStore:
    """Reads and atomically replaces one service's certificate files."""

    def __init__(self, storage_dir: "str | os.PathLike[str]", service_id: str) -> None:
        self.paths = ServicePaths(Path(storage_dir) / validate_service_id(service_id))

    def has_certificate(self) -> bool:
        p = self.paths
        return p.cert.is_file() and p.key.is_file() and p.fullchain.is_file()

    def require_certificate(self) -> None:
        if not self.has_certificate():
            raise PKICertificateError(
                f"no certificate stored in {self.paths.directory}: call request_certificate() first"
            )

    def metadata(self) -> Optional[Dict[str, Any]]:
        try:
            data = json.loads(self.paths.metadata.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        return data if isinstance(data, dict) else None

    def certificate_pem(self) -> str:
        self.require_certificate()
        return self.paths.cert.read_text(encoding="ascii")

    def save(
        self,
        certificate_pem: str,
        ca_chain_pem: str,
        metadata: Mapping[str, Any],
        key_pem: Optional[str] = None,
    ) -> None:
        """Store a new certificate (and, if it changed, its new key) atomically.

        Without ``key_pem`` the certificate must match the key already stored.
        """
        leaf = pem_certificates(certificate_pem)
        chain = pem_certificates(ca_chain_pem)
        if len(leaf) != 1:
            raise PKICertificateError("the server returned no (or more than one) leaf certificate")
        if not chain:
            raise PKICertificateError("the server returned no CA chain")
        if key_pem is None and not self.paths.key.is_file():
            raise PKICertificateError(f"no private key in {self.paths.key} for the new certificate")
        self._ensure_directory()
        # Leaf then intermediate(s): everything but the self-signed root, which peers already hold.
        fullchain = "".join(leaf + chain[:-1] if len(chain) > 1 else leaf)
        created: List[Path] = []

        def temp(final: Path, content: str, mode: int) -> Path:
            path = self._write_temp(final, content, mode)
            created.append(path)
            return path

        meta_json = json.dumps(dict(metadata), indent=2, sort_keys=True) + "\n"
        try:
            renames: List[Tuple[Path, Path]] = []  # (temp file, final path), in rename order
            key_for_check = self.paths.key
            if key_pem is not None:
                key_for_check = temp(self.paths.key, key_pem, 0o600)
                renames.append((key_for_check, self.paths.key))
            full_tmp = temp(self.paths.fullchain, fullchain, 0o644)
            renames += [
                (temp(self.paths.ca_chain, "".join(chain), 0o644), self.paths.ca_chain),
                (full_tmp, self.paths.fullchain),
                (temp(self.paths.cert, "".join(leaf), 0o644), self.paths.cert),
                (temp(self.paths.metadata, meta_json, 0o644), self.paths.metadata),
            ]
            self._check_pair(full_tmp, key_for_check)
            for tmp, final in renames:
                os.replace(tmp, final)
            self._fsync_directory()
        finally:
            for path in created:
                if path.exists():  # not renamed: the call failed
                    path.unlink()

    # -- helpers -----------------------------------------------------------------------------

    def _ensure_directory(self) -> None:
        self.paths.directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        os.chmod(self.paths.directory, 0o700)
        if self.paths.key.is_file() and os.stat(self.paths.key).st_mode & 0o077:
            os.chmod(self.paths.key, 0o600)  # someone widened it: the key is the service's identity

    def _write_temp(self, final: Path, content: str, mode: int) -> Path:
        # mkstemp creates the file 0600, so a key is never readable by others, not even briefly.
        fd, name = tempfile.mkstemp(dir=final.parent, prefix=f".vcc-{final.name}.", suffix=".tmp")
        try:
            if hasattr(os, "fchmod"):
                os.fchmod(fd, mode)
            with os.fdopen(fd, "w", encoding="ascii") as f:
                f.write(content)
                f.flush()
                os.fsync(f.fileno())
        except BaseException:
            os.unlink(name)
            raise
        return Path(name)

    @staticmethod
    def _check_pair(certfile: Path, keyfile: Path) -> None:
        """OpenSSL refuses a certificate whose public key does not match the private key."""
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        try:
            ctx.load_cert_chain(str(certfile), str(keyfile))
        except ssl.SSLError as e:
            raise PKICertificateError(
                "the new certificate and the private key do not load together "
                f"(mismatched, or a key format this OpenSSL cannot read: {e}); nothing was replaced"
            ) from e

    def _fsync_directory(self) -> None:
        try:
            fd = os.open(self.paths.directory, os.O_RDONLY)
        except OSError:
            return
        try:
            os.fsync(fd)
        except OSError:
            pass
        finally:
            os.close(fd)
