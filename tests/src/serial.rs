//! Turns for the tests that must not overlap certain others.
//!
//! All the tests run in one process, two at a time on a two-core machine, so
//! any two may meet. Most do not mind. Two kinds do:
//! - tests whose assertions measure wall-clock time: rate-limit windows of a
//!   second or two, JND exposures within one display frame;
//! - tests that keep every core busy for a long while: dozens of simulated
//!   workers against a server that is killed under them (with a deadline of
//!   their own), libtorch scoring whole experiments.
//!
//! A test of one kind waits while a test of the other kind runs. Tests of the
//! same kind still overlap each other, as they did when each file was its own
//! binary, and every other test runs beside either kind.

use std::sync::{Mutex, PoisonError};

use tokio::sync::Notify;

/// What makes a test conflict with the other kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    MeasuresWallClock,
    LoadsEveryCore,
}

/// Which kind runs now, and how many of its tests.
struct Running {
    kind: Option<Kind>,
    tests: usize,
}

static RUNNING: Mutex<Running> = Mutex::new(Running {
    kind: None,
    tests: 0,
});
static LAST_ONE_FINISHED: Notify = Notify::const_new();

/// A test's turn; the test keeps it (`let _turn = ...`) until it ends.
#[must_use = "the turn ends when it is dropped"]
pub struct Turn(());

/// Waits until no test of the other kind runs.
pub async fn take_turn(kind: Kind) -> Turn {
    loop {
        // Registered before looking, so a release in between is not missed.
        let finished = LAST_ONE_FINISHED.notified();
        tokio::pin!(finished);
        finished.as_mut().enable();
        {
            let mut running = RUNNING.lock().unwrap_or_else(PoisonError::into_inner);
            if running.kind.is_none_or(|running| running == kind) {
                running.kind = Some(kind);
                running.tests += 1;
                return Turn(());
            }
        }
        finished.await;
    }
}

impl Drop for Turn {
    fn drop(&mut self) {
        // Also runs while a failed test unwinds: a poisoned lock is still usable.
        let mut running = RUNNING.lock().unwrap_or_else(PoisonError::into_inner);
        running.tests -= 1;
        if running.tests == 0 {
            running.kind = None;
            LAST_ONE_FINISHED.notify_waiters();
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    const A_WHILE: Duration = Duration::from_millis(100);

    #[tokio::test]
    async fn a_kind_waits_for_every_test_of_the_other_and_for_none_of_its_own() {
        let first = take_turn(Kind::LoadsEveryCore).await;
        let second = tokio::time::timeout(A_WHILE, take_turn(Kind::LoadsEveryCore))
            .await
            .expect("a test of the same kind should not wait");
        let timed = tokio::spawn(take_turn(Kind::MeasuresWallClock));

        tokio::time::sleep(A_WHILE).await;
        assert!(!timed.is_finished(), "it should wait for both");
        drop(first);
        tokio::time::sleep(A_WHILE).await;
        assert!(!timed.is_finished(), "it should wait for the second too");
        drop(second);
        let _turn = tokio::time::timeout(A_WHILE, timed)
            .await
            .expect("it should run once the last one finished")
            .unwrap();
        assert!(
            tokio::time::timeout(A_WHILE, take_turn(Kind::LoadsEveryCore))
                .await
                .is_err(),
            "now the other kind should wait"
        );
    }
}
