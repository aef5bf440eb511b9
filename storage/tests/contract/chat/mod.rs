//! The `Directory` and `MessageLog` contract: what every Herald backend
//! must do with users, contacts, groups and chat history. Each check is a
//! generic async function over `open`, which opens every store of the
//! backend at the test's place as a [`Stores`] (again, when called again);
//! [`chat_store_contract!`] turns them into one `#[tokio::test]` each:
//!
//! ```ignore
//! chat_store_contract!(sqlite_chat, place: TempDir::new().unwrap(), open: open_stores);
//! ```
//!
//! The checks use only the traits, never a backend's own API.

mod contacts;
mod groups;
mod join_requests;
mod memberships;
mod messages;
mod users;

use std::fmt::Debug;

use herald_storage::{Directory, NewUser, StoreError, User};

pub use contacts::*;
pub use groups::*;
pub use join_requests::*;
pub use memberships::*;
pub use messages::*;
pub use users::*;

/// Text that breaks careless SQL, HTML or encoding handling; none has a NUL.
pub const TRICKY_TEXTS: &[&str] = &[
    "'; DROP TABLE users; --",
    "<script>alert(1)</script>",
    "Ünïcødé 中文 🎉",
    "\"double\" 'single' `back` \\ backslash % percent _ underscore",
    "line\nbreak\ttab\r\n",
    "  spaces around  ",
    "",
];

/// Generates the directory and message-log contract tests for one backend,
/// in a module named `$name`.
macro_rules! chat_store_contract {
    ($name:ident, place: $place:expr, open: $open:expr $(,)?) => {
        chat_store_contract!(@tests $name, $place, $open, [
            create_user_then_read_it_back,
            usernames_are_unique_without_regard_to_case,
            users_returns_those_that_exist_in_id_order,
            update_profile_changes_only_named_fields,
            set_password_revokes_older_tokens,
            search_matches_substrings_without_regard_to_case,
            search_matches_like_metacharacters_literally,
            user_text_is_kept_verbatim,
            friend_request_accepted_makes_friends_both_ways,
            friend_request_conflicts_and_missing_records,
            rejected_friend_request_makes_no_friends,
            delete_friend_ends_both_directions,
            remarks_belong_to_their_owner,
            blocks_are_one_way_and_idempotent,
            contact_text_is_kept_verbatim,
            create_group_makes_the_owner_a_member,
            update_group_changes_only_named_fields,
            members_list_owner_then_admins_then_join_order,
            membership_conflicts_and_missing_records,
            roles_and_mutes_change_one_member,
            transfer_ownership_moves_the_owner_atomically,
            failed_transfer_changes_nothing,
            dissolve_group_removes_members_and_refuses_writes,
            join_request_accepted_adds_the_member,
            join_request_conflicts_and_missing_records,
            group_text_is_kept_verbatim,
            append_numbers_each_conversation_from_one,
            concurrent_appends_leave_no_gap_and_no_duplicate,
            after_and_before_page_in_seq_order,
            messages_keep_headers_and_bodies_verbatim,
            repeated_message_id_is_a_conflict_and_takes_no_seq,
            chat_data_survives_reopen,
            closed_stores_refuse_everything,
        ]);
    };
    (@tests $name:ident, $place:expr, $open:expr, [$($check:ident),* $(,)?]) => {
        mod $name {
            #[allow(unused_imports)]
            use super::*;
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $check() {
                    let place = $place;
                    let place = &place;
                    crate::contract::chat::$check(move || ($open)(place)).await;
                }
            )*
        }
    };
}

/// Registers `username` with a placeholder hash and the name as nickname.
pub async fn register(directory: &dyn Directory, username: &str) -> User {
    directory
        .create_user(NewUser {
            username: username.to_owned(),
            password_hash: format!("hash-of-{username}"),
            nickname: username.to_owned(),
        })
        .await
        .unwrap_or_else(|error| panic!("register {username:?}: {error}"))
        .user
}

/// Panics unless `result` is a `Conflict`.
#[track_caller]
pub fn expect_conflict<T: Debug>(result: Result<T, StoreError>, what: &str) {
    assert!(
        matches!(result, Err(StoreError::Conflict(_))),
        "{what}: expected Conflict, got {result:?}"
    );
}

/// Panics unless `result` is a `NotFound`.
#[track_caller]
pub fn expect_not_found<T: Debug>(result: Result<T, StoreError>, what: &str) {
    assert!(
        matches!(result, Err(StoreError::NotFound(_))),
        "{what}: expected NotFound, got {result:?}"
    );
}

/// Panics unless `result` is a `Rejected`.
#[track_caller]
pub fn expect_rejected<T: Debug>(result: Result<T, StoreError>, what: &str) {
    assert!(
        matches!(result, Err(StoreError::Rejected(_))),
        "{what}: expected Rejected, got {result:?}"
    );
}
