//! The reliable-messaging contract: dedupe, recall, search, retention and
//! the conversation index of `MessageLog`, and `Cursors`, `DeadLetters`
//! and `FileStore`. Each check is a generic async function over `open`,
//! which opens every store of the backend at the test's place as a
//! [`Stores`] (again, when called again); [`reliable_store_contract!`]
//! turns them into one `#[tokio::test]` each:
//!
//! ```ignore
//! reliable_store_contract!(sqlite_reliable, place: TempDir::new().unwrap(), open: open_stores);
//! ```
//!
//! The checks use only the traits, never a backend's own API.

mod conversations;
mod cursors;
mod dedupe;
mod history;
mod records;
mod search;

use std::sync::atomic::{AtomicI64, Ordering};

use bytes::Bytes;
use herald_storage::{Appended, MessageLog, NewMessage, StoredMessage, UserId};

pub use conversations::*;
pub use cursors::*;
pub use dedupe::*;
pub use history::*;
pub use records::*;
pub use search::*;

/// Generates the reliable-messaging contract tests for one backend, in a
/// module named `$name`.
macro_rules! reliable_store_contract {
    ($name:ident, place: $place:expr, open: $open:expr $(,)?) => {
        reliable_store_contract!(@tests $name, $place, $open, [
            repeated_client_msg_id_stores_one_message,
            concurrent_repeats_store_one_message,
            dedupe_survives_reopen,
            purge_dedupe_ends_the_window,
            client_msg_ids_belong_to_their_sender,
            get_finds_stored_messages,
            recall_erases_content_and_keeps_the_place,
            purge_before_deletes_old_messages_and_keeps_seq_counting,
            purge_before_takes_what_belongs_to_purged_messages,
            search_finds_all_words_newest_first,
            search_reads_text_or_raw_bodies_of_chat_messages_only,
            search_takes_any_query_text_literally,
            conversation_index_lists_private_and_system_newest_first,
            heads_give_the_named_conversations,
            devices_are_new_once,
            delivered_cursors_only_move_forward,
            read_cursors_only_move_forward,
            concurrent_reads_keep_the_highest,
            read_counts_count_readers_at_or_past,
            mention_counts_drop_as_reads_pass,
            hidden_messages_belong_to_one_user,
            cursors_survive_reopen,
            dead_letters_page_in_order,
            files_are_recorded_and_shared,
            appends_share_their_files,
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
                    crate::contract::reliable::$check(move || ($open)(place)).await;
                }
            )*
        }
    };
}

/// Message ids unique within the test process, as Snowflakes would be.
pub fn next_message_id() -> i64 {
    static NEXT: AtomicI64 = AtomicI64::new(5_000_000_000);
    NEXT.fetch_add(1, Ordering::Relaxed)
}

/// A `kind:message` text message, as the broker would hand it over.
pub fn chat(conversation: &str, sender: UserId, text: &str) -> NewMessage {
    let participants = participants(conversation);
    NewMessage {
        conversation: conversation.to_owned(),
        message_id: next_message_id(),
        sender,
        kind: "message".into(),
        headers: vec![("content-type".into(), "application/json".into())],
        body: Bytes::from(serde_json::json!({"type": "text", "text": text}).to_string()),
        created_at: 1_700_000_000_000,
        client_msg_id: None,
        participants,
        mentions: Vec::new(),
        files: Vec::new(),
    }
}

/// The users of `u{a}-{b}` or `s{id}`; none for groups.
pub fn participants(conversation: &str) -> Vec<UserId> {
    let ids = |text: &str| -> Vec<UserId> {
        text.split('-')
            .map(|id| id.parse().expect("numeric id"))
            .collect()
    };
    match conversation.split_at(1) {
        ("u", pair) => ids(pair),
        ("s", owner) => ids(owner),
        _ => Vec::new(),
    }
}

/// [`chat`] sent at `created_at`.
pub fn chat_at(conversation: &str, sender: UserId, text: &str, created_at: i64) -> NewMessage {
    NewMessage {
        created_at,
        ..chat(conversation, sender, text)
    }
}

/// [`chat`] with a client-msg-id.
pub fn chat_with_id(
    conversation: &str,
    sender: UserId,
    text: &str,
    client_msg_id: &str,
) -> NewMessage {
    NewMessage {
        client_msg_id: Some(client_msg_id.to_owned()),
        ..chat(conversation, sender, text)
    }
}

/// Appends, panicking with what failed.
pub async fn append(log: &dyn MessageLog, message: NewMessage) -> Appended {
    let conversation = message.conversation.clone();
    log.append(message)
        .await
        .unwrap_or_else(|error| panic!("append to {conversation}: {error}"))
}

/// Appends a new message and returns it stored.
pub async fn append_new(log: &dyn MessageLog, message: NewMessage) -> StoredMessage {
    let appended = append(log, message).await;
    assert!(
        !appended.duplicate,
        "a fresh message was taken for a repeat"
    );
    appended.message
}

pub fn seqs(messages: &[StoredMessage]) -> Vec<i64> {
    messages.iter().map(|message| message.seq).collect()
}
