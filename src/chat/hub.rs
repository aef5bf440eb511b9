//! Who is listening on this node: the sessions subscribed to each user's
//! inbox (`/user/{id}`) and to each group (`/group/{id}`), and how many
//! sessions each user has open (presence).
//!
//! Std Mutexes: every method holds one for a map operation and `try_send`s,
//! which never wait, so no lock is ever held across an await.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use herald_storage::{GroupId, UserId};

use crate::delivery::{Delivery, Message, SessionHandle};

struct Subscriber {
    user: UserId,
    session: SessionHandle,
    subscription: Arc<str>,
}

#[derive(Default)]
pub struct Hub {
    inboxes: Mutex<HashMap<UserId, Vec<Subscriber>>>,
    groups: Mutex<HashMap<GroupId, Vec<Subscriber>>>,
    online: Mutex<HashMap<UserId, usize>>,
}

/// Where a chat subscription listens.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Channel {
    Inbox(UserId),
    Group(GroupId),
}

impl Hub {
    pub fn subscribe(
        &self,
        channel: Channel,
        user: UserId,
        session: SessionHandle,
        subscription: Arc<str>,
    ) {
        let subscriber = Subscriber {
            user,
            session,
            subscription,
        };
        match channel {
            Channel::Inbox(id) => self
                .inboxes
                .lock()
                .expect("poisoned")
                .entry(id)
                .or_default()
                .push(subscriber),
            Channel::Group(id) => self
                .groups
                .lock()
                .expect("poisoned")
                .entry(id)
                .or_default()
                .push(subscriber),
        }
    }

    pub fn unsubscribe(&self, channel: Channel, session_id: u64, subscription: &str) {
        let remove = |map: &Mutex<HashMap<i64, Vec<Subscriber>>>, id: i64| {
            let mut map = map.lock().expect("poisoned");
            if let Some(subscribers) = map.get_mut(&id) {
                subscribers
                    .retain(|s| !(s.session.id == session_id && &*s.subscription == subscription));
                if subscribers.is_empty() {
                    map.remove(&id);
                }
            }
        };
        match channel {
            Channel::Inbox(id) => remove(&self.inboxes, id),
            Channel::Group(id) => remove(&self.groups, id),
        }
    }

    /// Stops delivering a group to a user who left or was removed.
    pub fn drop_group_member(&self, group: GroupId, user: UserId) {
        let mut groups = self.groups.lock().expect("poisoned");
        if let Some(subscribers) = groups.get_mut(&group) {
            subscribers.retain(|s| s.user != user);
            if subscribers.is_empty() {
                groups.remove(&group);
            }
        }
    }

    /// Stops delivering a dissolved group to anyone.
    pub fn drop_group(&self, group: GroupId) {
        self.groups.lock().expect("poisoned").remove(&group);
    }

    /// Offers a message to every session listening on `channel`; returns how
    /// many took it. Slow consumers are being closed and miss it; they
    /// catch up from history when they return.
    pub fn deliver(&self, channel: Channel, message: &Arc<Message>) -> usize {
        let offer = |subscribers: &Vec<Subscriber>| {
            subscribers
                .iter()
                .filter(|s| {
                    s.session
                        .offer(Delivery {
                            subscription: s.subscription.clone(),
                            message: message.clone(),
                            redelivered: false,
                            stored_id: None,
                        })
                        .is_ok()
                })
                .count()
        };
        match channel {
            Channel::Inbox(id) => self
                .inboxes
                .lock()
                .expect("poisoned")
                .get(&id)
                .map(offer)
                .unwrap_or(0),
            Channel::Group(id) => self
                .groups
                .lock()
                .expect("poisoned")
                .get(&id)
                .map(offer)
                .unwrap_or(0),
        }
    }

    /// Counts a new session of `user`; true when the user just came online.
    pub fn session_started(&self, user: UserId) -> bool {
        let mut online = self.online.lock().expect("poisoned");
        let count = online.entry(user).or_default();
        *count += 1;
        *count == 1
    }

    /// Counts a closed session; true when the user just went offline.
    pub fn session_ended(&self, user: UserId) -> bool {
        let mut online = self.online.lock().expect("poisoned");
        match online.get_mut(&user) {
            Some(count) if *count > 1 => {
                *count -= 1;
                false
            }
            Some(_) => {
                online.remove(&user);
                true
            }
            None => false,
        }
    }

    pub fn is_online(&self, user: UserId) -> bool {
        self.online.lock().expect("poisoned").contains_key(&user)
    }

    /// Users with a session on this node.
    pub fn local_users(&self) -> Vec<UserId> {
        self.online
            .lock()
            .expect("poisoned")
            .keys()
            .copied()
            .collect()
    }

    /// Offers `message` to every chat subscription on this node (a resync
    /// marker after the bus lost messages).
    pub fn broadcast(&self, message: &Arc<Message>) {
        let offer = |subscribers: &Vec<Subscriber>| {
            for s in subscribers {
                let _ = s.session.offer(Delivery {
                    subscription: s.subscription.clone(),
                    message: message.clone(),
                    redelivered: false,
                    stored_id: None,
                });
            }
        };
        self.inboxes
            .lock()
            .expect("poisoned")
            .values()
            .for_each(offer);
        self.groups
            .lock()
            .expect("poisoned")
            .values()
            .for_each(offer);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::delivery::session_channel;

    fn message() -> Arc<Message> {
        Arc::new(Message {
            destination: "/user/1".into(),
            message_id: "1".into(),
            headers: Default::default(),
            body: Default::default(),
            mentions: Vec::new(),
            logged: false,
        })
    }

    #[test]
    fn inbox_reaches_every_device_until_unsubscribed() {
        let hub = Hub::default();
        let (phone, mut phone_inbox) = session_channel(8);
        let (laptop, mut laptop_inbox) = session_channel(8);
        hub.subscribe(Channel::Inbox(1), 1, phone.clone(), "a".into());
        hub.subscribe(Channel::Inbox(1), 1, laptop, "b".into());
        assert_eq!(hub.deliver(Channel::Inbox(1), &message()), 2);
        assert!(phone_inbox.deliveries.try_recv().is_ok());
        assert!(laptop_inbox.deliveries.try_recv().is_ok());
        hub.unsubscribe(Channel::Inbox(1), phone.id, "a");
        assert_eq!(hub.deliver(Channel::Inbox(1), &message()), 1);
        assert_eq!(hub.deliver(Channel::Inbox(2), &message()), 0);
    }

    #[test]
    fn removed_member_stops_receiving_the_group() {
        let hub = Hub::default();
        let (alice, _a) = session_channel(8);
        let (bob, _b) = session_channel(8);
        hub.subscribe(Channel::Group(7), 1, alice, "g".into());
        hub.subscribe(Channel::Group(7), 2, bob, "g".into());
        hub.drop_group_member(7, 2);
        assert_eq!(hub.deliver(Channel::Group(7), &message()), 1);
        hub.drop_group(7);
        assert_eq!(hub.deliver(Channel::Group(7), &message()), 0);
    }

    #[test]
    fn presence_counts_sessions() {
        let hub = Hub::default();
        assert!(hub.session_started(1));
        assert!(!hub.session_started(1));
        assert!(!hub.session_ended(1));
        assert!(hub.is_online(1));
        assert!(hub.session_ended(1));
        assert!(!hub.is_online(1));
        assert!(!hub.session_ended(1));
    }
}
