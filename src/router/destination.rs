//! Destination names and what kind of destination each one is.

use std::fmt;

/// A parsed destination header.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Destination {
    /// `/topic/{name}`: live fan-out, nothing kept.
    Topic(String),
    /// `/queue/{name}`: competing consumers, kept until acknowledged.
    Queue(String),
    /// `/user/{id}`: a user's private chat (chat domain).
    User(u64),
    /// `/group/{id}`: a group chat (chat domain).
    Group(u64),
}

/// Why a destination header is refused; the text goes into the ERROR frame.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum DestinationError {
    #[error("unknown destination {0:?}: use /topic/{{name}}, /queue/{{name}}, /user/{{id}} or /group/{{id}}")]
    Unknown(String),
    #[error("destination {0:?} has an empty or invalid name")]
    InvalidName(String),
    #[error("destination {0:?} needs a numeric id")]
    InvalidId(String),
}

/// Longest destination name accepted, in bytes.
const MAX_NAME: usize = 255;

impl Destination {
    pub fn parse(text: &str) -> Result<Destination, DestinationError> {
        let (prefix, rest) = text
            .strip_prefix('/')
            .and_then(|rest| rest.split_once('/'))
            .ok_or_else(|| DestinationError::Unknown(text.to_owned()))?;
        match prefix {
            "topic" => Ok(Destination::Topic(valid_name(text, rest)?)),
            "queue" => Ok(Destination::Queue(valid_name(text, rest)?)),
            "user" => Ok(Destination::User(numeric_id(text, rest)?)),
            "group" => Ok(Destination::Group(numeric_id(text, rest)?)),
            _ => Err(DestinationError::Unknown(text.to_owned())),
        }
    }
}

fn valid_name(text: &str, name: &str) -> Result<String, DestinationError> {
    let valid = !name.is_empty()
        && name.len() <= MAX_NAME
        && !name.chars().any(|c| c.is_control() || c.is_whitespace());
    if valid {
        Ok(name.to_owned())
    } else {
        Err(DestinationError::InvalidName(text.to_owned()))
    }
}

fn numeric_id(text: &str, id: &str) -> Result<u64, DestinationError> {
    if id.is_empty() || !id.bytes().all(|b| b.is_ascii_digit()) {
        return Err(DestinationError::InvalidId(text.to_owned()));
    }
    id.parse()
        .map_err(|_| DestinationError::InvalidId(text.to_owned()))
}

impl fmt::Display for Destination {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Destination::Topic(name) => write!(f, "/topic/{name}"),
            Destination::Queue(name) => write!(f, "/queue/{name}"),
            Destination::User(id) => write!(f, "/user/{id}"),
            Destination::Group(id) => write!(f, "/group/{id}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_each_kind() {
        assert_eq!(
            Destination::parse("/topic/a.b"),
            Ok(Destination::Topic("a.b".into()))
        );
        assert_eq!(
            Destination::parse("/queue/jobs/x"),
            Ok(Destination::Queue("jobs/x".into()))
        );
        assert_eq!(Destination::parse("/user/42"), Ok(Destination::User(42)));
        assert_eq!(Destination::parse("/group/7"), Ok(Destination::Group(7)));
    }

    #[test]
    fn refuses_bad_names() {
        for bad in [
            "",
            "/",
            "topic/a",
            "/topic/",
            "/exchange/x",
            "/topic/a b",
            "/user/abc",
            "/user/",
            "/group/-1",
            "/user/99999999999999999999999",
        ] {
            assert!(Destination::parse(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn display_round_trips() {
        for text in ["/topic/x", "/queue/y", "/user/1", "/group/2"] {
            assert_eq!(Destination::parse(text).unwrap().to_string(), text);
        }
    }
}
