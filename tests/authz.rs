//! Authorization as one table: every HTTP API route and every STOMP
//! destination kind, tried by each kind of caller who must be held back
//! somewhere (nobody, a stranger, a non-member of the group, a muted member,
//! a user the target has blocked), against one real broker.
//!
//! Each row names what the caller should get. The test runs every row and
//! fails once, listing every row that got something else, so a regression
//! shows its whole extent instead of the first symptom. A route added to
//! `herald::api::ROUTES` without a row here fails the test too: new routes
//! get an authorization decision before they ship.

mod common;

use std::collections::BTreeSet;
use std::fmt;
use std::time::Duration;

use common::api::Api;
use common::TestBroker;
use herald::client::{describe_error, ClientError, Connection};
use herald::config::AclRule;
use herald_protocol::{Command, Frame};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

/// Who makes the request. Over STOMP, `Anonymous` is a CONNECT without
/// `login`: the configured `default_user` (guest in the default config).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Actor {
    Anonymous,
    /// Logged in, no relation to anyone.
    Stranger,
    /// A friend of the group's owner, but not in the group.
    NonMember,
    /// A member of the group, muted in it; a friend of the owner.
    Muted,
    /// A friend of the owner and a member of the group, blocked by the owner.
    Blocked,
}

/// The column order of every `expect` array below.
const ACTORS: [Actor; 5] = [
    Actor::Anonymous,
    Actor::Stranger,
    Actor::NonMember,
    Actor::Muted,
    Actor::Blocked,
];

impl fmt::Display for Actor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = match self {
            Actor::Anonymous => "anonymous",
            Actor::Stranger => "stranger",
            Actor::NonMember => "non-member",
            Actor::Muted => "muted member",
            Actor::Blocked => "blocked user",
        };
        f.write_str(name)
    }
}

/// Text only some users may ever see; a 2xx answer must not carry it to
/// anyone else.
#[derive(Clone, Copy, Debug)]
enum Secret {
    /// In a private message from the owner to pia.
    PrivateText,
    /// In a message of the owner's group.
    GroupText,
    /// The owner's entry in a presence answer.
    OwnerPresence,
}

const PRIVATE_TEXT: &str = "zebraprivate";
const GROUP_TEXT: &str = "zebragroup";

impl Secret {
    fn found(self, fixture: &Fixture, text: &str, body: &Value) -> bool {
        match self {
            Secret::PrivateText => carries(body, text, PRIVATE_TEXT),
            Secret::GroupText => carries(body, text, GROUP_TEXT),
            Secret::OwnerPresence => body
                .as_array()
                .is_some_and(|entries| entries.iter().any(|e| e["user"] == fixture.owner.user_id)),
        }
    }
}

/// Whether an answer carries `secret` anywhere but in a `query` field (a
/// search repeats what it was asked for, which is no leak).
fn carries(body: &Value, text: &str, secret: &str) -> bool {
    match body {
        Value::Null => text.contains(secret),
        Value::String(value) => value.contains(secret),
        Value::Array(items) => items.iter().any(|item| carries(item, "", secret)),
        Value::Object(fields) => fields
            .iter()
            .any(|(name, value)| name != "query" && carries(value, "", secret)),
        _ => false,
    }
}

/// What an HTTP row expects.
#[derive(Clone, Copy, Debug)]
enum Expect {
    /// This success status.
    Status(u16),
    /// This error status and JSON `error` code.
    Error(u16, &'static str),
    /// This success status, and none of these secrets in the answer.
    Omits(u16, &'static [Secret]),
    /// This success status, and the secret in the answer: the control that
    /// shows an `Omits` elsewhere would notice the secret.
    Shows(u16, Secret),
}

const UNAUTHORIZED: Expect = Expect::Error(401, "unauthorized");
const FORBIDDEN: Expect = Expect::Error(403, "forbidden");
const NOT_FOUND: Expect = Expect::Error(404, "not_found");
const CONFLICT: Expect = Expect::Error(409, "conflict");
const OK: Expect = Expect::Status(200);
const CREATED: Expect = Expect::Status(201);
const NO_CONTENT: Expect = Expect::Status(204);

impl fmt::Display for Expect {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Expect::Status(status) => write!(f, "{status}"),
            Expect::Error(status, code) => write!(f, "{status} {code}"),
            Expect::Omits(status, secrets) => write!(f, "{status} without {secrets:?}"),
            Expect::Shows(status, secret) => write!(f, "{status} with {secret:?}"),
        }
    }
}

enum Body {
    None,
    Json(Value),
    Raw(&'static [u8]),
}

/// The concrete request of a row for one actor.
struct Request {
    path: String,
    body: Body,
}

fn at(path: String) -> Request {
    Request {
        path,
        body: Body::None,
    }
}

fn with(path: String, body: Value) -> Request {
    Request {
        path,
        body: Body::Json(body),
    }
}

/// One route tried by every actor: `method` and `route` as in `ROUTES`.
struct HttpRow {
    method: &'static str,
    route: &'static str,
    request: fn(&Fixture, Actor) -> Request,
    /// In the order of [`ACTORS`].
    expect: [Expect; 5],
}

fn http(
    method: &'static str,
    route: &'static str,
    request: fn(&Fixture, Actor) -> Request,
    expect: [Expect; 5],
) -> HttpRow {
    HttpRow {
        method,
        route,
        request,
        expect,
    }
}

/// Every route, for every actor. Rows run in this order against one
/// broker, so a row that changes state is harmless to the rows after it;
/// logging out comes last.
fn http_rows() -> Vec<HttpRow> {
    use Expect::{Omits, Shows};
    const U: Expect = UNAUTHORIZED;
    const F: Expect = FORBIDDEN;
    const N: Expect = NOT_FOUND;
    const C: Expect = CONFLICT;
    let everyone = |expect: Expect| [expect; 5];
    let signed_in = |expect: Expect| [U, expect, expect, expect, expect];
    vec![
        // Public: anyone may register, log in, refresh and read the spec.
        http(
            "post",
            "/register",
            |_, actor| {
                let name = format!("reg-{}", actor.to_string().replace(' ', "-"));
                with(
                    "/register".into(),
                    json!({ "username": name, "password": format!("password-{name}") }),
                )
            },
            everyone(CREATED),
        ),
        http(
            "post",
            "/login",
            |_, _| {
                with(
                    "/login".into(),
                    json!({ "username": "quinn", "password": "password-quinn" }),
                )
            },
            everyone(OK),
        ),
        http(
            "post",
            "/token/refresh",
            |f, _| {
                with(
                    "/token/refresh".into(),
                    json!({ "refresh_token": f.quinn.refresh }),
                )
            },
            everyone(OK),
        ),
        http(
            "get",
            "/openapi.json",
            |_, _| at("/openapi.json".into()),
            everyone(OK),
        ),
        // The caller's own account.
        http("get", "/me", |_, _| at("/me".into()), signed_in(OK)),
        http(
            "patch",
            "/me",
            |_, _| with("/me".into(), json!({ "signature": "authz" })),
            signed_in(OK),
        ),
        // A stolen access token alone does not change the password.
        http(
            "put",
            "/me/password",
            |_, _| {
                with(
                    "/me/password".into(),
                    json!({ "old_password": "not-the-password", "new_password": "a-new-password" }),
                )
            },
            signed_in(F),
        ),
        // Public profiles; presence only of friends and fellow members.
        http(
            "get",
            "/users",
            |_, _| at("/users?q=olga".into()),
            signed_in(OK),
        ),
        http(
            "get",
            "/users/{id}",
            |f, _| at(format!("/users/{}", f.owner.user_id)),
            signed_in(OK),
        ),
        http(
            "get",
            "/presence",
            |f, _| at(format!("/presence?ids={}", f.owner.user_id)),
            [
                U,
                Omits(200, &[Secret::OwnerPresence]),
                Shows(200, Secret::OwnerPresence),
                Shows(200, Secret::OwnerPresence),
                // A block ends neither the friendship nor the membership
                // that presence follows; the entry stays, but says offline
                // (tests/chat.rs a_blocker_shows_offline_to_the_blocked).
                Shows(200, Secret::OwnerPresence),
            ],
        ),
        http("get", "/events", |_, _| at("/events".into()), signed_in(OK)),
        // Conversations: only participants and members.
        http(
            "get",
            "/conversations",
            |_, _| at("/conversations".into()),
            [
                U,
                Omits(200, &[Secret::PrivateText, Secret::GroupText]),
                Omits(200, &[Secret::PrivateText, Secret::GroupText]),
                Omits(200, &[Secret::PrivateText]),
                Omits(200, &[Secret::PrivateText]),
            ],
        ),
        http(
            "get",
            "/conversations/{id}/messages",
            |f, _| {
                at(format!(
                    "/conversations/{}/messages",
                    f.private_conversation
                ))
            },
            signed_in(F),
        ),
        http(
            "get",
            "/conversations/{id}/messages",
            |f, _| at(format!("/conversations/s{}/messages", f.owner.user_id)),
            signed_in(F),
        ),
        http(
            "get",
            "/conversations/{id}/messages",
            |f, _| at(format!("/conversations/g{}/messages", f.group)),
            [
                U,
                F,
                F,
                Shows(200, Secret::GroupText),
                Shows(200, Secret::GroupText),
            ],
        ),
        http(
            "delete",
            "/conversations/{id}/messages/{seq}",
            |f, _| {
                at(format!(
                    "/conversations/{}/messages/1",
                    f.private_conversation
                ))
            },
            signed_in(F),
        ),
        http(
            "delete",
            "/conversations/{id}/messages/{seq}",
            |f, _| at(format!("/conversations/g{}/messages/1", f.group)),
            [U, F, F, NO_CONTENT, NO_CONTENT],
        ),
        http(
            "get",
            "/search",
            |_, _| at(format!("/search?q={PRIVATE_TEXT}")),
            signed_in(Omits(200, &[Secret::PrivateText])),
        ),
        http(
            "get",
            "/search",
            |_, _| at(format!("/search?q={GROUP_TEXT}")),
            [
                U,
                Omits(200, &[Secret::GroupText]),
                Omits(200, &[Secret::GroupText]),
                Shows(200, Secret::GroupText),
                Shows(200, Secret::GroupText),
            ],
        ),
        // No one here is in auth.admins.
        http(
            "get",
            "/admin/dead-letters",
            |_, _| at("/admin/dead-letters".into()),
            signed_in(F),
        ),
        // Files: anyone signed in uploads; a file is readable where it was
        // shared, and does not exist for anyone else.
        http(
            "post",
            "/files",
            |_, _| Request {
                path: "/files?name=notes.txt".into(),
                body: Body::Raw(b"some notes\n"),
            },
            signed_in(CREATED),
        ),
        http(
            "get",
            "/files/{id}",
            |f, _| at(format!("/files/{}", f.group_file)),
            [U, N, N, OK, OK],
        ),
        http(
            "get",
            "/files/{id}",
            |f, _| at(format!("/files/{}", f.private_file)),
            signed_in(N),
        ),
        // Contacts: one's own lists; requests to the owner; nothing of
        // anyone else's friendships.
        http(
            "get",
            "/friend-requests",
            |_, _| at("/friend-requests".into()),
            signed_in(OK),
        ),
        http(
            "post",
            "/friend-requests",
            |f, _| {
                with(
                    "/friend-requests".into(),
                    json!({ "to": f.owner.user_id, "greeting": "hi" }),
                )
            },
            [U, CREATED, C, C, F],
        ),
        http(
            "post",
            "/friend-requests/{id}/accept",
            |f, _| {
                with(
                    format!("/friend-requests/{}/accept", f.friend_request),
                    json!({}),
                )
            },
            signed_in(N),
        ),
        http(
            "post",
            "/friend-requests/{id}/reject",
            |f, _| {
                with(
                    format!("/friend-requests/{}/reject", f.friend_request),
                    json!({}),
                )
            },
            signed_in(N),
        ),
        http(
            "get",
            "/friends",
            |_, _| at("/friends".into()),
            signed_in(OK),
        ),
        http(
            "delete",
            "/friends/{id}",
            |f, _| at(format!("/friends/{}", f.quinn.user_id)),
            signed_in(N),
        ),
        http(
            "put",
            "/friends/{id}/remark",
            |f, _| {
                with(
                    format!("/friends/{}/remark", f.quinn.user_id),
                    json!({ "remark": "quinn" }),
                )
            },
            signed_in(N),
        ),
        http("get", "/blocks", |_, _| at("/blocks".into()), signed_in(OK)),
        http(
            "put",
            "/blocks/{id}",
            |f, _| with(format!("/blocks/{}", f.pia.user_id), json!({})),
            signed_in(NO_CONTENT),
        ),
        http(
            "delete",
            "/blocks/{id}",
            |f, _| at(format!("/blocks/{}", f.pia.user_id)),
            signed_in(NO_CONTENT),
        ),
        // Groups.
        http("get", "/groups", |_, _| at("/groups".into()), signed_in(OK)),
        // Only friends can be put in a group, and a block ends that.
        http(
            "post",
            "/groups",
            |f, _| {
                with(
                    "/groups".into(),
                    json!({ "name": "mine", "members": [f.owner.user_id] }),
                )
            },
            [U, F, CREATED, CREATED, F],
        ),
        // A group's profile is public (to ask to join).
        http(
            "get",
            "/groups/{id}",
            |f, _| at(format!("/groups/{}", f.group)),
            signed_in(OK),
        ),
        http(
            "patch",
            "/groups/{id}",
            |f, _| with(format!("/groups/{}", f.group), json!({ "name": "taken" })),
            signed_in(F),
        ),
        http(
            "delete",
            "/groups/{id}",
            |f, _| at(format!("/groups/{}", f.group)),
            signed_in(F),
        ),
        http(
            "post",
            "/groups/{id}/transfer",
            |f, actor| {
                with(
                    format!("/groups/{}/transfer", f.group),
                    json!({ "to": f.user_id(actor) }),
                )
            },
            signed_in(F),
        ),
        http(
            "get",
            "/groups/{id}/members",
            |f, _| at(format!("/groups/{}/members", f.group)),
            [U, F, F, OK, OK],
        ),
        // The group needs approval: plain members add no one.
        http(
            "post",
            "/groups/{id}/members",
            |f, _| {
                with(
                    format!("/groups/{}/members", f.group),
                    json!({ "user_ids": [f.owner.user_id] }),
                )
            },
            signed_in(F),
        ),
        // pia's group takes anyone's friends, but not someone who blocked
        // the one adding them.
        http(
            "post",
            "/groups/{id}/members",
            |f, _| {
                with(
                    format!("/groups/{}/members", f.open_group),
                    json!({ "user_ids": [f.owner.user_id] }),
                )
            },
            signed_in(F),
        ),
        http(
            "delete",
            "/groups/{id}/members/{user}",
            |f, _| at(format!("/groups/{}/members/{}", f.group, f.pia.user_id)),
            signed_in(F),
        ),
        http(
            "put",
            "/groups/{id}/members/{user}/role",
            |f, _| {
                with(
                    format!("/groups/{}/members/{}/role", f.group, f.pia.user_id),
                    json!({ "role": "admin" }),
                )
            },
            signed_in(F),
        ),
        // Nobody unmutes the muted member but a manager; not she herself.
        http(
            "put",
            "/groups/{id}/members/{user}/mute",
            |f, _| {
                with(
                    format!("/groups/{}/members/{}/mute", f.group, f.muted.user_id),
                    json!({ "muted": false }),
                )
            },
            signed_in(F),
        ),
        http(
            "get",
            "/groups/{id}/join-requests",
            |f, _| at(format!("/groups/{}/join-requests", f.group)),
            signed_in(F),
        ),
        http(
            "post",
            "/groups/{id}/join-requests",
            |f, _| {
                with(
                    format!("/groups/{}/join-requests", f.group),
                    json!({ "message": "let me in" }),
                )
            },
            [U, CREATED, CREATED, C, C],
        ),
        http(
            "post",
            "/join-requests/{id}/accept",
            |f, _| {
                with(
                    format!("/join-requests/{}/accept", f.join_request),
                    json!({}),
                )
            },
            signed_in(F),
        ),
        http(
            "post",
            "/join-requests/{id}/reject",
            |f, _| {
                with(
                    format!("/join-requests/{}/reject", f.join_request),
                    json!({}),
                )
            },
            signed_in(F),
        ),
        // Last: it revokes the caller's tokens.
        http(
            "post",
            "/logout",
            |_, _| with("/logout".into(), json!({})),
            signed_in(NO_CONTENT),
        ),
    ]
}

/// What a STOMP row expects.
#[derive(Clone, Copy, Debug)]
enum Stomp {
    /// A RECEIPT; for a SEND, the owner's connection also got it.
    Accepted,
    /// A RECEIPT, and nothing reached the owner.
    Quiet,
    /// An ERROR whose message contains this, and nothing reached the owner.
    Refused(&'static str),
}

impl fmt::Display for Stomp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Stomp::Accepted => f.write_str("accepted"),
            Stomp::Quiet => f.write_str("accepted, nothing delivered"),
            Stomp::Refused(rule) => write!(f, "ERROR {rule:?}"),
        }
    }
}

#[derive(Clone, Copy, Debug)]
enum Act {
    Subscribe,
    /// SEND with this `kind`.
    Send(&'static str),
    /// SEND of a message inside BEGIN ... COMMIT.
    SendInTransaction,
}

#[derive(Clone, Copy, Debug)]
enum Target {
    /// `/user/{the actor's own id}`.
    OwnInbox,
    /// `/user/{the owner}`.
    OwnerInbox,
    /// `/group/{the owner's group}`.
    Group,
    /// Any other destination, as written.
    Named(&'static str),
}

struct StompRow {
    act: Act,
    target: Target,
    /// In the order of [`ACTORS`].
    expect: [Stomp; 5],
}

fn stomp(act: Act, target: Target, expect: [Stomp; 5]) -> StompRow {
    StompRow {
        act,
        target,
        expect,
    }
}

/// Every destination kind and what may be done with it. A SEND of a
/// message moves its sender's read cursor, so the reads come first.
fn stomp_rows() -> Vec<StompRow> {
    use Stomp::{Accepted as A, Quiet as Q, Refused as R};
    let everyone = |expect: Stomp| [expect; 5];
    const FRIENDS: Stomp = R("rule user-send-friends");
    const BLOCKED: Stomp = R("rule user-send-blocked");
    const MEMBER: Stomp = R("rule group-member");
    const MUTED: Stomp = R("rule group-muted");
    const ACL: Stomp = R("[[acl]] rule 1");
    vec![
        // /user/{id}: one's own inbox only; messages from friends who are
        // not blocked. Reading moves one's own cursor; the owner hears of
        // it only from someone she has not blocked.
        stomp(Act::Subscribe, Target::OwnInbox, everyone(A)),
        stomp(
            Act::Subscribe,
            Target::OwnerInbox,
            everyone(R("rule user-subscribe-own")),
        ),
        stomp(Act::Send("read"), Target::OwnerInbox, [Q, Q, A, A, Q]),
        stomp(
            Act::Send("typing"),
            Target::OwnerInbox,
            [FRIENDS, FRIENDS, A, A, BLOCKED],
        ),
        stomp(
            Act::Send("message"),
            Target::OwnerInbox,
            [FRIENDS, FRIENDS, A, A, BLOCKED],
        ),
        stomp(
            Act::SendInTransaction,
            Target::OwnerInbox,
            [FRIENDS, FRIENDS, A, A, BLOCKED],
        ),
        // The owner's message to pia is in no actor's conversation.
        stomp(
            Act::Send("recall"),
            Target::OwnerInbox,
            everyone(R("rule recall-window")),
        ),
        // /group/{id}: members listen; members who are not muted talk. A
        // block between two members does not reach into the group.
        stomp(
            Act::Subscribe,
            Target::Group,
            [MEMBER, MEMBER, MEMBER, A, A],
        ),
        stomp(
            Act::Send("read"),
            Target::Group,
            [MEMBER, MEMBER, MEMBER, Q, Q],
        ),
        stomp(
            Act::Send("typing"),
            Target::Group,
            [MEMBER, MEMBER, MEMBER, MUTED, A],
        ),
        stomp(
            Act::Send("message"),
            Target::Group,
            [MEMBER, MEMBER, MEMBER, MUTED, A],
        ),
        stomp(
            Act::SendInTransaction,
            Target::Group,
            [MEMBER, MEMBER, MEMBER, MUTED, A],
        ),
        // Only the sender or a manager recalls the owner's group message.
        stomp(
            Act::Send("recall"),
            Target::Group,
            [
                MEMBER,
                MEMBER,
                MEMBER,
                R("rule recall-owner"),
                R("rule recall-owner"),
            ],
        ),
        // /topic and /queue: the default [[acl]] opens both to every user,
        // the guest included; this broker's first rule keeps
        // /topic/staff.* to the owner.
        stomp(Act::Subscribe, Target::Named("/topic/authz"), everyone(A)),
        stomp(
            Act::Send("message"),
            Target::Named("/topic/authz"),
            everyone(A),
        ),
        stomp(
            Act::Subscribe,
            Target::Named("/queue/authz.listen"),
            everyone(A),
        ),
        stomp(
            Act::Send("message"),
            Target::Named("/queue/authz.send"),
            everyone(A),
        ),
        stomp(
            Act::Subscribe,
            Target::Named("/topic/staff.news"),
            everyone(ACL),
        ),
        stomp(
            Act::Send("message"),
            Target::Named("/topic/staff.news"),
            everyone(ACL),
        ),
        // No other kind of destination exists to fall through to.
        stomp(
            Act::Subscribe,
            Target::Named("/exchange/authz"),
            everyone(R("unknown destination")),
        ),
        stomp(
            Act::Send("message"),
            Target::Named("/exchange/authz"),
            everyone(R("unknown destination")),
        ),
    ]
}

/// The people, groups, messages and files every row is tried against.
struct Fixture {
    /// The target: owns the group, blocked `blocked`, muted `muted`.
    owner: Api,
    /// The owner's friend and a plain member of her group; owns
    /// `open_group`.
    pia: Api,
    /// Nobody's friend, with a pending friend request from the owner and a
    /// pending join request to her group; the account public routes log in
    /// as.
    quinn: Api,
    anonymous: Api,
    stranger: Api,
    non_member: Api,
    muted: Api,
    blocked: Api,
    /// The owner's group: needs approval; pia, muted and blocked are in it.
    group: i64,
    /// pia's group: no approval; blocked is in it.
    open_group: i64,
    /// `u{owner}-{pia}`, holding [`PRIVATE_TEXT`].
    private_conversation: String,
    private_message_id: String,
    group_message_id: String,
    group_file: String,
    private_file: String,
    friend_request: i64,
    join_request: i64,
}

impl Fixture {
    fn api(&self, actor: Actor) -> &Api {
        match actor {
            Actor::Anonymous => &self.anonymous,
            Actor::Stranger => &self.stranger,
            Actor::NonMember => &self.non_member,
            Actor::Muted => &self.muted,
            Actor::Blocked => &self.blocked,
        }
    }

    fn user_id(&self, actor: Actor) -> i64 {
        self.api(actor).user_id
    }
}

fn ok(answer: (StatusCode, Value), what: &str) -> Value {
    assert!(answer.0.is_success(), "{what}: {} {}", answer.0, answer.1);
    answer.1
}

async fn upload(api: &Api, bytes: &'static [u8]) -> String {
    let response = reqwest::Client::new()
        .post(format!("{}/files?name=f.txt", api.base))
        .bearer_auth(api.token())
        .body(bytes)
        .send()
        .await
        .expect("upload");
    let body: Value = response.json().await.expect("JSON");
    body["id"].as_str().expect("file id").to_owned()
}

/// SEND with a receipt; the RECEIPT's `message-id`.
async fn chat_send(connection: &mut Connection, destination: String, body: Value) -> String {
    let frame = Frame::new(Command::Send)
        .header("destination", destination)
        .header("content-type", "application/json")
        .body(body.to_string());
    connection
        .send(&frame.header("receipt", "setup"))
        .await
        .unwrap();
    loop {
        let reply = connection
            .receive_timeout(Duration::from_secs(10))
            .await
            .expect("setup receipt");
        match reply.command {
            Command::Receipt => return reply.get("message-id").expect("message-id").to_owned(),
            Command::Error => panic!("setup SEND refused: {}", describe_error(&reply)),
            _ => {}
        }
    }
}

async fn subscribe(connection: &mut Connection, id: &str, destination: String) {
    let frame = Frame::new(Command::Subscribe)
        .header("id", id)
        .header("destination", destination);
    connection
        .send_with_receipt(frame, &format!("sub-{id}"))
        .await
        .expect("owner subscribes");
}

/// Builds the fixture. Returns the owner's STOMP connection, subscribed to
/// her inbox, her group and the open topic and queue: what reaches her
/// there tells a delivered SEND from a quiet one.
async fn setup(broker: &TestBroker) -> (Fixture, Connection) {
    let http = broker.server.http_addr;
    let owner = Api::register(http, "olga").await;
    let pia = Api::register(http, "pia").await;
    let quinn = Api::register(http, "quinn").await;
    let stranger = Api::register(http, "sam").await;
    let non_member = Api::register(http, "nina").await;
    let muted = Api::register(http, "mona").await;
    let blocked = Api::register(http, "bert").await;
    for friend in [&non_member, &muted, &blocked, &pia] {
        owner.befriend(friend).await;
    }
    pia.befriend(&blocked).await;
    let group = ok(
        owner
            .post(
                "/groups",
                json!({ "name": "G", "join_approval": true,
                        "members": [pia.user_id, muted.user_id, blocked.user_id] }),
            )
            .await,
        "create the group",
    )["id"]
        .as_i64()
        .unwrap();
    let open_group = ok(
        pia.post(
            "/groups",
            json!({ "name": "Open", "join_approval": false, "members": [blocked.user_id] }),
        )
        .await,
        "create the open group",
    )["id"]
        .as_i64()
        .unwrap();
    ok(
        owner
            .put(
                &format!("/groups/{group}/members/{}/mute", muted.user_id),
                json!({ "muted": true }),
            )
            .await,
        "mute",
    );
    let group_file = upload(&owner, b"for the group\n").await;
    let private_file = upload(&owner, b"for pia only\n").await;

    let (mut observer, _) = Connection::connect(&broker.ws_url(), None, Some(owner.token()), "0,0")
        .await
        .expect("owner connects");
    let private_message_id = chat_send(
        &mut observer,
        format!("/user/{}", pia.user_id),
        json!({ "type": "file", "text": PRIVATE_TEXT, "file": { "id": private_file } }),
    )
    .await;
    let group_message_id = chat_send(
        &mut observer,
        format!("/group/{group}"),
        json!({ "type": "file", "text": GROUP_TEXT, "file": { "id": group_file } }),
    )
    .await;
    // Something for each friend to mark read.
    for friend in [&non_member, &muted, &blocked] {
        chat_send(
            &mut observer,
            format!("/user/{}", friend.user_id),
            json!({ "type": "text", "text": "hello" }),
        )
        .await;
    }
    ok(
        owner
            .put(&format!("/blocks/{}", blocked.user_id), json!({}))
            .await,
        "block",
    );
    let friend_request = ok(
        owner
            .post("/friend-requests", json!({ "to": quinn.user_id }))
            .await,
        "friend request",
    )["id"]
        .as_i64()
        .unwrap();
    let join_request = ok(
        quinn
            .post(
                &format!("/groups/{group}/join-requests"),
                json!({ "message": "me too" }),
            )
            .await,
        "join request",
    )["request"]["id"]
        .as_i64()
        .unwrap();

    // The secrets are where the rows assume them.
    let found = ok(
        owner.get(&format!("/search?q={PRIVATE_TEXT}")).await,
        "search",
    );
    assert!(found.to_string().contains(PRIVATE_TEXT), "{found}");

    subscribe(&mut observer, "inbox", format!("/user/{}", owner.user_id)).await;
    subscribe(&mut observer, "group", format!("/group/{group}")).await;
    subscribe(&mut observer, "topic", "/topic/authz".into()).await;
    subscribe(&mut observer, "queue", "/queue/authz.send".into()).await;

    let fixture = Fixture {
        private_conversation: format!(
            "u{}-{}",
            owner.user_id.min(pia.user_id),
            owner.user_id.max(pia.user_id)
        ),
        anonymous: Api::anonymous(http),
        owner,
        pia,
        quinn,
        stranger,
        non_member,
        muted,
        blocked,
        group,
        open_group,
        private_message_id,
        group_message_id,
        group_file,
        private_file,
        friend_request,
        join_request,
    };
    (fixture, observer)
}

/// What one STOMP attempt came to.
enum Outcome {
    Receipt,
    Error(String),
}

/// Runs one STOMP row as `actor`; `None` when it went as expected.
async fn try_stomp(
    broker: &TestBroker,
    fixture: &Fixture,
    observer: &mut Connection,
    number: usize,
    row: &StompRow,
    actor: Actor,
    expect: Stomp,
) -> Option<String> {
    let token = fixture.api(actor).token.clone();
    let (mut connection, connected) =
        match Connection::connect(&broker.ws_url(), None, token.as_deref(), "0,0").await {
            Ok(connected) => connected,
            Err(error) => return Some(format!("CONNECT failed: {error}")),
        };
    let me: i64 = connected
        .get("user-id")
        .and_then(|id| id.parse().ok())
        .expect("CONNECTED names the user");
    let destination = match row.target {
        Target::OwnInbox => format!("/user/{me}"),
        Target::OwnerInbox => format!("/user/{}", fixture.owner.user_id),
        Target::Group => format!("/group/{}", fixture.group),
        Target::Named(name) => name.to_owned(),
    };
    let tag = format!("authz-row-{number}");
    let mut send = Frame::new(Command::Send)
        .header("destination", destination.as_str())
        .header("content-type", "application/json");
    let mut frames = Vec::new();
    match row.act {
        Act::Subscribe => frames.push(
            Frame::new(Command::Subscribe)
                .header("id", "authz")
                .header("destination", destination.as_str())
                .header("receipt", "done"),
        ),
        Act::Send(kind) => {
            if kind != "message" {
                send.headers.push("kind", kind);
            }
            match (kind, row.target) {
                ("read", _) => send.headers.push("seq", "1"),
                ("recall", Target::Group) => {
                    send.headers.push("recall-id", &fixture.group_message_id)
                }
                ("recall", _) => send.headers.push("recall-id", &fixture.private_message_id),
                _ => {}
            }
            if kind == "message" {
                send = send.body(json!({ "type": "text", "text": tag }).to_string());
            }
            frames.push(send.header("receipt", "done"));
        }
        Act::SendInTransaction => {
            frames.push(Frame::new(Command::Begin).header("transaction", "t"));
            frames.push(
                send.header("transaction", "t")
                    .body(json!({ "type": "text", "text": tag }).to_string()),
            );
            frames.push(
                Frame::new(Command::Commit)
                    .header("transaction", "t")
                    .header("receipt", "done"),
            );
        }
    }
    let mut outcome = None;
    for frame in &frames {
        if let Err(error) = connection.send(frame).await {
            outcome = Some(Err(format!("sending {}: {error}", frame.command)));
            break;
        }
    }
    let outcome = match outcome {
        Some(failed) => failed,
        None => loop {
            match connection.receive_timeout(Duration::from_secs(10)).await {
                Ok(frame) if frame.command == Command::Receipt => break Ok(Outcome::Receipt),
                Ok(frame) if frame.command == Command::Error => {
                    break Ok(Outcome::Error(describe_error(&frame)))
                }
                Ok(_) => continue,
                Err(ClientError::Closed) => break Err("closed without RECEIPT or ERROR".into()),
                Err(error) => break Err(format!("no RECEIPT or ERROR: {error}")),
            }
        },
    };
    connection.close().await;
    let outcome = match outcome {
        Ok(outcome) => outcome,
        Err(problem) => return Some(problem),
    };
    let reached = match row.act {
        Act::Subscribe => None,
        _ => Some(
            reached_owner(
                fixture,
                observer,
                number,
                me,
                &tag,
                matches!(expect, Stomp::Accepted),
            )
            .await,
        ),
    };
    let got = match (&outcome, reached) {
        (Outcome::Error(message), Some(true)) => format!("ERROR {message:?}, yet delivered"),
        (Outcome::Error(message), _) => format!("ERROR {message:?}"),
        (Outcome::Receipt, Some(false)) => "accepted, nothing delivered".into(),
        (Outcome::Receipt, _) => "accepted".into(),
    };
    let as_expected = match (expect, &outcome, reached) {
        (Stomp::Accepted, Outcome::Receipt, None | Some(true)) => true,
        (Stomp::Quiet, Outcome::Receipt, Some(false)) => true,
        (Stomp::Refused(rule), Outcome::Error(message), None | Some(false)) => {
            message.contains(rule)
        }
        _ => false,
    };
    (!as_expected).then_some(got)
}

/// Whether anything of row `number` (sent by user `sender`) reached the
/// owner's connection. Her own SEND to pia comes back to her inbox behind
/// anything delivered before it; when a delivery is expected, it may also
/// come a little later (a queue hands messages over on its own task).
async fn reached_owner(
    fixture: &Fixture,
    observer: &mut Connection,
    number: usize,
    sender: i64,
    tag: &str,
    expected: bool,
) -> bool {
    let sentinel = format!("sentinel-{number}");
    let frame = Frame::new(Command::Send)
        .header("destination", format!("/user/{}", fixture.pia.user_id))
        .body(sentinel.clone());
    let mut seen = observer
        .send_with_receipt(frame, &sentinel)
        .await
        .expect("the owner's sentinel is accepted");
    let from_row = |frame: &Frame| {
        let body = String::from_utf8_lossy(&frame.body);
        frame.command == Command::Message
            && (body.contains(tag)
                || (frame.get("sender") == Some(sender.to_string().as_str())
                    && matches!(
                        frame.get("kind"),
                        Some("message" | "typing" | "read" | "recall")
                    )))
    };
    let is_sentinel = |frame: &Frame| {
        frame.command == Command::Message && frame.body.as_ref() == sentinel.as_bytes()
    };
    let mut sentinel_seen = seen.iter().any(is_sentinel);
    let mut reached = seen.iter().any(from_row);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while !sentinel_seen || (expected && !reached) {
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        match observer.receive_timeout(left).await {
            Ok(frame) => {
                assert_ne!(frame.command, Command::Error, "owner got {frame:?}");
                sentinel_seen |= is_sentinel(&frame);
                reached |= from_row(&frame);
                seen.push(frame);
            }
            Err(ClientError::Timeout) if sentinel_seen => break,
            Err(error) => panic!("the owner's connection: {error}"),
        }
    }
    reached
}

/// Sends one HTTP row as `actor`; `None` when it went as expected.
async fn try_http(
    client: &reqwest::Client,
    fixture: &Fixture,
    row: &HttpRow,
    request: &Request,
    actor: Actor,
    expect: Expect,
) -> Option<String> {
    let api = fixture.api(actor);
    let method = Method::from_bytes(row.method.to_uppercase().as_bytes()).unwrap();
    let mut builder = client.request(method, format!("{}{}", api.base, request.path));
    if let Some(token) = &api.token {
        builder = builder.bearer_auth(token);
    }
    builder = match &request.body {
        Body::None => builder,
        Body::Json(value) => builder.json(value),
        Body::Raw(bytes) => builder.body(*bytes),
    };
    let response = match builder.send().await {
        Ok(response) => response,
        Err(error) => return Some(format!("request failed: {error}")),
    };
    let status = response.status().as_u16();
    let text = response.text().await.unwrap_or_default();
    let body: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
    let as_expected = match expect {
        Expect::Status(wanted) => status == wanted,
        Expect::Error(wanted, code) => status == wanted && body["error"] == code,
        Expect::Omits(wanted, secrets) => {
            status == wanted && !secrets.iter().any(|s| s.found(fixture, &text, &body))
        }
        Expect::Shows(wanted, secret) => status == wanted && secret.found(fixture, &text, &body),
    };
    if as_expected {
        return None;
    }
    let mut excerpt: String = text.chars().take(300).collect();
    if excerpt.len() < text.len() {
        excerpt.push_str(" ...");
    }
    Some(format!("{status} {excerpt}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_route_and_destination_as_every_kind_of_caller() {
    let broker = TestBroker::start_with(|config| {
        config.acl.insert(
            0,
            AclRule {
                destination: "/topic/staff.*".into(),
                users: vec!["olga".into()],
                subscribe: true,
                send: true,
            },
        );
        // Rate limits are not under test; the rows must not meet them.
        config.chat.typing_per_second = 10_000;
        config.chat.sends_per_second = 10_000;
        config.chat.recall_window_secs = 3600;
    })
    .await;
    let (fixture, mut observer) = setup(&broker).await;
    let mut failures = Vec::new();
    let mut rows = 0;

    for (number, row) in stomp_rows().iter().enumerate() {
        for (actor, expect) in ACTORS.into_iter().zip(row.expect) {
            rows += 1;
            let got = try_stomp(&broker, &fixture, &mut observer, number, row, actor, expect).await;
            if let Some(got) = got {
                failures.push(format!(
                    "STOMP {:?} {:?} as {actor}: expected {expect}, got {got}",
                    row.act, row.target
                ));
            }
        }
    }
    observer.close().await;

    let client = reqwest::Client::new();
    let table = http_rows();
    for row in &table {
        for (actor, expect) in ACTORS.into_iter().zip(row.expect) {
            rows += 1;
            let request = (row.request)(&fixture, actor);
            if let Some(got) = try_http(&client, &fixture, row, &request, actor, expect).await {
                failures.push(format!(
                    "HTTP {} /api{} ({}) as {actor}: expected {expect}, got {got}",
                    row.method.to_uppercase(),
                    request.path,
                    row.route
                ));
            }
        }
    }

    let covered: BTreeSet<(&str, &str)> = table.iter().map(|r| (r.method, r.route)).collect();
    let routes: BTreeSet<(&str, &str)> = herald::api::ROUTES.iter().copied().collect();
    for (method, route) in routes.difference(&covered) {
        failures.push(format!(
            "route {} {route} has no authorization row",
            method.to_uppercase()
        ));
    }
    for (method, route) in covered.difference(&routes) {
        failures.push(format!(
            "row {} {route} names no route in herald::api::ROUTES",
            method.to_uppercase()
        ));
    }

    assert!(
        failures.is_empty(),
        "{} of {rows} authorization rows went wrong:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

/// With a production-style config (no guest, no `default_user`), a CONNECT
/// without credentials, or with the guest's, is refused outright.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn anonymous_stomp_without_a_default_user_is_refused() {
    let broker = TestBroker::start_with(|config| {
        config.auth.guest = false;
        config.auth.default_user = String::new();
    })
    .await;
    let rows: [(&str, Option<&str>, Option<&str>); 3] = [
        ("no login", None, None),
        ("guest login", Some("guest"), Some("guest")),
        ("empty login", Some(""), Some("")),
    ];
    let mut failures = Vec::new();
    for url in [broker.ws_url(), broker.tcp_url()] {
        for (name, login, passcode) in rows {
            match Connection::connect(&url, login, passcode, "0,0").await {
                Err(ClientError::Refused(_)) => {}
                Ok((_, connected)) => failures.push(format!(
                    "{name} over {}: connected as {:?}",
                    url.scheme(),
                    connected.get("user-name")
                )),
                Err(error) => failures.push(format!("{name} over {}: {error}", url.scheme())),
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
