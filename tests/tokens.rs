//! Tokens over real HTTP and STOMP: tampered, expired and revoked tokens are
//! refused; refresh works; password login over STOMP works too.

mod common;

use std::time::Duration;

use common::api::{assert_error, Api};
use common::TestBroker;
use herald::client::{ClientError, Connection};
use reqwest::StatusCode;
use serde_json::json;

async fn stomp_with(
    broker: &TestBroker,
    login: Option<&str>,
    passcode: &str,
) -> Result<(), ClientError> {
    Connection::connect(&broker.ws_url(), login, Some(passcode), "0,0")
        .await
        .map(|_| ())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tampered_revoked_and_refreshed_tokens() {
    let broker = TestBroker::start().await;
    let mut alice = Api::register(broker.server.http_addr, "alice").await;
    let token = alice.token().to_owned();
    stomp_with(&broker, None, &token)
        .await
        .expect("a fresh token connects");
    stomp_with(&broker, Some("alice"), "password-alice")
        .await
        .expect("so does the password");
    assert!(
        matches!(stomp_with(&broker, Some("alice"), "wrong").await, Err(ClientError::Refused(m)) if m.contains("bad credentials"))
    );

    // Tampered: another user's claims under alice's signature.
    let bob = Api::register(broker.server.http_addr, "bob").await;
    let mut parts: Vec<&str> = token.split('.').collect();
    parts[1] = bob.token().split('.').nth(1).unwrap();
    let forged = parts.join(".");
    assert!(
        matches!(stomp_with(&broker, None, &forged).await, Err(ClientError::Refused(m)) if m.contains("token is invalid"))
    );
    let mut forger = alice.clone();
    forger.token = Some(forged);
    assert_error(
        &forger.get("/me").await,
        StatusCode::UNAUTHORIZED,
        "unauthorized",
    );

    // A refresh token is not an access token, but it buys a new pair.
    let refresh = alice.refresh.clone().unwrap();
    assert!(stomp_with(&broker, None, &refresh).await.is_err());
    let (status, renewed) = Api::anonymous(broker.server.http_addr)
        .post("/token/refresh", json!({ "refresh_token": refresh }))
        .await;
    assert_eq!(status, StatusCode::OK, "{renewed}");

    // Changing the password revokes every older token.
    let (status, changed) = alice
        .put(
            "/me/password",
            json!({ "old_password": "password-alice", "new_password": "a-new-password" }),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{changed}");
    assert!(
        matches!(stomp_with(&broker, None, &token).await, Err(ClientError::Refused(m)) if m.contains("revoked"))
    );
    let old = alice.clone();
    assert_error(
        &old.get("/me").await,
        StatusCode::UNAUTHORIZED,
        "unauthorized",
    );
    alice.adopt(&changed);
    assert_eq!(alice.get("/me").await.0, StatusCode::OK);
    stomp_with(&broker, Some("alice"), "a-new-password")
        .await
        .expect("new password");
    assert!(stomp_with(&broker, Some("alice"), "password-alice")
        .await
        .is_err());

    // Logout revokes too.
    assert_eq!(
        alice.post("/logout", json!({})).await.0,
        StatusCode::NO_CONTENT
    );
    assert_error(
        &alice.get("/me").await,
        StatusCode::UNAUTHORIZED,
        "unauthorized",
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expired_tokens_are_refused() {
    let broker = TestBroker::start_with(|config| {
        config.auth.jwt.access_ttl_secs = 1;
        config.auth.jwt.leeway_secs = 0;
    })
    .await;
    let alice = Api::register(broker.server.http_addr, "alice").await;
    assert_eq!(alice.get("/me").await.0, StatusCode::OK);
    tokio::time::sleep(Duration::from_millis(2100)).await;
    let message = assert_error(
        &alice.get("/me").await,
        StatusCode::UNAUTHORIZED,
        "unauthorized",
    );
    assert!(message.contains("expired"), "{message}");
    assert!(
        matches!(stomp_with(&broker, None, alice.token()).await, Err(ClientError::Refused(m)) if m.contains("expired"))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn guest_exists_only_when_enabled() {
    let broker = TestBroker::start_with(|config| {
        config.auth.guest = false;
        config.auth.default_user = String::new();
    })
    .await;
    assert!(stomp_with(&broker, Some("guest"), "guest").await.is_err());
    let anonymous = Connection::connect(&broker.ws_url(), None, None, "0,0").await;
    assert!(matches!(anonymous, Err(ClientError::Refused(m)) if m.contains("login required")));
    let answer = Api::anonymous(broker.server.http_addr)
        .post(
            "/login",
            json!({ "username": "guest", "password": "guest" }),
        )
        .await;
    assert_error(&answer, StatusCode::UNAUTHORIZED, "unauthorized");
}
