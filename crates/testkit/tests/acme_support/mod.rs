//! Helpers for the ACME tests: an http-01 responder on a loopback port.
#![allow(dead_code)]
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::get;
use axum::Router;
use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

#[derive(Default)]
struct Tokens {
    answers: Mutex<HashMap<String, String>>,
    hits: AtomicUsize,
}

/// Serves `/.well-known/acme-challenge/{token}` with the key authorizations set by the test.
pub struct Http01Responder {
    pub port: u16,
    tokens: Arc<Tokens>,
}

async fn answer(
    State(tokens): State<Arc<Tokens>>,
    Path(token): Path<String>,
) -> (StatusCode, String) {
    tokens.hits.fetch_add(1, Ordering::SeqCst);
    match tokens.answers.lock().unwrap().get(&token) {
        Some(answer) => (StatusCode::OK, answer.clone()),
        None => (StatusCode::NOT_FOUND, "no such token".into()),
    }
}

impl Http01Responder {
    pub async fn start() -> Self {
        let tokens = Arc::new(Tokens::default());
        let app = Router::new()
            .route("/.well-known/acme-challenge/{token}", get(answer))
            .with_state(tokens.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Self { port, tokens }
    }

    pub fn set(&self, token: &str, answer: &str) {
        self.tokens
            .answers
            .lock()
            .unwrap()
            .insert(token.to_string(), answer.to_string());
    }

    pub fn hits(&self) -> usize {
        self.tokens.hits.load(Ordering::SeqCst)
    }
}
