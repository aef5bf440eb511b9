//! The contract's checks for users: registration, accounts, profiles,
//! token versions and search.

use std::future::Future;

use herald_storage::{NewUser, ProfilePatch, Stores};

use super::{expect_conflict, expect_not_found, register, TRICKY_TEXTS};

pub async fn create_user_then_read_it_back<F, Fut>(open: F)
where
    F: Fn() -> Fut,
    Fut: Future<Output = Stores>,
{
    let stores = open().await;
    let directory = &*stores.directory;
    let account = directory
        .create_user(NewUser {
            username: "Alice".into(),
            password_hash: "$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA".into(),
            nickname: "Ally".into(),
        })
        .await
        .expect("create");
    assert!(account.user.id > 0);
    assert_eq!(account.user.username, "Alice");
    assert_eq!(account.user.nickname, "Ally");
    assert_eq!(account.user.avatar, "");
    assert_eq!(account.user.signature, "");
    assert!(account.user.created_at > 1_600_000_000_000, "{account:?}");
    assert_eq!(account.token_version, 0);
    assert_eq!(
        account.password_hash,
        "$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA"
    );

    let id = account.user.id;
    assert_eq!(
        directory.account(id).await.expect("account"),
        Some(account.clone())
    );
    for name in ["Alice", "alice", "ALICE"] {
        let found = directory.account_by_username(name).await.expect("by name");
        assert_eq!(found, Some(account.clone()), "looking up {name}");
    }
    assert_eq!(
        directory.account_by_username("alic").await.expect("prefix"),
        None
    );
    assert_eq!(directory.account(id + 1_000).await.expect("unknown"), None);
    assert_eq!(
        directory.user(id).await.expect("user"),
        Some(account.user.clone())
    );
    stores.close().await;
}

pub async fn usernames_are_unique_without_regard_to_case<F, Fut>(open: F)
where
    F: Fn() -> Fut,
    Fut: Future<Output = Stores>,
{
    let stores = open().await;
    let directory = &*stores.directory;
    let first = register(directory, "bob").await;
    for taken in ["bob", "BOB", "Bob", "bOb"] {
        let again = directory
            .create_user(NewUser {
                username: taken.into(),
                password_hash: "h".into(),
                nickname: taken.into(),
            })
            .await;
        expect_conflict(again, taken);
    }
    let unicode = register(directory, "Ärger").await;
    let clash = directory
        .create_user(NewUser {
            username: "äRGER".into(),
            password_hash: "h".into(),
            nickname: "x".into(),
        })
        .await;
    expect_conflict(clash, "non-ASCII name in another case");
    let found = directory
        .account_by_username("ÄRGER")
        .await
        .expect("by name");
    assert_eq!(found.map(|account| account.user), Some(unicode));
    // A failed registration leaves nothing behind.
    let everyone = directory.search_users("", 100).await.expect("search");
    assert_eq!(everyone.len(), 2, "{everyone:?}");
    assert!(everyone.contains(&first));
    stores.close().await;
}

pub async fn users_returns_those_that_exist_in_id_order<F, Fut>(open: F)
where
    F: Fn() -> Fut,
    Fut: Future<Output = Stores>,
{
    let stores = open().await;
    let directory = &*stores.directory;
    let a = register(directory, "a").await;
    let b = register(directory, "b").await;
    let c = register(directory, "c").await;
    let found = directory
        .users(&[c.id, 999_999, a.id, c.id, b.id])
        .await
        .expect("users");
    assert_eq!(found, vec![a.clone(), b, c]);
    assert!(directory.users(&[]).await.expect("none").is_empty());
    assert_eq!(directory.user(999_999).await.expect("unknown"), None);
    stores.close().await;
}

pub async fn update_profile_changes_only_named_fields<F, Fut>(open: F)
where
    F: Fn() -> Fut,
    Fut: Future<Output = Stores>,
{
    let stores = open().await;
    let directory = &*stores.directory;
    let user = register(directory, "carol").await;
    let patch = ProfilePatch {
        nickname: Some("Caz".into()),
        avatar: Some("files/42".into()),
        signature: None,
    };
    let updated = directory
        .update_profile(user.id, patch)
        .await
        .expect("patch");
    assert_eq!(updated.nickname, "Caz");
    assert_eq!(updated.avatar, "files/42");
    assert_eq!(updated.signature, "");
    assert_eq!(updated.username, "carol");
    let patch = ProfilePatch {
        signature: Some("on holiday".into()),
        avatar: Some(String::new()),
        ..ProfilePatch::default()
    };
    let updated = directory
        .update_profile(user.id, patch)
        .await
        .expect("patch");
    assert_eq!(updated.nickname, "Caz");
    assert_eq!(updated.avatar, "");
    assert_eq!(updated.signature, "on holiday");
    assert_eq!(directory.user(user.id).await.expect("read"), Some(updated));
    let missing = directory
        .update_profile(user.id + 1_000, ProfilePatch::default())
        .await;
    expect_not_found(missing, "patching an unknown user");
    stores.close().await;
}

pub async fn set_password_revokes_older_tokens<F, Fut>(open: F)
where
    F: Fn() -> Fut,
    Fut: Future<Output = Stores>,
{
    let stores = open().await;
    let directory = &*stores.directory;
    let user = register(directory, "dave").await;
    let version = directory
        .set_password(user.id, "new-hash".into())
        .await
        .expect("set password");
    assert_eq!(version, 1);
    let account = directory
        .account(user.id)
        .await
        .expect("read")
        .expect("there");
    assert_eq!(account.password_hash, "new-hash");
    assert_eq!(account.token_version, 1);
    assert_eq!(
        directory.bump_token_version(user.id).await.expect("bump"),
        2
    );
    let account = directory
        .account(user.id)
        .await
        .expect("read")
        .expect("there");
    assert_eq!(
        account.password_hash, "new-hash",
        "a bump keeps the password"
    );
    assert_eq!(account.token_version, 2);
    expect_not_found(
        directory.set_password(user.id + 1_000, "h".into()).await,
        "password of an unknown user",
    );
    expect_not_found(
        directory.bump_token_version(user.id + 1_000).await,
        "token version of an unknown user",
    );
    stores.close().await;
}

pub async fn search_matches_substrings_without_regard_to_case<F, Fut>(open: F)
where
    F: Fn() -> Fut,
    Fut: Future<Output = Stores>,
{
    let stores = open().await;
    let directory = &*stores.directory;
    let long = register(directory, "Annabelle").await;
    let exact = register(directory, "anna").await;
    let middle = register(directory, "Joanna").await;
    register(directory, "bob").await;
    let found = directory.search_users("ANNA", 10).await.expect("search");
    assert_eq!(
        found,
        vec![exact.clone(), middle, long],
        "exact, then shorter"
    );
    let found = directory.search_users("anna", 1).await.expect("limited");
    assert_eq!(found, vec![exact]);
    assert!(directory
        .search_users("zed", 10)
        .await
        .expect("none")
        .is_empty());
    stores.close().await;
}

pub async fn search_matches_like_metacharacters_literally<F, Fut>(open: F)
where
    F: Fn() -> Fut,
    Fut: Future<Output = Stores>,
{
    let stores = open().await;
    let directory = &*stores.directory;
    register(directory, "a%b").await;
    register(directory, "a_b").await;
    register(directory, "a\\b").await;
    register(directory, "axb").await;
    register(directory, "ab").await;
    let names = |users: Vec<herald_storage::User>| -> Vec<String> {
        users.into_iter().map(|user| user.username).collect()
    };
    let search = |query: &'static str| directory.search_users(query, 10);
    assert_eq!(names(search("%").await.expect("%")), ["a%b"]);
    assert_eq!(names(search("_").await.expect("_")), ["a_b"]);
    assert_eq!(names(search("\\").await.expect("\\")), ["a\\b"]);
    assert_eq!(names(search("a_b").await.expect("a_b")), ["a_b"]);
    assert_eq!(names(search("a%").await.expect("a%")), ["a%b"]);
    assert_eq!(names(search("A\\B").await.expect("A\\B")), ["a\\b"]);
    assert!(search("%%").await.expect("%%").is_empty());
    stores.close().await;
}

pub async fn user_text_is_kept_verbatim<F, Fut>(open: F)
where
    F: Fn() -> Fut,
    Fut: Future<Output = Stores>,
{
    let stores = open().await;
    let directory = &*stores.directory;
    for (number, text) in TRICKY_TEXTS.iter().enumerate() {
        let username = format!("{number}{text}");
        let account = directory
            .create_user(NewUser {
                username: username.clone(),
                password_hash: (*text).to_owned(),
                nickname: (*text).to_owned(),
            })
            .await
            .unwrap_or_else(|error| panic!("register {username:?}: {error}"));
        let patch = ProfilePatch {
            avatar: Some((*text).to_owned()),
            signature: Some((*text).to_owned()),
            nickname: None,
        };
        directory
            .update_profile(account.user.id, patch)
            .await
            .expect("patch");
        let read = directory
            .account_by_username(&username)
            .await
            .expect("read")
            .expect("found by its exact name");
        assert_eq!(read.user.username, username);
        assert_eq!(read.password_hash, *text);
        assert_eq!(read.user.nickname, *text);
        assert_eq!(read.user.avatar, *text);
        assert_eq!(read.user.signature, *text);
        let found = directory.search_users(&username, 10).await.expect("search");
        assert!(
            found.iter().any(|user| user.username == username),
            "search for {username:?} gave {found:?}"
        );
    }
    let users = directory.search_users("", 100).await.expect("all");
    assert_eq!(users.len(), TRICKY_TEXTS.len(), "the users table is intact");
    stores.close().await;
}
