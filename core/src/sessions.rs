//! Researchers' sign-in sessions: a random 256-bit token the browser keeps
//! (the server puts it in a cookie), of which the database keeps only the
//! SHA-256, so reading the table signs nobody in.

use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine};
use percept_api::sessions::Researcher;
use sha2::{Digest, Sha256};
use sqlx::PgPool;

use crate::error::Result;

/// How long a session lasts.
pub const SESSION_DAYS: i64 = 14;

/// Starts a session for `researcher_id` (forgetting their expired ones);
/// returns its token and who it signs in.
pub async fn start(pool: &PgPool, researcher_id: i64) -> Result<(String, Researcher)> {
    let token = URL_SAFE_NO_PAD.encode(rand::random::<[u8; 32]>());
    let mut transaction = pool.begin().await?;
    // Sessions that ran out are of no use to anyone; sign-in is a good time to forget them.
    sqlx::query!(
        "DELETE FROM researcher_sessions WHERE researcher_id = $1 AND expires_at <= now()",
        researcher_id
    )
    .execute(&mut *transaction)
    .await?;
    let email = sqlx::query_scalar!(
        "INSERT INTO researcher_sessions (token_sha256, researcher_id, expires_at)
         VALUES ($1, $2, now() + make_interval(days => $3))
         RETURNING (SELECT email FROM researchers WHERE id = $2) AS \"email!\"",
        token_sha256(&token),
        researcher_id,
        SESSION_DAYS as i32,
    )
    .fetch_one(&mut *transaction)
    .await?;
    transaction.commit().await?;
    Ok((
        token,
        Researcher {
            id: researcher_id,
            email,
        },
    ))
}

/// Who the unexpired session with `token` signs in, if any.
pub async fn researcher(pool: &PgPool, token: &str) -> Result<Option<Researcher>> {
    Ok(sqlx::query_as!(
        Researcher,
        "SELECT r.id, r.email FROM researcher_sessions s
         JOIN researchers r ON r.id = s.researcher_id
         WHERE s.token_sha256 = $1 AND s.expires_at > now()",
        token_sha256(token),
    )
    .fetch_optional(pool)
    .await?)
}

/// Ends the session with `token`, if there is one.
pub async fn end(pool: &PgPool, token: &str) -> Result<()> {
    sqlx::query!(
        "DELETE FROM researcher_sessions WHERE token_sha256 = $1",
        token_sha256(token)
    )
    .execute(pool)
    .await?;
    Ok(())
}

fn token_sha256(token: &str) -> Vec<u8> {
    Sha256::digest(token.as_bytes()).to_vec()
}
