//! The JSON API's request and response bodies, one module per resource:
//! served by `server`, built by `percept-core`, called by the hydrated pages
//! in `app`. Plain serde types, so the browser's wasm build and the core
//! (which has no web framework) can both depend on them.

pub mod arrival;
pub mod assignments;
pub mod experiments;
pub mod jnd;
pub mod jobs;
pub mod judgments;
pub mod practice;
pub mod scoring;
pub mod sessions;
pub mod training;

/// `n` with the noun agreeing with it: `count(1, "job", "jobs")` is
/// "1 job", `count(2, "job", "jobs")` "2 jobs" (and "0 jobs"). For the
/// counts the CLI, reports and pages write into sentences.
pub fn count(n: impl std::fmt::Display, singular: &str, plural: &str) -> String {
    let n = n.to_string();
    let noun = if n == "1" { singular } else { plural };
    format!("{n} {noun}")
}

#[cfg(test)]
mod tests {
    use super::count;

    #[test]
    fn count_agrees_with_one_and_with_more() {
        assert_eq!(
            count(1, "flagged worker", "flagged workers"),
            "1 flagged worker"
        );
        assert_eq!(count(0_i64, "job", "jobs"), "0 jobs");
        assert_eq!(count(2_usize, "stimulus", "stimuli"), "2 stimuli");
        assert_eq!(count(11_u32, "job", "jobs"), "11 jobs");
    }
}
