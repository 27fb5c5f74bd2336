"""The web dashboard (SPEC §11, issue 15) in a real browser: Playwright drives Debian's Chromium
against a real ``vcc-pki serve``. Sign in, find a certificate by a SAN, open it, revoke it with a
reason and see the CRL number that lists it (checked against the CRL itself with openssl), register
a service and see its token once, read and verify the audit log, sign out; an auditor reads and
cannot change; a POST without the CSRF token changes nothing. Screenshots go to docs/screenshots.
"""
import importlib
import os
import shutil
import subprocess
import tempfile
import time
import unittest
from pathlib import Path

from support import REPO_ROOT, PKIServer, require_module

CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run",
]
# docs/screenshots is refreshed with VCC_UPDATE_SCREENSHOTS=1; otherwise they go to a temp dir.
SCREENSHOTS = (REPO_ROOT / "docs" / "screenshots" if os.environ.get("VCC_UPDATE_SCREENSHOTS")
               else Path(tempfile.gettempdir()) / "vcc-pki-screenshots")


def chromium_path() -> str:
    for candidate in (os.environ.get("VCC_CHROMIUM"), shutil.which("chromium"),
                      "/usr/bin/chromium", shutil.which("chromium-browser")):
        if candidate and os.path.exists(candidate):
            return candidate
    raise AssertionError("Chromium not found: apt-get install -y chromium")


class DashboardTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls) -> None:
        require_module("playwright", "pip install playwright")
        sync_api = importlib.import_module("playwright.sync_api")
        cls.server = PKIServer().start()
        s = cls.server
        # A certificate to find by one of its SANs, and an auditor token.
        status, body = s.call("POST", "/api/certificates/issue", {
            "service_id": "shop", "common_name": "shop.example.test",
            "san_dns": ["shop.example.test", "pay.example.test"],
        })
        assert status == 201, body
        cls.serial = body["serial_number"]
        for i in range(3):
            s.call("POST", "/api/certificates/issue", {
                "service_id": f"svc{i}", "common_name": f"svc{i}.example.test"})
        status, body = s.call("POST", "/api/tokens", {"name": "ui auditor", "role": "auditor"})
        assert status == 201, body
        cls.auditor_token = body["token"]
        cls.pw = sync_api.sync_playwright().start()
        cls.browser = cls.pw.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_ARGS)

    @classmethod
    def tearDownClass(cls) -> None:
        cls.browser.close()
        cls.pw.stop()
        cls.server.stop()

    def new_page(self, width: int = 1280):
        # The server's certificate is from the test CA, which this browser profile does not know.
        context = self.browser.new_context(ignore_https_errors=True,
                                           viewport={"width": width, "height": 900})
        self.addCleanup(context.close)
        return context.new_page()

    def sign_in(self, page, token: str) -> None:
        page.goto(self.server.url + "/ui")
        self.assertIn("/ui/login", page.url)
        page.get_by_label("Admin or auditor token").fill(token)
        page.keyboard.press("Enter")  # the form works from the keyboard
        page.wait_for_url(self.server.url + "/ui")

    def shot(self, page, name: str) -> None:
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        path = SCREENSHOTS / f"{name}.png"
        page.screenshot(path=str(path), full_page=True)
        self.assertGreater(path.stat().st_size, 10_000, f"{name} screenshot looks empty")

    def test_admin_finds_revokes_registers_audits_and_signs_out(self) -> None:
        page = self.new_page()
        response = page.goto(self.server.url + "/ui/login")
        headers = response.headers
        self.assertIn("default-src 'none'", headers["content-security-policy"])
        self.assertNotIn("unsafe-inline", headers["content-security-policy"])
        self.assertEqual(headers["x-frame-options"], "DENY")
        self.sign_in(page, self.server.token)
        cookie = next(c for c in page.context.cookies() if c["name"] == "__Host-vcc_session")
        self.assertTrue(cookie["httpOnly"] and cookie["secure"])
        self.assertEqual(cookie["sameSite"], "Strict")
        # The overview's count is the server's (4 issued here, plus its own TLS and OCSP ones).
        _, health = self.server.call("GET", "/api/health", None)
        valid = health["statistics"]["certificates_active"]
        self.assertGreaterEqual(valid, 4)
        self.assertEqual(page.locator(".card .n").first.inner_text(), str(valid))
        self.shot(page, "overview")

        # Find the certificate by its second SAN, in another case.
        page.get_by_role("link", name="Certificates", exact=True).click()
        page.get_by_label("Search (name, serial, fingerprint)").fill("PAY.example.test")
        page.get_by_role("button", name="Apply").click()
        rows = page.locator("tbody tr")
        self.assertEqual(rows.count(), 1)
        self.assertIn(self.serial, rows.first.inner_text())
        self.shot(page, "certificates")
        rows.first.get_by_role("link").first.click()
        self.assertIn("DNSName(pay.example.test)", page.content())
        self.assertIn("TLS Web Server Authentication", page.content())

        # Revoke with a reason: the confirmation box is required, then the CRL number shows.
        page.get_by_label("Reason").select_option("keyCompromise")
        page.get_by_role("checkbox").check()
        self.shot(page, "certificate")
        page.get_by_role("button", name="Revoke certificate").click()
        page.wait_for_url("**revoked=1")
        crl_number = int(page.locator("#crl-number").inner_text())
        self.assertIn("keyCompromise", page.locator("dl.fields").first.inner_text())
        # The CRL the server publishes has that number and lists the serial (openssl reads it).
        crl = Path(tempfile.mkdtemp()) / "crl.der"
        self.addCleanup(shutil.rmtree, crl.parent, True)
        crl.write_bytes(page.request.get(self.server.url + "/crl").body())
        text = subprocess.run(["openssl", "crl", "-inform", "DER", "-in", str(crl), "-noout", "-text"],
                              capture_output=True, text=True, check=True).stdout
        self.assertIn(f"X509v3 CRL Number: \n                {crl_number}", text)
        self.assertIn(self.serial.upper(), text.replace(":", ""))

        # Register a service: the enrollment token is shown once, and works once over REST.
        page.get_by_role("link", name="Services").click()
        page.get_by_label("Service id (lower case, digits, - and .)").fill("billing")
        page.get_by_label("Allowed DNS names (comma separated)").fill("billing.example.test")
        page.get_by_role("button", name="Register").click()
        token = page.locator("#enrollment-token").inner_text().strip()
        self.assertTrue(token.startswith("vcc_enr_") or len(token) > 20, token)
        self.shot(page, "services")
        page.goto(self.server.url + "/ui/services")
        self.assertEqual(page.locator("#enrollment-token").count(), 0, "a token is shown once only")
        self.assertNotIn(token, page.content())

        # The audit log shows the revocation and a verified chain.
        page.get_by_role("link", name="Audit").click()
        page.get_by_label("Action").fill("certificate.revoke")
        page.get_by_role("button", name="Filter").click()
        self.assertIn(self.serial, page.locator("tbody").inner_text())
        page.get_by_role("button", name="Verify the hash chain").click()
        self.assertIn("Chain intact", page.locator("#chain-result").inner_text())
        self.shot(page, "audit")

        # Narrow screens keep every page usable (no horizontal overflow of the page itself).
        page.set_viewport_size({"width": 390, "height": 844})
        for path in ("/ui", "/ui/certificates", f"/ui/certificates/{self.serial}", "/ui/audit"):
            page.goto(self.server.url + path)
            overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
            self.assertLessEqual(overflow, 0, f"{path} overflows at 390 px by {overflow} px")

        # Sign out: the session is gone.
        page.get_by_role("button", name="Sign out").click()
        self.assertIn("You are signed out", page.content())
        response = page.goto(self.server.url + "/ui/certificates")
        self.assertIn("/ui/login", page.url)

    def test_auditor_reads_everything_and_changes_nothing(self) -> None:
        page = self.new_page()
        self.sign_in(page, self.auditor_token)
        self.assertIn("Signed in: auditor", page.content())
        for path in ("/ui/certificates", "/ui/services", "/ui/tokens", "/ui/audit", "/ui/acme"):
            response = page.goto(self.server.url + path)
            self.assertEqual(response.status, 200, path)
        page.goto(self.server.url + f"/ui/certificates/{self.serial}")
        self.assertEqual(page.get_by_role("button", name="Revoke certificate").count(), 0)
        # Even with its own valid CSRF token, a change is refused by the authority: 403, audited.
        csrf = page.locator('meta[name="csrf-token"]').get_attribute("content")
        response = page.request.post(self.server.url + "/ui/services", form={
            "csrf": csrf, "service_id": "sneaky", "allowed_dns": "sneaky.example.test"})
        self.assertEqual(response.status, 403)
        self.assertIn("Not allowed", response.text())
        status, body = self.server.call("GET", "/api/services/sneaky", None)
        self.assertEqual(status, 404, body)
        status, body = self.server.call("GET", "/api/audit/verify", None)
        self.assertEqual(status, 200)

    def test_a_post_without_the_csrf_token_changes_nothing(self) -> None:
        page = self.new_page()
        self.sign_in(page, self.server.token)
        response = page.request.post(self.server.url + "/ui/tokens",
                                     form={"name": "forged", "role": "admin"})
        self.assertEqual(response.status, 403)
        self.assertIn("CSRF", response.text())
        status, tokens = self.server.call("GET", "/api/tokens", None)
        self.assertEqual(status, 200)
        self.assertFalse(any(t["name"] == "forged" for t in tokens["items"]), tokens)

    def test_wrong_token_unknown_session_and_revoked_token_get_clear_pages(self) -> None:
        page = self.new_page()
        page.goto(self.server.url + "/ui/login")
        page.get_by_label("Admin or auditor token").fill("vcc_adm_not-a-real-token")
        page.get_by_role("button", name="Sign in").click()
        self.assertIn("That token is not valid", page.content())
        # A cookie the server never made (or one from before a restart).
        page.context.add_cookies([{"name": "__Host-vcc_session", "value": "s_forged",
                                   "url": self.server.url + "/", "secure": True}])
        response = page.goto(self.server.url + "/ui/certificates")
        self.assertEqual(response.status, 401)
        self.assertIn("You are not signed in", page.content())
        # Signed in with a token that is then revoked: the next page says so.
        status, body = self.server.call("POST", "/api/tokens", {"name": "short-lived", "role": "auditor"})
        self.assertEqual(status, 201, body)
        self.sign_in(page, body["token"])
        status, _ = self.server.call("POST", f"/api/tokens/{body['id']}/revoke", None)
        self.assertIn(status, (200, 204))
        response = page.goto(self.server.url + "/ui/audit")
        self.assertEqual(response.status, 401)
        self.assertIn("has been revoked", page.content())
        self.assertNotIn("panicked", page.content())


class DashboardIdleTimeoutTest(unittest.TestCase):
    """A session unused for longer than --ui-idle-timeout ends, with a page that says so."""

    def test_an_idle_session_expires(self) -> None:
        require_module("playwright", "pip install playwright")
        sync_api = importlib.import_module("playwright.sync_api")
        server = PKIServer(extra_args=["--ui-idle-timeout", "2s"]).start()
        self.addCleanup(server.stop)
        with sync_api.sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_ARGS)
            page = browser.new_context(ignore_https_errors=True).new_page()
            page.goto(server.url + "/ui/login")
            page.get_by_label("Admin or auditor token").fill(server.token)
            page.get_by_role("button", name="Sign in").click()
            page.wait_for_url(server.url + "/ui")
            self.assertEqual(page.goto(server.url + "/ui/audit").status, 200)  # active: kept
            time.sleep(3)
            response = page.goto(server.url + "/ui/audit")
            self.assertEqual(response.status, 401)
            self.assertIn("expired after a period without activity", page.content())
            # The expired session is gone for good: the next request goes to the sign-in page.
            page.goto(server.url + "/ui/audit")
            self.assertIn("/ui/login", page.url)
            browser.close()


if __name__ == "__main__":
    unittest.main()
