use crate::config::ServeConfig;
use crate::tls::TlsState;
use std::sync::Arc;
use std::time::Instant;
use vcc_pki_authority::Authority;
use vcc_pki_store::Store;

/// Shared by every handler.
#[derive(Clone)]
pub struct AppState {
    pub store: Store,
    pub authority: Arc<Authority>,
    pub tls: Arc<TlsState>,
    pub config: Arc<ServeConfig>,
    pub started: Instant,
    /// The ACME front end (mounted under /acme/).
    pub acme: Arc<vcc_pki_acme::Acme>,
    /// Dashboard sessions (SPEC §11).
    pub sessions: Arc<crate::ui::session::Sessions>,
    /// Failed authentications per source address (see `refusals`).
    pub refusals: Arc<crate::refusals::RefusalLimiter>,
}
