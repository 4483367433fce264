use leptos::prelude::*;

/// The front page: what Percept is, and the way in for each kind of visitor.
#[component]
pub fn HomePage() -> impl IntoView {
    view! {
        <section class="home">
            <h1>"Percept"</h1>
            <p class="lead">
                "Human perceptual-similarity judgments, collected the way the LPIPS paper's "
                "BAPPS dataset was (2AFC and JND trials), and the agreement of LPIPS and classic "
                "metrics with them."
            </p>
            <div class="home-ways">
                <div>
                    <h2>"Researchers"</h2>
                    <p>
                        "Create experiments from your images, follow the judgments coming in, "
                        "score them with LPIPS, L2, SSIM and PSNR, read the agreement report "
                        "and export BAPPS-style datasets."
                    </p>
                    <p><a id="sign-in-link" href="/sign-in">"Sign in to the dashboard"</a></p>
                </div>
                <div>
                    <h2>"Participants"</h2>
                    <p>
                        "Your study's link (from Prolific, MTurk or the researcher) takes you "
                        "straight to its instructions."
                    </p>
                </div>
            </div>
        </section>
    }
}
