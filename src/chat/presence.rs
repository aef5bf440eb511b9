//! Presence: who is online (on this node, or on any node of a cluster),
//! and the `kind:presence` notices a user's friends and fellow group
//! members get when they come and go.

use std::collections::HashSet;

use bytes::Bytes;
use herald_storage::{StoreError, UserId};

use super::{frames, Channel, Chat, Conversation};

impl Chat {
    /// Users with a session on this node.
    pub fn local_users(&self) -> Vec<UserId> {
        self.hub.local_users()
    }

    /// Which of `users` are online on any node.
    pub async fn online(&self, users: &[UserId]) -> HashSet<UserId> {
        match self.cluster.get() {
            None => users
                .iter()
                .copied()
                .filter(|u| self.hub.is_online(*u))
                .collect(),
            Some(cluster) => match cluster.shared.online(users).await {
                Ok(online) => online.into_iter().collect(),
                Err(error) => {
                    tracing::warn!(%error, "presence unavailable; answering from this node");
                    users
                        .iter()
                        .copied()
                        .filter(|u| self.hub.is_online(*u))
                        .collect()
                }
            },
        }
    }

    pub fn is_online(&self, user: UserId) -> bool {
        self.hub.is_online(user)
    }

    /// A session of `user` opened: when it is their first (on any node of
    /// a cluster), their friends and fellow group members hear
    /// `kind:presence`.
    pub async fn session_started(&self, user: UserId) {
        if self.hub.session_started(user) {
            if let Some(cluster) = self.cluster.get() {
                // Already online on another node: the others heard so then.
                let elsewhere = self.online(&[user]).await.contains(&user);
                if let Err(error) = cluster.shared.presence_up(user, cluster.node).await {
                    tracing::warn!(%error, "presence not shared");
                }
                if elsewhere {
                    return;
                }
            }
            self.announce_presence(user, true).await;
        }
    }

    /// A session of `user` closed: when it was their last (on any node),
    /// the same people hear it.
    pub async fn session_ended(&self, user: UserId) {
        if self.hub.session_ended(user) {
            if let Some(cluster) = self.cluster.get() {
                if let Err(error) = cluster.shared.presence_down(user, cluster.node).await {
                    tracing::warn!(%error, "presence not shared");
                }
                // Two last sessions ending at once on two nodes may both
                // announce; neither stays silent, as Redis orders the
                // removals before one of the looks.
                if self.online(&[user]).await.contains(&user) {
                    return;
                }
            }
            self.announce_presence(user, false).await;
        }
    }

    /// Users whose node died: those not online anywhere now are announced
    /// offline, as their last session would have done.
    pub async fn departed(&self, users: Vec<UserId>) {
        if users.is_empty() {
            return;
        }
        let online = self.online(&users).await;
        for user in users {
            if !online.contains(&user) {
                self.announce_presence(user, false).await;
            }
        }
    }

    async fn announce_presence(&self, user: UserId, online: bool) {
        let audience = match self.presence_audience(user).await {
            Ok(audience) => audience,
            Err(error) => {
                tracing::warn!(%error, user, "presence not announced");
                return;
            }
        };
        let body = Bytes::from(serde_json::json!({ "user": user, "online": online }).to_string());
        for watcher in audience {
            let conversation = Conversation::System(watcher).id();
            let message = frames::notice(
                Channel::Inbox(watcher),
                self.ids.next(),
                &conversation,
                user,
                "presence",
                &[],
                body.clone(),
            );
            self.deliver(Channel::Inbox(watcher), &message);
        }
    }

    /// Which of `users` are online as `viewer` may see them: a user who
    /// blocks the viewer shows as offline to them, as a block should keep
    /// the blocker's comings and goings from the blocked.
    pub async fn online_for(&self, viewer: UserId, users: &[UserId]) -> HashSet<UserId> {
        let mut online = self.online(users).await;
        let mut hidden = Vec::new();
        for &user in &online {
            // When the store cannot say, the presence stays hidden.
            if user != viewer
                && self
                    .directory
                    .is_blocked(user, viewer)
                    .await
                    .unwrap_or(true)
            {
                hidden.push(user);
            }
        }
        for user in hidden {
            online.remove(&user);
        }
        online
    }

    /// Friends and fellow group members who are online now, but for those
    /// `user` blocks.
    pub async fn presence_audience(&self, user: UserId) -> Result<Vec<UserId>, StoreError> {
        let mut audience = self.directory.friend_ids(user).await?;
        for (group, _) in self.directory.user_groups(user).await? {
            audience.extend(self.directory.member_ids(group.id).await?);
        }
        audience.sort_unstable();
        audience.dedup();
        let blocked: HashSet<UserId> = self
            .directory
            .blocked(user)
            .await?
            .into_iter()
            .map(|blocked| blocked.id)
            .collect();
        audience.retain(|other| *other != user && !blocked.contains(other));
        let online = self.online(&audience).await;
        audience.retain(|other| online.contains(other));
        Ok(audience)
    }
}
