"""The Python client's request bodies against the server's own contract: every body the client
sends in its flows is checked against the request schema of its path in the server's generated
``/openapi.json`` (the Rust wire types), so a field renamed or added on either side fails here."""
from __future__ import annotations

from typing import Any, Dict, List, Tuple
from unittest import mock

from support import ServerTestCase

from vcc_pki_client import _http
from vcc_pki_client import keys as client_keys

JSON_TYPES = {
    "string": str,
    "integer": int,
    "boolean": bool,
    "array": list,
    "object": dict,
}


def resolve(document: Dict[str, Any], schema: Dict[str, Any]) -> Dict[str, Any]:
    ref = schema.get("$ref")
    if ref:
        name = ref.rsplit("/", 1)[1]
        return document["components"]["schemas"][name]
    return schema


def allowed_types(document: Dict[str, Any], schema: Dict[str, Any]) -> List[str]:
    """The JSON types a (possibly nullable, possibly referenced) property schema accepts."""
    schema = resolve(document, schema)
    declared = schema.get("type")
    if isinstance(declared, str):
        return [declared]
    if isinstance(declared, list):
        return list(declared)
    types: List[str] = []
    for key in ("oneOf", "anyOf", "allOf"):
        for option in schema.get(key, []):
            types.extend(allowed_types(document, option))
    return types


def problems(document: Dict[str, Any], method: str, path: str, body: Dict[str, Any]) -> List[str]:
    """What is wrong with ``body`` as the request of ``method path`` (empty: it conforms)."""
    operation = document["paths"].get(path, {}).get(method.lower())
    if operation is None:
        return [f"{method} {path} is not in the server's OpenAPI document"]
    content = operation.get("requestBody", {}).get("content", {}).get("application/json")
    if content is None:
        return [f"{method} {path} takes no JSON body"]
    schema = resolve(document, content["schema"])
    properties = schema.get("properties", {})
    found = []
    for key in body:
        if key not in properties:
            found.append(f"{method} {path}: field '{key}' is not in the schema ({sorted(properties)})")
    for key in schema.get("required", []):
        if key not in body:
            found.append(f"{method} {path}: required field '{key}' missing")
    for key, value in body.items():
        if key not in properties:
            continue
        types = allowed_types(document, properties[key])
        if value is None:
            if types and "null" not in types:
                found.append(f"{method} {path}: '{key}' is null, the schema says {types}")
            continue
        python = [JSON_TYPES[t] for t in types if t in JSON_TYPES]
        # bool is an int in Python: an integer field must not take True/False.
        wrong_bool = isinstance(value, bool) and "boolean" not in types
        if python and (not isinstance(value, tuple(python)) or wrong_bool):
            found.append(f"{method} {path}: '{key}' = {value!r}, the schema says {types}")
    return found


class ContractTest(ServerTestCase):
    def recorded_bodies(self, flows: Any) -> List[Tuple[str, str, Dict[str, Any]]]:
        sent: List[Tuple[str, str, Dict[str, Any]]] = []
        real = _http.Transport.request

        def record(transport: Any, method: str, path: str, **kwargs: Any) -> Any:
            if kwargs.get("body") is not None:
                sent.append((method, path, kwargs["body"]))
            return real(transport, method, path, **kwargs)

        with mock.patch.object(_http.Transport, "request", autospec=True, side_effect=record):
            flows()
        return sent

    def test_every_body_the_client_sends_is_in_the_servers_schema(self) -> None:
        status, document = self.server.call("GET", "/openapi.json", None, token=None)
        self.assertEqual(status, 200, document)

        def flows() -> None:
            admin = self.client("contract", token=self.server.token)
            admin.register_service(
                "Contract", ["https://contract.internal:8443"],
                allowed_dns=["contract.internal"], allowed_ip=["127.0.0.1"],
                description="bodies under test",
            )
            admin.request_certificate(
                "contract.internal", san_dns=["contract.internal"], san_ip=["127.0.0.1"],
                validity_days=30, profile="server_client",
            )
            # The service updating its own entry over mTLS.
            admin.register_service("Contract v2", ["https://contract.internal:9443"])
            # A server-made key (no cryptography module): the body names a key type instead of a CSR.
            other = self.client("contract-keygen", token=self.server.token)
            with mock.patch.object(client_keys, "HAVE_CRYPTOGRAPHY", False):
                other.request_certificate("contract-keygen.internal", key_type="ecdsa-p256")

        sent = self.recorded_bodies(flows)
        paths = {(method, path) for method, path, _ in sent}
        self.assertIn(("POST", "/api/certificates/issue"), paths)
        self.assertIn(("POST", "/api/services/register"), paths)
        self.assertTrue(any("csr_pem" in body for _, _, body in sent))
        self.assertTrue(any("key_type" in body for _, _, body in sent))
        found = [p for method, path, body in sent for p in problems(document, method, path, body)]
        self.assertEqual(found, [])

    def test_the_checker_catches_a_body_outside_the_schema(self) -> None:
        # The check itself, on the same document: a renamed field, a wrong type, a missing one.
        status, document = self.server.call("GET", "/openapi.json", None, token=None)
        self.assertEqual(status, 200, document)
        good = {"service_id": "x", "common_name": "x.internal"}
        self.assertEqual(problems(document, "POST", "/api/certificates/issue", good), [])
        self.assertTrue(problems(document, "POST", "/api/certificates/issue", {**good, "cn": "x"}))
        self.assertTrue(problems(document, "POST", "/api/certificates/issue",
                                 {**good, "san_dns": "x.internal"}))
        self.assertTrue(problems(document, "POST", "/api/certificates/issue",
                                 {**good, "validity_days": True}))
        self.assertTrue(problems(document, "POST", "/api/certificates/issue", {"service_id": "x"}))
        self.assertTrue(problems(document, "POST", "/api/nowhere", good))
