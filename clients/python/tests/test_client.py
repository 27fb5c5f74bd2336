"""PKIClient against a real vcc-pki server: enrollment, mTLS, renewal, context reload, auto-renewal,
errors."""
from __future__ import annotations

import http.client
import os
import socket
import ssl
import stat
import time
import warnings
from datetime import timedelta
from unittest import mock

from support import MTLSHTTPServer, ServerTestCase, https_get, require_module, same_serial

import vcc_pki_client
from vcc_pki_client import (
    PKIAuthError,
    PKIClient,
    PKIConnectionError,
    PKIError,
    PKINotFoundError,
)
from vcc_pki_client import keys as client_keys

require_module("cryptography", "pip install cryptography")
from cryptography import x509  # noqa: E402
from cryptography.hazmat.primitives import serialization  # noqa: E402
from cryptography.hazmat.primitives.asymmetric import ec, rsa  # noqa: E402


def load_cert(path: "os.PathLike[str] | str") -> "x509.Certificate":
    with open(path, "rb") as f:
        return x509.load_pem_x509_certificate(f.read())


def public_der(key_or_cert: object) -> bytes:
    public = key_or_cert.public_key()  # type: ignore[attr-defined]
    return public.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def load_key(path: "os.PathLike[str] | str") -> object:
    with open(path, "rb") as f:
        return serialization.load_pem_private_key(f.read(), password=None)


class EnrollmentTest(ServerTestCase):
    def test_enrollment_token_buys_a_certificate_with_a_client_made_key(self) -> None:
        self.assertTrue(vcc_pki_client.HAVE_CRYPTOGRAPHY)
        token = self.server.enroll("orders", ["orders", "orders.internal"], ["127.0.0.1"])
        pki = self.client("orders", token=token)
        issued = pki.request_certificate("orders", san_dns=["orders.internal"], san_ip=["127.0.0.1"])
        self.assertNotIn("private_key_pem", issued)  # the key never left this process

        key_mode = stat.S_IMODE(os.stat(pki.key_path).st_mode)
        self.assertEqual(key_mode, 0o600, f"key.pem has mode {oct(key_mode)}")
        self.assertEqual(stat.S_IMODE(os.stat(pki.cert_dir).st_mode), 0o700)
        self.assertEqual(pki.cert_dir, pki.storage_dir / "orders")
        for p in (pki.cert_path, pki.ca_chain_path, pki.fullchain_path):
            self.assertTrue(p.is_file(), p)

        key = load_key(pki.key_path)
        self.assertIsInstance(key, ec.EllipticCurvePrivateKey)
        self.assertEqual(key.curve.name, "secp256r1")  # type: ignore[attr-defined]
        cert = load_cert(pki.cert_path)
        self.assertEqual(public_der(cert), public_der(key))
        self.assertEqual(format(cert.serial_number, "x"), issued["serial_number"].lstrip("0"))
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        self.assertEqual(set(san.get_values_for_type(x509.DNSName)), {"orders", "orders.internal"})

        info = pki.get_certificate_info()  # over mTLS with the stored certificate
        self.assertEqual(info["serial_number"], issued["serial_number"])
        self.assertEqual(info["status"], "active")
        self.assertGreater(info["days_until_expiry"], 300)

        # The enrollment token was used up: a second request with it is refused.
        with self.assertRaises(PKIAuthError) as caught:
            pki.request_certificate("orders")
        self.assertEqual(caught.exception.status, 401)

    def test_rsa_key_made_on_the_client(self) -> None:
        token = self.server.enroll("billing", ["billing"])
        pki = self.client("billing", token=token)
        issued = pki.request_certificate("billing", key_type="rsa-2048")
        self.assertEqual(issued["key_type"], "rsa-2048")
        key = load_key(pki.key_path)
        self.assertIsInstance(key, rsa.RSAPrivateKey)
        self.assertEqual(key.key_size, 2048)  # type: ignore[attr-defined]

    def test_without_cryptography_the_server_makes_the_key(self) -> None:
        token = self.server.enroll("legacy", ["legacy"])
        pki = self.client("legacy", token=token)
        with mock.patch.object(client_keys, "HAVE_CRYPTOGRAPHY", False):
            issued = pki.request_certificate("legacy")
        self.assertNotIn("private_key_pem", issued)  # stored, not returned to the caller
        self.assertEqual(stat.S_IMODE(os.stat(pki.key_path).st_mode), 0o600)
        self.assertEqual(public_der(load_cert(pki.cert_path)), public_der(load_key(pki.key_path)))
        self.assertEqual(pki.get_certificate_info()["status"], "active")

    def test_names_outside_the_allowed_list_are_refused(self) -> None:
        token = self.server.enroll("narrow", ["narrow"])
        pki = self.client("narrow", token=token)
        with self.assertRaises(PKIAuthError) as caught:
            pki.request_certificate("narrow", san_dns=["evil.example"])
        self.assertEqual(caught.exception.status, 403)
        self.assertIn("evil.example", str(caught.exception))
        self.assertFalse(pki.has_certificate())
        pki.request_certificate("narrow")  # a refused request did not use the token up

    def test_register_service_updates_its_own_entry_over_mtls(self) -> None:
        pki = self.enrolled_client("catalog")
        entry = pki.register_service("Catalog API", ["https://catalog.internal:8443"])
        self.assertEqual(entry["service_name"], "Catalog API")
        self.assertEqual(entry["endpoints"], ["https://catalog.internal:8443"])
        self.assertNotIn("enrollment_token", entry)
        with self.assertRaises(PKIAuthError):  # only an admin changes the allowed names
            pki.register_service("Catalog API", [], allowed_dns=["anything.example"])

    def test_admin_registers_a_service_through_the_client(self) -> None:
        admin = self.client("inventory", token=self.server.token)
        entry = admin.register_service("Inventory", ["https://inventory:1"], allowed_dns=["inventory"])
        token = entry["enrollment_token"]
        self.assertTrue(token)
        self.assertNotIn(token, repr(admin))
        pki = PKIClient(self.server.url, "inventory", token=token, ca_bundle=self.server.root_crt,
                        storage_dir=self.storage + "/other")
        pki.request_certificate("inventory")
        self.assertTrue(pki.has_certificate())


class MutualTLSTest(ServerTestCase):
    def test_server_and_client_contexts_complete_an_mtls_handshake(self) -> None:
        backend = self.enrolled_client("backend")
        frontend = self.enrolled_client("frontend")
        with MTLSHTTPServer(backend.get_ssl_context()) as server:
            body, server_serial = https_get(server.port, frontend.get_client_ssl_context())
            self.assertEqual(body["peer_cn"], "frontend")
            frontend_serial = frontend.get_certificate_info()["serial_number"]
            self.assertTrue(same_serial(body["peer_serial"], frontend_serial))
            self.assertTrue(same_serial(server_serial, backend.get_certificate_info()["serial_number"]))

            # A client without a certificate is refused by the server context.
            anonymous = ssl.create_default_context(cafile=str(frontend.ca_chain_path))
            with self.assertRaises((ssl.SSLError, ConnectionError, http.client.HTTPException)):
                https_get(server.port, anonymous)
            deadline = time.monotonic() + 5
            while not server.errors and time.monotonic() < deadline:
                time.sleep(0.05)
            self.assertTrue(server.errors, "the server did not record the refused handshake")
            self.assertIsInstance(server.errors[0], ssl.SSLError)

            # A client certificate from another CA is refused too.
            stranger = self._self_signed_client_context(str(frontend.ca_chain_path))
            with self.assertRaises((ssl.SSLError, ConnectionError, http.client.HTTPException)):
                https_get(server.port, stranger)

    def test_client_context_refuses_a_server_outside_the_pki(self) -> None:
        frontend = self.enrolled_client("frontend2")
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(*self._self_signed_files())
        with MTLSHTTPServer(ctx) as server:
            with self.assertRaises(ssl.SSLCertVerificationError):
                https_get(server.port, frontend.get_client_ssl_context())

    def test_httpx_and_requests_configs_name_the_stored_files(self) -> None:
        pki = self.enrolled_client("configs")
        for config in (pki.get_httpx_config(), pki.get_requests_config()):
            cert, key = config["cert"]
            self.assertEqual((cert, key), (str(pki.fullchain_path), str(pki.key_path)))
            self.assertEqual(config["verify"], str(pki.ca_chain_path))
            ctx = ssl.create_default_context(cafile=config["verify"])
            ctx.load_cert_chain(cert, key)  # the files load as those libraries would load them

    # -- helpers -------------------------------------------------------------------------------

    def _self_signed_files(self) -> "tuple[str, str]":
        from datetime import datetime, timezone

        from cryptography.hazmat.primitives import hashes
        from cryptography.x509.oid import NameOID

        key = ec.generate_private_key(ec.SECP256R1())
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
        now = datetime.now(timezone.utc)
        cert = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - timedelta(minutes=1))
            .not_valid_after(now + timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost")]), critical=False)
            .sign(key, hashes.SHA256())
        )
        cert_path = os.path.join(self.storage, "stranger.pem")
        key_path = os.path.join(self.storage, "stranger.key")
        with open(cert_path, "wb") as f:
            f.write(cert.public_bytes(serialization.Encoding.PEM))
        with open(key_path, "wb") as f:
            f.write(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                      serialization.NoEncryption()))
        return cert_path, key_path

    def _self_signed_client_context(self, cafile: str) -> ssl.SSLContext:
        ctx = ssl.create_default_context(cafile=cafile)
        ctx.load_cert_chain(*self._self_signed_files())
        return ctx


class RenewalTest(ServerTestCase):
    def test_renewal_keeps_the_key_and_changes_the_serial(self) -> None:
        pki = self.enrolled_client("renewing")
        key_before = pki.key_path.read_bytes()
        cert_before = load_cert(pki.cert_path)
        old_serial = pki.get_certificate_info()["serial_number"]

        renewed = pki.renew_certificate()

        self.assertNotEqual(renewed["serial_number"], old_serial)
        self.assertEqual(renewed["renewed_from"], old_serial)
        self.assertEqual(pki.key_path.read_bytes(), key_before)
        self.assertEqual(stat.S_IMODE(os.stat(pki.key_path).st_mode), 0o600)
        cert_after = load_cert(pki.cert_path)
        self.assertNotEqual(cert_after.serial_number, cert_before.serial_number)
        self.assertEqual(public_der(cert_after), public_der(cert_before))
        self.assertEqual(pki.get_certificate_info()["serial_number"], renewed["serial_number"])
        self.assertEqual(
            [p.name for p in pki.cert_dir.iterdir() if p.name.endswith(".tmp")], [],
            "temporary files left behind",
        )

    def test_renewal_reloads_the_contexts_handed_out(self) -> None:
        backend = self.enrolled_client("reload-backend")
        frontend = self.enrolled_client("reload-frontend")
        server_ctx = backend.get_ssl_context()
        client_ctx = frontend.get_client_ssl_context()
        with MTLSHTTPServer(server_ctx) as server:
            body1, served1 = https_get(server.port, client_ctx)

            new_backend = backend.renew_certificate()["serial_number"]
            new_frontend = frontend.renew_certificate()["serial_number"]

            # The same context objects, now presenting the renewed certificates.
            self.assertIs(server.context, server_ctx)
            body2, served2 = https_get(server.port, client_ctx)
            self.assertFalse(same_serial(served1, served2))
            self.assertTrue(same_serial(served2, new_backend))
            self.assertFalse(same_serial(body1["peer_serial"], body2["peer_serial"]))
            self.assertTrue(same_serial(body2["peer_serial"], new_frontend))

    def test_an_admin_token_renews_when_the_certificate_is_no_longer_accepted(self) -> None:
        # E.g. a certificate that expired while the service was down: mTLS is refused (simulated
        # here), the admin token renews the same key instead.
        pki = self.client("lapsed", token=self.server.token)
        pki.request_certificate("lapsed")
        key_before = pki.key_path.read_bytes()
        real = pki._http.request

        def refuse_mtls(*args: object, **kwargs: object) -> object:
            if kwargs.get("client_cert"):
                raise PKIAuthError("renew certificate: 401 Unauthorized", status=401)
            return real(*args, **kwargs)  # type: ignore[arg-type]

        with mock.patch.object(pki._http, "request", side_effect=refuse_mtls):
            renewed = pki.renew_certificate()
        self.assertEqual(pki.key_path.read_bytes(), key_before)
        self.assertEqual(pki.get_certificate_info()["serial_number"], renewed["serial_number"])

        # Without a token the refusal stands.
        bare = PKIClient(self.server.url, "lapsed", ca_bundle=self.server.root_crt, storage_dir=self.storage)
        with mock.patch.object(bare._http, "request", side_effect=refuse_mtls):
            with self.assertRaises(PKIAuthError):
                bare.renew_certificate()

    def test_renewal_without_a_certificate_is_a_clear_error(self) -> None:
        pki = self.client("nothing-yet")
        with self.assertRaises(vcc_pki_client.PKICertificateError) as caught:
            pki.renew_certificate()
        self.assertIn("request_certificate", str(caught.exception))
        with self.assertRaises(PKINotFoundError):
            pki.get_certificate_info()


class AutoRenewalTest(ServerTestCase):
    def _short_lived(self, service_id: str) -> PKIClient:
        """A one-day certificate, issued with the admin token (admins may issue before registering)."""
        pki = self.client(service_id, token=self.server.token)
        issued = pki.request_certificate(service_id, validity_days=1)
        lifetime = pki._validity()[1] - pki._validity()[0]
        self.assertLessEqual(lifetime, timedelta(days=1, minutes=2), issued["not_after"])
        return pki

    def test_auto_renewal_renews_a_certificate_in_its_window_and_stops_cleanly(self) -> None:
        pki = self._short_lived("short-lived")
        first = pki.get_certificate_info()["serial_number"]
        interval_hours = 0.2 / 3600  # a check every 0.2 s

        # A one-day certificate with a 2-day threshold: the threshold is capped at a third of the
        # lifetime (8 h), so with a day left nothing is due yet (no renewal storm).
        pki.enable_auto_renewal(check_interval_hours=interval_hours, renewal_threshold_days=2)
        self.assertTrue(pki.auto_renewal_enabled)
        time.sleep(1.0)
        self.assertEqual(pki.get_certificate_info()["serial_number"], first)

        # 17 h later by the client's clock, 7 h are left (< 8 h): the next check renews.
        real_now = pki._now
        pki._now = lambda: real_now() + timedelta(hours=17)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            meta = pki._store.metadata() or {}
            if meta.get("serial_number") != first:
                break
            time.sleep(0.1)
        else:
            self.fail("auto-renewal did not renew within 30 s")
        pki._now = real_now

        renewer = pki._renewer
        assert renewer is not None
        pki.disable_auto_renewal()
        self.assertFalse(renewer.alive, "the renewal thread is still running")
        self.assertFalse(pki.auto_renewal_enabled)
        info = pki.get_certificate_info()
        self.assertNotEqual(info["serial_number"], first)
        self.assertIn(info["status"], ("active", "expiring"))  # a one-day certificate is "expiring"

    def test_context_manager_exit_stops_auto_renewal(self) -> None:
        pki = self._short_lived("scoped")
        with pki as same:
            self.assertIs(same, pki)
            pki.enable_auto_renewal(check_interval_hours=1)
            renewer = pki._renewer
            assert renewer is not None
            self.assertTrue(renewer.alive)
        self.assertFalse(renewer.alive)
        self.assertFalse(pki.auto_renewal_enabled)

    def test_failed_checks_back_off_and_keep_the_thread_alive(self) -> None:
        pki = self._short_lived("flaky")
        real_now = pki._now
        pki._now = lambda: real_now() + timedelta(hours=20)  # due: 4 h left of 24
        with mock.patch.object(pki, "renew_certificate", side_effect=PKIConnectionError("down")):
            pki.enable_auto_renewal(check_interval_hours=0.1 / 3600, renewal_threshold_days=30)
            deadline = time.monotonic() + 10
            renewer = pki._renewer
            assert renewer is not None
            while renewer.failures < 2 and time.monotonic() < deadline:
                time.sleep(0.05)
            self.assertGreaterEqual(renewer.failures, 2)
            self.assertIsInstance(renewer.last_error, PKIConnectionError)
            self.assertTrue(renewer.alive)
            pki.disable_auto_renewal()
        self.assertFalse(renewer.alive)


class ErrorTest(ServerTestCase):
    def test_wrong_token_raises_auth_error(self) -> None:
        self.server.enroll("guarded", ["guarded"])
        for wrong in ("vccenr_not-the-token", "not-a-token-at-all"):
            pki = self.client("guarded", token=wrong)
            with self.assertRaises(PKIAuthError) as caught:
                pki.request_certificate("guarded")
            self.assertEqual(caught.exception.status, 401)
            self.assertIn("token", caught.exception.detail)
            self.assertTrue(str(caught.exception.problem_type).startswith("urn:"))
            self.assertNotIn(wrong, str(caught.exception))
            self.assertIsInstance(caught.exception, PKIError)

    def test_unknown_server_raises_connection_error(self) -> None:
        with socket.socket() as s:  # a port with nobody listening
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        pki = PKIClient(f"https://127.0.0.1:{port}", "nobody", token="x", ca_bundle=self.server.root_crt,
                        storage_dir=self.storage)
        with self.assertRaises(PKIConnectionError) as caught:
            pki.request_certificate("nobody")
        self.assertIn(f"127.0.0.1:{port}", str(caught.exception))
        self.assertIsInstance(caught.exception, PKIError)

    def test_unverifiable_server_raises_connection_error_naming_ca_bundle(self) -> None:
        # No ca_bundle: the system store does not know the private root.
        pki = PKIClient(self.server.url, "x", token="x", storage_dir=self.storage)
        with self.assertRaises(PKIConnectionError) as caught:
            pki.request_certificate("x")
        self.assertIn("ca_bundle", str(caught.exception))

    def test_verify_ssl_false_warns_and_connects(self) -> None:
        with warnings.catch_warnings(record=True) as seen:
            warnings.simplefilter("always")
            pki = PKIClient(self.server.url, "unverified", token="vccenr_wrong", verify_ssl=False,
                            storage_dir=self.storage)
        self.assertTrue(any("verify_ssl=False" in str(w.message) for w in seen))
        with self.assertRaises(PKIAuthError):  # reached the server; refused by it
            pki.request_certificate("unverified")

    def test_invalid_service_id_is_rejected_before_touching_disk(self) -> None:
        with self.assertRaises(ValueError):
            PKIClient(self.server.url, "../escape", storage_dir=self.storage)
