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
        return Err(Error::Invalid(format!("{email:?} is not an email address")));
    }
    if password.chars().count() < MIN_PASSWORD_CHARS {
        return Err(Error::Invalid(format!(
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

/// Failed sign-ins an email may have before every further attempt must wait.
const FREE_SIGN_IN_FAILURES: i32 = 3;
/// The wait doubles with each failure beyond the free ones, up to this. (The
/// SQL also caps the exponent at 16, past the cap, so that failures piling up
/// for days cannot overflow the power.)
const MAX_SIGN_IN_WAIT_SECONDS: f64 = 60.0;
/// Longer than any real email address or password (RFC 5321 allows 254
/// characters in an address); anything longer is refused before it is counted.
const MAX_EMAIL_CHARS: usize = 254;
const MAX_PASSWORD_CHARS: usize = 1024;

/// The id of the researcher with this email and password. An unknown email
/// and a wrong password get the same error, so the answer does not reveal
/// which emails have accounts. After a few failures for one email, each
/// further attempt must wait longer (429 with the wait), so that passwords
/// cannot be guessed quickly even from many addresses.
pub async fn authenticate(pool: &PgPool, email: &str, password: &str) -> Result<i64> {
    if email.chars().count() > MAX_EMAIL_CHARS || password.chars().count() > MAX_PASSWORD_CHARS {
        return Err(Error::Invalid(format!(
            "an email has at most {MAX_EMAIL_CHARS} characters and a password at most \
             {MAX_PASSWORD_CHARS}"
        )));
    }
    let throttle_key = email.trim().to_lowercase();
    begin_sign_in_attempt(pool, &throttle_key).await?;
    let researcher_id = match check_password(pool, email, password).await {
        Ok(id) => id,
        Err(error) => {
            // The wait runs from the answer, not from the start of the attempt.
            sqlx::query!(
                "UPDATE sign_in_failures SET last_attempt_at = now() WHERE email = $1",
                throttle_key
            )
            .execute(pool)
            .await?;
            return Err(error);
        }
    };
    sqlx::query!(
        "DELETE FROM sign_in_failures WHERE email = $1",
        throttle_key
    )
    .execute(pool)
    .await?;
    Ok(researcher_id)
}

/// Counts an attempt for `email` as failed until it succeeds, unless the
/// email's earlier failures say it must wait, which is refused with the wait.
/// One statement, so that attempts in parallel each see the others.
async fn begin_sign_in_attempt(pool: &PgPool, email: &str) -> Result<()> {
    let started = sqlx::query!(
        r#"
        INSERT INTO sign_in_failures AS f (email, failures, last_attempt_at)
        VALUES ($1, 1, now())
        ON CONFLICT (email) DO UPDATE SET
            -- A day without attempts forgives the old failures.
            failures = CASE WHEN f.last_attempt_at < now() - interval '1 day' THEN 1
                            ELSE f.failures + 1 END,
            last_attempt_at = now()
        WHERE f.failures < $2
           OR f.last_attempt_at + make_interval(secs => least($3, power(2, least(f.failures - $2, 16))))
              <= now()
        RETURNING f.failures
        "#,
        email,
        FREE_SIGN_IN_FAILURES,
        MAX_SIGN_IN_WAIT_SECONDS,
    )
    .fetch_optional(pool)
    .await?;
    if started.is_some() {
        // Now and then, forget emails nobody tried for a day.
        if rand::random::<u8>() == 0 {
            sqlx::query!(
                "DELETE FROM sign_in_failures WHERE last_attempt_at < now() - interval '1 day'"
            )
            .execute(pool)
            .await?;
        }
        return Ok(());
    }
    let wait_seconds = sqlx::query_scalar!(
        r#"
        SELECT greatest(0, extract(epoch FROM
            last_attempt_at + make_interval(secs => least($2, power(2, least(failures - $3, 16))))
            - now()))::float8 AS "wait_seconds!"
        FROM sign_in_failures WHERE email = $1
        "#,
        email,
        MAX_SIGN_IN_WAIT_SECONDS,
        FREE_SIGN_IN_FAILURES,
    )
    .fetch_optional(pool)
    .await?
    .unwrap_or(0.0);
    Err(Error::TryLater {
        message: format!(
            "too many failed sign-ins for {email}: wait {wait_seconds:.0} s before trying again \
             (the wait doubles with each failure, up to {MAX_SIGN_IN_WAIT_SECONDS:.0} s)"
        ),
        retry_after: std::time::Duration::from_secs_f64(wait_seconds),
    })
}

async fn check_password(pool: &PgPool, email: &str, password: &str) -> Result<i64> {
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
        _ => Err(Error::Unauthenticated("wrong email or password".into())),
    }
}
