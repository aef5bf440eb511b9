//! Protocol versions and their negotiation from `accept-version`.

use std::fmt;

/// A STOMP protocol version. Ordered, so the highest common one is `max`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Version {
    V1_0,
    V1_1,
    V1_2,
}

impl Version {
    /// Every version Herald speaks, lowest first.
    pub const ALL: [Version; 3] = [Version::V1_0, Version::V1_1, Version::V1_2];

    pub fn as_str(self) -> &'static str {
        match self {
            Version::V1_0 => "1.0",
            Version::V1_1 => "1.1",
            Version::V1_2 => "1.2",
        }
    }

    pub fn parse(text: &str) -> Option<Version> {
        Version::ALL
            .into_iter()
            .find(|version| version.as_str() == text.trim())
    }

    /// The highest version both sides speak. A CONNECT without
    /// `accept-version` is a 1.0 client, as the spec says.
    pub fn negotiate(accept_version: Option<&str>) -> Option<Version> {
        match accept_version {
            None => Some(Version::V1_0),
            Some(list) => list.split(',').filter_map(Version::parse).max(),
        }
    }

    /// 1.0 has no header escaping; 1.1 and 1.2 have.
    pub fn escapes_headers(self) -> bool {
        self != Version::V1_0
    }

    /// The comma-separated list sent in an ERROR's `version` header.
    pub fn supported_list() -> &'static str {
        "1.0,1.1,1.2"
    }
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}
