//! Who a client is: passwords, JWTs, and the principal a session or an API
//! call acts as.
//!
//! Accounts live in the directory. STOMP CONNECT authenticates with a JWT
//! (in `passcode`, or an `Authorization: Bearer` header), with
//! `login`/`passcode` as username and password, or, with no `login`, as the
//! configured default user. Argon2 verification costs tens of milliseconds
//! by design, so it runs on the blocking pool and a verified (username,
//! passcode, hash) triple is remembered as a keyed digest: reconnect storms
//! do not become CPU storms, a password change invalidates the entry (the
//! hash is part of the key), and no passcode is kept in the clear.

pub mod jwt;
mod password;

use std::collections::HashSet;
use std::hash::{BuildHasher, RandomState};
use std::sync::{Arc, Mutex};

use herald_storage::{Account, Directory, NewUser, StoreError, UserId};

use crate::config::Config;
pub use jwt::{looks_like_jwt, Claims, TokenError, TokenKind, Tokens};
pub use password::{hash_password, hash_password_now as password_hash_now, verify_password};

/// The authenticated identity of a session or an API request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Principal {
    pub user_id: UserId,
    pub username: String,
}

/// Why authentication failed; the text goes into an ERROR frame or a 401.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    /// Unknown login or wrong password; the two are not told apart.
    #[error("bad credentials: login or passcode is wrong")]
    BadCredentials,
    /// No `login` and no default user is configured.
    #[error("login required: this broker has no default user")]
    LoginRequired,
    #[error("{0}")]
    Token(#[from] TokenError),
    /// The directory could not be asked; try again later.
    #[error("authentication unavailable: {0}")]
    Store(#[from] StoreError),
}

/// Bound on the verified-passwords cache so it cannot grow without limit.
const VERIFIED_CACHE_MAX: usize = 100_000;
/// The guest account's name and well-known password, as in RabbitMQ.
pub const GUEST: &str = "guest";

pub struct Authenticator {
    directory: Arc<dyn Directory>,
    pub tokens: Tokens,
    guest: bool,
    default_user: Option<String>,
    /// Keyed digests of verified (username, passcode, hash) triples. A std
    /// Mutex: held for a lookup or an insert, never across an await.
    verified: Mutex<HashSet<u64>>,
    hasher: RandomState,
}

impl Authenticator {
    pub fn new(config: &Config, directory: Arc<dyn Directory>, tokens: Tokens) -> Authenticator {
        let default_user =
            Some(config.auth.default_user.trim().to_owned()).filter(|u| !u.is_empty());
        Authenticator {
            directory,
            tokens,
            guest: config.auth.guest,
            default_user,
            verified: Mutex::new(HashSet::new()),
            hasher: RandomState::new(),
        }
    }

    /// Creates the guest account (when enabled) and the `[[auth.users]]`
    /// accounts, or updates their password hash from config.
    pub async fn bootstrap(&self, config: &Config) -> Result<(), AuthError> {
        let mut wanted: Vec<(String, Option<String>)> = config
            .auth
            .users
            .iter()
            .map(|user| (user.login.clone(), Some(user.password_hash.clone())))
            .collect();
        if self.guest {
            wanted.push((GUEST.to_owned(), None));
        }
        for (username, hash) in wanted {
            match self.directory.account_by_username(&username).await? {
                Some(account) => {
                    if let Some(hash) = hash.filter(|hash| *hash != account.password_hash) {
                        self.directory.set_password(account.user.id, hash).await?;
                    }
                }
                None => {
                    let password_hash = match hash {
                        Some(hash) => hash,
                        None => hash_password(GUEST.to_owned())
                            .await
                            .map_err(StoreError::Unavailable)?,
                    };
                    let created = self
                        .directory
                        .create_user(NewUser {
                            username: username.clone(),
                            password_hash,
                            nickname: username.clone(),
                        })
                        .await;
                    match created {
                        Ok(_) | Err(StoreError::Conflict(_)) => {}
                        Err(error) => return Err(error.into()),
                    }
                }
            }
        }
        Ok(())
    }

    /// Authenticates a STOMP CONNECT.
    pub async fn connect(
        &self,
        login: Option<&str>,
        passcode: Option<&str>,
        authorization: Option<&str>,
    ) -> Result<Principal, AuthError> {
        if let Some(token) = authorization.and_then(|value| value.strip_prefix("Bearer ")) {
            return self.access_token(token.trim()).await;
        }
        if let Some(token) = passcode.filter(|passcode| looks_like_jwt(passcode)) {
            return self.access_token(token).await;
        }
        match login.filter(|login| !login.is_empty()) {
            Some(login) => {
                let account = self.password(login, passcode.unwrap_or("")).await?;
                Ok(principal(&account))
            }
            None => {
                let name = self
                    .default_user
                    .as_deref()
                    .ok_or(AuthError::LoginRequired)?;
                if name == GUEST && !self.guest {
                    return Err(AuthError::LoginRequired);
                }
                let account = self
                    .directory
                    .account_by_username(name)
                    .await?
                    .ok_or(AuthError::LoginRequired)?;
                Ok(principal(&account))
            }
        }
    }

    /// Checks a username and password; the account on success.
    pub async fn password(&self, username: &str, password: &str) -> Result<Account, AuthError> {
        if username.eq_ignore_ascii_case(GUEST) && !self.guest {
            return Err(AuthError::BadCredentials);
        }
        let account = self
            .directory
            .account_by_username(username)
            .await?
            .ok_or(AuthError::BadCredentials)?;
        let key = self
            .hasher
            .hash_one((username, password, &account.password_hash));
        if self.verified.lock().expect("poisoned").contains(&key) {
            return Ok(account);
        }
        // Wait for a slot, then look again: a burst of logins with the same
        // credentials computes argon2 once, and the rest find it cached.
        let _slot = password::argon2_slot()
            .await
            .map_err(|_| AuthError::BadCredentials)?;
        if self.verified.lock().expect("poisoned").contains(&key) {
            return Ok(account);
        }
        if !password::verify_now(password.to_owned(), account.password_hash.clone()).await {
            return Err(AuthError::BadCredentials);
        }
        let mut verified = self.verified.lock().expect("poisoned");
        if verified.len() >= VERIFIED_CACHE_MAX {
            verified.clear();
        }
        verified.insert(key);
        Ok(account)
    }

    /// Checks an access token, including revocation.
    pub async fn access_token(&self, token: &str) -> Result<Principal, AuthError> {
        let account = self.token(token, TokenKind::Access).await?;
        Ok(principal(&account))
    }

    /// Checks a token of `kind`; the account when it is valid and current.
    pub async fn token(&self, token: &str, kind: TokenKind) -> Result<Account, AuthError> {
        let claims = self.tokens.verify(token, kind)?;
        let user_id = claims.user_id().ok_or(TokenError::Invalid("sub".into()))?;
        let account = self
            .directory
            .account(user_id)
            .await?
            .ok_or(TokenError::Revoked)?;
        if account.token_version != claims.ver {
            return Err(TokenError::Revoked.into());
        }
        if account.user.username.eq_ignore_ascii_case(GUEST) && !self.guest {
            return Err(TokenError::Revoked.into());
        }
        Ok(account)
    }

    /// A fresh access and refresh token pair for an account.
    pub fn issue(&self, account: &Account) -> (String, String) {
        let user = &account.user;
        (
            self.tokens.issue(
                user.id,
                &user.username,
                account.token_version,
                TokenKind::Access,
            ),
            self.tokens.issue(
                user.id,
                &user.username,
                account.token_version,
                TokenKind::Refresh,
            ),
        )
    }
}

pub fn principal(account: &Account) -> Principal {
    Principal {
        user_id: account.user.id,
        username: account.user.username.clone(),
    }
}
