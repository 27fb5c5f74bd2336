//! API tokens: made here (shown once, stored as a hash), listed, revoked. Roles: `admin` and the
//! read-only `auditor`. Only an admin may make or revoke one (an auditor may list them), and the
//! last active admin token is never revoked (the CA would be left without an administrator).
use crate::credentials::{new_token, token_hash, ADMIN_TOKEN_PREFIX};
use crate::{Authority, AuthorityError, AuthorityResult, Requester};
use vcc_pki_store::TokenRecord;
use zeroize::Zeroizing;

/// A token's role.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenRole {
    Admin,
    /// Reads everything an admin reads; every change is refused (403, audited).
    Auditor,
}

impl TokenRole {
    pub fn parse(role: &str) -> AuthorityResult<Self> {
        match role {
            "admin" => Ok(Self::Admin),
            "auditor" => Ok(Self::Auditor),
            other => Err(AuthorityError::malformed(format!(
                "unknown token role '{other}' (expected admin or auditor)"
            ))),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Admin => "admin",
            Self::Auditor => "auditor",
        }
    }
}

/// A new token: its id, name, role and the token itself (shown once).
pub struct CreatedToken {
    pub id: i64,
    pub name: String,
    pub role: TokenRole,
    pub token: Zeroizing<String>,
}

impl Authority {
    pub async fn create_token(
        &self,
        ctx: &Requester,
        name: &str,
        role: TokenRole,
    ) -> AuthorityResult<CreatedToken> {
        ctx.require_admin(&self.store, "token.create", None).await?;
        let name = name.trim();
        if name.is_empty() || name.len() > 64 {
            return Err(AuthorityError::malformed(
                "token name must be 1 to 64 characters",
            ));
        }
        let token = Zeroizing::new(new_token(ADMIN_TOKEN_PREFIX));
        let audit = ctx
            .audit("token.create", "token")
            .target(name.to_string())
            .details(serde_json::json!({ "role": role.as_str() }));
        let id = self
            .store
            .insert_token(name, role.as_str(), &token_hash(&token), &audit)
            .await?;
        Ok(CreatedToken {
            id,
            name: name.to_string(),
            role,
            token,
        })
    }

    pub async fn list_tokens(&self, ctx: &Requester) -> AuthorityResult<Vec<TokenRecord>> {
        ctx.require_reader(&self.store, "token.list", None).await?;
        Ok(self.store.list_tokens().await?)
    }

    pub async fn revoke_admin_token(&self, ctx: &Requester, id: i64) -> AuthorityResult<()> {
        ctx.require_admin(&self.store, "token.revoke", Some(&id.to_string()))
            .await?;
        let active_admins = self
            .store
            .reload_active_tokens()
            .await?
            .iter()
            .filter(|t| t.role == TokenRole::Admin.as_str())
            .count();
        let tokens = self.store.list_tokens().await?;
        let target = tokens
            .iter()
            .find(|t| t.id == id)
            .ok_or_else(|| AuthorityError::not_found(format!("no token with id {id}")))?;
        if target.revoked_at.is_some() {
            return Err(AuthorityError::conflict(format!(
                "token {id} is already revoked"
            )));
        }
        if target.role == TokenRole::Admin.as_str() && active_admins <= 1 {
            return Err(AuthorityError::conflict(
                "refusing to revoke the last active admin token",
            ));
        }
        let audit = ctx.audit("token.revoke", "token").target(id.to_string());
        self.store.revoke_token(id, &audit).await?;
        Ok(())
    }
}
