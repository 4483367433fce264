//! Researcher accounts: the people who own experiments.

use std::sync::LazyLock;

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use sqlx::PgPool;

use crate::error::{Error, Result};

/// Short passwords are the one weakness a slow hash cannot make up for.
const MIN_PASSWORD_CHARS: usize = 10;

/// Stores a researcher with an argon2id hash of `password`; returns the id.
pub async fn add(pool: &PgPool, email: &str, password: &str) -> Result<i64> {
    let email = email.trim();
    if !email.contains('@') || email.contains(char::is_whitespace) {
        return Err(Error::BadRequest(format!(
            "{email:?} is not an email address"
        )));
    }
    if password.chars().count() < MIN_PASSWORD_CHARS {
        return Err(Error::BadRequest(format!(
            "the password must have at least {MIN_PASSWORD_CHARS} characters"
        )));
    }
    let password = password.to_owned();
    // Argon2 is deliberately slow: keep it off the async executor.
    let password_hash = tokio::task::spawn_blocking(move || hash_password(&password))
        .await
        .map_err(anyhow::Error::from)??;
    sqlx::query_scalar!(
        "INSERT INTO researchers (email, password_hash) VALUES ($1, $2) RETURNING id",
        email,
        password_hash,
    )
    .fetch_one(pool)
    .await
    .map_err(|error| match &error {
        sqlx::Error::Database(db) if db.is_unique_violation() => {
            Error::Conflict(format!("a researcher with email {email} already exists"))
        }
        _ => error.into(),
    })
}

/// The id of the researcher with this email.
pub async fn id_by_email(pool: &PgPool, email: &str) -> Result<i64> {
    sqlx::query_scalar!("SELECT id FROM researchers WHERE email = $1", email.trim())
        .fetch_optional(pool)
        .await?
        .ok_or_else(|| Error::NotFound(format!("there is no researcher with email {email}")))
}

fn hash_password(password: &str) -> anyhow::Result<String> {
    let salt = SaltString::encode_b64(&rand::random::<[u8; 16]>())
        .map_err(|error| anyhow::anyhow!("cannot encode the salt: {error}"))?;
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|hash| hash.to_string())
        .map_err(|error| anyhow::anyhow!("cannot hash the password: {error}"))
}

/// Checked against when the email is unknown, so that an unknown email costs
/// the same argon2 run as a wrong password and timing does not tell them apart.
static UNKNOWN_EMAIL_HASH: LazyLock<String> = LazyLock::new(|| {
    hash_password("no researcher has this password").expect("hashing a constant password")
});

/// The id of the researcher with this email and password. An unknown email
/// and a wrong password get the same error, so the answer does not reveal
/// which emails have accounts.
pub async fn authenticate(pool: &PgPool, email: &str, password: &str) -> Result<i64> {
    let researcher = sqlx::query!(
        "SELECT id, password_hash FROM researchers WHERE email = $1",
        email.trim()
    )
    .fetch_optional(pool)
    .await?;
    let (id, password_hash) = match researcher {
        Some(row) => (Some(row.id), row.password_hash),
        None => (None, UNKNOWN_EMAIL_HASH.clone()),
    };
    let password = password.to_owned();
    let password_matches = tokio::task::spawn_blocking(move || {
        let hash = PasswordHash::new(&password_hash)
            .map_err(|error| anyhow::anyhow!("a stored password hash is malformed: {error}"))?;
        anyhow::Ok(
            Argon2::default()
                .verify_password(password.as_bytes(), &hash)
                .is_ok(),
        )
    })
    .await
    .map_err(anyhow::Error::from)??;
    match id {
        Some(id) if password_matches => Ok(id),
        _ => Err(Error::Unauthorized("wrong email or password".into())),
    }
}
