//! Abuse limits keyed by a client's address or account: open connections
//! per IP, SENDs per second per IP, and failed password logins per account
//! and per IP (HTTP and STOMP alike).
//!
//! Counters are in-process: in a cluster each node counts for itself. They
//! hold no socket and never block; callers refuse what they say is over.
//! Addresses in `limits.exempt_ips` (loopback by default) are not limited
//! per IP.

use std::collections::HashMap;
use std::hash::Hash;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::config::Config;

/// Entries a counter map may hold before stale ones are swept.
const SWEEP_AT: usize = 100_000;

/// Every abuse limit of one broker.
pub struct Abuse {
    pub connections: Arc<Connections>,
    sends: Window<IpAddr>,
    login_accounts: Window<String>,
    login_addresses: Window<IpAddr>,
    exempt: Arc<[IpAddr]>,
}

/// A password login refused before it was checked; try after `retry_after`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("too many failed logins for this {scope}; try again in {} s", retry_after.as_secs().max(1))]
pub struct LoginLimited {
    /// `account` or `address`.
    pub scope: &'static str,
    pub retry_after: Duration,
}

impl Abuse {
    pub fn new(config: &Config) -> Abuse {
        let limits = &config.limits;
        let minute = Duration::from_secs(60);
        let exempt: Arc<[IpAddr]> = limits.exempt_ips.clone().into();
        Abuse {
            connections: Arc::new(Connections::new(limits.connections_per_ip, exempt.clone())),
            sends: Window::new(limits.sends_per_second_per_ip, Duration::from_secs(1)),
            login_accounts: Window::new(limits.login_failures_per_minute, minute),
            login_addresses: Window::new(limits.login_failures_per_minute_per_ip, minute),
            exempt,
        }
    }

    /// Counts one SEND from `ip`; false when it is over the limit.
    pub fn allow_send(&self, ip: IpAddr) -> bool {
        is_exempt(&self.exempt, ip) || self.sends.add(ip)
    }

    /// Whether a password login for `account` from `ip` may be checked.
    pub fn check_login(&self, account: &str, ip: IpAddr) -> Result<(), LoginLimited> {
        if self.login_accounts.is_over(&account.to_lowercase()) {
            return Err(LoginLimited {
                scope: "account",
                retry_after: self.login_accounts.retry_after(),
            });
        }
        if !is_exempt(&self.exempt, ip) && self.login_addresses.is_over(&ip) {
            return Err(LoginLimited {
                scope: "address",
                retry_after: self.login_addresses.retry_after(),
            });
        }
        Ok(())
    }

    /// Counts a failed password login.
    pub fn login_failed(&self, account: &str, ip: IpAddr) {
        self.login_accounts.add(account.to_lowercase());
        self.login_addresses.add(ip);
    }
}

/// Open connections per IP; a [`ConnectionGuard`] holds one place.
pub struct Connections {
    /// 0: no limit.
    per_ip: usize,
    exempt: Arc<[IpAddr]>,
    // A std Mutex: held for one map update, never across `.await`.
    open: Mutex<HashMap<IpAddr, usize>>,
}

impl Connections {
    pub fn new(per_ip: usize, exempt: Arc<[IpAddr]>) -> Connections {
        Connections {
            per_ip,
            exempt,
            open: Mutex::new(HashMap::new()),
        }
    }

    /// A place for one more connection from `ip`, or none when it has
    /// `limits.connections_per_ip` open already.
    pub fn admit(self: &Arc<Self>, ip: IpAddr) -> Option<ConnectionGuard> {
        let mut open = self.open.lock().unwrap_or_else(|e| e.into_inner());
        let count = open.entry(ip).or_insert(0);
        if self.per_ip > 0 && *count >= self.per_ip && !is_exempt(&self.exempt, ip) {
            return None;
        }
        *count += 1;
        Some(ConnectionGuard {
            connections: self.clone(),
            ip,
        })
    }

    /// Connections open from `ip` now.
    pub fn open(&self, ip: IpAddr) -> usize {
        let open = self.open.lock().unwrap_or_else(|e| e.into_inner());
        open.get(&ip).copied().unwrap_or(0)
    }
}

/// One open connection's place; dropping it frees the place.
pub struct ConnectionGuard {
    connections: Arc<Connections>,
    ip: IpAddr,
}

impl Drop for ConnectionGuard {
    fn drop(&mut self) {
        let mut open = self
            .connections
            .open
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        if let Some(count) = open.get_mut(&self.ip) {
            *count -= 1;
            if *count == 0 {
                open.remove(&self.ip);
            }
        }
    }
}

/// At most `limit` events per key per fixed wall-clock window.
struct Window<K> {
    /// 0: no limit.
    limit: u32,
    window_ms: u64,
    // A std Mutex: held for one map update, never across `.await`.
    counts: Mutex<HashMap<K, (u64, u32)>>,
}

impl<K: Hash + Eq> Window<K> {
    fn new(limit: u32, window: Duration) -> Window<K> {
        Window {
            limit,
            window_ms: window.as_millis().max(1) as u64,
            counts: Mutex::new(HashMap::new()),
        }
    }

    fn now_ms() -> u64 {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as u64)
    }

    /// Counts one event; false when the key is over the limit.
    fn add(&self, key: K) -> bool {
        if self.limit == 0 {
            return true;
        }
        let window = Self::now_ms() / self.window_ms;
        let mut counts = self.counts.lock().unwrap_or_else(|e| e.into_inner());
        if counts.len() >= SWEEP_AT {
            counts.retain(|_, (at, _)| *at == window);
        }
        let entry = counts.entry(key).or_insert((window, 0));
        if entry.0 != window {
            *entry = (window, 0);
        }
        entry.1 = entry.1.saturating_add(1);
        entry.1 <= self.limit
    }

    /// Whether the key has used up this window (without counting).
    fn is_over(&self, key: &K) -> bool {
        if self.limit == 0 {
            return false;
        }
        let window = Self::now_ms() / self.window_ms;
        let counts = self.counts.lock().unwrap_or_else(|e| e.into_inner());
        counts
            .get(key)
            .is_some_and(|(at, count)| *at == window && *count >= self.limit)
    }

    /// Time until the current window ends.
    fn retry_after(&self) -> Duration {
        Duration::from_millis(self.window_ms - Self::now_ms() % self.window_ms)
    }
}

/// Whether `ip` skips the per-address limits: listed, or a loopback
/// address when a loopback address is listed (clients on one machine may
/// use any of 127.0.0.0/8 as their source).
fn is_exempt(exempt: &[IpAddr], ip: IpAddr) -> bool {
    exempt.contains(&ip) || (ip.is_loopback() && exempt.iter().any(IpAddr::is_loopback))
}

#[cfg(test)]
mod tests {
    use super::*;

    const HOME: IpAddr = IpAddr::V4(std::net::Ipv4Addr::LOCALHOST);

    #[test]
    fn connection_places_are_freed_on_drop() {
        let connections = Arc::new(Connections::new(2, Arc::from([])));
        let first = connections.admit(HOME).unwrap();
        let _second = connections.admit(HOME).unwrap();
        assert!(connections.admit(HOME).is_none());
        let other: IpAddr = "10.0.0.1".parse().unwrap();
        assert!(connections.admit(other).is_some());
        drop(first);
        assert_eq!(connections.open(HOME), 1);
        assert!(connections.admit(HOME).is_some());
    }

    #[test]
    fn zero_means_no_limit() {
        let connections = Arc::new(Connections::new(0, Arc::from([])));
        let guards: Vec<_> = (0..100).map(|_| connections.admit(HOME).unwrap()).collect();
        assert_eq!(connections.open(HOME), 100);
        drop(guards);
        assert_eq!(connections.open(HOME), 0);
        let window = Window::new(0, Duration::from_secs(1));
        assert!((0..100).all(|_| window.add(HOME)));
    }

    #[test]
    fn exempt_addresses_are_not_limited() {
        let connections = Arc::new(Connections::new(1, Arc::from([HOME])));
        let _guards: Vec<_> = (0..5).map(|_| connections.admit(HOME).unwrap()).collect();
        let mut config = Config::defaults();
        config.limits.sends_per_second_per_ip = 1;
        config.limits.exempt_ips = vec![HOME];
        let abuse = Abuse::new(&config);
        assert!((0..5).all(|_| abuse.allow_send(HOME)));
        let other: IpAddr = "10.0.0.1".parse().unwrap();
        assert!(abuse.allow_send(other) && !abuse.allow_send(other));
    }

    #[test]
    fn failed_logins_lock_the_account_and_the_address() {
        let mut config = Config::defaults();
        config.limits.login_failures_per_minute = 2;
        config.limits.login_failures_per_minute_per_ip = 3;
        config.limits.exempt_ips = vec![];
        let abuse = Abuse::new(&config);
        let (a, b): (IpAddr, IpAddr) = ("10.0.0.1".parse().unwrap(), "10.0.0.2".parse().unwrap());
        abuse.login_failed("Alice", a);
        assert!(abuse.check_login("alice", b).is_ok());
        abuse.login_failed("alice", b);
        let limited = abuse.check_login("ALICE", HOME).unwrap_err();
        assert_eq!(limited.scope, "account");
        assert!(abuse.check_login("bob", a).is_ok());
        abuse.login_failed("bob", a);
        abuse.login_failed("carol", a);
        assert_eq!(abuse.check_login("dave", a).unwrap_err().scope, "address");
        assert!(abuse.check_login("dave", HOME).is_ok());
    }

    #[test]
    fn window_counts_up_to_its_limit() {
        let window = Window::new(3, Duration::from_secs(3600));
        assert!(!window.is_over(&"a"));
        assert!(window.add("a") && window.add("a") && window.add("a"));
        assert!(window.is_over(&"a"));
        assert!(!window.add("a"));
        assert!(!window.is_over(&"b"));
        assert!(window.retry_after() <= Duration::from_secs(3600));
    }
}
