//! Per-user rate limits: a count per wall-clock second. Cheap and good
//! enough for abuse control; the window resets every second.

use std::collections::HashMap;
use std::sync::Mutex;

use herald_storage::UserId;

use super::ids::now_ms;

/// Allows `per_second` events per user per second.
pub struct RateLimit {
    per_second: u32,
    /// (second, count) per user. A std Mutex: held for one map update.
    counts: Mutex<HashMap<UserId, (i64, u32)>>,
}

impl RateLimit {
    pub fn new(per_second: u32) -> RateLimit {
        RateLimit {
            per_second,
            counts: Mutex::new(HashMap::new()),
        }
    }

    /// Counts one event; false when the user is over the limit.
    pub fn allow(&self, user: UserId) -> bool {
        let second = now_ms() / 1000;
        let mut counts = self.counts.lock().expect("poisoned");
        if counts.len() > 100_000 {
            counts.retain(|_, (at, _)| *at == second);
        }
        let entry = counts.entry(user).or_insert((second, 0));
        if entry.0 != second {
            *entry = (second, 0);
        }
        entry.1 += 1;
        entry.1 <= self.per_second
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn over_the_limit_is_refused_per_user() {
        let limit = RateLimit::new(3);
        // The test could straddle a second boundary; allow one retry.
        for _ in 0..2 {
            let allowed = (0..5).filter(|_| limit.allow(1)).count();
            if allowed == 3 {
                assert!(limit.allow(2), "other users are not limited");
                return;
            }
        }
        panic!("the limit did not hold");
    }
}
