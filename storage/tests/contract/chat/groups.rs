//! The contract's checks for groups themselves: creation, changes,
//! dissolution and verbatim text; and the helpers the membership and
//! join-request checks share.

use std::future::Future;

use herald_storage::{Directory, Group, GroupPatch, NewGroup, RequestStatus, Role, Stores, User};

use super::{expect_not_found, register, TRICKY_TEXTS};

pub(super) fn new_group(name: &str) -> NewGroup {
    NewGroup {
        name: name.to_owned(),
        avatar: "files/1".into(),
        announcement: "welcome".into(),
        join_approval: true,
    }
}

/// A group owned by a new user "owner", with the owner.
pub(super) async fn owned_group(directory: &dyn Directory) -> (Group, User) {
    let owner = register(directory, "owner").await;
    let group = directory
        .create_group(owner.id, new_group("team"))
        .await
        .expect("create group");
    (group, owner)
}

pub(super) async fn roles(directory: &dyn Directory, group: i64) -> Vec<(i64, Role)> {
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
