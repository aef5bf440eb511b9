//! The OpenAPI 3.1 description of the API, served at `/api/openapi.json`.
//! Built from one table so a test can hold it to [`super::ROUTES`].

use axum::Json;
use serde_json::{json, Map, Value};

/// (method, path, summary, request body schema, response schema, needs a token)
type Operation = (
    &'static str,
    &'static str,
    &'static str,
    Option<&'static str>,
    &'static str,
    bool,
);

const OPERATIONS: &[Operation] = &[
    (
        "post",
        "/register",
        "Register an account and log in",
        Some("Register"),
        "Session",
        false,
    ),
    (
        "post",
        "/login",
        "Log in with username and password",
        Some("Login"),
        "Session",
        false,
    ),
    (
        "post",
        "/token/refresh",
        "Exchange a refresh token for new tokens",
        Some("Refresh"),
        "Session",
        false,
    ),
    (
        "post",
        "/logout",
        "Revoke every token of the caller",
        None,
        "Empty",
        true,
    ),
    ("get", "/me", "The caller's profile", None, "User", true),
    (
        "patch",
        "/me",
        "Change nickname, avatar or signature",
        Some("ProfilePatch"),
        "User",
        true,
    ),
    (
        "put",
        "/me/password",
        "Change password (revokes older tokens)",
        Some("PasswordChange"),
        "Session",
        true,
    ),
    (
        "get",
        "/users",
        "Search users by username (query q, limit)",
        None,
        "UserList",
        true,
    ),
    (
        "get",
        "/users/{id}",
        "A user's public profile",
        None,
        "User",
        true,
    ),
    (
        "get",
        "/presence",
        "Presence of friends and fellow members (query ids=1,2)",
        None,
        "PresenceList",
        true,
    ),
    (
        "get",
        "/events",
        "Kept system events (query after_seq, limit)",
        None,
        "Events",
        true,
    ),
    (
        "get",
        "/conversations/{id}/messages",
        "History of a conversation u{a}-{b}, g{id} or s{id} (query before_seq or after_seq, limit)",
        None,
        "History",
        true,
    ),
    (
        "get",
        "/conversations",
        "My conversations by recent activity: last message, last seq, read seq, unread and mention counts",
        None,
        "ConversationList",
        true,
    ),
    (
        "delete",
        "/conversations/{id}/messages/{seq}",
        "Delete a message for me only (hide it from my history)",
        None,
        "Empty",
        true,
    ),
    (
        "get",
        "/search",
        "Full-text search over my conversations (query q, limit)",
        None,
        "SearchResults",
        true,
    ),
    (
        "get",
        "/admin/dead-letters",
        "Messages given up on after too many unacknowledged deliveries (admins; query after_id, limit)",
        None,
        "DeadLetterList",
        true,
    ),
    (
        "post",
        "/files",
        "Upload a file: its bytes as the body (not multipart), its name in query name; the type is detected from the bytes, images get width and height (limit files.max_bytes, 413 above it; 507 when the disk is full)",
        Some("Binary"),
        "File",
        true,
    ),
    (
        "get",
        "/files/{id}",
        "Download a file (its uploader, or someone in a conversation it was shared with; 404 for anyone else); Range: bytes=a-b, a- or -n answers 206, or 416 when unsatisfiable",
        None,
        "Binary",
        true,
    ),
    (
        "get",
        "/friend-requests",
        "Pending friend requests (query direction=incoming|outgoing)",
        None,
        "FriendRequestList",
        true,
    ),
    (
        "post",
        "/friend-requests",
        "Send a friend request with a greeting",
        Some("NewFriendRequest"),
        "FriendRequest",
        true,
    ),
    (
        "post",
        "/friend-requests/{id}/accept",
        "Accept a friend request",
        None,
        "FriendRequest",
        true,
    ),
    (
        "post",
        "/friend-requests/{id}/reject",
        "Reject a friend request",
        None,
        "FriendRequest",
        true,
    ),
    (
        "get",
        "/friends",
        "Friends with remarks and presence",
        None,
        "FriendList",
        true,
    ),
    (
        "delete",
        "/friends/{id}",
        "End a friendship",
        None,
        "Empty",
        true,
    ),
    (
        "put",
        "/friends/{id}/remark",
        "Set or clear a private remark for a friend",
        Some("Remark"),
        "Empty",
        true,
    ),
    (
        "get",
        "/blocks",
        "Users the caller blocked",
        None,
        "UserList",
        true,
    ),
    ("put", "/blocks/{id}", "Block a user", None, "Empty", true),
    (
        "delete",
        "/blocks/{id}",
        "Unblock a user",
        None,
        "Empty",
        true,
    ),
    (
        "get",
        "/groups",
        "The caller's groups with roles",
        None,
        "GroupRoleList",
        true,
    ),
    (
        "post",
        "/groups",
        "Create a group (the caller owns it)",
        Some("NewGroup"),
        "Group",
        true,
    ),
    (
        "get",
        "/groups/{id}",
        "A group's profile",
        None,
        "Group",
        true,
    ),
    (
        "patch",
        "/groups/{id}",
        "Update a group (owner and admins)",
        Some("GroupPatch"),
        "Group",
        true,
    ),
    (
        "delete",
        "/groups/{id}",
        "Dissolve a group (owner)",
        None,
        "Empty",
        true,
    ),
    (
        "post",
        "/groups/{id}/transfer",
        "Hand ownership to another member (owner)",
        Some("Transfer"),
        "Empty",
        true,
    ),
    (
        "get",
        "/groups/{id}/members",
        "Members with roles and presence",
        None,
        "MemberList",
        true,
    ),
    (
        "post",
        "/groups/{id}/members",
        "Add friends as members",
        Some("AddMembers"),
        "MemberList",
        true,
    ),
    (
        "delete",
        "/groups/{id}/members/{user}",
        "Leave, or remove a member",
        None,
        "Empty",
        true,
    ),
    (
        "put",
        "/groups/{id}/members/{user}/role",
        "Make a member admin or member (owner)",
        Some("SetRole"),
        "Empty",
        true,
    ),
    (
        "put",
        "/groups/{id}/members/{user}/mute",
        "Mute or unmute a member (owner and admins)",
        Some("Mute"),
        "Empty",
        true,
    ),
    (
        "get",
        "/groups/{id}/join-requests",
        "Pending join requests (owner and admins)",
        None,
        "JoinRequestList",
        true,
    ),
    (
        "post",
        "/groups/{id}/join-requests",
        "Ask to join (joins at once when no approval is needed)",
        Some("Ask"),
        "JoinOutcome",
        true,
    ),
    (
        "post",
        "/join-requests/{id}/accept",
        "Accept a join request (owner and admins)",
        None,
        "JoinRequest",
        true,
    ),
    (
        "post",
        "/join-requests/{id}/reject",
        "Reject a join request (owner and admins)",
        None,
        "JoinRequest",
        true,
    ),
    (
        "get",
        "/openapi.json",
        "This document",
        None,
        "Object",
        false,
    ),
];

pub async fn document() -> Json<Value> {
    Json(build())
}

/// The whole document.
pub fn build() -> Value {
    let mut paths = Map::new();
    for (method, path, summary, request, response, secured) in OPERATIONS {
        let mut operation = json!({
            "summary": summary,
            "responses": {
                "default": { "description": "An error", "content": { "application/json": { "schema": { "$ref": "#/components/schemas/Error" } } } }
            }
        });
        let ok = if *response == "Empty" {
            json!({ "description": "Done" })
        } else if *response == "Binary" {
            json!({ "description": "The file's bytes", "content": { "*/*": { "schema": { "type": "string", "format": "binary" } } } })
        } else {
            json!({ "description": "Success", "content": { "application/json": { "schema": { "$ref": format!("#/components/schemas/{response}") } } } })
        };
        let status = if *method == "post"
            && matches!(
                *path,
                "/register" | "/groups" | "/friend-requests" | "/files"
            ) {
            "201"
        } else if *response == "Empty" {
            "204"
        } else {
            "200"
        };
        operation["responses"][status] = ok;
        if *response == "Binary" {
            operation["responses"]["206"] =
                json!({ "description": "The requested range of the file's bytes" });
        }
        if *request == Some("Binary") {
            operation["requestBody"] = json!({
                "required": true,
                "content": { "application/octet-stream": { "schema": { "type": "string", "format": "binary" } } }
            });
        } else if let Some(request) = request {
            operation["requestBody"] = json!({
                "required": true,
                "content": { "application/json": { "schema": { "$ref": format!("#/components/schemas/{request}") } } }
            });
        }
        if *secured {
            operation["security"] = json!([{ "bearer": [] }]);
        }
        let parameters: Vec<Value> = path
            .split('/')
            .filter_map(|segment| segment.strip_prefix('{').and_then(|s| s.strip_suffix('}')))
            .map(|name| {
                let kind = if (path.starts_with("/conversations") && name == "id")
                    || path.starts_with("/files")
                {
                    "string"
                } else {
                    "integer"
                };
                json!({ "name": name, "in": "path", "required": true, "schema": { "type": kind } })
            })
            .collect();
        if !parameters.is_empty() {
            operation["parameters"] = json!(parameters);
        }
        let entry = paths
            .entry(format!("/api{path}"))
            .or_insert_with(|| json!({}));
        entry[*method] = operation;
    }
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "Herald chat API",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "Accounts, contacts, groups, presence, history and files. Live messages travel over STOMP at /ws."
        },
        "paths": paths,
        "components": {
            "securitySchemes": { "bearer": { "type": "http", "scheme": "bearer", "bearerFormat": "JWT" } },
            "schemas": schemas(),
        }
    })
}

fn schemas() -> Value {
    let string = json!({ "type": "string" });
    let integer = json!({ "type": "integer" });
    let boolean = json!({ "type": "boolean" });
    let object = |properties: Value, required: &[&str]| json!({ "type": "object", "properties": properties, "required": required });
    let list = |item: &str| json!({ "type": "array", "items": { "$ref": format!("#/components/schemas/{item}") } });
    let mut schemas = json!({
        "Error": object(json!({ "error": string, "message": string }), &["error", "message"]),
        "Object": { "type": "object" },
        "User": object(json!({ "id": integer, "username": string, "nickname": string, "avatar": string, "signature": string, "created_at": integer }), &["id", "username"]),
        "UserList": list("User"),
        "Session": object(json!({ "access_token": string, "refresh_token": string, "token_type": string, "expires_in": integer, "user": { "$ref": "#/components/schemas/User" } }), &["access_token", "refresh_token"]),
        "Register": object(json!({ "username": string, "password": string, "nickname": string }), &["username", "password"]),
        "Login": object(json!({ "username": string, "password": string }), &["username", "password"]),
        "Refresh": object(json!({ "refresh_token": string }), &["refresh_token"]),
        "ProfilePatch": object(json!({ "nickname": string, "avatar": string, "signature": string }), &[]),
        "PasswordChange": object(json!({ "old_password": string, "new_password": string }), &["old_password", "new_password"]),
        "PresenceList": { "type": "array", "items": object(json!({ "user": integer, "online": boolean }), &["user", "online"]) },
        "Events": object(json!({ "conversation": string, "events": { "type": "array", "items": object(json!({ "seq": integer, "kind": string, "sender": integer, "timestamp": integer, "payload": {} }), &["seq", "kind"]) } }), &["events"]),
        "ConversationList": { "type": "array", "items": object(json!({ "conversation": string, "type": { "enum": ["private", "group", "system"] }, "last_seq": integer, "read_seq": integer, "unread": integer, "mentions": integer, "updated_at": integer, "last_message": {}, "peer": { "$ref": "#/components/schemas/User" }, "group": { "$ref": "#/components/schemas/Group" }, "online": boolean }), &["conversation", "type", "last_seq", "unread"]) },
        "SearchResults": object(json!({ "query": string, "results": { "type": "array", "items": { "type": "object" } } }), &["results"]),
        "DeadLetterList": { "type": "array", "items": object(json!({ "id": integer, "user": integer, "device": string, "conversation": string, "seq": integer, "message_id": string, "attempts": integer, "reason": string, "at": integer }), &["id", "conversation", "seq"]) },
        "History": object(json!({ "conversation": string, "last_seq": integer, "messages": { "type": "array", "items": object(json!({ "message_id": string, "seq": integer, "sender": integer, "kind": string, "timestamp": integer, "headers": { "type": "object" }, "body": string }), &["message_id", "seq", "sender", "kind"]) } }), &["conversation", "messages"]),
        "History": object(json!({ "conversation": string, "last_seq": integer, "messages": { "type": "array", "items": object(json!({ "message_id": string, "seq": integer, "sender": integer, "kind": string, "timestamp": integer, "headers": { "type": "object" }, "body": string }), &["message_id", "seq", "sender", "kind"]) } }), &["conversation", "messages"]),
        "FriendRequest": object(json!({ "id": integer, "from": integer, "to": integer, "greeting": string, "status": { "enum": ["pending", "accepted", "rejected"] }, "created_at": integer, "resolved_at": integer }), &["id", "from", "to", "status"]),
        "FriendRequestList": { "type": "array", "items": object(json!({ "request": { "$ref": "#/components/schemas/FriendRequest" }, "user": { "$ref": "#/components/schemas/User" } }), &["request"]) },
        "NewFriendRequest": object(json!({ "to": integer, "greeting": string }), &["to"]),
        "FriendList": { "type": "array", "items": object(json!({ "user": { "$ref": "#/components/schemas/User" }, "remark": string, "since": integer, "online": boolean }), &["user"]) },
        "Remark": object(json!({ "remark": { "type": ["string", "null"] } }), &[]),
        "Group": object(json!({ "id": integer, "name": string, "avatar": string, "announcement": string, "owner": integer, "join_approval": boolean, "muted_all": boolean, "dissolved": boolean, "created_at": integer }), &["id", "name", "owner"]),
        "GroupRoleList": { "type": "array", "items": object(json!({ "group": { "$ref": "#/components/schemas/Group" }, "role": { "enum": ["owner", "admin", "member"] } }), &["group", "role"]) },
        "NewGroup": object(json!({ "name": string, "avatar": string, "announcement": string, "join_approval": boolean, "members": { "type": "array", "items": integer } }), &["name"]),
        "GroupPatch": object(json!({ "name": string, "avatar": string, "announcement": string, "join_approval": boolean, "muted_all": boolean }), &[]),
        "Transfer": object(json!({ "to": integer }), &["to"]),
        "Member": object(json!({ "user": { "$ref": "#/components/schemas/User" }, "role": { "enum": ["owner", "admin", "member"] }, "muted": boolean, "joined_at": integer, "online": boolean }), &["user", "role"]),
        "MemberList": list("Member"),
        "AddMembers": object(json!({ "user_ids": { "type": "array", "items": integer } }), &["user_ids"]),
        "SetRole": object(json!({ "role": { "enum": ["admin", "member"] } }), &["role"]),
        "Mute": object(json!({ "muted": boolean }), &["muted"]),
        "Ask": object(json!({ "message": string }), &[]),
        "JoinRequest": object(json!({ "id": integer, "group": integer, "user": integer, "message": string, "status": { "enum": ["pending", "accepted", "rejected"] }, "created_at": integer }), &["id", "group", "user", "status"]),
        "JoinRequestList": list("JoinRequest"),
        "JoinOutcome": object(json!({ "joined": boolean, "member": { "$ref": "#/components/schemas/Member" }, "request": { "$ref": "#/components/schemas/JoinRequest" } }), &["joined"]),
    });
    // Kept apart from the json! above, which is near the macro recursion limit.
    schemas["File"] = object(
        json!({ "id": string, "name": string, "content_type": string, "size": integer, "width": { "type": ["integer", "null"] }, "height": { "type": ["integer", "null"] }, "created_at": integer }),
        &["id", "name", "content_type", "size", "created_at"],
    );
    schemas
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::ROUTES;

    #[test]
    fn every_route_is_described_and_nothing_else() {
        let document = build();
        for (method, path) in ROUTES {
            assert!(
                document["paths"][format!("/api{path}")][method].is_object(),
                "{method} /api{path} is missing from the OpenAPI document"
            );
        }
        let described: usize = document["paths"]
            .as_object()
            .unwrap()
            .values()
            .map(|p| p.as_object().unwrap().len())
            .sum();
        assert_eq!(
            described,
            ROUTES.len(),
            "the document describes routes that do not exist"
        );
    }

    #[test]
    fn every_schema_reference_resolves() {
        let document = build();
        let text = document.to_string();
        for reference in text.split("#/components/schemas/").skip(1) {
            let name: String = reference
                .chars()
                .take_while(|c| c.is_alphanumeric())
                .collect();
            assert!(
                document["components"]["schemas"][&name].is_object(),
                "schema {name} is missing"
            );
        }
    }
}
