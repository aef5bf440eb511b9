//! The chat domain over real HTTP and real STOMP connections: register,
//! befriend, chat privately and in groups, presence, kept events.

mod common;

use std::time::Duration;

use common::api::Api;
use common::{expect, TestBroker};
use herald::client::Connection;
use herald_protocol::{Command, Frame};
use reqwest::StatusCode;
use serde_json::{json, Value};

/// A STOMP connection authenticated with the API user's token.
pub async fn stomp(broker: &TestBroker, api: &Api) -> Connection {
    Connection::connect(&broker.ws_url(), None, Some(api.token()), "0,0")
        .await
        .expect("token CONNECT")
        .0
}

/// Subscribes and waits for the receipt.
async fn subscribe(connection: &mut Connection, destination: &str, id: &str) {
    connection
        .send_with_receipt(
            Frame::new(Command::Subscribe)
                .header("destination", destination)
                .header("id", id),
            &format!("sub-{id}"),
        )
        .await
        .expect("subscribed");
}

/// Receives MESSAGE frames until one whose `kind` is `kind`.
async fn expect_kind(connection: &mut Connection, kind: &str) -> Frame {
    loop {
        let frame = expect(connection, Command::Message).await;
        if frame.get("kind") == Some(kind) {
            return frame;
        }
    }
}

fn body_json(frame: &Frame) -> Value {
    serde_json::from_slice(&frame.body).expect("JSON body")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_users_befriend_and_chat_both_ways() {
    let broker = TestBroker::start().await;
    let http = broker.server.http_addr;
    let alice = Api::register(http, "alice").await;
    let bob = Api::register(http, "bob").await;

    let mut alice_phone = stomp(&broker, &alice).await;
    let mut alice_laptop = stomp(&broker, &alice).await;
    let mut bob_phone = stomp(&broker, &bob).await;
    subscribe(&mut alice_phone, &format!("/user/{}", alice.user_id), "me").await;
    subscribe(&mut alice_laptop, &format!("/user/{}", alice.user_id), "me").await;
    subscribe(&mut bob_phone, &format!("/user/{}", bob.user_id), "me").await;

    // The friend request reaches bob live, with the greeting and alice's profile.
    let (status, request) = alice
        .post(
            "/friend-requests",
            json!({ "to": bob.user_id, "greeting": "hello bob" }),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{request}");
    let event = expect_kind(&mut bob_phone, "friend-request").await;
    assert_eq!(
        event.get("conversation"),
        Some(format!("s{}", bob.user_id).as_str())
    );
    let payload = body_json(&event);
    assert_eq!(payload["request"]["greeting"], "hello bob");
    assert_eq!(payload["from"]["username"], "alice");

    let (status, _) = bob
        .post(
            &format!("/friend-requests/{}/accept", request["id"]),
            json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let accepted = expect_kind(&mut alice_phone, "friend-accepted").await;
    assert_eq!(body_json(&accepted)["by"]["username"], "bob");

    // alice -> bob, with a receipt that says where the message stands.
    let conversation = format!(
        "u{}-{}",
        alice.user_id.min(bob.user_id),
        alice.user_id.max(bob.user_id)
    );
    let send = Frame::new(Command::Send)
        .header("destination", format!("/user/{}", bob.user_id))
        .header("content-type", "application/json")
        .body(r#"{"type":"text","text":"hi bob"}"#);
    alice_phone
        .send(&send.header("receipt", "r1"))
        .await
        .unwrap();
    let receipt = expect(&mut alice_phone, Command::Receipt).await;
    assert_eq!(receipt.get("receipt-id"), Some("r1"));
    assert_eq!(receipt.get("seq"), Some("1"));
    assert_eq!(receipt.get("conversation"), Some(conversation.as_str()));
    let message_id = receipt.get("message-id").expect("message-id").to_owned();
    assert!(
        message_id.parse::<i64>().is_ok(),
        "snowflake id: {message_id}"
    );

    let received = expect_kind(&mut bob_phone, "message").await;
    assert_eq!(
        received.get("destination"),
        Some(format!("/user/{}", bob.user_id).as_str())
    );
    assert_eq!(received.get("message-id"), Some(message_id.as_str()));
    assert_eq!(received.get("seq"), Some("1"));
    assert_eq!(
        received.get("sender"),
        Some(alice.user_id.to_string().as_str())
    );
    assert_eq!(received.get("content-type"), Some("application/json"));
    assert_eq!(&received.body[..], br#"{"type":"text","text":"hi bob"}"#);
    // alice's other device sees her own send.
    let echoed = expect_kind(&mut alice_laptop, "message").await;
    assert_eq!(echoed.get("message-id"), Some(message_id.as_str()));
    assert_eq!(
        echoed.get("destination"),
        Some(format!("/user/{}", alice.user_id).as_str())
    );

    // The sending device hears its own message too (after its receipt).
    let own = expect_kind(&mut alice_phone, "message").await;
    assert_eq!(own.get("message-id"), Some(message_id.as_str()));

    // bob -> alice continues the same conversation.
    bob_phone
        .send_with_receipt(
            Frame::new(Command::Send)
                .header("destination", format!("/user/{}", alice.user_id))
                .body("hi alice"),
            "r2",
        )
        .await
        .unwrap();
    for device in [&mut alice_phone, &mut alice_laptop] {
        let reply = expect_kind(device, "message").await;
        assert_eq!(reply.get("seq"), Some("2"));
        assert_eq!(reply.get("conversation"), Some(conversation.as_str()));
        assert_eq!(&reply.body[..], b"hi alice");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_users_chat_in_a_group() {
    let broker = TestBroker::start().await;
    let http = broker.server.http_addr;
    let alice = Api::register(http, "alice").await;
    let bob = Api::register(http, "bob").await;
    let carol = Api::register(http, "carol").await;
    alice.befriend(&bob).await;
    alice.befriend(&carol).await;

    let mut connections = Vec::new();
    for user in [&alice, &bob, &carol] {
        let mut connection = stomp(&broker, user).await;
        subscribe(&mut connection, &format!("/user/{}", user.user_id), "me").await;
        connections.push(connection);
    }
    let (status, group) = alice
        .post(
            "/groups",
            json!({ "name": "Trio", "members": [bob.user_id, carol.user_id] }),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{group}");
    let group_id = group["id"].as_i64().unwrap();
    for connection in &mut connections[1..] {
        let invite = expect_kind(connection, "group-invite").await;
        assert_eq!(body_json(&invite)["group"]["name"], "Trio");
    }
    for connection in &mut connections {
        subscribe(connection, &format!("/group/{group_id}"), "g").await;
    }
    let (status, members) = carol.get(&format!("/groups/{group_id}/members")).await;
    assert_eq!(status, StatusCode::OK);
    let roles: Vec<&str> = members
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["role"].as_str().unwrap())
        .collect();
    assert_eq!(roles, ["owner", "member", "member"]);
    assert!(members
        .as_array()
        .unwrap()
        .iter()
        .all(|m| m["online"] == true));

    // Sends go one after the other (each waits for its receipt); frames
    // that arrive meanwhile are kept, not dropped.
    let mut early: Vec<Vec<Frame>> = vec![Vec::new(), Vec::new(), Vec::new()];
    for (n, sender) in [1, 2, 0].into_iter().enumerate() {
        let others = connections[sender]
            .send_with_receipt(
                Frame::new(Command::Send)
                    .header("destination", format!("/group/{group_id}"))
                    .body(format!("message {n}")),
                &format!("g{n}"),
            )
            .await
            .unwrap();
        early[sender].extend(others);
    }
    for (index, connection) in connections.iter_mut().enumerate() {
        let mut kept = early[index]
            .drain(..)
            .filter(|f| f.get("kind") == Some("message"));
        for n in 0..3 {
            let message = match kept.next() {
                Some(frame) => frame,
                None => expect_kind(connection, "message").await,
            };
            assert_eq!(
                message.get("destination"),
                Some(format!("/group/{group_id}").as_str())
            );
            assert_eq!(
                message.get("conversation"),
                Some(format!("g{group_id}").as_str())
            );
            assert_eq!(message.get("seq"), Some((n + 1).to_string().as_str()));
            assert_eq!(&message.body[..], format!("message {n}").as_bytes());
        }
    }

    // The announcement reaches every member as an event.
    let (status, _) = alice
        .patch(
            &format!("/groups/{group_id}"),
            json!({ "announcement": "Friday!" }),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    for connection in &mut connections {
        let event = expect_kind(connection, "announcement").await;
        assert_eq!(body_json(&event)["group"]["announcement"], "Friday!");
    }
    // carol leaves: the others hear it and she no longer gets the group.
    let (status, _) = carol
        .delete(&format!("/groups/{group_id}/members/{}", carol.user_id))
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let left = expect_kind(&mut connections[1], "member-left").await;
    assert_eq!(body_json(&left)["user"], carol.user_id);
    connections[0]
        .send_with_receipt(
            Frame::new(Command::Send)
                .header("destination", format!("/group/{group_id}"))
                .body("after"),
            "a",
        )
        .await
        .unwrap();
    assert_eq!(
        &expect_kind(&mut connections[1], "message").await.body[..],
        b"after"
    );
    let carol_connection = &mut connections[2];
    let mut leftovers = Vec::new();
    while let Ok(frame) = carol_connection
        .receive_timeout(Duration::from_millis(300))
        .await
    {
        leftovers.push(frame);
    }
    assert!(
        leftovers.iter().all(|f| f.get("kind") != Some("message")),
        "carol got a group message after leaving: {leftovers:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn presence_and_kept_events_for_offline_users() {
    let broker = TestBroker::start().await;
    let http = broker.server.http_addr;
    let alice = Api::register(http, "alice").await;
    let bob = Api::register(http, "bob").await;
    // bob is offline when alice asks: the request is kept for him.
    let (status, _) = alice
        .post(
            "/friend-requests",
            json!({ "to": bob.user_id, "greeting": "later" }),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let (_, events) = bob.get("/events").await;
    assert_eq!(events["events"][0]["kind"], "friend-request");
    assert_eq!(
        events["events"][0]["payload"]["request"]["greeting"],
        "later"
    );
    let (_, incoming) = bob.get("/friend-requests?direction=incoming").await;
    assert_eq!(incoming[0]["user"]["username"], "alice");
    let (_, outgoing) = alice.get("/friend-requests?direction=outgoing").await;
    assert_eq!(outgoing[0]["request"]["to"], bob.user_id);
    let (status, _) = bob
        .post(
            &format!("/friend-requests/{}/accept", incoming[0]["request"]["id"]),
            json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);

    let mut bob_connection = stomp(&broker, &bob).await;
    subscribe(&mut bob_connection, &format!("/user/{}", bob.user_id), "me").await;
    let alice_connection = stomp(&broker, &alice).await;
    let online = expect_kind(&mut bob_connection, "presence").await;
    assert_eq!(
        body_json(&online),
        json!({ "user": alice.user_id, "online": true })
    );
    let (_, presence) = bob
        .get(&format!("/presence?ids={},{}", alice.user_id, 999_999))
        .await;
    assert_eq!(
        presence,
        json!([{ "user": alice.user_id, "online": true }]),
        "strangers are left out"
    );
    let (_, friends) = bob.get("/friends").await;
    assert_eq!(friends[0]["online"], true);
    alice_connection.disconnect().await.unwrap();
    let offline = expect_kind(&mut bob_connection, "presence").await;
    assert_eq!(
        body_json(&offline),
        json!({ "user": alice.user_id, "online": false })
    );
}

/// A block hides the blocker's presence from the blocked user (still a
/// friend): no live notices, offline in every list; others still see it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_blocker_shows_offline_to_the_blocked() {
    let broker = TestBroker::start().await;
    let http = broker.server.http_addr;
    let alice = Api::register(http, "p_alice").await;
    let bob = Api::register(http, "p_bob").await;
    let carol = Api::register(http, "p_carol").await;
    alice.befriend(&bob).await;
    carol.befriend(&bob).await;
    let (status, _) = bob
        .put(&format!("/blocks/{}", alice.user_id), json!({}))
        .await;
    assert!(status.is_success(), "{status}");

    let mut alice_connection = stomp(&broker, &alice).await;
    subscribe(
        &mut alice_connection,
        &format!("/user/{}", alice.user_id),
        "me",
    )
    .await;
    let mut carol_connection = stomp(&broker, &carol).await;
    subscribe(
        &mut carol_connection,
        &format!("/user/{}", carol.user_id),
        "me",
    )
    .await;
    let bob_connection = stomp(&broker, &bob).await;
    let seen = expect_kind(&mut carol_connection, "presence").await;
    assert_eq!(
        body_json(&seen),
        json!({ "user": bob.user_id, "online": true })
    );

    let (_, presence) = alice.get(&format!("/presence?ids={}", bob.user_id)).await;
    assert_eq!(presence, json!([{ "user": bob.user_id, "online": false }]));
    let (_, friends) = alice.get("/friends").await;
    assert_eq!(friends[0]["user"]["id"], bob.user_id);
    assert_eq!(friends[0]["online"], false);
    let (_, friends) = carol.get("/friends").await;
    assert_eq!(friends[0]["online"], true);
    // bob's arrival and departure never reach alice.
    bob_connection.disconnect().await.unwrap();
    let gone = expect_kind(&mut carol_connection, "presence").await;
    assert_eq!(
        body_json(&gone),
        json!({ "user": bob.user_id, "online": false })
    );
    while let Ok(frame) = alice_connection
        .receive_timeout(Duration::from_millis(300))
        .await
    {
        assert_ne!(frame.get("kind"), Some("presence"), "{frame:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tricky_text_is_stored_and_returned_verbatim() {
    let broker = TestBroker::start().await;
    let http = broker.server.http_addr;
    let alice = Api::register(http, "alice").await;
    let bob = Api::register(http, "bob").await;
    let tricky = [
        "'; DROP TABLE users; --",
        "<script>alert(1)</script>",
        "Ünïcødé 中文 🎉",
        "100% _wild_ \\ card",
    ];
    for text in tricky {
        let (status, me) = alice
            .patch("/me", json!({ "nickname": text, "signature": text }))
            .await;
        assert_eq!(status, StatusCode::OK, "{me}");
        let (_, me) = alice.get("/me").await;
        assert_eq!(
            (me["nickname"].as_str(), me["signature"].as_str()),
            (Some(text), Some(text))
        );
    }
    let (_, request) = alice
        .post(
            "/friend-requests",
            json!({ "to": bob.user_id, "greeting": tricky[1] }),
        )
        .await;
    assert_eq!(request["greeting"], tricky[1]);
    bob.post(
        &format!("/friend-requests/{}/accept", request["id"]),
        json!({}),
    )
    .await;
    let (_, group) = alice
        .post(
            "/groups",
            json!({ "name": tricky[2], "announcement": tricky[0] }),
        )
        .await;
    let (_, fetched) = alice.get(&format!("/groups/{}", group["id"])).await;
    assert_eq!(
        (fetched["name"].as_str(), fetched["announcement"].as_str()),
        (Some(tricky[2]), Some(tricky[0]))
    );
    let (_, found) = alice.get("/users?q=%25").await;
    assert_eq!(found, json!([]), "a % in a search is a literal");

    let mut bob_connection = stomp(&broker, &bob).await;
    subscribe(&mut bob_connection, &format!("/user/{}", bob.user_id), "me").await;
    let mut alice_connection = stomp(&broker, &alice).await;
    for text in tricky {
        alice_connection
            .send_with_receipt(
                Frame::new(Command::Send)
                    .header("destination", format!("/user/{}", bob.user_id))
                    .header("x-note", text)
                    .body(text.to_owned()),
                "r",
            )
            .await
            .unwrap();
        let message = expect_kind(&mut bob_connection, "message").await;
        assert_eq!(message.get("x-note"), Some(text));
        assert_eq!(&message.body[..], text.as_bytes());
    }
}
