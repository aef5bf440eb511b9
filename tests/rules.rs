//! Every forbidden action of the chat domain, tried and refused with the
//! right error: STOMP ERROR frames naming the rule, HTTP 4xx JSON errors.

mod common;

use common::api::{assert_error, Api};
use common::{guest, TestBroker};
use herald::client::{ClientError, Connection};
use herald_protocol::{Command, Frame};
use reqwest::StatusCode;
use serde_json::json;

/// Sends `frame` on a fresh token connection; returns the ERROR message.
async fn refused(broker: &TestBroker, api: &Api, frame: Frame) -> String {
    let (mut connection, _) = Connection::connect(&broker.ws_url(), None, Some(api.token()), "0,0")
        .await
        .unwrap();
    match connection.send_with_receipt(frame, "r").await {
        Err(ClientError::Refused(message)) => message,
        other => panic!("expected an ERROR, got {other:?}"),
    }
}

fn send(destination: String) -> Frame {
    Frame::new(Command::Send)
        .header("destination", destination)
        .body("hello")
}

fn subscribe(destination: String) -> Frame {
    Frame::new(Command::Subscribe)
        .header("destination", destination)
        .header("id", "1")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn private_chat_rules() {
    let broker = TestBroker::start().await;
    let http = broker.server.http_addr;
    let alice = Api::register(http, "alice").await;
    let bob = Api::register(http, "bob").await;
    let mallory = Api::register(http, "mallory").await;
    alice.befriend(&bob).await;

    let message = refused(&broker, &mallory, send(format!("/user/{}", alice.user_id))).await;
    assert!(message.contains("rule user-send-friends"), "{message}");
    let message = refused(
        &broker,
        &mallory,
        subscribe(format!("/user/{}", alice.user_id)),
    )
    .await;
    assert!(message.contains("rule user-subscribe-own"), "{message}");
    let message = refused(&broker, &alice, send(format!("/user/{}", alice.user_id))).await;
    assert!(message.contains("rule user-send-self"), "{message}");
    let message = refused(&broker, &alice, send("/user/987654".into())).await;
    assert!(message.contains("rule user-send-exists"), "{message}");

    // bob blocks alice: friends still, but she can no longer reach him.
    assert_eq!(
        bob.put(&format!("/blocks/{}", alice.user_id), json!({}))
            .await
            .0,
        StatusCode::NO_CONTENT
    );
    let message = refused(&broker, &alice, send(format!("/user/{}", bob.user_id))).await;
    assert!(message.contains("rule user-send-blocked"), "{message}");
    let message = refused(&broker, &bob, send(format!("/user/{}", alice.user_id))).await;
    assert!(
        message.contains("rule user-send-blocked"),
        "the blocker cannot write either: {message}"
    );
    // ... nor send him friend requests.
    assert_eq!(
        alice.delete(&format!("/friends/{}", bob.user_id)).await.0,
        StatusCode::NO_CONTENT
    );
    let answer = alice
        .post("/friend-requests", json!({ "to": bob.user_id }))
        .await;
    assert_error(&answer, StatusCode::FORBIDDEN, "forbidden");
    assert_eq!(
        bob.delete(&format!("/blocks/{}", alice.user_id)).await.0,
        StatusCode::NO_CONTENT
    );
    assert_error(
        &bob.delete(&format!("/blocks/{}", alice.user_id)).await,
        StatusCode::NOT_FOUND,
        "not_found",
    );

    // Friend requests: no duplicates, only the recipient answers, once.
    let (status, request) = alice
        .post("/friend-requests", json!({ "to": bob.user_id }))
        .await;
    assert_eq!(status, StatusCode::CREATED);
    assert_error(
        &alice
            .post("/friend-requests", json!({ "to": bob.user_id }))
            .await,
        StatusCode::CONFLICT,
        "conflict",
    );
    assert_error(
        &bob.post("/friend-requests", json!({ "to": alice.user_id }))
            .await,
        StatusCode::CONFLICT,
        "conflict",
    );
    let accept = format!("/friend-requests/{}/accept", request["id"]);
    assert_error(
        &alice.post(&accept, json!({})).await,
        StatusCode::FORBIDDEN,
        "forbidden",
    );
    assert_error(
        &mallory.post(&accept, json!({})).await,
        StatusCode::NOT_FOUND,
        "not_found",
    );
    assert_eq!(bob.post(&accept, json!({})).await.0, StatusCode::OK);
    assert_error(
        &bob.post(&accept, json!({})).await,
        StatusCode::CONFLICT,
        "conflict",
    );
    assert_error(
        &alice
            .post("/friend-requests", json!({ "to": alice.user_id }))
            .await,
        StatusCode::BAD_REQUEST,
        "invalid_request",
    );
    assert_error(
        &alice
            .put("/friends/99999/remark", json!({ "remark": "x" }))
            .await,
        StatusCode::NOT_FOUND,
        "not_found",
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn group_rules() {
    let broker = TestBroker::start().await;
    let http = broker.server.http_addr;
    let owner = Api::register(http, "owner").await;
    let admin = Api::register(http, "admin").await;
    let member = Api::register(http, "member").await;
    let outsider = Api::register(http, "outsider").await;
    owner.befriend(&admin).await;
    owner.befriend(&member).await;
    let (_, group) = owner
        .post("/groups", json!({ "name": "G", "members": [admin.user_id, member.user_id], "join_approval": true }))
        .await;
    let id = group["id"].as_i64().unwrap();
    assert_eq!(
        owner
            .put(
                &format!("/groups/{id}/members/{}/role", admin.user_id),
                json!({ "role": "admin" })
            )
            .await
            .0,
        StatusCode::NO_CONTENT
    );

    // Outsiders can neither listen nor talk nor manage.
    let message = refused(&broker, &outsider, subscribe(format!("/group/{id}"))).await;
    assert!(message.contains("rule group-member"), "{message}");
    let message = refused(&broker, &outsider, send(format!("/group/{id}"))).await;
    assert!(message.contains("rule group-member"), "{message}");
    let message = refused(&broker, &outsider, send("/group/424242".into())).await;
    assert!(message.contains("rule group-exists"), "{message}");
    assert_error(
        &outsider.get(&format!("/groups/{id}/members")).await,
        StatusCode::FORBIDDEN,
        "forbidden",
    );
    assert_error(
        &outsider
            .patch(&format!("/groups/{id}"), json!({ "name": "mine" }))
            .await,
        StatusCode::FORBIDDEN,
        "forbidden",
    );
    // Adding strangers is refused; only friends can be added.
    assert_error(
        &owner
            .post(
                &format!("/groups/{id}/members"),
                json!({ "user_ids": [outsider.user_id] }),
            )
            .await,
        StatusCode::FORBIDDEN,
        "forbidden",
    );
    // A plain member manages nothing.
    assert_error(
        &member
            .patch(&format!("/groups/{id}"), json!({ "name": "x" }))
            .await,
        StatusCode::FORBIDDEN,
        "forbidden",
    );
    assert_error(
        &member
            .delete(&format!("/groups/{id}/members/{}", admin.user_id))
            .await,
        StatusCode::FORBIDDEN,
        "forbidden",
    );
    assert_error(
        &member
            .put(
                &format!("/groups/{id}/members/{}/mute", admin.user_id),
                json!({ "muted": true }),
            )
            .await,
        StatusCode::FORBIDDEN,
        "forbidden",
    );
    assert_error(
        &member.get(&format!("/groups/{id}/join-requests")).await,
        StatusCode::FORBIDDEN,
        "forbidden",
    );
    assert_error(
        &member.delete(&format!("/groups/{id}")).await,
        StatusCode::FORBIDDEN,
        "forbidden",
    );
    // An admin does not outrank another admin or the owner.
    assert_error(
        &admin
            .delete(&format!("/groups/{id}/members/{}", owner.user_id))
            .await,
        StatusCode::FORBIDDEN,
        "forbidden",
    );
    assert_error(
        &admin
            .put(
                &format!("/groups/{id}/members/{}/role", member.user_id),
                json!({ "role": "admin" }),
            )
            .await,
        StatusCode::FORBIDDEN,
        "forbidden",
    );
    assert_error(
        &admin.delete(&format!("/groups/{id}")).await,
        StatusCode::FORBIDDEN,
        "forbidden",
    );
    assert_error(
        &admin
            .post(
                &format!("/groups/{id}/transfer"),
                json!({ "to": admin.user_id }),
            )
            .await,
        StatusCode::FORBIDDEN,
        "forbidden",
    );
    // The owner cannot just leave.
    assert_error(
        &owner
            .delete(&format!("/groups/{id}/members/{}", owner.user_id))
            .await,
        StatusCode::CONFLICT,
        "conflict",
    );

    // Muting: a muted member may not send; a muted group only hears managers.
    assert_eq!(
        admin
            .put(
                &format!("/groups/{id}/members/{}/mute", member.user_id),
                json!({ "muted": true })
            )
            .await
            .0,
        StatusCode::NO_CONTENT
    );
    let message = refused(&broker, &member, send(format!("/group/{id}"))).await;
    assert!(message.contains("rule group-muted"), "{message}");
    assert_eq!(
        admin
            .put(
                &format!("/groups/{id}/members/{}/mute", member.user_id),
                json!({ "muted": false })
            )
            .await
            .0,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        owner
            .patch(&format!("/groups/{id}"), json!({ "muted_all": true }))
            .await
            .0,
        StatusCode::OK
    );
    let message = refused(&broker, &member, send(format!("/group/{id}"))).await;
    assert!(message.contains("rule group-muted"), "{message}");
    let (mut connection, _) =
        Connection::connect(&broker.ws_url(), None, Some(admin.token()), "0,0")
            .await
            .unwrap();
    connection
        .send_with_receipt(send(format!("/group/{id}")), "ok")
        .await
        .expect("admins still talk");

    // Joining a group that needs approval goes through a request.
    let (status, outcome) = outsider
        .post(
            &format!("/groups/{id}/join-requests"),
            json!({ "message": "let me in" }),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{outcome}");
    assert_eq!(outcome["joined"], false);
    let request = outcome["request"]["id"].as_i64().unwrap();
    assert_error(
        &outsider
            .post(&format!("/groups/{id}/join-requests"), json!({}))
            .await,
        StatusCode::CONFLICT,
        "conflict",
    );
    assert_error(
        &member
            .post(&format!("/join-requests/{request}/accept"), json!({}))
            .await,
        StatusCode::FORBIDDEN,
        "forbidden",
    );
    assert_eq!(
        admin
            .post(&format!("/join-requests/{request}/accept"), json!({}))
            .await
            .0,
        StatusCode::OK
    );
    assert_error(
        &admin
            .post(&format!("/join-requests/{request}/accept"), json!({}))
            .await,
        StatusCode::CONFLICT,
        "conflict",
    );
    // Kicked members lose the group.
    assert_eq!(
        admin
            .delete(&format!("/groups/{id}/members/{}", outsider.user_id))
            .await
            .0,
        StatusCode::NO_CONTENT
    );
    let message = refused(&broker, &outsider, subscribe(format!("/group/{id}"))).await;
    assert!(message.contains("rule group-member"), "{message}");
    // After dissolving, nobody can use it.
    assert_eq!(
        owner.delete(&format!("/groups/{id}")).await.0,
        StatusCode::NO_CONTENT
    );
    let message = refused(&broker, &owner, send(format!("/group/{id}"))).await;
    assert!(message.contains("rule group-exists"), "{message}");
    assert_error(
        &owner.get(&format!("/groups/{id}")).await,
        StatusCode::NOT_FOUND,
        "not_found",
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn topic_and_queue_acl_from_config() {
    let broker = TestBroker::start_with(|config| {
        config.acl = vec![
            herald::config::AclRule {
                destination: "/topic/admin.*".into(),
                users: vec!["root".into()],
                subscribe: true,
                send: true,
            },
            herald::config::AclRule {
                destination: "/topic/*".into(),
                users: vec!["*".into()],
                subscribe: true,
                send: false,
            },
        ];
    })
    .await;
    let mut connection = guest(&broker.ws_url()).await;
    let refusal = connection
        .send_with_receipt(subscribe("/topic/admin.audit".into()), "r")
        .await
        .unwrap_err()
        .to_string();
    assert!(refusal.contains("[[acl]] rule 1"), "{refusal}");
    let mut connection = guest(&broker.ws_url()).await;
    connection
        .send_with_receipt(subscribe("/topic/news".into()), "r")
        .await
        .expect("rule 2 allows subscribe");
    let refusal = connection
        .send_with_receipt(send("/topic/news".into()), "s")
        .await
        .unwrap_err()
        .to_string();
    assert!(refusal.contains("[[acl]] rule 2"), "{refusal}");
    let mut connection = guest(&broker.ws_url()).await;
    let refusal = connection
        .send_with_receipt(send("/queue/jobs".into()), "q")
        .await
        .unwrap_err()
        .to_string();
    assert!(refusal.contains("no [[acl]] rule"), "{refusal}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api_input_errors_are_json() {
    let broker = TestBroker::start().await;
    let http = broker.server.http_addr;
    let anonymous = Api::anonymous(http);
    assert_error(
        &anonymous.get("/me").await,
        StatusCode::UNAUTHORIZED,
        "unauthorized",
    );
    assert_error(
        &anonymous
            .post(
                "/register",
                json!({ "username": "x", "password": "password1" }),
            )
            .await,
        StatusCode::BAD_REQUEST,
        "invalid_request",
    );
    assert_error(
        &anonymous
            .post(
                "/register",
                json!({ "username": "okname", "password": "short" }),
            )
            .await,
        StatusCode::BAD_REQUEST,
        "invalid_request",
    );
    assert_error(
        &anonymous
            .post("/register", json!({ "username": "okname" }))
            .await,
        StatusCode::BAD_REQUEST,
        "invalid_json",
    );
    let alice = Api::register(http, "alice").await;
    let message = assert_error(
        &anonymous
            .post(
                "/register",
                json!({ "username": "ALICE", "password": "password-2" }),
            )
            .await,
        StatusCode::CONFLICT,
        "conflict",
    );
    assert!(message.contains("already taken"), "{message}");
    assert_error(
        &anonymous
            .post(
                "/login",
                json!({ "username": "alice", "password": "wrong-password" }),
            )
            .await,
        StatusCode::UNAUTHORIZED,
        "unauthorized",
    );
    assert_error(
        &alice.get("/users/notanumber").await,
        StatusCode::BAD_REQUEST,
        "invalid_request",
    );
    assert_error(
        &alice.get("/users/424242").await,
        StatusCode::NOT_FOUND,
        "not_found",
    );
    assert_error(
        &alice.get("/nothing/here").await,
        StatusCode::NOT_FOUND,
        "not_found",
    );
    assert_error(
        &alice
            .patch("/me", json!({ "nickname": "x".repeat(65) }))
            .await,
        StatusCode::BAD_REQUEST,
        "invalid_request",
    );
    let huge = "x".repeat(100_000);
    assert_error(
        &alice.patch("/me", json!({ "signature": huge })).await,
        StatusCode::PAYLOAD_TOO_LARGE,
        "payload_too_large",
    );
    // No answer ever carries a password hash.
    let (_, me) = alice.get("/me").await;
    assert!(!me.to_string().contains("argon2"), "{me}");
    let (_, found) = alice.get("/users?q=ali").await;
    assert!(!found.to_string().contains("argon2"), "{found}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_listed_route_exists_and_the_document_is_served() {
    let broker = TestBroker::start().await;
    let anonymous = Api::anonymous(broker.server.http_addr);
    for (method, path) in herald::api::ROUTES {
        let path = path.replace("{id}", "1").replace("{user}", "1");
        let method = reqwest::Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
        let (status, body) = anonymous.call(method.clone(), &path, Some(json!({}))).await;
        assert!(
            !(status == StatusCode::NOT_FOUND && body["message"] == "no such API route")
                && status != StatusCode::METHOD_NOT_ALLOWED,
            "{method} {path} is not routed: {status} {body}"
        );
    }
    let (status, document) = anonymous.get("/openapi.json").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(document["openapi"], "3.1.0");
}

/// A transaction is all or nothing for what the rules decide: a SEND that
/// the rules refuse is refused when it arrives, before its COMMIT, so the
/// transaction's earlier SENDs are never delivered.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_send_in_a_transaction_delivers_none_of_it() {
    let broker = TestBroker::start().await;
    let http = broker.server.http_addr;
    let alice = Api::register(http, "tx_alice").await;
    let bob = Api::register(http, "tx_bob").await;
    let mallory = Api::register(http, "tx_mallory").await;
    alice.befriend(&bob).await;
    let (mut bob_stomp, _) = Connection::connect(&broker.ws_url(), None, Some(bob.token()), "0,0")
        .await
        .unwrap();
    bob_stomp
        .send_with_receipt(subscribe(format!("/user/{}", bob.user_id)), "s")
        .await
        .unwrap();

    let (mut connection, _) =
        Connection::connect(&broker.ws_url(), None, Some(alice.token()), "0,0")
            .await
            .unwrap();
    let frames = [
        Frame::new(Command::Begin).header("transaction", "t"),
        send(format!("/user/{}", bob.user_id)).header("transaction", "t"),
        // Not a friend: the rules refuse this one.
        send(format!("/user/{}", mallory.user_id)).header("transaction", "t"),
    ];
    for frame in &frames {
        connection.send(frame).await.unwrap();
    }
    let error = connection
        .receive_timeout(std::time::Duration::from_secs(10))
        .await
        .unwrap();
    assert_eq!(error.command, Command::Error, "{error:?}");
    let message = error.get("message").unwrap();
    assert!(message.contains("rule user-send-friends"), "{message}");

    // Nothing of the transaction reached bob, nor was kept.
    let (status, history) = bob
        .get(&format!(
            "/conversations/u{}-{}/messages",
            alice.user_id.min(bob.user_id),
            alice.user_id.max(bob.user_id)
        ))
        .await;
    assert_eq!(status, StatusCode::OK, "{history}");
    assert_eq!(
        history["messages"].as_array().map(Vec::len),
        Some(0),
        "{history}"
    );
    let nothing = bob_stomp
        .receive_timeout(std::time::Duration::from_millis(500))
        .await;
    assert!(
        !matches!(&nothing, Ok(frame) if frame.get("kind") == Some("message")),
        "{nothing:?}"
    );
}
