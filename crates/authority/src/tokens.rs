//! Admin tokens: made here (shown once, stored as a hash), listed, revoked. Only an admin may, and
//! the last active admin token is never revoked (the CA would be left without an administrator).
use crate::credentials::{new_token, token_hash, ADMIN_TOKEN_PREFIX};
use crate::{Authority, AuthorityError, AuthorityResult, Requester};
use vcc_pki_store::TokenRecord;
use zeroize::Zeroizing;

/// A new admin token: its id, name and the token itself (shown once).
pub struct CreatedToken {
    pub id: i64,
    pub name: String,
    pub token: Zeroizing<String>,
}

impl Authority {
    pub async fn create_admin_token(
        &self,
        ctx: &Requester,
        name: &str,
    ) -> AuthorityResult<CreatedToken> {
        ctx.require_admin(&self.store, "token.create", None).await?;
        let name = name.trim();
        if name.is_empty() || name.len() > 64 {
            return Err(AuthorityError::malformed(
                "token name must be 1 to 64 characters",
            ));
        }
        let token = Zeroizing::new(new_token(ADMIN_TOKEN_PREFIX));
        let audit = ctx.audit("token.create", "token").target(name.to_string());
        let id = self
            .store
            .insert_admin_token(name, &token_hash(&token), &audit)
            .await?;
        Ok(CreatedToken {
            id,
            name: name.to_string(),
            token,
        })
    }

    pub async fn list_tokens(&self, ctx: &Requester) -> AuthorityResult<Vec<TokenRecord>> {
        ctx.require_admin(&self.store, "token.list", None).await?;
        Ok(self.store.list_tokens().await?)
    }

    pub async fn revoke_admin_token(&self, ctx: &Requester, id: i64) -> AuthorityResult<()> {
        ctx.require_admin(&self.store, "token.revoke", Some(&id.to_string()))
            .await?;
        let active = self.store.active_admin_token_hashes().await?;
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
        if active.len() <= 1 {
            return Err(AuthorityError::conflict(
                "refusing to revoke the last active admin token",
            ));
        }
        let audit = ctx.audit("token.revoke", "token").target(id.to_string());
        self.store.revoke_token(id, &audit).await?;
        Ok(())
    }
}
