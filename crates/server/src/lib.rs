//! VCC PKI server: composition and transports. The HTTPS front end (REST API), OCSP and CRL over
//! HTTP, authentication of a requester (bearer token, mTLS) and TLS with hot swap; every state
//! change is the authority's (vcc-pki-authority), every error mapped once in `problem`.
pub mod api;
pub mod auth;
pub mod config;
pub mod connections;
pub mod metrics;
pub mod observe;
pub mod ocsp;
pub mod problem;
pub mod refusals;
pub mod state;
pub mod tls;
pub mod ui;

use crate::auth::{new_token, token_hash, ADMIN_TOKEN_PREFIX};
use crate::config::ServeConfig;
use crate::state::AppState;
use crate::tls::TlsState;
use anyhow::Context;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};
pub use vcc_pki_authority::files;
use vcc_pki_authority::Authority;
use vcc_pki_store::{AuditEntry, Store};

/// File holding the first admin token (0600), for the CLI on the same host.
pub const ADMIN_TOKEN_FILE: &str = "admin.token";

/// Start the server and run until SIGINT/SIGTERM.
pub async fn run(config: ServeConfig) -> anyhow::Result<()> {
    let config = Arc::new(config);
    metrics::install().context("cannot start the metrics recorder")?;
    files::ensure_private_dir(&config.data_dir)
        .with_context(|| format!("cannot create data dir {}", config.data_dir.display()))?;
    // One server per data dir: its TLS key and admin token file are this process's; `db restore`
    // refuses a dir whose lock is held.
    let _data_dir_lock = match files::lock_data_dir(&config.data_dir) {
        Ok(lock) => Some(lock),
        Err(files::DataDirLockError::Io { source, .. })
            if source.kind() == std::io::ErrorKind::Unsupported =>
        {
            tracing::warn!(error = %source, "the data dir's file system has no locks: a second server on it would not be refused");
            None
        }
        Err(e) => return Err(e.into()),
    };
    let store = Store::open_waiting(&config.database_url, config.database_wait)
        .await
        .with_context(|| {
            format!(
                "cannot open database {}",
                vcc_pki_store::redacted_url(&config.database_url)
            )
        })?;
    files::restrict_sqlite_files(&config.database_url);
    ensure_admin_token(&store, &config).await?;

    if let Some(url) = config.public_url.as_deref() {
        if url.starts_with("http://") && config.http_port.is_none() {
            tracing::warn!(
                public_url = url,
                "certificates will name plain-HTTP URLs but no --http-port is set: \
                 /ocsp, /crl and /ca/*.crt must be reachable there through a proxy"
            );
        }
    }
    let tls = TlsState::load_or_self_signed(&config.data_dir.join("tls"), &config.dns_names)?;
    let authority = Authority::load(store.clone(), Arc::new(config.authority()), tls.clone())
        .await
        .context("cannot unlock the CA (is VCC_CA_PASSWORD right?)")?;
    if authority.is_sealed() {
        tracing::warn!(
            "the CA is sealed: signing is refused until an admin unlocks it (POST /api/ca/unlock)"
        );
    }
    if authority.server_tls().due() {
        authority.server_tls().renew_if_possible().await;
    } else {
        authority.server_tls().replace_if_revoked().await;
    }
    authority.start_components();
    if let Some(after) = config.tidy_after {
        let retention = time::Duration::seconds(after.as_secs() as i64);
        authority.start_tidy(retention);
        tracing::info!(
            retention_days = after.as_secs() / 86_400,
            "tidy is on: hourly"
        );
    }
    let acme = vcc_pki_acme::Acme::new(store.clone(), authority.clone(), config.acme.clone())
        .await
        .context("cannot start the ACME front end")?;
    vcc_pki_acme::Acme::start_nonce_purger(&acme);
    vcc_pki_acme::Acme::start_sweeper(&acme);
    if config.acme.allow_dns.is_empty() && config.acme.allow_ip.is_empty() {
        tracing::warn!(
            "ACME has no allow list (--acme-allow-dns, --acme-allow-ip): every name that passes \
             validation may be issued"
        );
    }
    if config.acme.allow_wildcards {
        tracing::info!("ACME issues wildcard identifiers (validated over dns-01 only)");
    }

    let state = AppState {
        store,
        authority,
        tls: tls.clone(),
        config: config.clone(),
        started: Instant::now(),
        acme,
        sessions: Arc::new(ui::session::Sessions::default()),
        refusals: Arc::new(refusals::RefusalLimiter::default()),
    };
    let public_app = api::public_router(state.clone());
    let metrics_app = api::metrics_router(state.clone());
    let app = api::router(state);

    let listener = std::net::TcpListener::bind((config.host.as_str(), config.port))
        .with_context(|| format!("cannot listen on {}:{}", config.host, config.port))?;
    listener.set_nonblocking(true)?;
    let addr = listener.local_addr()?;
    let rustls_config =
        axum_server::tls_rustls::RustlsConfig::from_config(Arc::new(tls.server_config()?));
    let handle = axum_server::Handle::new();
    let mut handles = vec![handle.clone()];
    if let Some(http_port) = config.http_port {
        let listener = std::net::TcpListener::bind((config.host.as_str(), http_port))
            .with_context(|| format!("cannot listen on {}:{http_port}", config.host))?;
        listener.set_nonblocking(true)?;
        let http_addr = listener.local_addr()?;
        let http_handle = axum_server::Handle::new();
        handles.push(http_handle.clone());
        let mut server = axum_server::from_tcp(listener)?
            .acceptor(capped("http", config.connection_caps))
            .handle(http_handle);
        // As on HTTPS: a client that never finishes its headers is dropped.
        limit_heads(server.http_builder());
        println!(
            "vcc-pki http listening on http://{}",
            display_addr(http_addr)
        );
        tokio::spawn(async move {
            if let Err(e) = server
                .serve(public_app.into_make_service_with_connect_info::<SocketAddr>())
                .await
            {
                tracing::error!(error = %e, "plain-HTTP listener stopped");
            }
        });
    }
    if let Some(metrics_addr) = config.metrics_listen {
        let listener = std::net::TcpListener::bind(metrics_addr)
            .with_context(|| format!("cannot listen on {metrics_addr} (--metrics-listen)"))?;
        listener.set_nonblocking(true)?;
        let bound = listener.local_addr()?;
        let metrics_handle = axum_server::Handle::new();
        handles.push(metrics_handle.clone());
        let metrics_caps = connections::Caps {
            total: config.connection_caps.total.min(64),
            per_source: config.connection_caps.per_source.min(64),
            ..config.connection_caps
        };
        let server = axum_server::from_tcp(listener)?
            .acceptor(capped("metrics", metrics_caps))
            .handle(metrics_handle);
        println!(
            "vcc-pki metrics listening on http://{}",
            display_addr(bound)
        );
        tokio::spawn(async move {
            if let Err(e) = server
                .serve(metrics_app.into_make_service_with_connect_info::<SocketAddr>())
                .await
            {
                tracing::error!(error = %e, "metrics listener stopped");
            }
        });
    }
    tokio::spawn(shutdown_on_signal(handles));
    // Announce the bound address on stdout (tests and scripts read this line).
    println!("vcc-pki listening on https://{}", display_addr(addr));
    let https_caps = capped("https", config.connection_caps);
    let mut server =
        axum_server::from_tcp_rustls(listener, rustls_config)?.map(|tls| tls.acceptor(https_caps));
    limit_heads(server.http_builder());
    server
        .handle(handle)
        .serve(app.into_make_service_with_connect_info::<SocketAddr>())
        .await?;
    Ok(())
}

/// How much of a request head the connection layer reads (HTTP/1.1 read buffer, HTTP/2
/// SETTINGS_MAX_HEADER_LIST_SIZE): room above the router's [`api::MAX_HEADER_BYTES`], so that a
/// head over that limit is answered with a 431 problem document rather than by the protocol layer.
pub const PROTOCOL_HEAD_BYTES: usize = 64 * 1024;

/// The connection-level limits of every listener: a client that opens a connection and never
/// finishes its headers is dropped after 10 s, and heads are read up to [`PROTOCOL_HEAD_BYTES`].
fn limit_heads<E>(builder: &mut hyper_util::server::conn::auto::Builder<E>) {
    builder
        .http1()
        .header_read_timeout(Duration::from_secs(10))
        .max_buf_size(PROTOCOL_HEAD_BYTES);
    builder
        .http2()
        .max_header_list_size(PROTOCOL_HEAD_BYTES as u32);
}

/// The acceptor that caps a listener's connections (see `connections`).
fn capped(listener: &'static str, caps: connections::Caps) -> connections::CappedAcceptor {
    connections::CappedAcceptor::new(connections::ConnectionCap::new(listener, caps))
}

fn display_addr(addr: SocketAddr) -> String {
    match addr {
        SocketAddr::V6(v6) => format!("[{}]:{}", v6.ip(), v6.port()),
        SocketAddr::V4(v4) => v4.to_string(),
    }
}

/// On first start, create an admin token, store its hash, and hand it over once (file 0600 + stderr).
async fn ensure_admin_token(store: &Store, config: &ServeConfig) -> anyhow::Result<()> {
    if !store.list_tokens().await?.is_empty() {
        return Ok(());
    }
    let token = zeroize::Zeroizing::new(new_token(ADMIN_TOKEN_PREFIX));
    let path = config.data_dir.join(ADMIN_TOKEN_FILE);
    files::write_secret(&path, format!("{}\n", token.as_str()).as_bytes())
        .with_context(|| format!("cannot write {}", path.display()))?;
    store
        .insert_token(
            "initial admin",
            "admin",
            &token_hash(&token),
            &AuditEntry::new("system", "token.create", "token").target("initial admin"),
        )
        .await?;
    // The token goes to a person at a terminal, never into a log file or a journal.
    if std::io::IsTerminal::is_terminal(&std::io::stdout()) {
        println!(
            "\nFirst start: created admin token (shown once; also saved to {} with mode 0600):\n\n    {}\n",
            path.display(),
            token.as_str()
        );
    } else {
        tracing::info!(
            file = %path.display(),
            "first start: created the admin token; it is in this file (mode 0600), read it there"
        );
    }
    Ok(())
}

async fn shutdown_on_signal(handles: Vec<axum_server::Handle<SocketAddr>>) {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {}
        _ = term => {}
    }
    tracing::info!("shutting down");
    for handle in handles {
        handle.graceful_shutdown(Some(Duration::from_secs(10)));
    }
}
