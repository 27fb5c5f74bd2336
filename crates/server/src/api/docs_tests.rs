//! The generated document against the router and the wire types.
use serde_json::Value;

fn doc() -> Value {
    serde_json::from_str(super::openapi_json()).unwrap()
}

fn schema<'a>(doc: &'a Value, name: &str) -> &'a Value {
    let s = &doc["components"]["schemas"][name];
    assert!(s.is_object(), "no schema {name}");
    s
}

#[test]
fn every_routed_path_is_documented() {
    let doc = doc();
    let paths = doc["paths"].as_object().unwrap();
    let router_src = include_str!("mod.rs");
    // Each `.route(` call's first argument, on its line or the next (rustfmt wraps long ones).
    // A set: /metrics and the probes are routed on more than one listener.
    let routed: std::collections::BTreeSet<String> = router_src
        .split(".route(")
        .skip(1)
        .filter_map(|rest| rest.trim_start().strip_prefix('"'))
        .filter_map(|l| l.split('"').next())
        // A catch-all `{*name}` is `{name}` in OpenAPI.
        .map(|p| p.replace("{*", "{"))
        .collect();
    assert!(routed.len() >= 20, "router parse found {routed:?}");
    for p in &routed {
        assert!(
            paths.contains_key(p.as_str()),
            "{p} is routed but not documented"
        );
    }
    assert_eq!(
        routed.len(),
        paths.len(),
        "documented paths that are not routed"
    );
}

#[test]
fn request_bodies_refuse_unknown_fields_as_the_server_does() {
    let doc = doc();
    for name in [
        "IssueRequest",
        "RenewRequest",
        "RevokeRequest",
        "CaCreateRequest",
        "UnlockRequest",
        "RegisterRequest",
        "CreateTokenRequest",
    ] {
        assert_eq!(
            schema(&doc, name)["additionalProperties"],
            Value::Bool(false),
            "{name}"
        );
    }
    // A field the schema offers is one the server takes: serialise a full request and read it
    // back through the server's own deserialiser.
    let issue = schema(&doc, "IssueRequest")["properties"]
        .as_object()
        .unwrap();
    let mut body = serde_json::Map::new();
    for (field, _) in issue {
        body.insert(field.clone(), Value::Null);
    }
    body.insert("service_id".into(), "a".into());
    body.insert("common_name".into(), "a".into());
    body.insert("san_dns".into(), Value::Array(vec![]));
    body.insert("san_ip".into(), Value::Array(vec![]));
    let parsed: Result<vcc_pki_proto::IssueRequest, _> =
        serde_json::from_value(Value::Object(body));
    assert!(parsed.is_ok(), "{parsed:?}");
    let required: Vec<&str> = schema(&doc, "IssueRequest")["required"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert_eq!(required, ["service_id", "common_name"]);
}

#[test]
fn limits_and_nullable_fields_are_in_the_schema() {
    let doc = doc();
    let params = doc["paths"]["/api/certificates"]["get"]["parameters"]
        .as_array()
        .unwrap();
    let limit = params.iter().find(|p| p["name"] == "limit").unwrap();
    assert_eq!(limit["in"], "query");
    assert_eq!(limit["schema"]["minimum"], 1, "{limit}");
    assert_eq!(limit["schema"]["maximum"], 1000, "{limit}");
    let validity = &schema(&doc, "IssueRequest")["properties"]["validity_days"];
    assert_eq!(validity["minimum"], 1, "{validity}");
    assert_eq!(validity["maximum"], 825, "{validity}");
    // Nullable: an Option is ["T", "null"] in OpenAPI 3.1.
    let revoked_at = &schema(&doc, "Certificate")["properties"]["revoked_at"];
    assert!(
        revoked_at["type"]
            .as_array()
            .is_some_and(|t| t.contains(&"null".into())),
        "{revoked_at}"
    );
    let key = &schema(&doc, "IssuedCertificate");
    assert!(!key["required"]
        .as_array()
        .unwrap()
        .contains(&"private_key_pem".into()));
}

#[test]
fn non_json_answers_and_errors_name_their_media_types() {
    let doc = doc();
    let content = |path: &str, method: &str, status: &str| -> Vec<String> {
        doc["paths"][path][method]["responses"][status]["content"]
            .as_object()
            .map(|c| c.keys().cloned().collect())
            .unwrap_or_default()
    };
    assert_eq!(content("/crl", "get", "200"), ["application/pkix-crl"]);
    assert_eq!(
        content("/crl/{shard}", "get", "200"),
        ["application/pkix-crl"]
    );
    assert_eq!(
        content("/ca/root.crt", "get", "200"),
        ["application/pkix-cert"]
    );
    assert_eq!(
        content("/api/ca/bundle", "get", "200"),
        ["application/pem-certificate-chain"]
    );
    assert_eq!(content("/docs", "get", "200"), ["text/html"]);
    assert_eq!(
        content("/ocsp", "post", "200"),
        ["application/ocsp-response"]
    );
    assert!(
        doc["paths"]["/ocsp"]["post"]["requestBody"]["content"]["application/ocsp-request"]
            .is_object()
    );
    // Every documented error is a problem document.
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            for (status, response) in op["responses"].as_object().unwrap() {
                if status.starts_with('4') || status.starts_with('5') {
                    if path == "/api/health" || path == "/readyz" {
                        continue; // 503 is the health or readiness body itself
                    }
                    let kinds: Vec<&String> = response["content"]
                        .as_object()
                        .map(|c| c.keys().collect())
                        .unwrap_or_default();
                    assert_eq!(
                        kinds,
                        ["application/problem+json"],
                        "{method} {path} {status}"
                    );
                }
            }
        }
    }
}
