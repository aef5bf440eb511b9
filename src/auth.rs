//! Who a CONNECT frame says it is: the accounts from config, the guest
//! account and the default user for a CONNECT without `login`.
//!
//! Passwords are argon2 hashes. Verifying one costs tens of milliseconds by
//! design, so a successful (login, passcode) pair is remembered as a keyed
//! digest: reconnect storms do not turn into a CPU storm, and the cache never
//! holds a passcode in the clear.

use std::collections::{HashMap, HashSet};
use std::hash::{BuildHasher, RandomState};
use std::sync::Mutex;

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;

use crate::config::AuthConfig;

/// The authenticated identity of a session.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Principal {
    pub login: String,
}

/// Why a CONNECT was refused; the text goes into the ERROR frame.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    /// Unknown login or wrong passcode; the two are not told apart.
    #[error("bad credentials: login or passcode is wrong")]
    BadCredentials,
    /// CONNECT without `login` and no default user is configured.
    #[error("login required: this broker has no default user")]
    LoginRequired,
}

pub struct Authenticator {
    guest: bool,
    default_user: Option<String>,
    hashes: HashMap<String, String>,
    /// Keyed digests of (login, passcode) pairs already verified. A std
    /// Mutex: it is held for a lookup or an insert, never across an await.
    verified: Mutex<HashSet<u64>>,
    hasher: RandomState,
}

/// Guest's well-known password, as in RabbitMQ.
const GUEST: &str = "guest";
/// Bound on the verified-pairs cache so it cannot grow without limit.
const VERIFIED_CACHE_MAX: usize = 100_000;

impl Authenticator {
    pub fn new(config: &AuthConfig) -> Authenticator {
        let default_user = Some(config.default_user.trim().to_owned()).filter(|u| !u.is_empty());
        Authenticator {
            guest: config.guest,
            default_user,
            hashes: config
                .users
                .iter()
                .map(|user| (user.login.clone(), user.password_hash.clone()))
                .collect(),
            verified: Mutex::new(HashSet::new()),
            hasher: RandomState::new(),
        }
    }

    /// Checks a CONNECT's `login` and `passcode`.
    pub fn authenticate(
        &self,
        login: Option<&str>,
        passcode: Option<&str>,
    ) -> Result<Principal, AuthError> {
        let Some(login) = login else {
            return self
                .default_user
                .clone()
                .map(|login| Principal { login })
                .ok_or(AuthError::LoginRequired);
        };
        let passcode = passcode.unwrap_or("");
        if self.guest && login == GUEST && passcode == GUEST {
            return Ok(Principal {
                login: login.to_owned(),
            });
        }
        let hash = self.hashes.get(login).ok_or(AuthError::BadCredentials)?;
        let key = self.hasher.hash_one((login, passcode));
        if self.verified.lock().expect("poisoned").contains(&key) {
            return Ok(Principal {
                login: login.to_owned(),
            });
        }
        let parsed = PasswordHash::new(hash).map_err(|_| AuthError::BadCredentials)?;
        Argon2::default()
            .verify_password(passcode.as_bytes(), &parsed)
            .map_err(|_| AuthError::BadCredentials)?;
        let mut verified = self.verified.lock().expect("poisoned");
        if verified.len() >= VERIFIED_CACHE_MAX {
            verified.clear();
        }
        verified.insert(key);
        Ok(Principal {
            login: login.to_owned(),
        })
    }
}

/// An argon2id hash of `password` for `[[auth.users]]` in the config.
pub fn hash_password(password: &str) -> Result<String, String> {
    let salt = SaltString::generate(&mut argon2::password_hash::rand_core::OsRng);
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|hash| hash.to_string())
        .map_err(|error| error.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::UserConfig;

    fn config(guest: bool, default_user: &str) -> AuthConfig {
        AuthConfig {
            guest,
            default_user: default_user.into(),
            users: vec![UserConfig {
                login: "alice".into(),
                password_hash: hash_password("wonderland").unwrap(),
            }],
        }
    }

    #[test]
    fn configured_user_with_right_password() {
        let auth = Authenticator::new(&config(false, ""));
        let principal = auth
            .authenticate(Some("alice"), Some("wonderland"))
            .unwrap();
        assert_eq!(principal.login, "alice");
        // The second time is served from the verified cache.
        assert!(auth.authenticate(Some("alice"), Some("wonderland")).is_ok());
    }

    #[test]
    fn wrong_password_and_unknown_user_are_refused() {
        let auth = Authenticator::new(&config(false, ""));
        assert_eq!(
            auth.authenticate(Some("alice"), Some("nope")),
            Err(AuthError::BadCredentials)
        );
        assert_eq!(
            auth.authenticate(Some("mallory"), Some("x")),
            Err(AuthError::BadCredentials)
        );
    }

    #[test]
    fn guest_only_when_enabled() {
        let on = Authenticator::new(&config(true, ""));
        assert!(on.authenticate(Some("guest"), Some("guest")).is_ok());
        assert!(on.authenticate(Some("guest"), Some("wrong")).is_err());
        let off = Authenticator::new(&config(false, ""));
        assert!(off.authenticate(Some("guest"), Some("guest")).is_err());
    }

    #[test]
    fn missing_login_is_default_user_or_refused() {
        let with_default = Authenticator::new(&config(true, "guest"));
        assert_eq!(
            with_default.authenticate(None, None).unwrap().login,
            "guest"
        );
        let without = Authenticator::new(&config(true, ""));
        assert_eq!(
            without.authenticate(None, None),
            Err(AuthError::LoginRequired)
        );
    }

    #[test]
    fn malformed_hash_in_config_refuses_rather_than_panics() {
        let mut config = config(false, "");
        config.users[0].password_hash = "not-a-hash".into();
        let auth = Authenticator::new(&config);
        assert_eq!(
            auth.authenticate(Some("alice"), Some("wonderland")),
            Err(AuthError::BadCredentials)
        );
    }
}
