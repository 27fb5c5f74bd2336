"""Pieces of the client that need no server: renewal window, backoff, problem mapping, atomic files."""
from __future__ import annotations

import os
import shutil
import stat
import tempfile
import threading
import unittest
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Tuple

from support import require_module

from vcc_pki_client import (
    PKIAuthError,
    PKICertificateError,
    PKIError,
    PKINotFoundError,
    PKIServerError,
    PKIValidationError,
)
from vcc_pki_client.client import parse_time
from vcc_pki_client.exceptions import error_from_problem
from vcc_pki_client.renewal import AutoRenewer, renewal_due, renewal_threshold
from vcc_pki_client.storage import CertificateStore, validate_service_id

require_module("cryptography", "pip install cryptography")
from cryptography import x509  # noqa: E402
from cryptography.hazmat.primitives import hashes, serialization  # noqa: E402
from cryptography.hazmat.primitives.asymmetric import ec  # noqa: E402
from cryptography.x509.oid import NameOID  # noqa: E402

T0 = datetime(2030, 1, 1, tzinfo=timezone.utc)


class ServerUrlTest(unittest.TestCase):
    """A plain-HTTP PKI URL would send tokens and keys in clear: refused unless a test says so."""

    def setUp(self) -> None:
        self.storage = tempfile.mkdtemp()

    def tearDown(self) -> None:
        shutil.rmtree(self.storage, ignore_errors=True)

    def test_http_is_refused_unless_allowed_for_a_test(self) -> None:
        from vcc_pki_client import PKIClient

        with self.assertRaises(PKIError) as refused:
            PKIClient("http://pki.internal:8080", "svc", token="t", storage_dir=self.storage)
        self.assertIn("plain-HTTP", str(refused.exception))
        with self.assertRaises(PKIError):
            PKIClient("pki.internal:8443", "svc", storage_dir=self.storage)
        with self.assertWarns(UserWarning):
            allowed = PKIClient(
                "http://127.0.0.1:8080", "svc", storage_dir=self.storage, allow_insecure_http=True
            )
        self.assertEqual(allowed.pki_server_url, "http://127.0.0.1:8080")
        self.assertEqual(
            PKIClient("https://pki.internal:8443/", "svc", storage_dir=self.storage).pki_server_url,
            "https://pki.internal:8443",
        )


class RenewalWindowTest(unittest.TestCase):
    def test_threshold_is_the_shorter_of_days_and_a_third_of_the_lifetime(self) -> None:
        self.assertEqual(renewal_threshold(T0, T0 + timedelta(days=365), 30), timedelta(days=30))
        self.assertEqual(renewal_threshold(T0, T0 + timedelta(days=90), 30), timedelta(days=30))
        self.assertEqual(renewal_threshold(T0, T0 + timedelta(days=30), 30), timedelta(days=10))
        self.assertEqual(renewal_threshold(T0, T0 + timedelta(days=1), 2), timedelta(hours=8))

    def test_due_only_inside_the_window(self) -> None:
        end = T0 + timedelta(days=365)
        self.assertFalse(renewal_due(T0, end, end - timedelta(days=31), 30))
        self.assertTrue(renewal_due(T0, end, end - timedelta(days=29), 30))
        self.assertTrue(renewal_due(T0, end, end + timedelta(days=1), 30))  # expired: due
        day = T0 + timedelta(days=1)
        self.assertFalse(renewal_due(T0, day, T0 + timedelta(hours=1), 2))  # no renewal storm
        self.assertTrue(renewal_due(T0, day, T0 + timedelta(hours=17), 2))

    def test_server_times_parse(self) -> None:
        self.assertEqual(parse_time("2030-01-01T00:00:00Z"), T0)
        self.assertEqual(parse_time("2030-01-01T01:00:00+01:00"), T0)


class AutoRenewerTest(unittest.TestCase):
    def test_backoff_doubles_from_a_minute_up_to_the_interval(self) -> None:
        r = AutoRenewer(lambda: False, interval_seconds=6 * 3600)
        delays = []
        for failures in range(0, 10):
            r.failures = failures
            delays.append(r._next_delay())
        self.assertEqual(delays[:5], [6 * 3600, 60, 120, 240, 480])
        self.assertEqual(max(delays), 6 * 3600)

    def test_checks_at_once_and_stops_promptly(self) -> None:
        calls = threading.Event()

        def check() -> bool:
            calls.set()
            return False

        r = AutoRenewer(check, interval_seconds=3600)
        r.start()
        self.assertTrue(calls.wait(5), "no check at start")
        r.stop(timeout=5)  # wakes the one-hour wait at once
        self.assertFalse(r.alive)

    def test_rejects_a_non_positive_interval(self) -> None:
        with self.assertRaises(ValueError):
            AutoRenewer(lambda: False, 0)


class ProblemMappingTest(unittest.TestCase):
    def test_status_codes_map_to_exception_classes(self) -> None:
        cases = {401: PKIAuthError, 403: PKIAuthError, 404: PKINotFoundError, 400: PKIValidationError,
                 409: PKIValidationError, 500: PKIServerError, 503: PKIServerError}
        for status, cls in cases.items():
            problem = {"type": "urn:vcc-pki:problem:x", "title": "T", "status": status, "detail": "why"}
            err = error_from_problem(status, problem, "", "do thing")
            self.assertIs(type(err), cls, status)
            self.assertIsInstance(err, PKIError)
            self.assertEqual(
                (err.status, err.detail, err.problem_type), (status, "why", "urn:vcc-pki:problem:x")
            )
            self.assertEqual(str(err), f"do thing: {status} T: why")

    def test_a_body_that_is_not_a_problem_document(self) -> None:
        err = error_from_problem(502, None, "Bad Gateway", "renew certificate")
        self.assertIsInstance(err, PKIServerError)
        self.assertIn("Bad Gateway", str(err))


def make_cert(key: ec.EllipticCurvePrivateKey, cn: str, issuer_key: ec.EllipticCurvePrivateKey,
              issuer_cn: str) -> str:
    now = datetime.now(timezone.utc)
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)]))
        .issuer_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, issuer_cn)]))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=1))
        .not_valid_after(now + timedelta(days=30))
        .sign(issuer_key, hashes.SHA256())
    )
    return cert.public_bytes(serialization.Encoding.PEM).decode()


def key_pem(key: ec.EllipticCurvePrivateKey) -> str:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption()).decode()


class StorageTest(unittest.TestCase):
    def setUp(self) -> None:
        self.dir = tempfile.mkdtemp(prefix="vcc-pki-store-")
        self.addCleanup(shutil.rmtree, self.dir, True)
        self.store = CertificateStore(self.dir, "svc")
        self.ca_key = ec.generate_private_key(ec.SECP256R1())
        self.int_key = ec.generate_private_key(ec.SECP256R1())
        root = make_cert(self.ca_key, "Root", self.ca_key, "Root")
        inter = make_cert(self.int_key, "Int", self.ca_key, "Root")
        self.chain = inter + root

    def leaf(self, key: ec.EllipticCurvePrivateKey) -> str:
        return make_cert(key, "svc", self.int_key, "Int")

    def files(self) -> Tuple[bytes, bytes, bytes]:
        p = self.store.paths
        return p.key.read_bytes(), p.cert.read_bytes(), p.fullchain.read_bytes()

    def test_save_writes_the_layout_with_private_modes(self) -> None:
        key = ec.generate_private_key(ec.SECP256R1())
        self.store.save(self.leaf(key), self.chain, {"serial_number": "01"}, key_pem(key))
        p = self.store.paths
        self.assertEqual(stat.S_IMODE(os.stat(p.key).st_mode), 0o600)
        self.assertEqual(stat.S_IMODE(os.stat(p.directory).st_mode), 0o700)
        self.assertEqual(p.cert.read_text().count("BEGIN CERTIFICATE"), 1)
        self.assertEqual(p.fullchain.read_text().count("BEGIN CERTIFICATE"), 2)  # leaf + intermediate
        self.assertEqual(p.ca_chain.read_text().count("BEGIN CERTIFICATE"), 2)  # intermediate + root
        self.assertEqual(self.store.metadata(), {"serial_number": "01"})
        self.assertEqual(sorted(os.listdir(p.directory)),
                         ["ca_chain.pem", "cert.pem", "fullchain.pem", "key.pem", "metadata.json"])

    def test_renewal_keeps_the_key_file_untouched(self) -> None:
        key = ec.generate_private_key(ec.SECP256R1())
        self.store.save(self.leaf(key), self.chain, {"serial_number": "01"}, key_pem(key))
        key_inode = os.stat(self.store.paths.key).st_ino
        self.store.save(self.leaf(key), self.chain, {"serial_number": "02"})  # no key: keep it
        self.assertEqual(os.stat(self.store.paths.key).st_ino, key_inode)
        self.assertEqual(self.store.metadata(), {"serial_number": "02"})

    def test_a_certificate_for_another_key_replaces_nothing(self) -> None:
        key = ec.generate_private_key(ec.SECP256R1())
        self.store.save(self.leaf(key), self.chain, {"serial_number": "01"}, key_pem(key))
        before = self.files()
        other = ec.generate_private_key(ec.SECP256R1())
        with self.assertRaises(PKICertificateError):
            self.store.save(self.leaf(other), self.chain, {"serial_number": "02"})  # old key kept
        with self.assertRaises(PKICertificateError):
            self.store.save(self.leaf(other), self.chain, {"serial_number": "02"}, key_pem(key))
        self.assertEqual(self.files(), before)
        self.assertEqual(self.store.metadata(), {"serial_number": "01"})
        self.assertEqual([n for n in os.listdir(self.store.paths.directory) if n.endswith(".tmp")], [])

    def test_widened_key_permissions_are_narrowed_again(self) -> None:
        key = ec.generate_private_key(ec.SECP256R1())
        self.store.save(self.leaf(key), self.chain, {}, key_pem(key))
        os.chmod(self.store.paths.key, 0o644)
        self.store.save(self.leaf(key), self.chain, {})
        self.assertEqual(stat.S_IMODE(os.stat(self.store.paths.key).st_mode), 0o600)

    def test_service_ids_cannot_escape_the_storage_dir(self) -> None:
        for bad in ("", "../x", "a/b", ".hidden", "x" * 65):
            with self.assertRaises(ValueError, msg=bad):
                validate_service_id(bad)
        self.assertEqual(CertificateStore(self.dir, "ok-1.a_b").paths.directory, Path(self.dir) / "ok-1.a_b")


if __name__ == "__main__":
    unittest.main()
