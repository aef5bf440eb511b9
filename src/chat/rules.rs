//! Who may use the chat destinations. Every refusal names its rule, so the
//! ERROR frame tells the client (and the operator) exactly what said no.

use herald_storage::{Directory, GroupId, Role, UserId};

use super::ChatError;

/// SUBSCRIBE `/user/{target}`: only the user themself, on any device.
pub fn may_subscribe_inbox(me: UserId, target: UserId) -> Result<(), ChatError> {
    if me == target {
        Ok(())
    } else {
        Err(ChatError::refused(
            "user-subscribe-own",
            format!("only user {target} may subscribe to /user/{target}"),
        ))
    }
}

/// SEND to `/user/{target}`: an existing user other than me, no block in
/// either direction, and friends unless strangers are allowed.
pub async fn may_message(
    directory: &dyn Directory,
    me: UserId,
    target: UserId,
    allow_strangers: bool,
) -> Result<(), ChatError> {
    if me == target {
        return Err(ChatError::refused(
            "user-send-self",
            "a user cannot message themself",
        ));
    }
    if directory.user(target).await?.is_none() {
        return Err(ChatError::refused(
            "user-send-exists",
            format!("there is no user {target}"),
        ));
    }
    if directory.is_blocked(target, me).await? {
        return Err(ChatError::refused(
            "user-send-blocked",
            format!("user {target} has blocked you"),
        ));
    }
    if directory.is_blocked(me, target).await? {
        return Err(ChatError::refused(
            "user-send-blocked",
            format!("you have blocked user {target}; unblock them first"),
        ));
    }
    if !allow_strangers && !directory.are_friends(me, target).await? {
        return Err(ChatError::refused(
            "user-send-friends",
            format!("only friends may message user {target}"),
        ));
    }
    Ok(())
}

/// SUBSCRIBE `/group/{group}`: members of a group that exists.
pub async fn may_read_group(
    directory: &dyn Directory,
    me: UserId,
    group: GroupId,
) -> Result<Role, ChatError> {
    let found = directory.group(group).await?;
    if found.as_ref().is_none_or(|g| g.dissolved) {
        return Err(ChatError::refused(
            "group-exists",
            format!("there is no group {group}"),
        ));
    }
    match directory.member(group, me).await? {
        Some(member) => Ok(member.role),
        None => Err(ChatError::refused(
            "group-member",
            format!("only members of group {group} may use /group/{group}"),
        )),
    }
}

/// SEND to `/group/{group}`: members who are not muted; when the whole
/// group is muted, only its owner and admins.
pub async fn may_send_to_group(
    directory: &dyn Directory,
    me: UserId,
    group: GroupId,
) -> Result<(), ChatError> {
    let Some(found) = directory.group(group).await?.filter(|g| !g.dissolved) else {
        return Err(ChatError::refused(
            "group-exists",
            format!("there is no group {group}"),
        ));
    };
    let Some(member) = directory.member(group, me).await? else {
        return Err(ChatError::refused(
            "group-member",
            format!("only members of group {group} may send to /group/{group}"),
        ));
    };
    if member.muted {
        return Err(ChatError::refused(
            "group-muted",
            format!("you are muted in group {group}"),
        ));
    }
    if found.muted_all && !member.role.is_manager() {
        return Err(ChatError::refused(
            "group-muted",
            format!("group {group} is muted: only its owner and admins may send"),
        ));
    }
    Ok(())
}
