//! The JSON bodies the API reads, with the types the server deserializes them
//! into: parsing never panics, what parses serializes back to the same value,
//! and a JND body's timing is judged without panicking whatever its numbers.
#![no_main]

use percept_api::{
    assignments::AssignmentRequest,
    experiments::NewExperimentSettings,
    jnd::{JndPresentation, NewJndJudgment},
    judgments::NewJudgment,
    scoring::ScoringRequest,
    sessions::SignIn,
};
use libfuzzer_sys::fuzz_target;
use serde::{de::DeserializeOwned, Serialize};

/// BAPPS' sequence, the default of a JND experiment.
const PRESENTATION: JndPresentation = JndPresentation {
    reference_ms: 1000,
    gap_ms: 250,
    distorted_ms: 1000,
};

/// Bodies whose fields are all exact (no floats) survive a round trip unchanged.
fn round_trips<T: Serialize + DeserializeOwned + PartialEq + std::fmt::Debug>(body: &T) {
    let text = serde_json::to_string(body).expect("a parsed body serializes");
    let again: T = serde_json::from_str(&text).expect("a serialized body parses");
    assert_eq!(&again, body);
}

fuzz_target!(|text: &str| {
    if let Ok(judgment) = serde_json::from_str::<NewJudgment>(text) {
        round_trips(&judgment);
    }
    if let Ok(scoring) = serde_json::from_str::<ScoringRequest>(text) {
        round_trips(&scoring);
    }
    if let Ok(judgment) = serde_json::from_str::<NewJndJudgment>(text) {
        let _ = judgment.timing.invalid_reason(&PRESENTATION);
    }
    let _ = serde_json::from_str::<AssignmentRequest>(text);
    let _ = serde_json::from_str::<SignIn>(text);
    let _ = serde_json::from_str::<NewExperimentSettings>(text);
});
