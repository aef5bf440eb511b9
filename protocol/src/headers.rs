//! Ordered frame headers: repeated names are kept, and the first one wins.

/// A frame's headers in wire order. The spec says that when a header is
/// repeated only the first occurrence counts, but all are kept so that a
/// frame passed through the broker keeps what the client wrote.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Headers {
    entries: Vec<(String, String)>,
}

impl Headers {
    pub fn new() -> Headers {
        Headers::default()
    }

    pub fn with_capacity(capacity: usize) -> Headers {
        Headers {
            entries: Vec::with_capacity(capacity),
        }
    }

    /// The value of the first header called `name`.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.entries
            .iter()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.as_str())
    }

    /// Appends a header, keeping any earlier one of the same name (which wins).
    pub fn push(&mut self, name: impl Into<String>, value: impl Into<String>) {
        self.entries.push((name.into(), value.into()));
    }

    /// Replaces every header called `name` by one with `value`.
    pub fn set(&mut self, name: &str, value: impl Into<String>) {
        self.remove(name);
        self.entries.push((name.to_owned(), value.into()));
    }

    /// Removes every header called `name`.
    pub fn remove(&mut self, name: &str) {
        self.entries.retain(|(key, _)| key != name);
    }

    pub fn contains(&self, name: &str) -> bool {
        self.get(name).is_some()
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// All headers in wire order, repeats included.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.entries
            .iter()
            .map(|(name, value)| (name.as_str(), value.as_str()))
    }

    /// Keeps only the headers for which `keep` returns true.
    pub fn retain(&mut self, mut keep: impl FnMut(&str, &str) -> bool) {
        self.entries.retain(|(name, value)| keep(name, value));
    }
}

impl<N: Into<String>, V: Into<String>> FromIterator<(N, V)> for Headers {
    fn from_iter<I: IntoIterator<Item = (N, V)>>(iter: I) -> Headers {
        Headers {
            entries: iter
                .into_iter()
                .map(|(name, value)| (name.into(), value.into()))
                .collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn set_replaces_every_repeat() {
        let mut headers: Headers = [("a", "1"), ("b", "2"), ("a", "3")].into_iter().collect();
        headers.set("a", "4");
        assert_eq!(headers.iter().collect::<Vec<_>>(), [("b", "2"), ("a", "4")]);
    }

    #[test]
    fn get_returns_the_first_repeat() {
        let mut headers = Headers::new();
        headers.push("a", "1");
        headers.push("a", "2");
        assert_eq!(headers.get("a"), Some("1"));
        assert_eq!(headers.len(), 2);
    }
}
