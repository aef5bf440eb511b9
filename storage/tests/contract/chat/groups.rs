//! The contract's checks for groups: creation, memberships, roles, mutes,
//! ownership transfer, dissolution and join requests.

use std::future::Future;

use herald_storage::{Directory, Group, GroupPatch, NewGroup, RequestStatus, Role, Stores, User};

use super::{expect_conflict, expect_not_found, expect_rejected, register, TRICKY_TEXTS};

fn new_group(name: &str) -> NewGroup {
    NewGroup {
        name: name.to_owned(),
        avatar: "files/1".into(),
        announcement: "welcome".into(),
        join_approval: true,
    }
}

/// A group owned by a new user "owner", with the owner.
async fn owned_group(directory: &dyn Directory) -> (Group, User) {
    let owner = register(directory, "owner").await;
    let group = directory
        .create_group(owner.id, new_group("team"))
        .await
        .expect("create group");
    (group, owner)
}

async fn roles(directory: &dyn Directory, group: i64) -> Vec<(i64, Role)> {
    let members = directory.members(group).await.expect("members");
    members
        .into_iter()
        .map(|member| (member.user.id, member.role))
        .collect()
}

pub async fn create_group_makes_the_owner_a_member<F, Fut>(open: F)
where
    F: Fn() -> Fut,
    Fut: Future<Output = Stores>,
{
    let stores = open().await;
    let directory = &*stores.directory;
    let (group, owner) = owned_group(directory).await;
    assert!(group.id > 0);
    assert_eq!(group.name, "team");
    assert_eq!(group.avatar, "files/1");
    assert_eq!(group.announcement, "welcome");
    assert_eq!(group.owner, owner.id);
    assert!(group.join_approval);
    assert!(!group.muted_all);
    assert!(!group.dissolved);
    assert_eq!(
        directory.group(group.id).await.expect("read"),
        Some(group.clone())
    );
    let member = directory
        .member(group.id, owner.id)
        .await
        .expect("member")
        .expect("the owner is a member");
    assert_eq!(member.group, group.id);
    assert_eq!(member.user, owner);
    assert_eq!(member.role, Role::Owner);
    assert!(!member.muted);
    assert_eq!(
        roles(directory, group.id).await,
        vec![(owner.id, Role::Owner)]
    );
    assert_eq!(
        directory.user_groups(owner.id).await.expect("mine"),
        vec![(group.clone(), Role::Owner)]
    );
    expect_not_found(
        directory.create_group(999_999, new_group("x")).await,
        "a group of an unknown owner",
    );
    assert_eq!(
        directory.group(group.id + 1_000).await.expect("unknown"),
        None
    );
    stores.close().await;
}

pub async fn update_group_changes_only_named_fields<F, Fut>(open: F)
where
    F: Fn() -> Fut,
    Fut: Future<Output = Stores>,
{
    let stores = open().await;
    let directory = &*stores.directory;
    let (group, _) = owned_group(directory).await;
    let patch = GroupPatch {
        announcement: Some("new rules".into()),
        muted_all: Some(true),
        ..GroupPatch::default()
    };
    let updated = directory
        .update_group(group.id, patch)
        .await
        .expect("patch");
    assert_eq!(updated.announcement, "new rules");
    assert!(updated.muted_all);
    assert_eq!(updated.name, group.name);
    assert!(updated.join_approval);
    let patch = GroupPatch {
        name: Some("renamed".into()),
        avatar: Some(String::new()),
        join_approval: Some(false),
        ..GroupPatch::default()
    };
    let updated = directory
        .update_group(group.id, patch)
        .await
        .expect("patch");
    assert_eq!(updated.name, "renamed");
    assert_eq!(updated.avatar, "");
    assert!(!updated.join_approval);
    assert!(updated.muted_all);
    assert_eq!(
        directory.group(group.id).await.expect("read"),
        Some(updated)
    );
    expect_not_found(
        directory
            .update_group(group.id + 1_000, GroupPatch::default())
            .await,
        "patching an unknown group",
    );
    stores.close().await;
}

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

pub async fn dissolve_group_removes_members_and_refuses_writes<F, Fut>(open: F)
where
    F: Fn() -> Fut,
    Fut: Future<Output = Stores>,
{
    let stores = open().await;
    let directory = &*stores.directory;
    let (group, owner) = owned_group(directory).await;
    let member = register(directory, "member").await;
    let applicant = register(directory, "applicant").await;
    directory
        .add_member(group.id, member.id, Role::Member)
        .await
        .expect("add");
    let request = directory
        .create_join_request(group.id, applicant.id, "let me in")
        .await
        .expect("join request");
    directory.dissolve_group(group.id).await.expect("dissolve");

    let read = directory
        .group(group.id)
        .await
        .expect("read")
        .expect("kept");
    assert!(read.dissolved);
    assert!(directory
        .members(group.id)
        .await
        .expect("members")
        .is_empty());
    assert!(directory
        .member_ids(group.id)
        .await
        .expect("ids")
        .is_empty());
    assert!(directory
        .user_groups(owner.id)
        .await
        .expect("mine")
        .is_empty());
    assert!(directory
        .join_requests(group.id)
        .await
        .expect("pending")
        .is_empty());
    let request = directory
        .join_request(request.id)
        .await
        .expect("read")
        .expect("kept");
    assert_eq!(request.status, RequestStatus::Rejected);

    expect_not_found(directory.dissolve_group(group.id).await, "dissolving twice");
    expect_not_found(
        directory
            .update_group(group.id, GroupPatch::default())
            .await,
        "patching a dissolved group",
    );
    expect_not_found(
        directory
            .add_member(group.id, member.id, Role::Member)
            .await,
        "joining a dissolved group",
    );
    expect_not_found(
        directory.create_join_request(group.id, member.id, "").await,
        "asking to join a dissolved group",
    );
    expect_not_found(
        directory.dissolve_group(999_999).await,
        "dissolving nothing",
    );
    stores.close().await;
}

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

pub async fn group_text_is_kept_verbatim<F, Fut>(open: F)
where
    F: Fn() -> Fut,
    Fut: Future<Output = Stores>,
{
    let stores = open().await;
    let directory = &*stores.directory;
    let owner = register(directory, "owner").await;
    let applicant = register(directory, "applicant").await;
    for text in TRICKY_TEXTS {
        let group = directory
            .create_group(
                owner.id,
                NewGroup {
                    name: (*text).to_owned(),
                    avatar: (*text).to_owned(),
                    announcement: (*text).to_owned(),
                    join_approval: false,
                },
            )
            .await
            .expect("create");
        let read = directory
            .group(group.id)
            .await
            .expect("read")
            .expect("group");
        assert_eq!((read.name.as_str(), read.avatar.as_str()), (*text, *text));
        assert_eq!(read.announcement, *text);
        let patch = GroupPatch {
            announcement: Some(format!("{text}{text}")),
            ..GroupPatch::default()
        };
        let updated = directory
            .update_group(group.id, patch)
            .await
            .expect("patch");
        assert_eq!(updated.announcement, format!("{text}{text}"));
        let request = directory
            .create_join_request(group.id, applicant.id, text)
            .await
            .expect("request");
        let read = directory.join_request(request.id).await.expect("read");
        assert_eq!(read.map(|request| request.message).as_deref(), Some(*text));
    }
    let groups = directory.user_groups(owner.id).await.expect("mine");
    let names: Vec<&str> = groups
        .iter()
        .map(|(group, _)| group.name.as_str())
        .collect();
    assert_eq!(names, TRICKY_TEXTS);
    stores.close().await;
}
