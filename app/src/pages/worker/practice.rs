//! The practice trial, of the experiment's kind, whose answer is known: a
//! 2AFC trial with the reference itself on one side, or a JND trial whose
//! patches differ. The worker is told whether they got it right before the
//! real trials start.

use leptos::{prelude::*, task::spawn_local};

use super::{
    jnd_trial::{self, JndStage, JndStageView},
    trial::{start_loading, ImageUrls, Stage, TrialStage},
};
use crate::api::{
    jnd::{JndPresentation, JndTrialUrls},
    judgments::Side,
    practice::PracticeTrial,
};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Feedback {
    Correct(Side),
    Wrong { identical: Side },
    SaidDifferent,
    SaidSame,
}

impl Feedback {
    fn message(self) -> String {
        match self {
            Feedback::Correct(side) => format!(
                "Correct: the {} patch is identical to the middle one, so it is the closer one.",
                side.as_str()
            ),
            Feedback::Wrong { identical } => format!(
                "Not quite: the {} patch is identical to the middle one. \
                 Choose the patch that looks most like the middle one.",
                identical.as_str()
            ),
            Feedback::SaidDifferent => {
                "Correct: the second patch was a changed version of the first.".into()
            }
            Feedback::SaidSame => "Not quite: the second patch was a changed version of the \
                 first. Answer \"different\" whenever you notice any change."
                .into(),
        }
    }
}

/// Shows the practice `trial`; calls `on_done` once the worker has answered.
#[component]
pub fn Practice(trial: PracticeTrial, on_done: Callback<()>) -> impl IntoView {
    let stage = Stage::new();
    let jnd_stage = JndStage::new();
    let feedback = RwSignal::new(None::<Feedback>);
    let failure = RwSignal::new(None::<String>);
    let is_jnd = matches!(trial, PracticeTrial::Jnd { .. });
    Effect::new(move |_| {
        let trial = trial.clone();
        spawn_local(async move {
            let outcome = match trial {
                PracticeTrial::TwoAfc {
                    reference_url,
                    left_url,
                    right_url,
                    identical_side,
                } => {
                    let urls = ImageUrls {
                        reference: &reference_url,
                        left: &left_url,
                        right: &right_url,
                    };
                    run_two_afc(stage, urls, identical_side).await
                }
                PracticeTrial::Jnd {
                    presentation,
                    reference_url,
                    distorted_url,
                } => {
                    let urls = JndTrialUrls {
                        position: 0,
                        reference_url,
                        distorted_url,
                    };
                    run_jnd(jnd_stage, &urls, presentation).await
                }
            };
            match outcome {
                Ok(Some(outcome)) => {
                    feedback.set(Some(outcome));
                    on_done.run(());
                }
                Ok(None) => {}
                Err(message) => failure.set(Some(message)),
            }
        });
    });
    view! {
        <section class="practice">
            <h2>"Practice"</h2>
            <p>"This one is for practice and is not recorded."</p>
            {if is_jnd {
                view! { <JndStageView stage=jnd_stage/> }.into_any()
            } else {
                view! { <TrialStage stage/> }.into_any()
            }}
            <p class="practice-feedback" id="practice-feedback" role="status">
                {move || feedback.get().map(Feedback::message).or_else(|| failure.get()).unwrap_or_default()}
            </p>
        </section>
    }
}

/// Shows and checks a 2AFC practice trial. None if the page was left.
async fn run_two_afc(
    stage: Stage,
    urls: ImageUrls<'_>,
    identical_side: Side,
) -> Result<Option<Feedback>, String> {
    let trial = start_loading(0, urls)?.ready().await?;
    let Some(choice) = stage.present(trial).await else {
        return Ok(None);
    };
    Ok(Some(if choice.side == identical_side {
        Feedback::Correct(choice.side)
    } else {
        Feedback::Wrong {
            identical: identical_side,
        }
    }))
}

/// Shows and checks a JND practice trial, whose patches differ. None if the
/// page was left.
async fn run_jnd(
    stage: JndStage,
    urls: &JndTrialUrls,
    presentation: JndPresentation,
) -> Result<Option<Feedback>, String> {
    let trial = jnd_trial::start_loading(urls)?.ready().await?;
    let refresh_interval_ms = jnd_trial::measure_refresh_interval().await;
    if stage
        .show(&trial, presentation, refresh_interval_ms)
        .await
        .is_none()
    {
        return Ok(None);
    }
    let Some(answer) = stage.ask().await else {
        return Ok(None);
    };
    Ok(Some(if answer.said_same {
        Feedback::SaidSame
    } else {
        Feedback::SaidDifferent
    }))
}
