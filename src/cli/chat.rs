//! `herald client chat`: a terminal chat with one user or group, so a person
//! at a terminal can talk with a browser user. History on open, then live
//! messages; typing, presence and receipts are shown as `*` lines.
//!
//! Lines typed are sent as text messages; `/typing` sends a typing
//! notification and `/quit` (or end of input) leaves.

use std::collections::HashMap;

use bytes::Bytes;
use clap::Args;
use herald_protocol::{Command, Frame};
use serde_json::{json, Value};
use tokio::io::{AsyncBufReadExt, BufReader};
use url::Url;

use crate::client::{describe_error, Connection};

#[derive(Args, Debug)]
pub struct ChatArgs {
    /// Chat with this user (username or numeric id).
    #[arg(long, conflicts_with = "group", required_unless_present = "group")]
    user: Option<String>,
    /// Chat in this group (numeric id).
    #[arg(long)]
    group: Option<i64>,
    /// How many earlier messages to show on open.
    #[arg(long, default_value_t = 20)]
    history: u32,
}

/// How the CLI proves who it is.
pub enum Credentials {
    Token(String),
    Password(String, String),
}

/// The API base URL: given, or derived from a ws:// broker URL.
pub fn api_base(url: &Url, api: Option<&Url>) -> Result<Url, String> {
    if let Some(api) = api {
        return Ok(api.clone());
    }
    let scheme = match url.scheme() {
        "ws" => "http",
        "wss" => "https",
        _ => return Err("give --api http://host:port/api when the broker URL is not ws://".into()),
    };
    let host = url.host_str().ok_or("the broker URL has no host")?;
    let port = url.port().map(|p| format!(":{p}")).unwrap_or_default();
    Url::parse(&format!("{scheme}://{host}{port}/api")).map_err(|e| e.to_string())
}

/// A small API client for the chat command.
struct Api {
    base: String,
    token: String,
    http: reqwest::Client,
}

impl Api {
    async fn get(&self, path: &str) -> Result<Value, String> {
        let response = self
            .http
            .get(format!("{}{path}", self.base))
            .bearer_auth(&self.token)
            .send()
            .await
            .map_err(|e| format!("cannot reach the API at {}: {e}", self.base))?;
        answer(response).await
    }
}

async fn answer(response: reqwest::Response) -> Result<Value, String> {
    let status = response.status();
    let body: Value = response.json().await.unwrap_or(Value::Null);
    if status.is_success() {
        Ok(body)
    } else {
        Err(body["message"]
            .as_str()
            .map(str::to_owned)
            .unwrap_or_else(|| status.to_string()))
    }
}

/// An access token: the given one, or one from POST /api/login.
pub async fn access_token(api: &Url, credentials: &Credentials) -> Result<String, String> {
    match credentials {
        Credentials::Token(token) => Ok(token.clone()),
        Credentials::Password(login, passcode) => {
            let response = reqwest::Client::new()
                .post(format!("{}/login", api.as_str().trim_end_matches('/')))
                .json(&json!({ "username": login, "password": passcode }))
                .send()
                .await
                .map_err(|e| format!("cannot reach the API at {api}: {e}"))?;
            let body = answer(response)
                .await
                .map_err(|e| format!("login failed: {e}"))?;
            body["access_token"]
                .as_str()
                .map(str::to_owned)
                .ok_or_else(|| "login answer without a token".into())
        }
    }
}

pub async fn run(
    url: &Url,
    api_url: &Url,
    credentials: Credentials,
    args: ChatArgs,
) -> Result<(), String> {
    let token = access_token(api_url, &credentials).await?;
    let api = Api {
        base: api_url.as_str().trim_end_matches('/').to_owned(),
        token: token.clone(),
        http: reqwest::Client::new(),
    };
    let me = api.get("/me").await?;
    let my_id = me["id"].as_i64().ok_or("no id in /api/me")?;
    let mut names = Names::default();
    names.insert(my_id, me["username"].as_str().unwrap_or("me"));
    let (destination, listen, conversation, title) = match (&args.user, args.group) {
        (Some(user), _) => {
            let peer = resolve_user(&api, user).await?;
            names.insert(peer.0, &peer.1);
            let (a, b) = (my_id.min(peer.0), my_id.max(peer.0));
            (
                format!("/user/{}", peer.0),
                format!("/user/{my_id}"),
                format!("u{a}-{b}"),
                format!("chat with {}", peer.1),
            )
        }
        (None, Some(group)) => {
            let info = api.get(&format!("/groups/{group}")).await?;
            let name = info["name"].as_str().unwrap_or("group").to_owned();
            (
                format!("/group/{group}"),
                format!("/group/{group}"),
                format!("g{group}"),
                format!("group {name}"),
            )
        }
        (None, None) => return Err("give --user or --group".into()),
    };
    println!("* {title} ({conversation}); type a line to send it, /typing, /quit");
    let history = api
        .get(&format!(
            "/conversations/{conversation}/messages?limit={}",
            args.history
        ))
        .await?;
    for message in history["messages"].as_array().into_iter().flatten() {
        let sender = message["sender"].as_i64().unwrap_or(0);
        let name = names.get(&api, sender).await;
        let text = text_of(message["body"].as_str().unwrap_or("").as_bytes());
        println!(
            "[{}] {name}: {text}",
            clock(message["timestamp"].as_i64().unwrap_or(0))
        );
    }

    let (mut connection, _) = Connection::connect(url, None, Some(&token), "10000,10000")
        .await
        .map_err(|e| e.to_string())?;
    // Resume right after the history shown, so nothing appears twice.
    let last_seq = history["last_seq"].as_i64().unwrap_or(0);
    let (resume_header, resume_value) = if args.group.is_some() {
        ("since-seq", last_seq.to_string())
    } else {
        ("since", format!("{conversation}={last_seq}"))
    };
    let subscribe = Frame::new(Command::Subscribe)
        .header(resume_header, resume_value)
        .header("destination", listen.as_str())
        .header("id", "chat");
    connection
        .send_with_receipt(subscribe, "subscribed")
        .await
        .map_err(|e| e.to_string())?;

    let mut lines = BufReader::new(tokio::io::stdin()).lines();
    let mut next_receipt = 0u64;
    let mut outstanding = 0u64;
    let mut input_open = true;
    loop {
        if !input_open && outstanding == 0 {
            break;
        }
        tokio::select! {
            line = lines.next_line(), if input_open => {
                let Some(line) = line.map_err(|e| e.to_string())? else {
                    input_open = false;
                    continue;
                };
                let line = line.trim_end();
                if line.is_empty() {
                    continue;
                }
                if line == "/quit" {
                    input_open = false;
                    continue;
                }
                let frame = if line == "/typing" {
                    Frame::new(Command::Send).header("destination", destination.as_str()).header("kind", "typing")
                } else {
                    next_receipt += 1;
                    outstanding += 1;
                    Frame::new(Command::Send)
                        .header("destination", destination.as_str())
                        .header("content-type", "application/json")
                        .header("receipt", format!("m{next_receipt}"))
                        .body(Bytes::from(json!({ "type": "text", "text": line }).to_string()))
                };
                connection.send(&frame).await.map_err(|e| e.to_string())?;
            }
            frame = connection.receive() => {
                let frame = frame.map_err(|e| e.to_string())?;
                match frame.command {
                    Command::Receipt => {
                        outstanding = outstanding.saturating_sub(1);
                        if let Some(seq) = frame.get("seq") {
                            println!("* sent (#{seq})");
                        }
                    }
                    Command::Error => return Err(describe_error(&frame)),
                    Command::Message => show(&frame, &conversation, my_id, &mut names, &api).await,
                    _ => {}
                }
            }
        }
    }
    connection.disconnect().await.map_err(|e| e.to_string())
}

/// Prints one MESSAGE that belongs to this chat.
async fn show(frame: &Frame, conversation: &str, me: i64, names: &mut Names, api: &Api) {
    let sender: i64 = frame
        .get("sender")
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    match frame.get("kind").unwrap_or("message") {
        "message" if frame.get("conversation") == Some(conversation) => {
            let name = names.get(api, sender).await;
            let time = clock(
                frame
                    .get("timestamp")
                    .and_then(|t| t.parse().ok())
                    .unwrap_or(0),
            );
            println!("[{time}] {name}: {}", text_of(&frame.body));
        }
        "typing" if frame.get("conversation") == Some(conversation) && sender != me => {
            println!("* {} is typing...", names.get(api, sender).await);
        }
        "presence" => {
            let body: Value = serde_json::from_slice(&frame.body).unwrap_or(Value::Null);
            if let Some(user) = body["user"].as_i64() {
                let state = if body["online"] == true {
                    "online"
                } else {
                    "offline"
                };
                println!("* {} is {state}", names.get(api, user).await);
            }
        }
        _ => {}
    }
}

/// The text of a chat body: its JSON `text`, or the raw body.
fn text_of(body: &[u8]) -> String {
    match serde_json::from_slice::<Value>(body) {
        Ok(value) if value["text"].is_string() => {
            value["text"].as_str().unwrap_or_default().to_owned()
        }
        _ => String::from_utf8_lossy(body).into_owned(),
    }
}

/// HH:MM:SS (UTC) of a unix-millisecond time.
fn clock(ms: i64) -> String {
    let seconds = (ms / 1000).rem_euclid(86_400);
    format!(
        "{:02}:{:02}:{:02}",
        seconds / 3600,
        seconds / 60 % 60,
        seconds % 60
    )
}

/// A user id or username to (id, username).
async fn resolve_user(api: &Api, user: &str) -> Result<(i64, String), String> {
    if let Ok(id) = user.parse::<i64>() {
        let found = api.get(&format!("/users/{id}")).await?;
        return Ok((id, found["username"].as_str().unwrap_or(user).to_owned()));
    }
    let found = api.get(&format!("/users?q={}", urlencode(user))).await?;
    found
        .as_array()
        .into_iter()
        .flatten()
        .find(|u| {
            u["username"]
                .as_str()
                .is_some_and(|name| name.eq_ignore_ascii_case(user))
        })
        .map(|u| {
            (
                u["id"].as_i64().unwrap_or(0),
                u["username"].as_str().unwrap_or(user).to_owned(),
            )
        })
        .ok_or_else(|| format!("there is no user {user:?}"))
}

fn urlencode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// Usernames by id, fetched once each.
#[derive(Default)]
struct Names(HashMap<i64, String>);

impl Names {
    fn insert(&mut self, id: i64, name: &str) {
        self.0.insert(id, name.to_owned());
    }

    async fn get(&mut self, api: &Api, id: i64) -> String {
        if let Some(name) = self.0.get(&id) {
            return name.clone();
        }
        let name = api
            .get(&format!("/users/{id}"))
            .await
            .ok()
            .and_then(|u| u["username"].as_str().map(str::to_owned))
            .unwrap_or_else(|| format!("user {id}"));
        self.0.insert(id, name.clone());
        name
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn api_base_from_broker_url() {
        let url = Url::parse("ws://127.0.0.1:15674/ws").unwrap();
        assert_eq!(
            api_base(&url, None).unwrap().as_str(),
            "http://127.0.0.1:15674/api"
        );
        assert!(api_base(&Url::parse("tcp://127.0.0.1:61613").unwrap(), None).is_err());
    }

    #[test]
    fn text_and_clock() {
        assert_eq!(text_of(br#"{"type":"text","text":"hi"}"#), "hi");
        assert_eq!(text_of(b"plain"), "plain");
        assert_eq!(clock(3_723_000), "01:02:03");
    }
}
