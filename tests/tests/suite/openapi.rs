//! `GET /api/openapi.json` describes the HTTP API as the router serves it:
//! every route documented, nothing documented that is not routed, and the
//! schemas schemathesis fuzzes from are there with their required fields.

use std::collections::BTreeSet;

use percept_tests::TestApp;
use reqwest::{Method, StatusCode};
use serde_json::Value;
use sqlx::PgPool;

/// Every (method, path) the app serves besides its pages and static files:
/// `server/src/http/mod.rs`'s `api()` router under `/api`, plus `/healthz`.
const ROUTES: &[(&str, &str)] = &[
    ("GET", "/healthz"),
    ("GET", "/api/openapi.json"),
    ("GET", "/api/jobs"),
    ("GET", "/api/metrics"),
    ("GET", "/api/experiments/{experiment_id}/judgments.csv"),
    ("GET", "/api/experiments/{experiment_id}/jnd_judgments.csv"),
    ("GET", "/api/experiments/{experiment_id}/workers.csv"),
    ("GET", "/api/experiments/{experiment_id}/pairs"),
    (
        "GET",
        "/api/experiments/{experiment_id}/pairs/{pair_id}/{image}",
    ),
    ("POST", "/api/jobs/{job_id}/retry"),
    ("DELETE", "/api/jobs/{job_id}"),
    ("POST", "/api/experiments/{experiment_id}/assignments"),
    ("GET", "/api/assignments/{token}/trials/{position}/{image}"),
    ("POST", "/api/assignments/{token}/judgments"),
    ("POST", "/api/assignments/{token}/jnd-judgments"),
    ("GET", "/api/assignments/{token}"),
    ("GET", "/api/experiments/{experiment_id}/practice"),
    ("GET", "/api/experiments/{experiment_id}/practice/{image}"),
    ("GET", "/api/session"),
    ("POST", "/api/session"),
    ("DELETE", "/api/session"),
    ("GET", "/api/experiments"),
    ("POST", "/api/experiments"),
    ("GET", "/api/experiments/{experiment_id}"),
    ("PATCH", "/api/experiments/{experiment_id}"),
    ("DELETE", "/api/experiments/{experiment_id}"),
    ("GET", "/api/experiments/{experiment_id}/workers"),
    ("GET", "/api/experiments/{experiment_id}/triplets"),
    (
        "GET",
        "/api/experiments/{experiment_id}/triplets/{triplet_id}/{image}",
    ),
    ("GET", "/api/experiments/{experiment_id}/scoring"),
    ("POST", "/api/experiments/{experiment_id}/scoring"),
    ("GET", "/api/experiments/{experiment_id}/training"),
    ("POST", "/api/experiments/{experiment_id}/training"),
    (
        "GET",
        "/api/experiments/{experiment_id}/training/{model_id}/curve.svg",
    ),
    ("GET", "/api/experiments/{experiment_id}/report"),
    ("GET", "/api/experiments/{experiment_id}/report.html"),
    ("GET", "/api/experiments/{experiment_id}/export.tar.gz"),
    ("GET", "/api/experiments/{experiment_id}/shares"),
    ("POST", "/api/experiments/{experiment_id}/shares"),
    (
        "DELETE",
        "/api/experiments/{experiment_id}/shares/{researcher_id}",
    ),
];

const METHODS: &[&str] = &[
    "get", "put", "post", "delete", "options", "head", "patch", "trace",
];

fn expected_routes() -> BTreeSet<(String, String)> {
    ROUTES
        .iter()
        .map(|(method, path)| (method.to_string(), path.to_string()))
        .collect()
}

async fn fetch_document(app: &TestApp) -> Value {
    let response = app.get("/api/openapi.json").await;
    assert_eq!(response.status(), StatusCode::OK);
    let content_type = response.headers()["content-type"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        content_type.starts_with("application/json"),
        "{content_type}"
    );
    response.json().await.unwrap()
}

fn documented_routes(document: &Value) -> BTreeSet<(String, String)> {
    let mut routes = BTreeSet::new();
    for (path, item) in document["paths"].as_object().expect("paths") {
        for method in METHODS {
            if item.get(*method).is_some() {
                routes.insert((method.to_uppercase(), path.clone()));
            }
        }
    }
    routes
}

/// The routes `server/src/http/mod.rs` registers, read from its source: each
/// `.route("path", get(..).post(..))` of `api()` (under `/api`) and of `router()`.
/// Catches a route added to the router but neither documented nor listed here.
fn routes_in_router_source() -> BTreeSet<(String, String)> {
    let source = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../server/src/http/mod.rs"
    ))
    .expect("reading server/src/http/mod.rs");
    let api_start = source.find("fn api()").expect("fn api() in mod.rs");
    let router_start = source
        .find("pub fn router(")
        .expect("fn router() in mod.rs");
    let mut routes = BTreeSet::new();
    assert!(
        api_start < router_start,
        "api() comes before router() in mod.rs"
    );
    for (body, prefix) in [
        (&source[api_start..router_start], "/api"),
        (&source[router_start..], ""),
    ] {
        let mut rest = body;
        while let Some(at) = rest.find(".route(") {
            let call = &rest[at + ".route(".len()..];
            // The call's arguments, up to its closing parenthesis.
            let mut depth = 1;
            let close = call
                .char_indices()
                .find(|&(_, c)| {
                    match c {
                        '(' => depth += 1,
                        ')' => depth -= 1,
                        _ => {}
                    }
                    depth == 0
                })
                .map(|(index, _)| index)
                .expect("a closed .route( call");
            let arguments = &call[..close];
            rest = &call[close..];
            // A page route names its path by a constant (the worker's
            // landing page, `worker_landing::PATH`): pages are not API routes.
            if !arguments.trim_start().starts_with('"') {
                assert!(
                    prefix.is_empty(),
                    "an API route with a computed path: {arguments}"
                );
                continue;
            }
            let path = arguments
                .split('"')
                .nth(1)
                .expect("a .route( call starts with its path");
            for method in ["get", "post", "put", "delete", "patch"] {
                let needle = format!("{method}(");
                let called = arguments.match_indices(&needle).any(|(index, _)| {
                    arguments[..index]
                        .chars()
                        .last()
                        .is_none_or(|before| !(before.is_alphanumeric() || "_:".contains(before)))
                });
                if called {
                    routes.insert((method.to_uppercase(), format!("{prefix}{path}")));
                }
            }
        }
    }
    routes
}

#[sqlx::test(migrator = "server::db::MIGRATOR")]
async fn the_document_lists_exactly_the_routes_the_router_serves(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let document = fetch_document(&app).await;

    let version = document["openapi"].as_str().unwrap();
    assert!(version.starts_with("3.1."), "OpenAPI {version}");
    assert_eq!(document["info"]["title"], "Percept");
    assert_eq!(document["info"]["version"], env!("CARGO_PKG_VERSION"));
    assert!(!document["info"]["description"].as_str().unwrap().is_empty());

    let expected = expected_routes();
    assert_eq!(
        routes_in_router_source(),
        expected,
        "the router's routes (server/src/http/mod.rs) differ from this test's list"
    );
    let documented = documented_routes(&document);
    let undocumented: Vec<_> = expected.difference(&documented).collect();
    let unrouted: Vec<_> = documented.difference(&expected).collect();
    assert!(
        undocumented.is_empty() && unrouted.is_empty(),
        "routed but not documented: {undocumented:?}; documented but not routed: {unrouted:?}"
    );

    // Every documented route reaches a handler: not the API's fallback, not 405.
    for (method, path) in &documented {
        let concrete = fill_placeholders(path);
        let response = app
            .http
            .request(
                Method::from_bytes(method.as_bytes()).unwrap(),
                app.url(&concrete),
            )
            .send()
            .await
            .unwrap();
        let status = response.status();
        let body = response.text().await.unwrap();
        assert_ne!(
            status,
            StatusCode::METHOD_NOT_ALLOWED,
            "{method} {concrete}: {body}"
        );
        assert!(
            !body.contains("there is no such API endpoint"),
            "{method} {concrete} is documented but answered by the router's fallback"
        );
        if !path.starts_with("/api/") {
            assert_ne!(status, StatusCode::NOT_FOUND, "{method} {concrete}: {body}");
        }
    }
}

/// A documented path with dummy values for its parameters.
fn fill_placeholders(path: &str) -> String {
    let mut concrete = String::new();
    let mut rest = path;
    while let Some(open) = rest.find('{') {
        let close = open + rest[open..].find('}').unwrap();
        let name = &rest[open + 1..close];
        concrete.push_str(&rest[..open]);
        concrete.push_str(if name.ends_with("_id") || name == "position" {
            "1"
        } else {
            "abc"
        });
        rest = &rest[close + 1..];
    }
    concrete.push_str(rest);
    concrete
}

#[sqlx::test(migrator = "server::db::MIGRATOR")]
async fn operations_declare_their_parameters_security_and_content(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let document = fetch_document(&app).await;
    let operation = |method: &str, path: &str| document["paths"][path][method].clone();

    let mut operation_ids = BTreeSet::new();
    for (method, path) in documented_routes(&document) {
        let operation = operation(&method.to_lowercase(), &path);
        let operation_id = operation["operationId"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        assert!(
            !operation_id.is_empty() && operation_ids.insert(operation_id.clone()),
            "{method} {path}: operationId {operation_id:?} is missing or not unique"
        );
        let declared: BTreeSet<&str> = operation["parameters"]
            .as_array()
            .map(|parameters| {
                parameters
                    .iter()
                    .filter(|parameter| parameter["in"] == "path")
                    .map(|parameter| parameter["name"].as_str().unwrap())
                    .collect()
            })
            .unwrap_or_default();
        let placeholders: BTreeSet<&str> = path
            .split('{')
            .skip(1)
            .map(|part| part.split('}').next().unwrap())
            .collect();
        assert_eq!(declared, placeholders, "{method} {path}: path parameters");
        assert!(
            operation["responses"]
                .as_object()
                .is_some_and(|r| !r.is_empty()),
            "{method} {path}: no responses"
        );
        // Errors are JSON `{"error": ...}` wherever an error status is documented.
        for (status, response) in operation["responses"].as_object().unwrap() {
            if status.starts_with('4') || status.starts_with('5') {
                assert_eq!(
                    response["content"]["application/json"]["schema"]["$ref"],
                    "#/components/schemas/ErrorBody",
                    "{method} {path} {status}"
                );
            }
        }
        let researcher_only = path.starts_with("/api/experiments")
            && !path.ends_with("/assignments")
            && !path.contains("/practice")
            || path.starts_with("/api/jobs")
            || path == "/api/metrics"
            || (path == "/api/session" && method == "GET");
        if researcher_only {
            assert_eq!(
                operation["security"],
                serde_json::json!([{ "percept_session": [] }]),
                "{method} {path}: security"
            );
            assert!(
                operation["responses"]["401"].is_object(),
                "{method} {path}: 401"
            );
        } else if path != "/api/session" {
            assert!(operation["security"].is_null(), "{method} {path}: security");
        }
    }

    assert_eq!(
        document["components"]["securitySchemes"]["percept_session"],
        serde_json::json!({ "type": "apiKey", "in": "cookie", "name": "percept_session",
                            "description": document["components"]["securitySchemes"]
                                ["percept_session"]["description"] })
    );

    let upload =
        &operation("post", "/api/experiments")["requestBody"]["content"]["multipart/form-data"];
    let upload_schema = resolve(&document, &upload["schema"]);
    assert_eq!(
        required(&upload_schema),
        ["images".to_owned(), "settings".to_owned()].into()
    );
    assert_eq!(
        upload["encoding"]["settings"]["contentType"],
        "application/json"
    );
    assert_eq!(
        operation("post", "/api/experiments")["responses"]["202"]["content"]["application/json"]
            ["schema"]["$ref"],
        "#/components/schemas/CreatedExperiment"
    );

    for path in [
        "/api/assignments/{token}/trials/{position}/{image}",
        "/api/experiments/{experiment_id}/practice/{image}",
        "/api/experiments/{experiment_id}/triplets/{triplet_id}/{image}",
    ] {
        assert!(
            operation("get", path)["responses"]["200"]["content"]["image/png"].is_object(),
            "{path}"
        );
    }
    assert!(
        operation("get", "/api/experiments/{experiment_id}/report.html")["responses"]["200"]
            ["content"]["text/html"]
            .is_object()
    );
    assert!(
        operation("get", "/api/experiments/{experiment_id}/export.tar.gz")["responses"]["200"]
            ["content"]["application/gzip"]
            .is_object()
    );
    let judgments = operation("post", "/api/assignments/{token}/judgments");
    for status in ["200", "201", "400", "404", "409", "410", "503"] {
        assert!(
            judgments["responses"][status].is_object(),
            "judgments {status}"
        );
    }
    assert_eq!(
        judgments["requestBody"]["content"]["application/json"]["schema"]["$ref"],
        "#/components/schemas/NewJudgment"
    );
    let triplets = operation("get", "/api/experiments/{experiment_id}/triplets");
    let query: BTreeSet<&str> = triplets["parameters"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|parameter| parameter["in"] == "query")
        .map(|parameter| parameter["name"].as_str().unwrap())
        .collect();
    assert_eq!(query, ["limit", "offset"].into());
}

#[sqlx::test(migrator = "server::db::MIGRATOR")]
async fn schemas_exist_with_their_required_fields(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let document = fetch_document(&app).await;
    let schemas = &document["components"]["schemas"];

    let expectations: &[(&str, &[&str])] = &[
        ("ErrorBody", &["error"]),
        (
            "NewJudgment",
            &[
                "id",
                "position",
                "chosen_side",
                "response_ms",
                "client_time",
            ],
        ),
        ("JudgmentReceipt", &["id", "completed"]),
        ("AssignmentRequest", &["platform"]),
        (
            "Assignment",
            &["token", "platform_worker_id", "trials", "expires_at"],
        ),
        ("SignIn", &["email", "password"]),
        ("Researcher", &["id", "email"]),
        ("NewExperimentSettings", &["name"]),
        ("ScoringRequest", &[]),
        ("Estimate", &["value", "low", "high"]),
        ("Health", &["database"]),
    ];
    for (name, fields) in expectations {
        let schema = &schemas[*name];
        assert!(schema.is_object(), "no schema {name}");
        let fields: BTreeSet<String> = fields.iter().map(|field| field.to_string()).collect();
        assert_eq!(required(schema), fields, "{name}'s required fields");
    }
    assert!(schemas["Report"]["properties"]["human_ceiling"].is_object());
    // Doc comments on fields become descriptions.
    assert!(schemas["NewJudgment"]["properties"]["id"]["description"]
        .as_str()
        .unwrap()
        .contains("retried submission"));
    assert_eq!(
        schemas["Side"]["enum"],
        serde_json::json!(["left", "right"])
    );
    assert_eq!(
        schemas["Platform"]["enum"],
        serde_json::json!(["prolific", "mturk", "anonymous"])
    );
    // Unknown fields in the upload's settings are rejected; the schema says so.
    assert_eq!(
        schemas["NewExperimentSettings"]["additionalProperties"],
        false
    );

    // Every reference resolves.
    let mut references = Vec::new();
    collect_references(&document, &mut references);
    assert!(!references.is_empty());
    for reference in references {
        let name = reference
            .strip_prefix("#/components/schemas/")
            .unwrap_or_else(|| panic!("unexpected reference {reference}"));
        assert!(schemas[name].is_object(), "{reference} does not resolve");
    }
}

fn required(schema: &Value) -> BTreeSet<String> {
    schema["required"]
        .as_array()
        .map(|fields| {
            fields
                .iter()
                .map(|field| field.as_str().unwrap().to_owned())
                .collect()
        })
        .unwrap_or_default()
}

fn resolve(document: &Value, schema: &Value) -> Value {
    match schema["$ref"].as_str() {
        Some(reference) => {
            let name = reference.strip_prefix("#/components/schemas/").unwrap();
            document["components"]["schemas"][name].clone()
        }
        None => schema.clone(),
    }
}

fn collect_references(value: &Value, references: &mut Vec<String>) {
    match value {
        Value::Object(map) => {
            for (key, value) in map {
                match (key.as_str(), value) {
                    ("$ref", Value::String(reference)) => references.push(reference.clone()),
                    _ => collect_references(value, references),
                }
            }
        }
        Value::Array(items) => items
            .iter()
            .for_each(|item| collect_references(item, references)),
        _ => {}
    }
}
