//! The OpenAPI document and an offline documentation page, both served from the binary.
use axum::http::header;
use axum::response::{Html, IntoResponse};

pub const OPENAPI_JSON: &str = include_str!("openapi.json");

pub async fn openapi() -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "application/json")], OPENAPI_JSON)
}

/// A self-contained page (no CDN) that renders /openapi.json.
pub async fn page() -> Html<&'static str> {
    Html(include_str!("docs.html"))
}

#[cfg(test)]
mod tests {
    #[test]
    fn every_routed_path_is_documented() {
        let doc: serde_json::Value = serde_json::from_str(super::OPENAPI_JSON).unwrap();
        let paths = doc["paths"].as_object().unwrap();
        let router_src = include_str!("mod.rs");
        let routed: Vec<String> = router_src
            .lines()
            .filter_map(|l| l.trim().strip_prefix(".route(\""))
            .filter_map(|l| l.split('"').next())
            // A catch-all `{*name}` is `{name}` in OpenAPI.
            .map(|p| p.replace("{*", "{"))
            .collect();
        assert!(routed.len() >= 20, "router parse found {routed:?}");
        for p in &routed {
            assert!(
                paths.contains_key(p.as_str()),
                "{p} is routed but not in openapi.json"
            );
        }
        assert_eq!(
            routed.len(),
            paths.len(),
            "openapi.json documents paths that are not routed"
        );
    }
}
