//! The contract's checks for join requests: asking, listing, and an
//! admin's answer.

use std::future::Future;

use herald_storage::{RequestStatus, Role, Stores};

use super::groups::owned_group;
use super::{expect_conflict, expect_not_found, register};

pub async fn join_request_accepted_adds_the_member<F, Fut>(open: F)
where
    F: Fn() -> Fut,
    Fut: Future<Output = Stores>,
{
    let stores = open().await;
    let directory = &*stores.directory;
    let (group, _) = owned_group(directory).await;
    let first = register(directory, "first").await;
    let second = register(directory, "second").await;
    let request = directory
        .create_join_request(group.id, first.id, "hello")
        .await
        .expect("request");
    assert_eq!((request.group, request.user), (group.id, first.id));
    assert_eq!(request.message, "hello");
    assert_eq!(request.status, RequestStatus::Pending);
    assert_eq!(request.resolved_at, None);
    let other = directory
        .create_join_request(group.id, second.id, "me too")
        .await
        .expect("second request");
    assert_eq!(
        directory.join_requests(group.id).await.expect("pending"),
        vec![request.clone(), other.clone()],
        "oldest first"
    );
    assert_eq!(
        directory.join_request(request.id).await.expect("read"),
        Some(request.clone())
    );

    let accepted = directory
        .resolve_join_request(request.id, true)
        .await
        .expect("accept");
    assert_eq!(accepted.status, RequestStatus::Accepted);
    assert!(accepted.resolved_at.is_some());
    let member = directory.member(group.id, first.id).await.expect("read");
    assert_eq!(member.map(|member| member.role), Some(Role::Member));

    let rejected = directory
        .resolve_join_request(other.id, false)
        .await
        .expect("reject");
    assert_eq!(rejected.status, RequestStatus::Rejected);
    assert_eq!(
        directory.member(group.id, second.id).await.expect("read"),
        None
    );
    assert!(directory
        .join_requests(group.id)
        .await
        .expect("none")
        .is_empty());
    stores.close().await;
}

pub async fn join_request_conflicts_and_missing_records<F, Fut>(open: F)
where
    F: Fn() -> Fut,
    Fut: Future<Output = Stores>,
{
    let stores = open().await;
    let directory = &*stores.directory;
    let (group, owner) = owned_group(directory).await;
    let user = register(directory, "user").await;
    let request = directory
        .create_join_request(group.id, user.id, "hi")
        .await
        .expect("request");
    expect_conflict(
        directory
            .create_join_request(group.id, user.id, "again")
            .await,
        "a second pending join request",
    );
    expect_conflict(
        directory.create_join_request(group.id, owner.id, "").await,
        "a member asking to join",
    );
    expect_not_found(
        directory
            .create_join_request(group.id + 1_000, user.id, "")
            .await,
        "asking to join an unknown group",
    );
    expect_not_found(
        directory.create_join_request(group.id, 999_999, "").await,
        "an unknown user asking to join",
    );
    directory
        .resolve_join_request(request.id, false)
        .await
        .expect("reject");
    expect_conflict(
        directory.resolve_join_request(request.id, true).await,
        "resolving twice",
    );
    assert_eq!(
        directory.member(group.id, user.id).await.expect("read"),
        None
    );
    expect_not_found(
        directory.resolve_join_request(999_999, true).await,
        "resolving an unknown request",
    );
    assert_eq!(
        directory.join_request(999_999).await.expect("unknown"),
        None
    );
    directory
        .create_join_request(group.id, user.id, "please")
        .await
        .expect("asking again after a rejection");
    stores.close().await;
}
