//! A small client for the HTTP JSON API in tests.

#![allow(dead_code)]

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

/// The API of one broker, as one user (or anonymously).
#[derive(Clone)]
pub struct Api {
    pub base: String,
    pub token: Option<String>,
    pub refresh: Option<String>,
    pub user_id: i64,
    pub username: String,
    client: reqwest::Client,
}

impl Api {
    pub fn anonymous(http_addr: impl std::fmt::Display) -> Api {
        Api {
            base: format!("http://{http_addr}/api"),
            token: None,
            refresh: None,
            user_id: 0,
            username: String::new(),
            client: reqwest::Client::new(),
        }
    }

    /// Registers `username` (password `password-<username>`) and returns
    /// the API as that user.
    pub async fn register(http_addr: impl std::fmt::Display, username: &str) -> Api {
        let mut api = Api::anonymous(http_addr);
        let (status, body) = api
            .call(
                Method::POST,
                "/register",
                Some(json!({ "username": username, "password": format!("password-{username}") })),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "register {username}: {body}");
        api.adopt(&body);
        api
    }

    /// Takes the tokens and user from a login-like answer.
    pub fn adopt(&mut self, body: &Value) {
        self.token = body["access_token"].as_str().map(str::to_owned);
        self.refresh = body["refresh_token"].as_str().map(str::to_owned);
        self.user_id = body["user"]["id"].as_i64().expect("user id");
        self.username = body["user"]["username"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
    }

    pub fn token(&self) -> &str {
        self.token.as_deref().expect("logged in")
    }

    pub async fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let mut request = self.client.request(method, format!("{}{path}", self.base));
        if let Some(token) = &self.token {
            request = request.bearer_auth(token);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.expect("HTTP request");
        let status = response.status();
        let text = response.text().await.unwrap_or_default();
        let value = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text)
                .unwrap_or_else(|_| panic!("non-JSON answer {status}: {text}"))
        };
        (status, value)
    }

    pub async fn get(&self, path: &str) -> (StatusCode, Value) {
        self.call(Method::GET, path, None).await
    }

    pub async fn post(&self, path: &str, body: Value) -> (StatusCode, Value) {
        self.call(Method::POST, path, Some(body)).await
    }

    pub async fn put(&self, path: &str, body: Value) -> (StatusCode, Value) {
        self.call(Method::PUT, path, Some(body)).await
    }

    pub async fn patch(&self, path: &str, body: Value) -> (StatusCode, Value) {
        self.call(Method::PATCH, path, Some(body)).await
    }

    pub async fn delete(&self, path: &str) -> (StatusCode, Value) {
        self.call(Method::DELETE, path, None).await
    }

    /// Makes `self` and `other` friends through a request and its acceptance.
    pub async fn befriend(&self, other: &Api) {
        let (status, request) = self
            .post(
                "/friend-requests",
                json!({ "to": other.user_id, "greeting": "hi" }),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{request}");
        let (status, body) = other
            .post(
                &format!("/friend-requests/{}/accept", request["id"]),
                json!({}),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
    }
}

/// Asserts an API error with `status` and `code`; returns its message.
pub fn assert_error(answer: &(StatusCode, Value), status: StatusCode, code: &str) -> String {
    assert_eq!(answer.0, status, "{}", answer.1);
    assert_eq!(answer.1["error"], code, "{}", answer.1);
    answer.1["message"].as_str().expect("message").to_owned()
}
