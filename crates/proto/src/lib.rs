//! The REST API's wire types (SPEC §5 in docs/REFERENCE.md): JSON bodies in snake_case, times
//! RFC 3339, serials lower-case hex. Request types refuse unknown fields. The server, the CLI, the
//! Rust client and the bench all use these; `/openapi.json` is generated from them.
mod requests;
mod responses;

pub use requests::*;
pub use responses::*;
