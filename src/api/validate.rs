//! Checks on user-supplied text: usernames, passwords and length limits.
//! Text is otherwise kept verbatim; nothing is escaped or trimmed away.

use super::ApiError;

/// 3 to 32 characters: letters, digits, `_`, `.`, `-`, starting with a
/// letter or digit.
pub fn username(name: &str) -> Result<(), ApiError> {
    let valid = (3..=32).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'))
        && name
            .bytes()
            .next()
            .is_some_and(|b| b.is_ascii_alphanumeric());
    if valid {
        Ok(())
    } else {
        Err(ApiError::invalid(
            "username must be 3 to 32 characters of letters, digits, '_', '.' or '-', starting with a letter or digit",
        ))
    }
}

pub fn password(password: &str) -> Result<(), ApiError> {
    if (8..=256).contains(&password.chars().count()) {
        Ok(())
    } else {
        Err(ApiError::invalid("password must be 8 to 256 characters"))
    }
}

/// At most `max` characters (not bytes), no control characters except
/// newlines where `multiline`.
pub fn text(field: &str, value: &str, max: usize, multiline: bool) -> Result<(), ApiError> {
    if value.chars().count() > max {
        return Err(ApiError::invalid(format!(
            "{field} must be at most {max} characters"
        )));
    }
    if value
        .chars()
        .any(|c| c.is_control() && !(multiline && (c == '\n' || c == '\r' || c == '\t')))
    {
        return Err(ApiError::invalid(format!(
            "{field} must not contain control characters"
        )));
    }
    Ok(())
}

/// Like [`text`], and not blank.
pub fn required_text(field: &str, value: &str, max: usize) -> Result<(), ApiError> {
    if value.trim().is_empty() {
        return Err(ApiError::invalid(format!("{field} must not be empty")));
    }
    text(field, value, max, false)
}

pub const NICKNAME_MAX: usize = 64;
pub const SIGNATURE_MAX: usize = 256;
pub const AVATAR_MAX: usize = 1024;
pub const GREETING_MAX: usize = 256;
pub const REMARK_MAX: usize = 64;
pub const GROUP_NAME_MAX: usize = 64;
pub const ANNOUNCEMENT_MAX: usize = 4096;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usernames() {
        for good in ["bob", "alice_1", "a.b-c", "Zed99"] {
            assert!(username(good).is_ok(), "{good}");
        }
        for bad in [
            "",
            "ab",
            "_bob",
            "bob!",
            "böb",
            "a b",
            &"x".repeat(33),
            "'; DROP TABLE",
        ] {
            assert!(username(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn text_limits_count_characters() {
        assert!(text("nickname", &"中".repeat(64), 64, false).is_ok());
        assert!(text("nickname", &"中".repeat(65), 64, false).is_err());
        assert!(text("nickname", "a\u{0}b", 64, false).is_err());
        assert!(text("announcement", "line1\nline2", 64, true).is_ok());
        assert!(required_text("name", "   ", 64).is_err());
    }
}
