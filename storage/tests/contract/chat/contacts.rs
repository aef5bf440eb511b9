//! The contract's checks for contacts: friend requests, friendships,
//! remarks and blocks.

use std::future::Future;

use herald_storage::{Direction, RequestStatus, Stores};

use super::{expect_conflict, expect_not_found, expect_rejected, register, TRICKY_TEXTS};

pub async fn friend_request_accepted_makes_friends_both_ways<F, Fut>(open: F)
where
    F: Fn() -> Fut,
    Fut: Future<Output = Stores>,
{
    let stores = open().await;
    let directory = &*stores.directory;
    let alice = register(directory, "alice").await;
    let bob = register(directory, "bob").await;
    let carol = register(directory, "carol").await;

    let first = directory
        .create_friend_request(alice.id, bob.id, "hi bob")
        .await
        .expect("request");
    assert_eq!((first.from, first.to), (alice.id, bob.id));
    assert_eq!(first.greeting, "hi bob");
    assert_eq!(first.status, RequestStatus::Pending);
    assert_eq!(first.resolved_at, None);
    let second = directory
        .create_friend_request(carol.id, bob.id, "")
        .await
        .expect("second request");
    assert_eq!(
        directory.friend_request(first.id).await.expect("read"),
        Some(first.clone())
    );

    let incoming = directory
        .friend_requests(bob.id, Direction::Incoming)
        .await
        .expect("incoming");
    assert_eq!(
        incoming,
        vec![second.clone(), first.clone()],
        "newest first"
    );
    let outgoing = directory
        .friend_requests(alice.id, Direction::Outgoing)
        .await
        .expect("outgoing");
    assert_eq!(outgoing, vec![first.clone()]);
    assert!(directory
        .friend_requests(alice.id, Direction::Incoming)
        .await
        .expect("none")
        .is_empty());

    let accepted = directory
        .resolve_friend_request(first.id, true)
        .await
        .expect("accept");
    assert_eq!(accepted.status, RequestStatus::Accepted);
    assert!(accepted.resolved_at.is_some());
    assert!(directory.are_friends(alice.id, bob.id).await.expect("a-b"));
    assert!(directory.are_friends(bob.id, alice.id).await.expect("b-a"));
    assert!(!directory
        .are_friends(alice.id, carol.id)
        .await
        .expect("a-c"));
    let friends_of_alice = directory.friends(alice.id).await.expect("friends");
    assert_eq!(friends_of_alice.len(), 1);
    assert_eq!(friends_of_alice[0].user, bob);
    assert_eq!(friends_of_alice[0].remark, None);
    assert!(friends_of_alice[0].since > 0);
    let friends_of_bob = directory.friends(bob.id).await.expect("friends");
    assert_eq!(friends_of_bob.len(), 1);
    assert_eq!(friends_of_bob[0].user, alice);
    assert_eq!(
        directory.friend_ids(bob.id).await.expect("ids"),
        vec![alice.id]
    );
    let incoming = directory
        .friend_requests(bob.id, Direction::Incoming)
        .await
        .expect("incoming");
    assert_eq!(incoming, vec![second], "resolved requests are not listed");
    assert_eq!(
        directory.friend_request(first.id).await.expect("read"),
        Some(accepted)
    );
    stores.close().await;
}

pub async fn friend_request_conflicts_and_missing_records<F, Fut>(open: F)
where
    F: Fn() -> Fut,
    Fut: Future<Output = Stores>,
{
    let stores = open().await;
    let directory = &*stores.directory;
    let alice = register(directory, "alice").await;
    let bob = register(directory, "bob").await;
    let request = directory
        .create_friend_request(alice.id, bob.id, "hi")
        .await
        .expect("request");
    expect_conflict(
        directory
            .create_friend_request(alice.id, bob.id, "again")
            .await,
        "a second pending request",
    );
    expect_conflict(
        directory
            .create_friend_request(bob.id, alice.id, "back")
            .await,
        "a pending request the other way",
    );
    expect_rejected(
        directory
            .create_friend_request(alice.id, alice.id, "me")
            .await,
        "befriending oneself",
    );
    expect_not_found(
        directory
            .create_friend_request(alice.id, 999_999, "?")
            .await,
        "a request to an unknown user",
    );
    expect_not_found(
        directory
            .create_friend_request(999_999, alice.id, "?")
            .await,
        "a request from an unknown user",
    );
    directory
        .resolve_friend_request(request.id, true)
        .await
        .expect("accept");
    expect_conflict(
        directory.resolve_friend_request(request.id, false).await,
        "resolving twice",
    );
    expect_not_found(
        directory.resolve_friend_request(999_999, true).await,
        "resolving an unknown request",
    );
    expect_conflict(
        directory
            .create_friend_request(bob.id, alice.id, "hi")
            .await,
        "a request between friends",
    );
    assert_eq!(
        directory.friend_request(999_999).await.expect("unknown"),
        None
    );
    stores.close().await;
}

pub async fn rejected_friend_request_makes_no_friends<F, Fut>(open: F)
where
    F: Fn() -> Fut,
    Fut: Future<Output = Stores>,
{
    let stores = open().await;
    let directory = &*stores.directory;
    let alice = register(directory, "alice").await;
    let bob = register(directory, "bob").await;
    let request = directory
        .create_friend_request(alice.id, bob.id, "hi")
        .await
        .expect("request");
    let rejected = directory
        .resolve_friend_request(request.id, false)
        .await
        .expect("reject");
    assert_eq!(rejected.status, RequestStatus::Rejected);
    assert!(rejected.resolved_at.is_some());
    assert!(!directory
        .are_friends(alice.id, bob.id)
        .await
        .expect("friends"));
    assert!(directory.friends(bob.id).await.expect("list").is_empty());
    // Once rejected, either may ask again.
    directory
        .create_friend_request(bob.id, alice.id, "sorry")
        .await
        .expect("ask again");
    stores.close().await;
}

/// Makes `a` and `b` friends through an accepted request.
async fn befriend(directory: &dyn herald_storage::Directory, a: i64, b: i64) {
    let request = directory
        .create_friend_request(a, b, "hi")
        .await
        .expect("request");
    directory
        .resolve_friend_request(request.id, true)
        .await
        .expect("accept");
}

pub async fn delete_friend_ends_both_directions<F, Fut>(open: F)
where
    F: Fn() -> Fut,
    Fut: Future<Output = Stores>,
{
    let stores = open().await;
    let directory = &*stores.directory;
    let alice = register(directory, "alice").await;
    let bob = register(directory, "bob").await;
    befriend(directory, alice.id, bob.id).await;
    assert!(directory
        .delete_friend(bob.id, alice.id)
        .await
        .expect("delete"));
    assert!(!directory.are_friends(alice.id, bob.id).await.expect("a-b"));
    assert!(!directory.are_friends(bob.id, alice.id).await.expect("b-a"));
    assert!(directory.friends(alice.id).await.expect("list").is_empty());
    assert!(!directory
        .delete_friend(alice.id, bob.id)
        .await
        .expect("again"));
    befriend(directory, bob.id, alice.id).await;
    assert!(directory
        .are_friends(alice.id, bob.id)
        .await
        .expect("friends again"));
    stores.close().await;
}

pub async fn remarks_belong_to_their_owner<F, Fut>(open: F)
where
    F: Fn() -> Fut,
    Fut: Future<Output = Stores>,
{
    let stores = open().await;
    let directory = &*stores.directory;
    let alice = register(directory, "alice").await;
    let bob = register(directory, "bob").await;
    let carol = register(directory, "carol").await;
    befriend(directory, alice.id, bob.id).await;
    directory
        .set_remark(alice.id, bob.id, Some("Bobby".into()))
        .await
        .expect("remark");
    let friends = directory.friends(alice.id).await.expect("list");
    assert_eq!(friends[0].remark.as_deref(), Some("Bobby"));
    let friends = directory.friends(bob.id).await.expect("list");
    assert_eq!(friends[0].remark, None, "bob's view of alice has no remark");
    directory
        .set_remark(alice.id, bob.id, None)
        .await
        .expect("clear");
    assert_eq!(
        directory.friends(alice.id).await.expect("list")[0].remark,
        None
    );
    expect_not_found(
        directory
            .set_remark(alice.id, carol.id, Some("x".into()))
            .await,
        "a remark for a non-friend",
    );
    stores.close().await;
}

pub async fn blocks_are_one_way_and_idempotent<F, Fut>(open: F)
where
    F: Fn() -> Fut,
    Fut: Future<Output = Stores>,
{
    let stores = open().await;
    let directory = &*stores.directory;
    let alice = register(directory, "alice").await;
    let bob = register(directory, "bob").await;
    let carol = register(directory, "carol").await;
    directory.block(alice.id, bob.id).await.expect("block");
    directory
        .block(alice.id, bob.id)
        .await
        .expect("block twice");
    directory
        .block(alice.id, carol.id)
        .await
        .expect("block carol");
    assert!(directory
        .is_blocked(alice.id, bob.id)
        .await
        .expect("a blocks b"));
    assert!(!directory
        .is_blocked(bob.id, alice.id)
        .await
        .expect("b blocks a"));
    assert_eq!(
        directory.blocked(alice.id).await.expect("list"),
        vec![bob.clone(), carol.clone()]
    );
    assert!(directory.unblock(alice.id, bob.id).await.expect("unblock"));
    assert!(!directory
        .unblock(alice.id, bob.id)
        .await
        .expect("unblock again"));
    assert!(!directory
        .is_blocked(alice.id, bob.id)
        .await
        .expect("lifted"));
    assert_eq!(
        directory.blocked(alice.id).await.expect("list"),
        vec![carol]
    );
    expect_rejected(
        directory.block(alice.id, alice.id).await,
        "blocking oneself",
    );
    expect_not_found(directory.block(alice.id, 999_999).await, "blocking nobody");
    stores.close().await;
}

pub async fn contact_text_is_kept_verbatim<F, Fut>(open: F)
where
    F: Fn() -> Fut,
    Fut: Future<Output = Stores>,
{
    let stores = open().await;
    let directory = &*stores.directory;
    let owner = register(directory, "owner").await;
    for (number, text) in TRICKY_TEXTS.iter().enumerate() {
        let other = register(directory, &format!("friend{number}")).await;
        let request = directory
            .create_friend_request(other.id, owner.id, text)
            .await
            .expect("request");
        assert_eq!(request.greeting, *text);
        let read = directory.friend_request(request.id).await.expect("read");
        assert_eq!(read.map(|request| request.greeting).as_deref(), Some(*text));
        directory
            .resolve_friend_request(request.id, true)
            .await
            .expect("accept");
        directory
            .set_remark(owner.id, other.id, Some((*text).to_owned()))
            .await
            .expect("remark");
    }
    let friends = directory.friends(owner.id).await.expect("friends");
    let remarks: Vec<&str> = friends
        .iter()
        .map(|friend| friend.remark.as_deref().expect("remark"))
        .collect();
    assert_eq!(remarks, TRICKY_TEXTS);
    stores.close().await;
}
