//! The conversation list, history pages, read positions and counts,
//! mentions, full-text search and delete-for-me, over real HTTP and STOMP.

mod common;

use common::api::{assert_error, Api};
use common::{expect, TestBroker};
use herald::client::Connection;
use herald_protocol::{Command, Frame};
use reqwest::StatusCode;
use serde_json::{json, Value};

async fn connect(broker: &TestBroker, api: &Api) -> Connection {
    Connection::connect(&broker.ws_url(), None, Some(api.token()), "0,0")
        .await
        .unwrap()
        .0
}

/// Sends a JSON text message and waits for its receipt; returns its seq.
async fn say(connection: &mut Connection, destination: &str, text: &str, mentions: &[i64]) -> i64 {
    let body = json!({ "type": "text", "text": text, "mentions": mentions }).to_string();
    let frame = Frame::new(Command::Send)
        .header("destination", destination)
        .header("content-type", "application/json")
        .header("receipt", "r")
        .body(body);
    connection.send(&frame).await.unwrap();
    expect(connection, Command::Receipt)
        .await
        .get("seq")
        .unwrap()
        .parse()
        .unwrap()
}

fn find<'a>(list: &'a Value, conversation: &str) -> &'a Value {
    list.as_array()
        .unwrap()
        .iter()
        .find(|entry| entry["conversation"] == conversation)
        .unwrap_or_else(|| panic!("{conversation} missing from {list}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conversation_list_unread_mentions_search_and_delete_for_me() {
    let broker = TestBroker::start().await;
    let http = broker.server.http_addr;
    let alice = Api::register(http, "alice").await;
    let bob = Api::register(http, "bob").await;
    let carol = Api::register(http, "carol").await;
    alice.befriend(&bob).await;
    alice.befriend(&carol).await;
    let (_, group) = alice
        .post(
            "/groups",
            json!({ "name": "Fruit", "members": [bob.user_id, carol.user_id] }),
        )
        .await;
    let group_id = group["id"].as_i64().unwrap();
    let private = format!(
        "u{}-{}",
        alice.user_id.min(bob.user_id),
        alice.user_id.max(bob.user_id)
    );
    let group_conversation = format!("g{group_id}");

    let mut alice_stomp = connect(&broker, &alice).await;
    alice_stomp
        .send_with_receipt(
            Frame::new(Command::Subscribe)
                .header("destination", format!("/group/{group_id}"))
                .header("id", "g"),
            "s",
        )
        .await
        .unwrap();
    let mut bob_stomp = connect(&broker, &bob).await;
    let mut carol_stomp = connect(&broker, &carol).await;
    for text in ["one pineapple", "two bananas", "three pineapples"] {
        say(
            &mut bob_stomp,
            &format!("/user/{}", alice.user_id),
            text,
            &[],
        )
        .await;
    }
    say(
        &mut carol_stomp,
        &format!("/group/{group_id}"),
        "hey @alice, a pineapple!",
        &[alice.user_id],
    )
    .await;
    // The mention reaches alice with mentioned:true.
    let mentioned = loop {
        let frame = expect(&mut alice_stomp, Command::Message).await;
        if frame.get("conversation") == Some(group_conversation.as_str())
            && frame.get("kind") == Some("message")
        {
            break frame;
        }
    };
    assert_eq!(mentioned.get("mentioned"), Some("true"));

    let (status, list) = alice.get("/conversations").await;
    assert_eq!(status, StatusCode::OK, "{list}");
    let entries = list.as_array().unwrap();
    assert_eq!(
        entries[0]["conversation"], group_conversation,
        "most recent first: {list}"
    );
    let chat = find(&list, &private);
    assert_eq!(chat["type"], "private");
    assert_eq!(chat["peer"]["username"], "bob");
    assert_eq!(
        (chat["last_seq"].as_i64(), chat["unread"].as_i64()),
        (Some(3), Some(3))
    );
    assert_eq!(
        chat["last_message"]["body"]
            .as_str()
            .map(|b| b.contains("three pineapples")),
        Some(true)
    );
    let group_entry = find(&list, &group_conversation);
    assert_eq!(
        (
            group_entry["unread"].as_i64(),
            group_entry["mentions"].as_i64()
        ),
        (Some(1), Some(1))
    );
    assert_eq!(group_entry["group"]["name"], "Fruit");
    assert_eq!(
        find(&list, &format!("s{}", alice.user_id))["type"],
        "system"
    );

    // Reading moves the read seq; the peer sees it in the history answer.
    alice_stomp
        .send_with_receipt(
            Frame::new(Command::Send)
                .header("destination", format!("/user/{}", bob.user_id))
                .header("kind", "read")
                .header("seq", "2"),
            "read",
        )
        .await
        .unwrap();
    let (_, list) = alice.get("/conversations").await;
    assert_eq!(find(&list, &private)["unread"], 1);
    let (_, history) = bob.get(&format!("/conversations/{private}/messages")).await;
    assert_eq!(history["peer_read_seq"], 2);
    assert_eq!(history["messages"].as_array().unwrap().len(), 3);

    // Group read counts: nobody but the sender has read carol's message yet.
    let (_, group_history) = bob
        .get(&format!("/conversations/{group_conversation}/messages"))
        .await;
    assert_eq!(group_history["messages"][0]["read_count"], 0);
    bob_stomp
        .send_with_receipt(
            Frame::new(Command::Send)
                .header("destination", format!("/group/{group_id}"))
                .header("kind", "read")
                .header("seq", "1"),
            "gread",
        )
        .await
        .unwrap();
    let (_, group_history) = carol
        .get(&format!("/conversations/{group_conversation}/messages"))
        .await;
    assert_eq!(group_history["messages"][0]["read_count"], 1);

    // Search covers my own conversations only.
    let (status, found) = alice.get("/search?q=pineapple").await;
    assert_eq!(status, StatusCode::OK, "{found}");
    let mut conversations: Vec<&str> = found["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["conversation"].as_str().unwrap())
        .collect();
    conversations.sort_unstable();
    assert!(conversations.contains(&private.as_str()), "{found}");
    assert!(
        conversations.contains(&group_conversation.as_str()),
        "{found}"
    );
    let (_, carol_found) = carol.get("/search?q=bananas").await;
    assert_eq!(
        carol_found["results"],
        json!([]),
        "carol cannot search alice and bob's chat"
    );
    let (status, _) = alice.get("/search?q=%22%2A%20AND%20(").await;
    assert_eq!(
        status,
        StatusCode::OK,
        "search syntax in a query is not an error"
    );

    // Delete-for-me hides a message from alice only.
    let (status, _) = alice
        .delete(&format!("/conversations/{private}/messages/2"))
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (_, mine) = alice
        .get(&format!("/conversations/{private}/messages"))
        .await;
    let seqs: Vec<i64> = mine["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["seq"].as_i64().unwrap())
        .collect();
    assert_eq!(seqs, [1, 3]);
    let (_, theirs) = bob.get(&format!("/conversations/{private}/messages")).await;
    assert_eq!(theirs["messages"].as_array().unwrap().len(), 3);
    assert_error(
        &carol
            .delete(&format!("/conversations/{private}/messages/1"))
            .await,
        StatusCode::FORBIDDEN,
        "forbidden",
    );
    assert_error(
        &carol
            .get(&format!("/conversations/{private}/messages"))
            .await,
        StatusCode::FORBIDDEN,
        "forbidden",
    );

    // Paging: before_seq and after_seq.
    let (_, page) = bob
        .get(&format!(
            "/conversations/{private}/messages?before_seq=3&limit=1"
        ))
        .await;
    assert_eq!(page["messages"][0]["seq"], 2);
    let (_, page) = bob
        .get(&format!(
            "/conversations/{private}/messages?after_seq=1&limit=5"
        ))
        .await;
    let seqs: Vec<i64> = page["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["seq"].as_i64().unwrap())
        .collect();
    assert_eq!(seqs, [2, 3]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dead_letters_are_for_admins_only() {
    let broker = TestBroker::start_with(|config| config.auth.admins = vec!["root".into()]).await;
    let http = broker.server.http_addr;
    let root = Api::register(http, "root").await;
    let user = Api::register(http, "someone").await;
    assert_eq!(root.get("/admin/dead-letters").await.0, StatusCode::OK);
    assert_error(
        &user.get("/admin/dead-letters").await,
        StatusCode::FORBIDDEN,
        "forbidden",
    );
}
