//! The CONNECT (or STOMP) frame: version, credentials, heart-beats, and the
//! CONNECTED answer.

use std::time::Duration;

use herald_protocol::heartbeat::{negotiate, HeartBeat};
use herald_protocol::{Command, Escaping, Frame, Version};

use super::{ErrorReason, HeartBeats, Refusal, Session};
use crate::auth::jwt::looks_like_jwt;
use crate::auth::AuthError;
use crate::transport::Transport;

/// The `server` header of CONNECTED.
const SERVER: &str = concat!("Herald/", env!("CARGO_PKG_VERSION"));

impl<T: Transport> Session<T> {
    /// Checks the first frame and answers CONNECTED; any problem is a
    /// refusal (ERROR, then close).
    pub(super) async fn connect(&mut self, frame: Frame) -> Result<(), Refusal> {
        if !matches!(frame.command, Command::Connect | Command::Stomp) {
            return Err(Refusal::with_detail(
                format!("expected CONNECT or STOMP, got {}", frame.command),
                "the first frame of a connection must be CONNECT or STOMP",
            ));
        }
        if !frame.body.is_empty() {
            return Err(
                Refusal::new(format!("{} frames must not have a body", frame.command))
                    .because(ErrorReason::Malformed),
            );
        }
        let version = Version::negotiate(frame.get("accept-version")).ok_or_else(|| {
            Refusal::with_detail(
                format!(
                    "unsupported protocol version {:?}",
                    frame.get("accept-version").unwrap_or_default()
                ),
                format!("this broker speaks STOMP {}", Version::supported_list()),
            )
        })?;
        let client_beats = match frame.get("heart-beat") {
            None => HeartBeat::default(),
            Some(value) => HeartBeat::parse(value).ok_or_else(|| {
                Refusal::new(format!(
                    "invalid heart-beat header {value:?}: expected two integers, cx,cy"
                ))
                .because(ErrorReason::Malformed)
            })?,
        };
        let authorization = frame.get("Authorization").or(frame.get("authorization"));
        let password_login = self.password_login(&frame, authorization);
        if let Some(login) = password_login {
            self.broker
                .abuse
                .check_login(login, self.peer.ip())
                .map_err(|limited| {
                    Refusal::new(limited.to_string()).because(ErrorReason::RateLimited)
                })?;
        }
        let principal = self
            .broker
            .auth
            .connect(frame.get("login"), frame.get("passcode"), authorization)
            .await
            .map_err(|error| {
                if let (Some(login), AuthError::BadCredentials) = (password_login, &error) {
                    self.broker.abuse.login_failed(login, self.peer.ip());
                }
                Refusal::from(error)
            })?;
        self.device_id = frame
            .get("device-id")
            .map(str::to_owned)
            .filter(|device| !device.is_empty() && device.len() <= 128);
        if let Some(device) = &self.device_id {
            self.device_new = self
                .broker
                .chat()
                .register_device(principal.user_id, device)
                .await
                .map_err(|error| {
                    Refusal::new(format!("cannot register device: {error}"))
                        .because(ErrorReason::Unavailable)
                })?;
        }

        let stomp = &self.broker.config.stomp;
        let server_beats = HeartBeat {
            send_ms: stomp.heartbeat_send_ms,
            receive_ms: stomp.heartbeat_receive_ms,
        };
        let agreed = negotiate(client_beats, server_beats, stomp.heartbeat_floor_ms);
        let millis = |ms: u64| (ms > 0).then(|| Duration::from_millis(ms));
        self.heart_beats = HeartBeats {
            send: millis(agreed.server_send_ms),
            receive: millis(agreed.server_receive_ms),
        };
        self.version = version;
        self.decoder.set_escaping(Escaping::for_version(version));
        self.principal = Some(principal);

        let mut connected = Frame::new(Command::Connected)
            .header("version", version.as_str())
            .header("session", format!("herald-{}", self.handle.id))
            .header("server", SERVER)
            .header(
                "heart-beat",
                HeartBeat {
                    send_ms: agreed.server_send_ms,
                    receive_ms: agreed.server_receive_ms,
                }
                .header_value(),
            );
        if let Some(principal) = &self.principal {
            connected
                .headers
                .push("user-name", principal.username.clone());
            connected
                .headers
                .push("user-id", principal.user_id.to_string());
            self.broker
                .router
                .chat
                .session_started(principal.user_id)
                .await;
        }
        self.write_frame(&connected);
        Ok(())
    }

    /// The `login` of a CONNECT that logs in with a password (not a token),
    /// whose failures count against the login limits.
    fn password_login<'f>(&self, frame: &'f Frame, authorization: Option<&str>) -> Option<&'f str> {
        let bearer = authorization.is_some_and(|value| value.starts_with("Bearer "));
        let token = frame.get("passcode").is_some_and(looks_like_jwt);
        frame
            .get("login")
            .filter(|login| !login.is_empty() && !bearer && !token)
    }
}
