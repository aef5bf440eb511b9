//! The frame commands of STOMP 1.2 (which include every 1.0 and 1.1 command).

use std::fmt;

/// A STOMP command. Commands are case-sensitive on the wire.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Command {
    // client frames
    Connect,
    Stomp,
    Send,
    Subscribe,
    Unsubscribe,
    Ack,
    Nack,
    Begin,
    Commit,
    Abort,
    Disconnect,
    // server frames
    Connected,
    Message,
    Receipt,
    Error,
}

impl Command {
    /// Every command, in the order the spec lists them.
    pub const ALL: [Command; 15] = [
        Command::Connect,
        Command::Stomp,
        Command::Send,
        Command::Subscribe,
        Command::Unsubscribe,
        Command::Ack,
        Command::Nack,
        Command::Begin,
        Command::Commit,
        Command::Abort,
        Command::Disconnect,
        Command::Connected,
        Command::Message,
        Command::Receipt,
        Command::Error,
    ];

    /// The command as written on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            Command::Connect => "CONNECT",
            Command::Stomp => "STOMP",
            Command::Send => "SEND",
            Command::Subscribe => "SUBSCRIBE",
            Command::Unsubscribe => "UNSUBSCRIBE",
            Command::Ack => "ACK",
            Command::Nack => "NACK",
            Command::Begin => "BEGIN",
            Command::Commit => "COMMIT",
            Command::Abort => "ABORT",
            Command::Disconnect => "DISCONNECT",
            Command::Connected => "CONNECTED",
            Command::Message => "MESSAGE",
            Command::Receipt => "RECEIPT",
            Command::Error => "ERROR",
        }
    }

    /// Parses a command exactly (case-sensitive), `None` when unknown.
    pub fn from_bytes(bytes: &[u8]) -> Option<Command> {
        Command::ALL
            .into_iter()
            .find(|command| command.as_str().as_bytes() == bytes)
    }

    /// CONNECT, STOMP and CONNECTED frames never escape their headers, so
    /// that a 1.0 peer can read them whatever version is negotiated later.
    pub fn escapes_headers(self) -> bool {
        !matches!(self, Command::Connect | Command::Stomp | Command::Connected)
    }

    /// Only SEND, MESSAGE and ERROR frames may carry a body.
    pub fn allows_body(self) -> bool {
        matches!(self, Command::Send | Command::Message | Command::Error)
    }
}

impl fmt::Display for Command {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn from_bytes_round_trips_every_command() {
        for command in Command::ALL {
            assert_eq!(
                Command::from_bytes(command.as_str().as_bytes()),
                Some(command)
            );
        }
    }

    #[test]
    fn from_bytes_is_case_sensitive() {
        assert_eq!(Command::from_bytes(b"send"), None);
        assert_eq!(Command::from_bytes(b""), None);
    }

    #[test]
    fn only_connect_stomp_connected_skip_escaping() {
        let unescaped: Vec<_> = Command::ALL
            .into_iter()
            .filter(|command| !command.escapes_headers())
            .collect();
        assert_eq!(
            unescaped,
            [Command::Connect, Command::Stomp, Command::Connected]
        );
    }

    #[test]
    fn only_send_message_error_allow_a_body() {
        let with_body: Vec<_> = Command::ALL
            .into_iter()
            .filter(|command| command.allows_body())
            .collect();
        assert_eq!(with_body, [Command::Send, Command::Message, Command::Error]);
    }
}
