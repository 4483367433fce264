//! Judgments go to the server in the background: the worker moves on at once
//! while each answer is submitted, retried with the same id until the server
//! acknowledges it, and kept in localStorage meanwhile so a reload or a lost
//! connection loses nothing.

use std::{
    cell::{Cell, RefCell},
    rc::Rc,
};

use futures::future::LocalBoxFuture;
use leptos::task::spawn_local;
use serde::{de::DeserializeOwned, Serialize};

use super::browser;
use crate::api::{
    client::{self, ApiError},
    jnd::{JndJudgmentReceipt, NewJndJudgment},
    judgments::{JudgmentReceipt, NewJudgment},
};

/// A judgment of some kind of trial (2AFC, JND), as the submitter handles it.
pub trait Answer: Clone + Serialize + DeserializeOwned + 'static {
    type Receipt: 'static;
    fn id(&self) -> uuid::Uuid;
    fn position(&self) -> i32;
    fn send(self, token: String) -> LocalBoxFuture<'static, Result<Self::Receipt, ApiError>>;
    /// The completion code and redirect, if the receipt says the assignment is complete.
    fn completion(receipt: &Self::Receipt) -> Option<(String, Option<String>)>;
}

impl Answer for NewJudgment {
    type Receipt = JudgmentReceipt;
    fn id(&self) -> uuid::Uuid {
        self.id
    }
    fn position(&self) -> i32 {
        self.position
    }
    fn send(self, token: String) -> LocalBoxFuture<'static, Result<JudgmentReceipt, ApiError>> {
        Box::pin(async move { client::submit_judgment(&token, &self).await })
    }
    fn completion(receipt: &JudgmentReceipt) -> Option<(String, Option<String>)> {
        let code = receipt
            .completion_code
            .clone()
            .filter(|_| receipt.completed)?;
        Some((code, receipt.redirect_url.clone()))
    }
}

impl Answer for NewJndJudgment {
    type Receipt = JndJudgmentReceipt;
    fn id(&self) -> uuid::Uuid {
        self.id
    }
    fn position(&self) -> i32 {
        self.position
    }
    fn send(self, token: String) -> LocalBoxFuture<'static, Result<JndJudgmentReceipt, ApiError>> {
        Box::pin(async move { client::submit_jnd_judgment(&token, &self).await })
    }
    fn completion(receipt: &JndJudgmentReceipt) -> Option<(String, Option<String>)> {
        let code = receipt
            .completion_code
            .clone()
            .filter(|_| receipt.completed)?;
        Some((code, receipt.redirect_url.clone()))
    }
}

/// What the server's answers mean for the worker.
#[derive(Debug, Clone)]
pub enum SubmissionOutcome<R> {
    /// The server stored a judgment (reported before `Completed`).
    Acknowledged(R),
    /// The last judgment completed the assignment.
    Completed {
        completion_code: String,
        redirect_url: Option<String>,
    },
    /// The server refused a judgment for good (e.g. the assignment expired).
    Refused(String),
}

pub struct Submitter<J: Answer> {
    token: String,
    /// Oldest first; each leaves only once the server has acknowledged it.
    pending: RefCell<Vec<J>>,
    sending: Cell<bool>,
    on_outcome: Box<dyn Fn(SubmissionOutcome<J::Receipt>)>,
}

/// Retries start quickly and back off to this, so a worker who lost the
/// connection for a while is caught up soon after it returns.
const MAX_RETRY_DELAY_MS: i32 = 8_000;

impl<J: Answer> Submitter<J> {
    /// The submitter of the assignment with `token`, holding the judgments a
    /// previous visit left unacknowledged, except those at `judged_positions`,
    /// which the server already has.
    pub fn resume(
        token: &str,
        judged_positions: &[i32],
        on_outcome: impl Fn(SubmissionOutcome<J::Receipt>) + 'static,
    ) -> Rc<Self> {
        let mut pending: Vec<J> = browser::load(&storage_key(token)).unwrap_or_default();
        pending.retain(|judgment| !judged_positions.contains(&judgment.position()));
        let submitter = Rc::new(Submitter {
            token: token.to_owned(),
            pending: RefCell::new(pending),
            sending: Cell::new(false),
            on_outcome: Box::new(on_outcome),
        });
        submitter.store();
        submitter.send_pending();
        submitter
    }

    /// Positions answered here but not yet acknowledged by the server.
    pub fn pending_positions(&self) -> Vec<i32> {
        self.pending
            .borrow()
            .iter()
            .map(|judgment| judgment.position())
            .collect()
    }

    pub fn submit(self: &Rc<Self>, judgment: J) {
        self.pending.borrow_mut().push(judgment);
        self.store();
        self.send_pending();
    }

    fn store(&self) {
        let key = storage_key(&self.token);
        let pending = self.pending.borrow();
        if pending.is_empty() {
            browser::forget(&key);
        } else {
            browser::save(&key, &*pending);
        }
    }

    /// Sends the pending judgments one at a time, in order; one sender at a time.
    fn send_pending(self: &Rc<Self>) {
        if self.sending.replace(true) {
            return;
        }
        let submitter = Rc::clone(self);
        spawn_local(async move {
            let mut retry_delay_ms = 500;
            loop {
                let Some(judgment) = submitter.pending.borrow().first().cloned() else {
                    break;
                };
                match judgment.clone().send(submitter.token.clone()).await {
                    Ok(receipt) => {
                        retry_delay_ms = 500;
                        submitter.acknowledge(&judgment);
                        let completion = J::completion(&receipt);
                        (submitter.on_outcome)(SubmissionOutcome::Acknowledged(receipt));
                        if let Some((completion_code, redirect_url)) = completion {
                            (submitter.on_outcome)(SubmissionOutcome::Completed {
                                completion_code,
                                redirect_url,
                            });
                        }
                    }
                    Err(error) if error.is_transient() => {
                        browser::sleep(retry_delay_ms).await;
                        retry_delay_ms = (retry_delay_ms * 2).min(MAX_RETRY_DELAY_MS);
                    }
                    Err(error) => {
                        submitter.acknowledge(&judgment);
                        (submitter.on_outcome)(SubmissionOutcome::Refused(error.message()));
                    }
                }
            }
            submitter.sending.set(false);
        });
    }

    fn acknowledge(&self, judgment: &J) {
        self.pending
            .borrow_mut()
            .retain(|pending| pending.id() != judgment.id());
        self.store();
    }
}

fn storage_key(token: &str) -> String {
    format!("percept.pending-judgments.{token}")
}
