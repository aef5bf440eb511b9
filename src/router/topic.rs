//! `/topic/{name}`: live fan-out to every subscriber, nothing kept.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use crate::delivery::{Delivery, Message, SessionHandle};

struct Subscriber {
    session: SessionHandle,
    subscription: Arc<str>,
}

/// Every topic's subscribers. A std Mutex: publishing holds it only to walk
/// the list and `try_send`, which never waits, and never across an await.
#[derive(Default)]
pub struct Topics {
    topics: Mutex<HashMap<String, Vec<Subscriber>>>,
}

impl Topics {
    pub fn subscribe(&self, name: &str, session: SessionHandle, subscription: Arc<str>) {
        let mut topics = self.topics.lock().expect("poisoned");
        topics.entry(name.to_owned()).or_default().push(Subscriber {
            session,
            subscription,
        });
    }

    pub fn unsubscribe(&self, name: &str, session_id: u64, subscription: &str) {
        let mut topics = self.topics.lock().expect("poisoned");
        if let Some(subscribers) = topics.get_mut(name) {
            subscribers
                .retain(|s| !(s.session.id == session_id && &*s.subscription == subscription));
            if subscribers.is_empty() {
                topics.remove(name);
            }
        }
    }

    /// Offers `message` to every subscriber; returns how many took it. A
    /// subscriber whose queue is full is being closed as a slow consumer and
    /// simply misses it: topics keep nothing.
    pub fn publish(&self, name: &str, message: &Arc<Message>) -> usize {
        let topics = self.topics.lock().expect("poisoned");
        let Some(subscribers) = topics.get(name) else {
            return 0;
        };
        subscribers
            .iter()
            .filter(|subscriber| {
                subscriber
                    .session
                    .offer(Delivery {
                        subscription: subscriber.subscription.clone(),
                        message: message.clone(),
                        redelivered: false,
                        stored_id: None,
                    })
                    .is_ok()
            })
            .count()
    }
}
