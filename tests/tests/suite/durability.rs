//! Every acknowledged judgment survives crashes, and is stored exactly once:
//! many simulated workers submit the way the browser does (a client-made id,
//! retried on connection errors, 503 and 429 until acknowledged) while the
//! `percept serve` process is killed with SIGKILL, or PostgreSQL goes down
//! (a crash, then a clean restart) under a server that keeps running.
//!
//! Stimulus generation is a job of the queue, so it survives the process
//! doing it too: a server killed mid-generation leaves its job to the next
//! process, which carries on from the images already generated, and the
//! experiment ends `ready` with exactly the stimuli an uninterrupted
//! generation makes, none of them twice.

use std::{
    collections::{BTreeMap, HashMap, HashSet},
    sync::{
        atomic::{AtomicUsize, Ordering},
        Arc, Mutex,
    },
    time::{Duration, Instant},
};

use percept_tests::jnd::{jnd_experiment_settings, jnd_judgment, timing};
use percept_tests::serial;
use percept_tests::server_process::{PrivateCluster, ServerProcess, Shutdown};
use percept_tests::two_afc::{create_experiment, experiment_settings, judgment, reference_file};
use reqwest::{header, StatusCode};
use serde_json::{json, Value};
use server::experiments::{self, ReferenceFile};
use sqlx::{PgPool, Row};
use uuid::Uuid;

const WORKERS: usize = 32;
const ASSIGNMENTS_PER_WORKER: usize = 2;
const TRIALS_PER_ASSIGNMENT: u32 = 20;
/// The crash comes after this many acknowledgments, about a third of the run.
const CRASH_AFTER_ACKNOWLEDGED: usize = 400;
/// How long the server stays dead after a kill: long enough that every
/// worker meets refused connections.
const DOWNTIME: Duration = Duration::from_millis(500);
/// Retries back off from the first delay to the last, as the browser's do
/// (from 500 ms to 8 s there; shorter here to keep the test quick).
const FIRST_RETRY_DELAY: Duration = Duration::from_millis(20);
const MAX_RETRY_DELAY: Duration = Duration::from_millis(500);

#[derive(Debug, Clone, Copy)]
enum Kind {
    TwoAfc,
    Jnd,
}

impl Kind {
    fn judgments_path(self, token: &str) -> String {
        match self {
            Kind::TwoAfc => format!("/api/assignments/{token}/judgments"),
            Kind::Jnd => format!("/api/assignments/{token}/jnd-judgments"),
        }
    }

    /// A fresh judgment (new id) for `position`, with valid JND timing so no
    /// trial comes back.
    fn judgment(self, position: i64) -> Value {
        match self {
            Kind::TwoAfc => judgment(position, if position % 2 == 0 { "left" } else { "right" }),
            Kind::Jnd => jnd_judgment(position, position % 3 == 0, timing(0.0)),
        }
    }

    fn positions(self, assignment: &Value) -> Vec<i64> {
        let trials = match self {
            Kind::TwoAfc => &assignment["trials"],
            Kind::Jnd => &assignment["jnd"]["trials"],
        };
        trials
            .as_array()
            .unwrap()
            .iter()
            .map(|trial| trial["position"].as_i64().unwrap())
            .collect()
    }

    fn table(self) -> &'static str {
        match self {
            Kind::TwoAfc => "judgments",
            Kind::Jnd => "jnd_judgments",
        }
    }
}

/// An experiment with room for every worker's assignments: 64 triplets or
/// pairs, each wanted by more workers than there are, so every assignment
/// gets its full count of trials.
async fn experiment(pool: &PgPool, kind: Kind) -> i64 {
    let mut settings = match kind {
        Kind::TwoAfc => experiment_settings(pool).await,
        Kind::Jnd => jnd_experiment_settings(pool, 0.1).await,
    };
    settings.patches_per_image = 16;
    settings.judgments_per_stimulus = 2 * WORKERS as u32;
    settings.trials_per_assignment = TRIALS_PER_ASSIGNMENT;
    settings.max_assignments_per_worker = ASSIGNMENTS_PER_WORKER as u32;
    create_experiment(pool, &settings, 4).await
}

/// An assignment as its worker knows it.
struct Assignment {
    token: String,
    positions: Vec<i64>,
}

/// Every worker's assignments, taken before the load starts (so a crash
/// never loses an assignment's answer, which is not what is tested here).
async fn take_assignments(
    server: &ServerProcess,
    experiment_id: i64,
    kind: Kind,
) -> Vec<Vec<Assignment>> {
    let mut workers = Vec::new();
    for worker in 0..WORKERS {
        let mut assignments = Vec::new();
        for _ in 0..ASSIGNMENTS_PER_WORKER {
            let response = server
                .http
                .post(server.url(&format!("/api/experiments/{experiment_id}/assignments")))
                .json(&json!({ "platform": "prolific", "worker_id": format!("worker-{worker}") }))
                .send()
                .await
                .unwrap();
            assert_eq!(response.status(), StatusCode::CREATED);
            let assignment: Value = response.json().await.unwrap();
            let positions = kind.positions(&assignment);
            assert_eq!(positions.len(), TRIALS_PER_ASSIGNMENT as usize);
            assignments.push(Assignment {
                token: assignment["token"].as_str().unwrap().to_owned(),
                positions,
            });
        }
        workers.push(assignments);
    }
    workers
}

/// A judgment the server acknowledged (200 or 201), as its worker holds it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct Acknowledged {
    id: Uuid,
    token: String,
    position: i64,
}

/// What the workers saw, shared between them.
#[derive(Default)]
struct Tally {
    acknowledged_count: AtomicUsize,
    acknowledged: Mutex<Vec<Acknowledged>>,
    /// 200s: the judgment was already stored, so an earlier attempt was
    /// committed and only its answer was lost.
    acknowledged_on_retry: AtomicUsize,
    /// Failed attempts, by "connection error" or status code.
    failures: Mutex<BTreeMap<String, usize>>,
    /// The completion code each assignment's last receipt carried, by token.
    completion_codes: Mutex<HashMap<String, String>>,
}

impl Tally {
    fn failure(&self, what: String) {
        *self.failures.lock().unwrap().entry(what).or_default() += 1;
    }

    fn failures(&self, what: &str) -> usize {
        self.failures
            .lock()
            .unwrap()
            .get(what)
            .copied()
            .unwrap_or(0)
    }
}

/// The simulated workers, each answering its assignments one trial after
/// another as fast as the server acknowledges them.
struct Load {
    tally: Arc<Tally>,
    workers: tokio::task::JoinSet<()>,
}

impl Load {
    fn start(server: &ServerProcess, kind: Kind, workers: Vec<Vec<Assignment>>) -> Self {
        let tally = Arc::new(Tally::default());
        // Long enough for a request waiting on the pool while PostgreSQL is
        // down (5 s) to get its 503; a hung request is retried like a lost one.
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(15))
            .build()
            .unwrap();
        let mut tasks = tokio::task::JoinSet::new();
        for assignments in workers {
            let (http, tally) = (http.clone(), Arc::clone(&tally));
            let base_url = server.url("");
            tasks.spawn(async move {
                for assignment in assignments {
                    let url = format!("{base_url}{}", kind.judgments_path(&assignment.token));
                    for &position in &assignment.positions {
                        let body = kind.judgment(position);
                        let receipt = submit_until_acknowledged(&http, &url, &body, &tally).await;
                        tally.acknowledged.lock().unwrap().push(Acknowledged {
                            id: body["id"].as_str().unwrap().parse().unwrap(),
                            token: assignment.token.clone(),
                            position,
                        });
                        tally.acknowledged_count.fetch_add(1, Ordering::SeqCst);
                        if let Some(code) = receipt["completion_code"].as_str() {
                            tally
                                .completion_codes
                                .lock()
                                .unwrap()
                                .insert(assignment.token.clone(), code.to_owned());
                        }
                    }
                }
            });
        }
        Self {
            tally,
            workers: tasks,
        }
    }

    async fn wait_until_acknowledged(&self, count: usize) {
        while self.tally.acknowledged_count.load(Ordering::SeqCst) < count {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    /// Waits for every worker to have every answer acknowledged.
    async fn finish(mut self) -> Arc<Tally> {
        let all_done = async {
            while let Some(worker) = self.workers.join_next().await {
                worker.expect("a simulated worker panicked");
            }
        };
        tokio::time::timeout(Duration::from_secs(45), all_done)
            .await
            .expect("the workers did not finish within 45 s");
        self.tally
    }
}

/// Posts `body` until the server acknowledges it, like the browser's
/// submitter: connection errors, 503 and 429 are retried with the same id
/// after a growing delay; any other answer (a 500 above all) fails the test.
async fn submit_until_acknowledged(
    http: &reqwest::Client,
    url: &str,
    body: &Value,
    tally: &Tally,
) -> Value {
    let mut delay = FIRST_RETRY_DELAY;
    loop {
        match http.post(url).json(body).send().await {
            Ok(response) if response.status().is_success() => {
                if response.status() == StatusCode::OK {
                    tally.acknowledged_on_retry.fetch_add(1, Ordering::SeqCst);
                }
                return response.json().await.unwrap();
            }
            Ok(response)
                if response.status() == StatusCode::SERVICE_UNAVAILABLE
                    || response.status() == StatusCode::TOO_MANY_REQUESTS =>
            {
                tally.failure(response.status().as_u16().to_string());
            }
            Ok(response) => {
                let status = response.status();
                panic!(
                    "judgment {body} refused with {status}: {}",
                    response.text().await.unwrap()
                );
            }
            Err(_) => tally.failure("connection error".into()),
        }
        tokio::time::sleep(delay).await;
        delay = (delay * 2).min(MAX_RETRY_DELAY);
    }
}

/// The database holds exactly what the workers hold as acknowledged: each
/// judgment once, at its assignment and position, nothing else, and every
/// assignment complete with the code its worker was shown.
async fn assert_stored_exactly_once(pool: &PgPool, kind: Kind, experiment_id: i64, tally: &Tally) {
    let acknowledged = tally.acknowledged.lock().unwrap().clone();
    let acknowledged_set: HashSet<Acknowledged> = acknowledged.iter().cloned().collect();
    assert_eq!(
        acknowledged_set.len(),
        acknowledged.len(),
        "the workers made a fresh id for every judgment"
    );
    assert_eq!(
        acknowledged.len(),
        WORKERS * ASSIGNMENTS_PER_WORKER * TRIALS_PER_ASSIGNMENT as usize
    );

    let rows = sqlx::query(&format!(
        "SELECT j.id, a.token, j.position FROM {} j
         JOIN assignments a ON a.id = j.assignment_id
         WHERE a.experiment_id = $1",
        kind.table()
    ))
    .bind(experiment_id)
    .fetch_all(pool)
    .await
    .unwrap();
    let stored: Vec<Acknowledged> = rows
        .iter()
        .map(|row| Acknowledged {
            id: row.get("id"),
            token: row.get("token"),
            position: i64::from(row.get::<i32, _>("position")),
        })
        .collect();
    let trials: HashSet<(&str, i64)> = stored
        .iter()
        .map(|judgment| (judgment.token.as_str(), judgment.position))
        .collect();
    assert_eq!(
        trials.len(),
        stored.len(),
        "a trial was judged more than once"
    );
    assert_eq!(
        stored.len(),
        acknowledged.len(),
        "rows stored vs judgments acknowledged"
    );
    let stored_set: HashSet<Acknowledged> = stored.into_iter().collect();
    let missing: Vec<_> = acknowledged_set.difference(&stored_set).collect();
    assert!(
        missing.is_empty(),
        "acknowledged but not stored: {missing:?}"
    );

    let completion_codes: HashMap<String, String> =
        sqlx::query("SELECT token, completion_code FROM assignments WHERE experiment_id = $1")
            .bind(experiment_id)
            .fetch_all(pool)
            .await
            .unwrap()
            .into_iter()
            .map(|row| {
                (
                    row.get("token"),
                    row.get::<Option<String>, _>("completion_code")
                        .expect("every assignment is complete"),
                )
            })
            .collect();
    assert_eq!(*tally.completion_codes.lock().unwrap(), completion_codes);
}

fn print_summary(what: &str, tally: &Tally) {
    println!(
        "{what}: {} judgments acknowledged and stored once each; {} acknowledged by a retry \
         whose first attempt had been committed; failed attempts, retried: {:?}",
        tally.acknowledged_count.load(Ordering::SeqCst),
        tally.acknowledged_on_retry.load(Ordering::SeqCst),
        tally.failures.lock().unwrap(),
    );
}

/// Workers submit, the server is killed with SIGKILL mid-load and started
/// again on the same port, and the workers carry on.
async fn survive_kill_9(pool: PgPool, kind: Kind) {
    let _turn = serial::take_turn(serial::Kind::LoadsEveryCore).await;
    let experiment_id = experiment(&pool, kind).await;
    let mut server = ServerProcess::start(&pool).await;
    let workers = take_assignments(&server, experiment_id, kind).await;

    let load = Load::start(&server, kind, workers);
    load.wait_until_acknowledged(CRASH_AFTER_ACKNOWLEDGED).await;
    server.kill_9();
    let acknowledged_at_kill = load.tally.acknowledged_count.load(Ordering::SeqCst);
    tokio::time::sleep(DOWNTIME).await;
    server.restart().await;
    let tally = load.finish().await;

    assert!(
        tally.failures("connection error") > 0,
        "the kill should have cut the workers off"
    );
    assert_stored_exactly_once(&pool, kind, experiment_id, &tally).await;
    print_summary(
        &format!("{kind:?}, kill -9 after {acknowledged_at_kill} acknowledgments"),
        &tally,
    );
}

#[sqlx::test(migrator = "server::db::MIGRATOR")]
async fn two_afc_judgments_survive_a_kill_9_of_the_server_exactly_once(pool: PgPool) {
    survive_kill_9(pool, Kind::TwoAfc).await;
}

#[sqlx::test(migrator = "server::db::MIGRATOR")]
async fn jnd_judgments_survive_a_kill_9_of_the_server_exactly_once(pool: PgPool) {
    survive_kill_9(pool, Kind::Jnd).await;
}

/// PostgreSQL (a cluster of this test's own) goes down twice under load, in
/// immediate mode (a crash) and then in fast mode (a clean restart, whose
/// notice pooled connections only read on their next query): each time the
/// server keeps running, answers 503 with Retry-After, never 500, and
/// carries on by itself once PostgreSQL is back.
// Several threads: the cluster is stopped and started by blocking calls
// while the workers keep submitting.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn judgments_survive_postgresql_restarts_and_the_server_recovers_by_itself() {
    let _turn = serial::take_turn(serial::Kind::LoadsEveryCore).await;
    let kind = Kind::TwoAfc;
    let cluster = PrivateCluster::start();
    let pool = PgPool::connect(cluster.url()).await.unwrap();
    let experiment_id = experiment(&pool, kind).await;
    // Its connections die with the crash; a fresh pool checks afterwards.
    pool.close().await;
    let server = ServerProcess::start_with_url(cluster.url()).await;
    let workers = take_assignments(&server, experiment_id, kind).await;

    let load = Load::start(&server, kind, workers);
    let mut outages = Vec::new();
    for (round, mode) in [Shutdown::Immediate, Shutdown::Fast]
        .into_iter()
        .enumerate()
    {
        load.wait_until_acknowledged(CRASH_AFTER_ACKNOWLEDGED * (round + 1))
            .await;
        tokio::task::block_in_place(|| cluster.stop(mode));
        outages.push(format!(
            "{mode:?} after {}",
            load.tally.acknowledged_count.load(Ordering::SeqCst)
        ));
        assert_unavailable_while_down(&server, kind).await;
        tokio::task::block_in_place(|| cluster.start_again());
    }
    let tally = load.finish().await;

    assert!(
        tally.failures("503") > 0,
        "the workers should have been told to come back later"
    );
    let pool = PgPool::connect(cluster.url()).await.unwrap();
    assert_stored_exactly_once(&pool, kind, experiment_id, &tally).await;
    print_summary(
        &format!(
            "PostgreSQL stopped ({}) acknowledgments",
            outages.join(", then ")
        ),
        &tally,
    );
}

/// With the database down, the server answers 503 with Retry-After and a
/// JSON error, and its health check says so too.
async fn assert_unavailable_while_down(server: &ServerProcess, kind: Kind) {
    // A token no assignment has: with the database up this is a 404, so a
    // 503 can only mean the database is unreachable, and nothing is stored.
    let response = server
        .http
        .post(server.url(&kind.judgments_path("no-such-token")))
        .json(&kind.judgment(0))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    let retry_after: u64 = response.headers()[header::RETRY_AFTER]
        .to_str()
        .unwrap()
        .parse()
        .expect("Retry-After in whole seconds");
    assert!(retry_after > 0);
    let body: Value = response.json().await.unwrap();
    assert!(
        body["error"]
            .as_str()
            .unwrap()
            .contains("database is unavailable"),
        "{body}"
    );
    let health = server
        .http
        .get(server.url("/healthz"))
        .send()
        .await
        .unwrap();
    assert_eq!(health.status(), StatusCode::SERVICE_UNAVAILABLE);
}

/// The generation that is killed: images × patches per image triplets.
const IMAGES: u8 = 8;
const PATCHES_PER_IMAGE: u32 = 40;

fn generation_references() -> Vec<ReferenceFile> {
    (0..IMAGES)
        .map(|index| reference_file(&format!("{index}.png"), 192, 160, index * 30))
        .collect()
}

async fn generation_state(pool: &PgPool, experiment_id: i64) -> (String, i32, i32) {
    sqlx::query_as("SELECT status, stimuli_generated, stimuli_total FROM experiments WHERE id = $1")
        .bind(experiment_id)
        .fetch_one(pool)
        .await
        .unwrap()
}

/// Every stimulus of the experiment as what makes it: image, crop, the two
/// pipelines with their seeds, the sentinel answer and the patches' bytes.
async fn stimulus_specs(pool: &PgPool, experiment_id: i64) -> Vec<String> {
    sqlx::query(
        "SELECT r.file_name, t.crop_x, t.crop_y, t.p0_pipeline::text AS p0, t.p0_seed,
                t.p1_pipeline::text AS p1, t.p1_seed, t.sentinel_answer,
                md5(t.ref_png) || md5(t.p0_png) || md5(t.p1_png) AS pngs
         FROM triplets t JOIN reference_images r ON r.id = t.reference_image_id
         WHERE t.experiment_id = $1
         ORDER BY 1, 2, 3, 4, 5, 6, 7, 8, 9",
    )
    .bind(experiment_id)
    .fetch_all(pool)
    .await
    .unwrap()
    .iter()
    .map(|row| {
        format!(
            "{} {} {} {} {} {} {} {:?} {}",
            row.get::<String, _>("file_name"),
            row.get::<i32, _>("crop_x"),
            row.get::<i32, _>("crop_y"),
            row.get::<String, _>("p0"),
            row.get::<i64, _>("p0_seed"),
            row.get::<String, _>("p1"),
            row.get::<i64, _>("p1_seed"),
            row.get::<Option<i16>, _>("sentinel_answer"),
            row.get::<String, _>("pngs"),
        )
    })
    .collect()
}

#[sqlx::test(migrator = "server::db::MIGRATOR")]
async fn a_server_killed_mid_generation_leaves_the_rest_to_the_next_process(pool: PgPool) {
    let mut settings = experiment_settings(&pool).await;
    settings.patches_per_image = PATCHES_PER_IMAGE;
    settings.sentinel_rate = 0.1;
    let total = i32::from(IMAGES) * PATCHES_PER_IMAGE as i32;

    // Stored with its generation job queued, for a server to take.
    let stored = experiments::store(&pool, &settings, generation_references())
        .await
        .unwrap();
    let mut first = ServerProcess::start(&pool).await;
    let deadline = Instant::now() + Duration::from_secs(120);
    let generated_at_kill = loop {
        let (_, generated_so_far, _) = generation_state(&pool, stored.id).await;
        if generated_so_far > 0 || Instant::now() > deadline {
            first.kill_9();
            break generation_state(&pool, stored.id).await.1;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    };
    assert!(generated_at_kill > 0, "the server generated nothing");
    assert!(
        generated_at_kill < total,
        "the server finished before it could be killed"
    );
    let (status, killed_owner): (String, String) =
        sqlx::query_as("SELECT status, owner_process FROM jobs WHERE id = $1")
            .bind(stored.generation_job_id)
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!(status, "running", "the dead process still holds the job");
    assert_eq!(generation_state(&pool, stored.id).await.0, "generating");

    // Another process takes the job over once the dead one's lease runs out.
    let _second = ServerProcess::start(&pool).await;
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let (status, _, _) = generation_state(&pool, stored.id).await;
        if status != "generating" {
            assert_eq!(status, "ready");
            break;
        }
        assert!(Instant::now() < deadline, "the generation never resumed");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(
        generation_state(&pool, stored.id).await,
        ("ready".to_owned(), total, total)
    );
    // The job is marked done just after the transaction that made the
    // experiment ready.
    let job = loop {
        let job = sqlx::query(
            "SELECT status, owner_process, attempts, progress_done, progress_total
             FROM jobs WHERE id = $1",
        )
        .bind(stored.generation_job_id)
        .fetch_one(&pool)
        .await
        .unwrap();
        if job.get::<String, _>("status") != "running" {
            break job;
        }
        assert!(Instant::now() < deadline, "the job was never marked done");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(job.get::<String, _>("status"), "done");
    assert_ne!(job.get::<String, _>("owner_process"), killed_owner);
    assert_eq!(job.get::<i32, _>("attempts"), 2);
    assert_eq!(
        (
            job.get::<i64, _>("progress_done"),
            job.get::<Option<i64>, _>("progress_total")
        ),
        (i64::from(total), Some(i64::from(total)))
    );

    // Exactly the stimuli of an uninterrupted generation, each image's once.
    let resumed = stimulus_specs(&pool, stored.id).await;
    assert_eq!(resumed.len(), total as usize);
    let per_image: Vec<i64> = sqlx::query_scalar(
        "SELECT count(t.id) FROM reference_images r
         LEFT JOIN triplets t ON t.reference_image_id = r.id
         WHERE r.experiment_id = $1 GROUP BY r.id ORDER BY r.id",
    )
    .bind(stored.id)
    .fetch_all(&pool)
    .await
    .unwrap();
    assert_eq!(
        per_image,
        vec![i64::from(PATCHES_PER_IMAGE); IMAGES as usize]
    );
    let uninterrupted = experiments::create(&pool, &settings, generation_references(), None)
        .await
        .unwrap();
    assert_eq!(resumed, stimulus_specs(&pool, uninterrupted).await);
}
