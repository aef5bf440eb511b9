//! JSON Web Tokens: issuing access and refresh tokens, and checking them.
//!
//! The algorithm is pinned by config (HS256 with a secret, or RS256/EdDSA
//! with PEM keys): a token signed with any other algorithm is refused, so
//! the `alg` header can never pick the verification method. Tokens carry
//! the account's `token_version`; bumping it (password change, logout)
//! revokes every older token, which callers check against the directory.

use std::path::Path;
use std::time::{SystemTime, UNIX_EPOCH};

use jsonwebtoken::{decode, encode, Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};

use crate::config::AuthConfig;

/// What a token is for: API and STOMP access, or getting new tokens.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TokenKind {
    Access,
    Refresh,
}

/// The claims Herald puts in its tokens.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    /// The user id, as a decimal string (the JWT convention for `sub`).
    pub sub: String,
    /// The username when the token was issued (informational).
    pub name: String,
    /// The account's token version; an older one is revoked.
    pub ver: i64,
    pub typ: TokenKind,
    pub iat: u64,
    pub nbf: u64,
    pub exp: u64,
}

impl Claims {
    pub fn user_id(&self) -> Option<i64> {
        self.sub.parse().ok()
    }
}

/// Why a token is not accepted; the text goes into a 401 or an ERROR frame.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    #[error("token expired")]
    Expired,
    #[error("token not valid yet")]
    NotYetValid,
    #[error("token is invalid: {0}")]
    Invalid(String),
    #[error("token was revoked")]
    Revoked,
    #[error("wrong kind of token: expected an {0} token")]
    WrongKind(&'static str),
}

/// Why the signing keys could not be loaded at start-up.
#[derive(Debug, thiserror::Error)]
#[error("cannot load JWT keys: {0}")]
pub struct KeyError(String);

/// Issues and verifies tokens with the configured algorithm and keys.
pub struct Tokens {
    algorithm: Algorithm,
    encoding: EncodingKey,
    decoding: DecodingKey,
    access_ttl: u64,
    refresh_ttl: u64,
    leeway: u64,
}

impl Tokens {
    /// Keys from config. An HS256 config without a secret uses
    /// `secret_file` (created with random bytes on first start), so tokens
    /// stay valid across restarts without any setup.
    pub fn from_config(config: &AuthConfig, data_dir: &Path) -> Result<Tokens, KeyError> {
        let jwt = &config.jwt;
        let (algorithm, encoding, decoding) = match jwt.algorithm.as_str() {
            "HS256" => {
                let secret = if jwt.secret.is_empty() {
                    load_or_create_secret(&data_dir.join("jwt.secret"))?
                } else {
                    jwt.secret.clone().into_bytes()
                };
                if secret.len() < 32 {
                    return Err(KeyError("auth.jwt.secret must be at least 32 bytes".into()));
                }
                (
                    Algorithm::HS256,
                    EncodingKey::from_secret(&secret),
                    DecodingKey::from_secret(&secret),
                )
            }
            "RS256" | "EdDSA" => {
                let private = read(&jwt.private_key_file)?;
                let public = read(&jwt.public_key_file)?;
                if jwt.algorithm == "RS256" {
                    (
                        Algorithm::RS256,
                        EncodingKey::from_rsa_pem(&private).map_err(|e| KeyError(e.to_string()))?,
                        DecodingKey::from_rsa_pem(&public).map_err(|e| KeyError(e.to_string()))?,
                    )
                } else {
                    (
                        Algorithm::EdDSA,
                        EncodingKey::from_ed_pem(&private).map_err(|e| KeyError(e.to_string()))?,
                        DecodingKey::from_ed_pem(&public).map_err(|e| KeyError(e.to_string()))?,
                    )
                }
            }
            other => {
                return Err(KeyError(format!(
                    "auth.jwt.algorithm {other:?}: use HS256, RS256 or EdDSA"
                )))
            }
        };
        Ok(Tokens {
            algorithm,
            encoding,
            decoding,
            access_ttl: jwt.access_ttl_secs,
            refresh_ttl: jwt.refresh_ttl_secs,
            leeway: jwt.leeway_secs,
        })
    }

    /// A signed token of `kind` for a user at `version`.
    pub fn issue(&self, user_id: i64, username: &str, version: i64, kind: TokenKind) -> String {
        let now = now();
        let ttl = match kind {
            TokenKind::Access => self.access_ttl,
            TokenKind::Refresh => self.refresh_ttl,
        };
        let claims = Claims {
            sub: user_id.to_string(),
            name: username.to_owned(),
            ver: version,
            typ: kind,
            iat: now,
            nbf: now,
            exp: now + ttl,
        };
        encode(&Header::new(self.algorithm), &claims, &self.encoding)
            .expect("the configured key signs")
    }

    pub fn access_ttl(&self) -> u64 {
        self.access_ttl
    }

    /// Checks signature, algorithm, `exp` and `nbf` (with the configured
    /// leeway) and the token kind. Revocation needs the directory: compare
    /// `ver` with the account's token version.
    pub fn verify(&self, token: &str, kind: TokenKind) -> Result<Claims, TokenError> {
        let mut validation = Validation::new(self.algorithm);
        validation.leeway = self.leeway;
        validation.validate_nbf = true;
        validation.set_required_spec_claims(&["exp", "nbf", "sub"]);
        let claims = decode::<Claims>(token, &self.decoding, &validation)
            .map_err(|error| match error.kind() {
                jsonwebtoken::errors::ErrorKind::ExpiredSignature => TokenError::Expired,
                jsonwebtoken::errors::ErrorKind::ImmatureSignature => TokenError::NotYetValid,
                other => TokenError::Invalid(format!("{other:?}")),
            })?
            .claims;
        if claims.typ != kind {
            return Err(TokenError::WrongKind(match kind {
                TokenKind::Access => "access",
                TokenKind::Refresh => "refresh",
            }));
        }
        if claims.user_id().is_none() {
            return Err(TokenError::Invalid("sub is not a user id".into()));
        }
        Ok(claims)
    }
}

/// Whether a passcode looks like a JWT: three base64url segments.
pub fn looks_like_jwt(text: &str) -> bool {
    let parts: Vec<&str> = text.split('.').collect();
    parts.len() == 3
        && parts.iter().all(|part| {
            !part.is_empty()
                && part
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        })
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

fn read(path: &str) -> Result<Vec<u8>, KeyError> {
    if path.is_empty() {
        return Err(KeyError(
            "RS256 and EdDSA need auth.jwt.private_key_file and public_key_file".into(),
        ));
    }
    std::fs::read(path).map_err(|error| KeyError(format!("{path}: {error}")))
}

fn load_or_create_secret(path: &Path) -> Result<Vec<u8>, KeyError> {
    if let Ok(secret) = std::fs::read(path) {
        return Ok(secret);
    }
    let secret: Vec<u8> = (0..48)
        .map(|_| {
            const ALPHABET: &[u8] =
                b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
            ALPHABET[rand::random::<usize>() % ALPHABET.len()]
        })
        .collect();
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)
            .map_err(|error| KeyError(format!("{}: {error}", parent.display())))?;
    }
    write_private(path, &secret)
        .map_err(|error| KeyError(format!("{}: {error}", path.display())))?;
    Ok(secret)
}

/// Writes a file readable by its owner only.
fn write_private(path: &Path, contents: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    options.open(path)?.write_all(contents)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;

    fn tokens(leeway: u64) -> (Tokens, tempfile::TempDir) {
        let dir = tempfile::tempdir().unwrap();
        let mut config = Config::defaults().auth;
        config.jwt.leeway_secs = leeway;
        (Tokens::from_config(&config, dir.path()).unwrap(), dir)
    }

    #[test]
    fn issued_token_verifies_with_its_claims() {
        let (tokens, _dir) = tokens(5);
        let token = tokens.issue(42, "alice", 3, TokenKind::Access);
        assert!(looks_like_jwt(&token));
        let claims = tokens.verify(&token, TokenKind::Access).unwrap();
        assert_eq!(
            (claims.user_id(), claims.name.as_str(), claims.ver),
            (Some(42), "alice", 3)
        );
    }

    #[test]
    fn refresh_token_is_not_an_access_token() {
        let (tokens, _dir) = tokens(5);
        let token = tokens.issue(1, "a", 0, TokenKind::Refresh);
        assert_eq!(
            tokens.verify(&token, TokenKind::Access),
            Err(TokenError::WrongKind("access"))
        );
        assert!(tokens.verify(&token, TokenKind::Refresh).is_ok());
    }

    #[test]
    fn tampered_token_is_refused() {
        let (tokens, _dir) = tokens(5);
        let token = tokens.issue(1, "a", 0, TokenKind::Access);
        let mut parts: Vec<String> = token.split('.').map(str::to_owned).collect();
        // Same header and signature, claims of another user.
        let other = tokens.issue(2, "b", 0, TokenKind::Access);
        parts[1] = other.split('.').nth(1).unwrap().to_owned();
        assert!(matches!(
            tokens.verify(&parts.join("."), TokenKind::Access),
            Err(TokenError::Invalid(_))
        ));
    }

    #[test]
    fn token_signed_with_another_secret_or_algorithm_is_refused() {
        let (tokens, _dir) = tokens(5);
        let (other, _other_dir) = self::tokens(5);
        let foreign = other.issue(1, "a", 0, TokenKind::Access);
        assert!(matches!(
            tokens.verify(&foreign, TokenKind::Access),
            Err(TokenError::Invalid(_))
        ));
        // An unsigned token ("alg":"none") never passes.
        let none = format!(
            "{}.{}.",
            "eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0",
            foreign.split('.').nth(1).unwrap()
        );
        assert!(tokens.verify(&none, TokenKind::Access).is_err());
    }

    #[test]
    fn expired_token_is_refused() {
        let (tokens, _dir) = tokens(0);
        let token = signed(&tokens, Algorithm::HS256, 1, now() - 10);
        assert_eq!(
            tokens.verify(&token, TokenKind::Access),
            Err(TokenError::Expired)
        );
    }

    fn signed(tokens: &Tokens, algorithm: Algorithm, nbf: u64, exp: u64) -> String {
        let claims = Claims {
            sub: "1".into(),
            name: "a".into(),
            ver: 0,
            typ: TokenKind::Access,
            iat: nbf,
            nbf,
            exp,
        };
        encode(&Header::new(algorithm), &claims, &tokens.encoding).unwrap()
    }

    #[test]
    fn the_algorithm_is_pinned_even_with_the_right_secret() {
        let (tokens, _dir) = tokens(5);
        let now = now();
        assert!(tokens
            .verify(
                &signed(&tokens, Algorithm::HS256, now, now + 60),
                TokenKind::Access
            )
            .is_ok());
        for algorithm in [Algorithm::HS384, Algorithm::HS512] {
            let token = signed(&tokens, algorithm, now, now + 60);
            assert!(
                matches!(
                    tokens.verify(&token, TokenKind::Access),
                    Err(TokenError::Invalid(_))
                ),
                "{algorithm:?}"
            );
        }
    }

    #[test]
    fn exp_and_nbf_are_checked_with_the_leeway() {
        let (tokens, _dir) = tokens(30);
        let now = now();
        // Inside the leeway: a clock a little off either way still works.
        assert!(tokens
            .verify(
                &signed(&tokens, Algorithm::HS256, now - 100, now - 10),
                TokenKind::Access
            )
            .is_ok());
        assert!(tokens
            .verify(
                &signed(&tokens, Algorithm::HS256, now + 10, now + 600),
                TokenKind::Access
            )
            .is_ok());
        // Past it: expired, or not valid yet.
        assert_eq!(
            tokens.verify(
                &signed(&tokens, Algorithm::HS256, now - 100, now - 60),
                TokenKind::Access
            ),
            Err(TokenError::Expired)
        );
        assert!(tokens
            .verify(
                &signed(&tokens, Algorithm::HS256, now + 120, now + 600),
                TokenKind::Access
            )
            .is_err());
    }

    #[test]
    fn secret_file_is_created_once_and_reused() {
        let dir = tempfile::tempdir().unwrap();
        let config = Config::defaults().auth;
        let first = Tokens::from_config(&config, dir.path()).unwrap();
        let second = Tokens::from_config(&config, dir.path()).unwrap();
        let token = first.issue(7, "x", 0, TokenKind::Access);
        assert!(second.verify(&token, TokenKind::Access).is_ok());
    }

    #[test]
    fn jwt_shape_detection() {
        assert!(looks_like_jwt("aaa.bbb.ccc"));
        assert!(!looks_like_jwt("guest"));
        assert!(!looks_like_jwt("a.b"));
        assert!(!looks_like_jwt("a..c"));
        assert!(!looks_like_jwt("a.b+.c"));
    }
}
