//! `herald client`: send, subscribe, or talk STOMP interactively.

use std::io::Write;

use bytes::Bytes;
use clap::{Args, Subcommand};
use herald_protocol::{Command, Frame};
use tokio::io::{AsyncBufReadExt, BufReader};
use url::Url;

use crate::client::{describe_error, ClientError, Connection};

#[derive(Args, Debug)]
pub struct ClientArgs {
    /// Broker URL: ws://host:port/ws or tcp://host:port.
    #[arg(long, default_value = "ws://127.0.0.1:15674/ws", env = "HERALD_URL")]
    url: Url,
    #[arg(long, default_value = "guest", env = "HERALD_LOGIN")]
    login: String,
    #[arg(long, default_value = "guest", env = "HERALD_PASSCODE")]
    passcode: String,
    /// An access token (from `herald client login` or POST /api/login);
    /// used instead of login and passcode.
    #[arg(long, env = "HERALD_TOKEN")]
    token: Option<String>,
    /// The HTTP API base, e.g. http://127.0.0.1:15674/api. Derived from a
    /// ws:// URL when omitted.
    #[arg(long, env = "HERALD_API")]
    api: Option<Url>,
    #[command(subcommand)]
    action: Action,
}

#[derive(Subcommand, Debug)]
enum Action {
    /// Send one message and wait for the broker's receipt.
    Send {
        destination: String,
        /// The body; read from standard input when omitted.
        body: Option<String>,
        /// Extra headers, `name:value`.
        #[arg(long = "header", short = 'H')]
        headers: Vec<String>,
    },
    /// Subscribe and print each MESSAGE's body, one per line.
    Subscribe {
        destination: String,
        /// auto, client or client-individual (client modes ACK each message).
        #[arg(long, default_value = "auto")]
        ack: String,
        /// Stop after this many messages.
        #[arg(long)]
        count: Option<u64>,
        /// Print whole frames (command, headers, body) instead of bodies.
        #[arg(long)]
        frames: bool,
    },
    /// Read commands from standard input and print every frame that arrives.
    ///
    /// Lines: `send DEST TEXT`, `sub DEST [ACK]`, `unsub ID`, `ack ID`,
    /// `nack ID`, `begin TX`, `commit TX`, `abort TX`, `raw` (then a frame
    /// in wire form, ended by a line holding only `.`), `quit`.
    Interactive,
    /// Log in over the HTTP API with --login and --passcode and print the
    /// access token (for --token or HERALD_TOKEN).
    Login,
    /// Chat with a user or a group in the terminal: history on open, live
    /// messages, typing and receipts shown.
    Chat(super::chat::ChatArgs),
}

pub async fn run(args: ClientArgs) -> Result<(), String> {
    let credentials = match &args.token {
        Some(token) => super::chat::Credentials::Token(token.clone()),
        None => super::chat::Credentials::Password(args.login.clone(), args.passcode.clone()),
    };
    match args.action {
        Action::Login => {
            let api = super::chat::api_base(&args.url, args.api.as_ref())?;
            let token = super::chat::access_token(&api, &credentials).await?;
            println!("{token}");
            return Ok(());
        }
        Action::Chat(chat) => {
            let api = super::chat::api_base(&args.url, args.api.as_ref())?;
            return super::chat::run(&args.url, &api, credentials, chat).await;
        }
        _ => {}
    }
    let (login, passcode) = match &args.token {
        Some(token) => (None, token.as_str()),
        None => (Some(args.login.as_str()), args.passcode.as_str()),
    };
    let (mut connection, _) = Connection::connect(&args.url, login, Some(passcode), "0,0")
        .await
        .map_err(|error| error.to_string())?;
    let result = match args.action {
        Action::Send {
            destination,
            body,
            headers,
        } => send(&mut connection, destination, body, headers).await,
        Action::Subscribe {
            destination,
            ack,
            count,
            frames,
        } => subscribe(&mut connection, destination, ack, count, frames).await,
        Action::Interactive => interactive(&mut connection).await,
        Action::Login | Action::Chat(_) => Ok(()),
    };
    result.map_err(|error| error.to_string())?;
    connection
        .disconnect()
        .await
        .map_err(|error| error.to_string())
}

async fn send(
    connection: &mut Connection,
    destination: String,
    body: Option<String>,
    headers: Vec<String>,
) -> Result<(), ClientError> {
    let body = match body {
        Some(body) => body,
        None => std::io::read_to_string(std::io::stdin())?,
    };
    let mut frame = Frame::new(Command::Send).header("destination", destination);
    for header in headers {
        let Some((name, value)) = header.split_once(':') else {
            return Err(ClientError::Refused(format!(
                "header {header:?} is not name:value"
            )));
        };
        frame.headers.push(name, value);
    }
    frame.body = Bytes::from(body);
    connection.send_with_receipt(frame, "send-1").await?;
    Ok(())
}

async fn subscribe(
    connection: &mut Connection,
    destination: String,
    ack: String,
    count: Option<u64>,
    frames: bool,
) -> Result<(), ClientError> {
    let frame = Frame::new(Command::Subscribe)
        .header("destination", destination)
        .header("id", "0")
        .header("ack", ack.clone());
    connection.send_with_receipt(frame, "subscribed").await?;
    let mut seen = 0;
    let mut stdout = std::io::stdout();
    while count.is_none_or(|count| seen < count) {
        let frame = connection.receive().await?;
        match frame.command {
            Command::Message => {
                if frames {
                    print_frame(&frame);
                } else {
                    stdout.write_all(&frame.body)?;
                    stdout.write_all(b"\n")?;
                }
                stdout.flush()?;
                if ack != "auto" {
                    let id = frame
                        .get("ack")
                        .or(frame.get("message-id"))
                        .unwrap_or_default();
                    connection
                        .send(
                            &Frame::new(Command::Ack)
                                .header("id", id)
                                .header("message-id", id),
                        )
                        .await?;
                }
                seen += 1;
            }
            Command::Error => return Err(ClientError::Refused(describe_error(&frame))),
            _ => {}
        }
    }
    Ok(())
}

async fn interactive(connection: &mut Connection) -> Result<(), ClientError> {
    let mut lines = BufReader::new(tokio::io::stdin()).lines();
    let mut next_subscription = 0u64;
    loop {
        tokio::select! {
            frame = connection.receive() => {
                let frame = frame?;
                print_frame(&frame);
                if frame.command == Command::Error {
                    return Err(ClientError::Refused(describe_error(&frame)));
                }
            }
            line = lines.next_line() => {
                let Some(line) = line? else { return Ok(()) };
                let mut words = line.trim().splitn(3, ' ');
                let frame = match (words.next().unwrap_or(""), words.next(), words.next()) {
                    ("", _, _) => continue,
                    ("quit" | "exit", _, _) => return Ok(()),
                    ("send", Some(destination), body) => Frame::new(Command::Send)
                        .header("destination", destination)
                        .body(body.unwrap_or("").to_owned()),
                    ("sub", Some(destination), ack) => {
                        next_subscription += 1;
                        println!("subscription id {next_subscription}");
                        Frame::new(Command::Subscribe)
                            .header("destination", destination)
                            .header("id", next_subscription.to_string())
                            .header("ack", ack.unwrap_or("auto"))
                    }
                    ("unsub", Some(id), _) => Frame::new(Command::Unsubscribe).header("id", id),
                    ("ack", Some(id), _) => Frame::new(Command::Ack).header("id", id).header("message-id", id),
                    ("nack", Some(id), _) => Frame::new(Command::Nack).header("id", id).header("message-id", id),
                    ("begin", Some(tx), _) => Frame::new(Command::Begin).header("transaction", tx),
                    ("commit", Some(tx), _) => Frame::new(Command::Commit).header("transaction", tx),
                    ("abort", Some(tx), _) => Frame::new(Command::Abort).header("transaction", tx),
                    ("raw", _, _) => {
                        let mut raw = Vec::new();
                        while let Some(line) = lines.next_line().await? {
                            if line == "." {
                                break;
                            }
                            raw.extend_from_slice(line.as_bytes());
                            raw.push(b'\n');
                        }
                        raw.push(0);
                        connection.send_raw(Bytes::from(raw)).await?;
                        continue;
                    }
                    (other, _, _) => {
                        eprintln!("unknown command {other:?}: send, sub, unsub, ack, nack, begin, commit, abort, raw, quit");
                        continue;
                    }
                };
                connection.send(&frame).await?;
            }
        }
    }
}

fn print_frame(frame: &Frame) {
    let mut out = String::new();
    out.push_str(frame.command.as_str());
    out.push('\n');
    for (name, value) in frame.headers.iter() {
        out.push_str(&format!("{name}:{value}\n"));
    }
    out.push('\n');
    out.push_str(&String::from_utf8_lossy(&frame.body));
    println!("{out}\n");
}
