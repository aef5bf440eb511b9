//! Who may SUBSCRIBE and SEND to `/topic` and `/queue` destinations, from
//! the `[[acl]]` rules in config. The first rule whose pattern matches
//! decides, and a refusal names the rule, so an operator can tell which
//! line of config said no.

use crate::config::AclRule;

/// What a client wants to do with a destination.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Access {
    Subscribe,
    Send,
}

impl Access {
    fn verb(self) -> &'static str {
        match self {
            Access::Subscribe => "SUBSCRIBE to",
            Access::Send => "SEND to",
        }
    }
}

/// The configured rules, in order.
#[derive(Clone, Debug, Default)]
pub struct Acl {
    rules: Vec<AclRule>,
}

impl Acl {
    pub fn new(rules: Vec<AclRule>) -> Acl {
        Acl { rules }
    }

    /// `Ok` when allowed; otherwise the refusal text, naming the rule.
    pub fn check(&self, username: &str, destination: &str, access: Access) -> Result<(), String> {
        let Some((index, rule)) = self
            .rules
            .iter()
            .enumerate()
            .find(|(_, rule)| glob_match(&rule.destination, destination))
        else {
            return Err(format!(
                "{} {destination} refused: no [[acl]] rule matches this destination",
                access.verb()
            ));
        };
        let user_listed = rule
            .users
            .iter()
            .any(|user| user == "*" || user == username);
        let allowed = match access {
            Access::Subscribe => rule.subscribe,
            Access::Send => rule.send,
        };
        if user_listed && allowed {
            Ok(())
        } else {
            Err(format!(
                "{} {destination} refused by [[acl]] rule {} (destination {:?}) for user {username}",
                access.verb(),
                index + 1,
                rule.destination
            ))
        }
    }
}

/// `*` matches any run of characters (including none); everything else
/// matches itself.
pub fn glob_match(pattern: &str, text: &str) -> bool {
    let (pattern, text) = (pattern.as_bytes(), text.as_bytes());
    let (mut p, mut t) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while t < text.len() {
        if p < pattern.len() && pattern[p] == b'*' {
            star = Some((p, t));
            p += 1;
        } else if p < pattern.len() && pattern[p] == text[t] {
            p += 1;
            t += 1;
        } else if let Some((star_p, star_t)) = star {
            p = star_p + 1;
            t = star_t + 1;
            star = Some((star_p, star_t + 1));
        } else {
            return false;
        }
    }
    pattern[p..].iter().all(|&b| b == b'*')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(destination: &str, users: &[&str], subscribe: bool, send: bool) -> AclRule {
        AclRule {
            destination: destination.into(),
            users: users.iter().map(|u| u.to_string()).collect(),
            subscribe,
            send,
        }
    }

    #[test]
    fn glob_patterns() {
        assert!(glob_match("/topic/*", "/topic/a.b/c"));
        assert!(glob_match("/topic/news.*", "/topic/news.sport"));
        assert!(!glob_match("/topic/news.*", "/topic/weather"));
        assert!(glob_match("*", ""));
        assert!(glob_match("/queue/a*b*c", "/queue/axxbyyc"));
        assert!(!glob_match("/queue/a*b*c", "/queue/axxbyy"));
        assert!(glob_match("/queue/exact", "/queue/exact"));
        assert!(!glob_match("/queue/exact", "/queue/exactly"));
    }

    #[test]
    fn first_matching_rule_decides() {
        let acl = Acl::new(vec![
            rule("/topic/admin.*", &["root"], true, true),
            rule("/topic/*", &["*"], true, false),
        ]);
        assert!(acl.check("root", "/topic/admin.x", Access::Send).is_ok());
        let refusal = acl
            .check("bob", "/topic/admin.x", Access::Subscribe)
            .unwrap_err();
        assert!(refusal.contains("rule 1"), "{refusal}");
        assert!(acl.check("bob", "/topic/chat", Access::Subscribe).is_ok());
        assert!(acl
            .check("bob", "/topic/chat", Access::Send)
            .unwrap_err()
            .contains("rule 2"));
    }

    #[test]
    fn no_matching_rule_refuses() {
        let acl = Acl::new(vec![rule("/topic/*", &["*"], true, true)]);
        assert!(acl
            .check("bob", "/queue/x", Access::Send)
            .unwrap_err()
            .contains("no [[acl]] rule"));
    }
}
