//! Signed-in researchers: HTTP clients with a session cookie, like a browser.

use reqwest::{Client, StatusCode};
use serde_json::json;
use sqlx::PgPool;

use crate::TestApp;

pub const PASSWORD: &str = "a long password";

/// A client with its own cookie jar, like a browser.
pub fn browser_like_client() -> Client {
    Client::builder().cookie_store(true).build().unwrap()
}

impl TestApp {
    /// A client signed in as a new researcher with this email.
    pub async fn signed_in(&self, pool: &PgPool, email: &str) -> Client {
        server::researchers::add(pool, email, PASSWORD)
            .await
            .unwrap();
        self.signed_in_as(email).await
    }

    /// A client signed in as the existing researcher with this email
    /// (and the password [`PASSWORD`]).
    pub async fn signed_in_as(&self, email: &str) -> Client {
        let client = browser_like_client();
        let response = client
            .post(self.url("/api/session"))
            .json(&json!({ "email": email, "password": PASSWORD }))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        client
    }
}
