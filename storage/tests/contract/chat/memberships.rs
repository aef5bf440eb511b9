//! The contract's checks for memberships: adding and removing members,
//! roles, mutes and ownership transfer.

use std::future::Future;

use herald_storage::{Role, Stores};

use super::groups::{owned_group, roles};
use super::{expect_conflict, expect_not_found, expect_rejected, register};

pub async fn members_list_owner_then_admins_then_join_order<F, Fut>(open: F)
where
    F: Fn() -> Fut,
    Fut: Future<Output = Stores>,
{
    let stores = open().await;
    let directory = &*stores.directory;
    let (group, owner) = owned_group(directory).await;
    let first = register(directory, "first").await;
    let second = register(directory, "second").await;
    let third = register(directory, "third").await;
    for user in [&first, &second] {
        let member = directory
            .add_member(group.id, user.id, Role::Member)
            .await
            .expect("add");
        assert_eq!(member.role, Role::Member);
        assert_eq!(&member.user, user);
    }
    directory
        .add_member(group.id, third.id, Role::Admin)
        .await
        .expect("add admin");
    assert_eq!(
        roles(directory, group.id).await,
        vec![
            (owner.id, Role::Owner),
            (third.id, Role::Admin),
            (first.id, Role::Member),
            (second.id, Role::Member),
        ]
    );
    let mut ids = vec![owner.id, first.id, second.id, third.id];
    ids.sort_unstable();
    assert_eq!(directory.member_ids(group.id).await.expect("ids"), ids);
    assert_eq!(
        directory.user_groups(third.id).await.expect("theirs"),
        vec![(group.clone(), Role::Admin)]
    );
    stores.close().await;
}

pub async fn membership_conflicts_and_missing_records<F, Fut>(open: F)
where
    F: Fn() -> Fut,
    Fut: Future<Output = Stores>,
{
    let stores = open().await;
    let directory = &*stores.directory;
    let (group, owner) = owned_group(directory).await;
    let user = register(directory, "user").await;
    directory
        .add_member(group.id, user.id, Role::Member)
        .await
        .expect("add");
    expect_conflict(
        directory.add_member(group.id, user.id, Role::Admin).await,
        "adding a member twice",
    );
    expect_conflict(
        directory.add_member(group.id, owner.id, Role::Member).await,
        "adding the owner again",
    );
    let other = register(directory, "other").await;
    expect_rejected(
        directory.add_member(group.id, other.id, Role::Owner).await,
        "adding a second owner",
    );
    expect_not_found(
        directory.add_member(group.id, 999_999, Role::Member).await,
        "adding an unknown user",
    );
    expect_not_found(
        directory
            .add_member(group.id + 1_000, other.id, Role::Member)
            .await,
        "adding to an unknown group",
    );
    expect_conflict(
        directory.remove_member(group.id, owner.id).await,
        "removing the owner",
    );
    assert!(directory
        .remove_member(group.id, user.id)
        .await
        .expect("remove"));
    assert!(!directory
        .remove_member(group.id, user.id)
        .await
        .expect("again"));
    assert_eq!(
        directory.member(group.id, user.id).await.expect("gone"),
        None
    );
    assert!(directory
        .user_groups(user.id)
        .await
        .expect("none")
        .is_empty());
    stores.close().await;
}

pub async fn roles_and_mutes_change_one_member<F, Fut>(open: F)
where
    F: Fn() -> Fut,
    Fut: Future<Output = Stores>,
{
    let stores = open().await;
    let directory = &*stores.directory;
    let (group, owner) = owned_group(directory).await;
    let user = register(directory, "user").await;
    let bystander = register(directory, "bystander").await;
    for member in [&user, &bystander] {
        directory
            .add_member(group.id, member.id, Role::Member)
            .await
            .expect("add");
    }
    directory
        .set_role(group.id, user.id, Role::Admin)
        .await
        .expect("promote");
    directory
        .set_muted(group.id, user.id, true)
        .await
        .expect("mute");
    let member = directory
        .member(group.id, user.id)
        .await
        .expect("read")
        .expect("member");
    assert_eq!(member.role, Role::Admin);
    assert!(member.muted);
    let other = directory
        .member(group.id, bystander.id)
        .await
        .expect("read")
        .expect("member");
    assert_eq!(other.role, Role::Member);
    assert!(!other.muted);
    directory
        .set_role(group.id, user.id, Role::Member)
        .await
        .expect("demote");
    directory
        .set_muted(group.id, user.id, false)
        .await
        .expect("unmute");
    let member = directory
        .member(group.id, user.id)
        .await
        .expect("read")
        .expect("member");
    assert_eq!((member.role, member.muted), (Role::Member, false));

    let stranger = register(directory, "stranger").await;
    expect_not_found(
        directory.set_role(group.id, stranger.id, Role::Admin).await,
        "the role of a non-member",
    );
    expect_not_found(
        directory.set_muted(group.id, stranger.id, true).await,
        "muting a non-member",
    );
    expect_conflict(
        directory.set_role(group.id, owner.id, Role::Member).await,
        "demoting the owner",
    );
    expect_rejected(
        directory.set_role(group.id, user.id, Role::Owner).await,
        "making a second owner",
    );
    stores.close().await;
}

pub async fn transfer_ownership_moves_the_owner_atomically<F, Fut>(open: F)
where
    F: Fn() -> Fut,
    Fut: Future<Output = Stores>,
{
    let stores = open().await;
    let directory = &*stores.directory;
    let (group, owner) = owned_group(directory).await;
    let heir = register(directory, "heir").await;
    directory
        .add_member(group.id, heir.id, Role::Member)
        .await
        .expect("add");
    directory
        .transfer_ownership(group.id, owner.id, heir.id)
        .await
        .expect("transfer");
    let read = directory
        .group(group.id)
        .await
        .expect("read")
        .expect("group");
    assert_eq!(read.owner, heir.id);
    assert_eq!(
        roles(directory, group.id).await,
        vec![(heir.id, Role::Owner), (owner.id, Role::Admin)]
    );
    // The old owner may now leave; the new one may not.
    expect_conflict(
        directory.remove_member(group.id, heir.id).await,
        "removing the new owner",
    );
    assert!(directory
        .remove_member(group.id, owner.id)
        .await
        .expect("leave"));
    stores.close().await;
}

pub async fn failed_transfer_changes_nothing<F, Fut>(open: F)
where
    F: Fn() -> Fut,
    Fut: Future<Output = Stores>,
{
    let stores = open().await;
    let directory = &*stores.directory;
    let (group, owner) = owned_group(directory).await;
    let admin = register(directory, "admin").await;
    let stranger = register(directory, "stranger").await;
    directory
        .add_member(group.id, admin.id, Role::Admin)
        .await
        .expect("add");
    let before = roles(directory, group.id).await;
    expect_conflict(
        directory
            .transfer_ownership(group.id, admin.id, owner.id)
            .await,
        "a transfer by a non-owner",
    );
    expect_not_found(
        directory
            .transfer_ownership(group.id, owner.id, stranger.id)
            .await,
        "a transfer to a non-member",
    );
    expect_rejected(
        directory
            .transfer_ownership(group.id, owner.id, owner.id)
            .await,
        "a transfer to oneself",
    );
    expect_not_found(
        directory
            .transfer_ownership(group.id + 1_000, owner.id, admin.id)
            .await,
        "a transfer in an unknown group",
    );
    assert_eq!(roles(directory, group.id).await, before);
    let read = directory
        .group(group.id)
        .await
        .expect("read")
        .expect("group");
    assert_eq!(read.owner, owner.id);
    stores.close().await;
}
