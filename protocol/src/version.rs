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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn negotiate_picks_the_highest_common_version() {
        assert_eq!(Version::negotiate(Some("1.0,1.1,1.2")), Some(Version::V1_2));
        assert_eq!(Version::negotiate(Some("1.2,1.0")), Some(Version::V1_2));
        assert_eq!(Version::negotiate(Some("1.1")), Some(Version::V1_1));
    }

    #[test]
    fn negotiate_without_accept_version_is_1_0() {
        assert_eq!(Version::negotiate(None), Some(Version::V1_0));
    }

    #[test]
    fn negotiate_ignores_unknown_versions_and_spaces() {
        assert_eq!(Version::negotiate(Some("2.0, 1.1 ,x")), Some(Version::V1_1));
    }

    #[test]
    fn negotiate_with_nothing_in_common_is_none() {
        assert_eq!(Version::negotiate(Some("2.0,3.0")), None);
        assert_eq!(Version::negotiate(Some("")), None);
    }

    #[test]
    fn only_1_0_lacks_escaping() {
        assert!(!Version::V1_0.escapes_headers());
        assert!(Version::V1_1.escapes_headers());
        assert!(Version::V1_2.escapes_headers());
    }

    #[test]
    fn supported_list_names_every_version() {
        let listed: Vec<_> = Version::supported_list()
            .split(',')
            .filter_map(Version::parse)
            .collect();
        assert_eq!(listed, Version::ALL);
    }
}
