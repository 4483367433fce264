//! `GET /api/openapi.json`: the OpenAPI 3.1 document of the HTTP API.
//!
//! utoipa writes it at compile time: every handler of the `api()` router (and
//! `/healthz`) carries a `#[utoipa::path]` attribute saying its method, path,
//! parameters, body and the statuses it answers with, and the request and
//! response types derive `ToSchema` (the shared ones in `app::api`, behind the
//! `ssr` feature). `ApiDoc` gathers them; two modifiers add what is the same
//! everywhere: the session cookie's security scheme, and the 500 and 503
//! answers of every route that reaches the database.
//!
//! A route added to the router without an entry here (or the reverse) fails
//! `tests/tests/suite/openapi.rs`.

use std::sync::LazyLock;

use axum::Json;
use utoipa::openapi::{
    encoding::EncodingBuilder,
    header::HeaderBuilder,
    path::Operation,
    security::{ApiKey, ApiKeyValue, SecurityScheme},
    ContentBuilder, Ref, RefOr, ResponseBuilder,
};
use utoipa::{Modify, OpenApi, ToSchema};

/// The name of the security scheme, and of the cookie it stands for.
pub const SESSION_COOKIE: &str = "percept_session";

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Percept",
        version = env!("CARGO_PKG_VERSION"),
        description = "Percept runs two-alternative forced-choice (2AFC) \
            perceptual-similarity experiments in the style of BAPPS. Workers from \
            a crowd platform (or anonymous ones) ask for an assignment of trials, \
            fetch each trial's reference and two distorted patches, and submit \
            which side looks more like the reference. Researchers sign in with a \
            session cookie to create experiments from uploaded reference photos, \
            follow their progress, workers and triplets, queue metric scoring \
            jobs and follow every job of the queue, and read agreement reports or download the collected dataset. \
            Every error answers with a JSON body `{\"error\": \"...\"}`.",
    ),
    paths(
        super::health::check,
        super::assignments::create,
        super::assignment_progress::get,
        super::trial_images::get,
        super::judgments::submit,
        super::jnd_judgments::submit,
        super::practice::get,
        super::practice::image,
        super::sessions::get,
        super::sessions::create,
        super::sessions::delete,
        super::experiments::list,
        super::experiments::create,
        super::experiments::get,
        super::experiments::patch,
        super::experiments::delete,
        super::experiments::workers,
        super::experiment_shares::list,
        super::experiment_shares::create,
        super::experiment_shares::delete,
        super::experiment_triplets::list,
        super::experiment_triplets::image,
        super::scoring::catalogue,
        super::scoring::progress,
        super::scoring::enqueue,
        super::training::list,
        super::training::enqueue,
        super::training::curve,
        super::reports::json,
        super::reports::html,
        super::exports::tar_gz,
        super::exports::judgments_csv,
        super::exports::jnd_judgments_csv,
        super::exports::workers_csv,
        super::experiment_pairs::list,
        super::experiment_pairs::image,
        super::jobs::list,
        super::jobs::retry,
        super::jobs::dismiss,
        openapi_json,
    ),
    components(schemas(
        ErrorBody,
        NewExperimentUpload,
        app::api::assignments::Platform,
        app::api::assignments::AssignmentRequest,
        app::api::assignments::Assignment,
        app::api::assignments::TrialUrls,
        app::api::assignments::AssignmentProgress,
        app::api::judgments::Side,
        app::api::judgments::NewJudgment,
        app::api::judgments::JudgmentReceipt,
        app::api::practice::PracticeTrial,
        app::api::sessions::SignIn,
        app::api::sessions::Researcher,
        app::api::experiments::NewExperimentSettings,
        app::api::experiments::SamplerChoice,
        app::api::experiments::CreatedExperiment,
        app::api::experiments::ExperimentSummary,
        app::api::experiments::ExperimentDetail,
        app::api::experiments::WorkerLinks,
        app::api::experiments::Planning,
        app::api::experiments::ExperimentPatch,
        app::api::experiments::PatchedExperiment,
        app::api::experiments::ExperimentDeletion,
        app::api::experiments::WorkerStats,
        app::api::experiments::NewShare,
        app::api::experiments::ExperimentShare,
        app::api::experiments::TripletPage,
        app::api::experiments::TripletView,
        app::api::experiments::JudgmentView,
        app::api::experiments::PairPage,
        app::api::experiments::PairView,
        app::api::experiments::PairJudgmentView,
        app::api::scoring::ScoringRequest,
        app::api::scoring::MetricOption,
        app::api::scoring::QueuedJobs,
        app::api::scoring::MetricProgress,
        app::api::training::TrainingRequest,
        app::api::training::QueuedTraining,
        app::api::training::EpochPoint,
        app::api::training::TrainedModelSummary,
        app::api::jobs::JobSummary,
        crate::reports::Report,
        super::method_upload::MethodSettings,
        crate::training::TrainedMetricNote,
        crate::reports::agreement::Estimate,
        super::health::Health,
    )),
    modifiers(&SessionCookie, &MultipartEncoding, &InfrastructureErrors),
    tags(
        (name = "workers", description = "What a crowd worker's browser calls: assignments, trial images, judgments, the practice trial. Reached by the experiment id and the assignment's token; no sign-in."),
        (name = "researchers", description = "The dashboard's calls, for the signed-in researcher who owns the experiment; other researchers' experiments answer 404."),
        (name = "operations", description = "Health checks and this document."),
    )
)]
pub struct ApiDoc;

/// Every error's body.
#[derive(ToSchema)]
#[allow(dead_code)] // only described, never built: `Error` writes the JSON itself
pub struct ErrorBody {
    /// What was wrong, in words.
    pub error: String,
}

/// The multipart/form-data body of `POST /api/experiments`.
#[derive(ToSchema)]
#[allow(dead_code)] // only described: the handler reads the parts one by one
pub struct NewExperimentUpload {
    /// The experiment's settings: a `NewExperimentSettings` object as JSON text.
    #[schema(content_media_type = "application/json")]
    pub settings: String,
    /// The reference photos (PNG, JPEG or BMP), one file part each, with a
    /// file name (none for a method comparison).
    #[schema(value_type = Vec<String>, format = Binary)]
    pub images: Vec<Vec<u8>>,
    /// A method comparison instead of `images`: one `.zip` or `.tar.gz` of
    /// `references/NAME` and `methods/<method>/NAME` (outputs of the
    /// reference's size, same names).
    #[schema(value_type = Option<String>, format = Binary)]
    pub methods_archive: Option<Vec<u8>>,
    /// …or the same tree as a folder upload: one file part each, its file
    /// name the path relative to the folder (`methods/edsr/butterfly.png`).
    #[schema(value_type = Option<Vec<String>>, format = Binary)]
    pub method_files: Option<Vec<Vec<u8>>>,
    /// A method comparison's design: a `MethodSettings` object as JSON text.
    #[schema(content_media_type = "application/json")]
    pub method_settings: Option<String>,
}

/// A PNG image's bytes, the body of the image routes.
#[derive(ToSchema)]
#[schema(value_type = String, format = Binary, content_media_type = "image/png")]
#[allow(dead_code)]
pub struct PngImage(Vec<u8>);

/// A gzipped tar archive's bytes.
#[derive(ToSchema)]
#[schema(value_type = String, format = Binary, content_media_type = "application/gzip")]
#[allow(dead_code)]
pub struct GzipArchive(Vec<u8>);

/// `GET /api/openapi.json`.
#[utoipa::path(
    get,
    path = "/api/openapi.json",
    operation_id = "get_openapi_document",
    tag = "operations",
    responses(
        (status = 200, description = "This document: OpenAPI 3.1, as JSON", body = Object),
    ),
)]
pub async fn openapi_json() -> Json<&'static utoipa::openapi::OpenApi> {
    static DOCUMENT: LazyLock<utoipa::openapi::OpenApi> = LazyLock::new(ApiDoc::openapi);
    Json(&DOCUMENT)
}

/// The researchers' session cookie, set by `POST /api/session`.
struct SessionCookie;

impl Modify for SessionCookie {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        openapi
            .components
            .get_or_insert_with(Default::default)
            .add_security_scheme(
                SESSION_COOKIE,
                SecurityScheme::ApiKey(ApiKey::Cookie(ApiKeyValue::with_description(
                    SESSION_COOKIE,
                    "The researcher's session, an HttpOnly SameSite=Strict cookie set by \
                     `POST /api/session` and cleared by `DELETE /api/session`.",
                ))),
            );
    }
}

/// The experiment upload's `settings` part is JSON text.
struct MultipartEncoding;

impl Modify for MultipartEncoding {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let body = openapi
            .paths
            .paths
            .get_mut("/api/experiments")
            .and_then(|item| item.post.as_mut())
            .and_then(|operation| operation.request_body.as_mut());
        let Some(RefOr::T(body)) = body else {
            return;
        };
        if let Some(RefOr::T(content)) = body.content.get_mut("multipart/form-data") {
            content.encoding.insert(
                "settings".into(),
                EncodingBuilder::new()
                    .content_type(Some("application/json"))
                    .build(),
            );
        }
    }
}

/// Every route that reaches the database may answer 503 (with Retry-After)
/// when it cannot, and 500 on an unexpected failure; both with `ErrorBody`.
/// Added to every operation but this document's own.
struct InfrastructureErrors;

impl Modify for InfrastructureErrors {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let error_body = || {
            ContentBuilder::new()
                .schema(Some(Ref::from_schema_name("ErrorBody")))
                .build()
        };
        let unavailable = ResponseBuilder::new()
            .description("The database cannot be reached; retry after the given seconds")
            .header(
                "Retry-After",
                HeaderBuilder::new()
                    .schema(Some(
                        utoipa::openapi::ObjectBuilder::new()
                            .schema_type(utoipa::openapi::schema::Type::Integer)
                            .minimum(Some(0)),
                    ))
                    .description(Some("Seconds to wait before retrying"))
                    .build(),
            )
            .content("application/json", error_body())
            .build();
        let internal = ResponseBuilder::new()
            .description("An unexpected server failure")
            .content("application/json", error_body())
            .build();
        for (path, item) in openapi.paths.paths.iter_mut() {
            if path == "/api/openapi.json" {
                continue;
            }
            let operations: [&mut Option<Operation>; 4] = [
                &mut item.get,
                &mut item.post,
                &mut item.delete,
                &mut item.put,
            ];
            for operation in operations.into_iter().flatten() {
                let responses = &mut operation.responses.responses;
                responses
                    .entry("500".into())
                    .or_insert_with(|| internal.clone().into());
                responses
                    .entry("503".into())
                    .or_insert_with(|| unavailable.clone().into());
            }
        }
    }
}
