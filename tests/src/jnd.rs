//! JND fixtures: experiments made the way `percept experiment create --kind
//! jnd` makes them, and judgment bodies with the timing a browser measures.

use serde_json::{json, Value};
use server::experiments::{ExperimentKind, NewExperiment};
use server::jnd::JndSettings;
use sqlx::PgPool;

use crate::two_afc::experiment_settings;

/// 60 Hz.
pub const FRAME_MS: f64 = 1000.0 / 60.0;

/// Settings for a small JND experiment with BAPPS' sequence and `control_share`
/// controls, owned by a fresh researcher.
pub async fn jnd_experiment_settings(pool: &PgPool, control_share: f64) -> NewExperiment {
    NewExperiment {
        kind: ExperimentKind::Jnd(JndSettings {
            control_share,
            ..JndSettings::default()
        }),
        ..experiment_settings(pool).await
    }
}

/// The timing of a sequence shown exactly as configured at 60 Hz (1000,
/// 250, 1000 ms), with the gap lengthened by `gap_error_ms`.
pub fn timing(gap_error_ms: f64) -> Value {
    let on = 5_000.0;
    json!({
        "refresh_interval_ms": FRAME_MS,
        "reference_on_at_ms": on,
        "reference_off_at_ms": on + 1000.0,
        "distorted_on_at_ms": on + 1250.0 + gap_error_ms,
        "distorted_off_at_ms": on + 2250.0 + gap_error_ms,
        "lost_visibility": false,
        "lost_focus": false,
    })
}

/// A fresh JND judgment body for `position` with `timing`.
pub fn jnd_judgment(position: i64, said_same: bool, timing: Value) -> Value {
    json!({
        "id": uuid::Uuid::new_v4(),
        "position": position,
        "said_same": said_same,
        "response_ms": 640,
        "client_time": "2025-01-02T03:04:05.678Z",
        "timing": timing,
    })
}
