//! Argon2 password hashing, on the blocking pool: one hash costs tens of
//! milliseconds of CPU by design and must not stall the async workers.

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;

/// An argon2id PHC string for `password`.
pub async fn hash_password(password: String) -> Result<String, String> {
    let _slot = ARGON2_SLOTS
        .acquire()
        .await
        .map_err(|error| error.to_string())?;
    tokio::task::spawn_blocking(move || hash_password_now(&password))
        .await
        .map_err(|error| error.to_string())?
}

/// Hashes on the calling thread (for the CLI).
pub fn hash_password_now(password: &str) -> Result<String, String> {
    let salt = SaltString::generate(&mut argon2::password_hash::rand_core::OsRng);
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|hash| hash.to_string())
        .map_err(|error| error.to_string())
}

/// At most this many argon2 computations at once: each takes ~19 MiB and a
/// core for tens of milliseconds, so a burst of logins must queue rather
/// than spread over every blocking thread (and keep that memory).
static ARGON2_SLOTS: tokio::sync::Semaphore = tokio::sync::Semaphore::const_new(2);

/// Whether `password` matches the PHC string `hash`. A malformed hash never
/// matches.
pub async fn verify_password(password: String, hash: String) -> bool {
    let Ok(_slot) = argon2_slot().await else {
        return false;
    };
    verify_now(password, hash).await
}

/// A place to run one argon2 computation; hold it while computing.
pub async fn argon2_slot(
) -> Result<tokio::sync::SemaphorePermit<'static>, tokio::sync::AcquireError> {
    ARGON2_SLOTS.acquire().await
}

/// [`verify_password`] for a caller that already holds a slot.
pub async fn verify_now(password: String, hash: String) -> bool {
    tokio::task::spawn_blocking(move || {
        PasswordHash::new(&hash)
            .map(|parsed| {
                Argon2::default()
                    .verify_password(password.as_bytes(), &parsed)
                    .is_ok()
            })
            .unwrap_or(false)
    })
    .await
    .unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn hash_then_verify() {
        let hash = hash_password("wonderland".into()).await.unwrap();
        assert!(hash.starts_with("$argon2id$"));
        assert!(verify_password("wonderland".into(), hash.clone()).await);
        assert!(!verify_password("wonderlant".into(), hash).await);
    }

    #[tokio::test]
    async fn malformed_hash_never_matches() {
        assert!(!verify_password("x".into(), "not-a-hash".into()).await);
    }
}
