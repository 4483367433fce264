//! What the `percept` binary says when the input is wrong: each cause once,
//! the range a number must be in (negative numbers included), and the
//! alternatives a missing flag has.

use std::process::{Command, Output};

use percept_tests::percept_binary;
use percept_tests::server_process::database_url;
use percept_tests::two_afc::synthetic_image;
use sqlx::PgPool;

fn percept(args: &[&str], database_url: Option<&str>) -> Output {
    let mut command = Command::new(percept_binary());
    command.args(args);
    match database_url {
        Some(url) => command.env("DATABASE_URL", url),
        None => command.env_remove("DATABASE_URL"),
    };
    command.output().unwrap()
}

/// The failed command's error line.
fn failure(output: &Output) -> String {
    assert!(!output.status.success(), "it succeeded");
    String::from_utf8_lossy(&output.stderr).into_owned()
}

#[test]
fn errors_say_each_cause_once() {
    let dir = tempfile::tempdir().unwrap();
    let not_png = dir.path().join("notes.png");
    std::fs::write(&not_png, "not an image").unwrap();
    let missing = dir.path().join("missing.png");
    for (args, cause) in [
        (
            vec![
                "lpips",
                not_png.to_str().unwrap(),
                not_png.to_str().unwrap(),
            ],
            "Invalid PNG signature",
        ),
        (
            vec![
                "lpips",
                missing.to_str().unwrap(),
                not_png.to_str().unwrap(),
            ],
            "No such file or directory",
        ),
        (
            vec![
                "distort",
                "apply",
                "--input",
                not_png.to_str().unwrap(),
                "--spec",
                "[]",
                "--seed",
                "1",
                "--out",
                dir.path().join("out.png").to_str().unwrap(),
            ],
            "Invalid PNG signature",
        ),
    ] {
        let error = failure(&percept(&args, None));
        assert_eq!(error.matches(cause).count(), 1, "{args:?}: {error}");
        assert!(error.contains("cannot read image"), "{error}");
    }
}

#[test]
fn a_jnd_experiment_without_images_hears_of_source_experiment() {
    let error = failure(&percept(
        &[
            "experiment",
            "create",
            "--kind",
            "jnd",
            "--owner",
            "a@b.org",
            "--name",
            "n",
        ],
        None,
    ));
    assert!(error.contains("--images DIR"), "{error}");
    assert!(error.contains("--source-experiment ID"), "{error}");
    let error = failure(&percept(
        &[
            "experiment",
            "create",
            "--kind",
            "2afc",
            "--owner",
            "a@b.org",
            "--name",
            "n",
        ],
        None,
    ));
    assert!(
        error.contains("needs reference images: pass --images DIR"),
        "{error}"
    );
}

#[sqlx::test(migrator = "server::db::MIGRATOR")]
async fn negative_numbers_get_the_range_not_a_flag_error(pool: PgPool) {
    server::researchers::add(&pool, "owner@example.org", "a long password")
        .await
        .unwrap();
    let images = tempfile::tempdir().unwrap();
    synthetic_image(80, 80, 0)
        .save(images.path().join("a.png"))
        .unwrap();
    let url = database_url(&pool);
    let create = |flag: &str, value: &str| {
        percept(
            &[
                "experiment",
                "create",
                "--kind",
                "2afc",
                "--images",
                images.path().to_str().unwrap(),
                "--owner",
                "owner@example.org",
                "--name",
                "n",
                flag,
                value,
            ],
            Some(&url),
        )
    };
    let error = failure(&create("--max-sentinel-failure-share", "-1"));
    assert!(
        error.contains("the maximum share of failed sentinels must be between 0 and 1, not -1"),
        "{error}"
    );
    let error = failure(&create("--sentinel-rate", "-0.5"));
    assert!(
        error.contains("the sentinel rate must be at least 0 and below 1, not -0.5"),
        "{error}"
    );
    let experiments: i64 = sqlx::query_scalar("SELECT count(*) FROM experiments")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(experiments, 0);
}

#[sqlx::test(migrator = "server::db::MIGRATOR")]
async fn import_bapps_says_a_folder_is_missing_and_validates_before_the_database(pool: PgPool) {
    server::researchers::add(&pool, "owner@example.org", "a long password")
        .await
        .unwrap();
    let url = database_url(&pool);
    let error = failure(&percept(
        &[
            "import-bapps",
            "/no/such/folder",
            "--owner",
            "owner@example.org",
        ],
        Some(&url),
    ));
    assert!(error.contains("/no/such/folder does not exist"), "{error}");
    let empty = tempfile::tempdir().unwrap();
    let error = failure(&percept(
        &[
            "import-bapps",
            empty.path().to_str().unwrap(),
            "--owner",
            "owner@example.org",
            "--judgments-per-stimulus",
            "0",
        ],
        Some(&url),
    ));
    assert!(
        error.contains("the judgments per stimulus must be at least 1 and below 2^31, not 0"),
        "{error}"
    );
    assert!(!error.contains("constraint"), "{error}");
    let error = failure(&percept(
        &[
            "import-bapps",
            empty.path().to_str().unwrap(),
            "--owner",
            "owner@example.org",
            "--judgments-per-stimulus",
            "-3",
        ],
        Some(&url),
    ));
    assert!(!error.contains("unexpected argument"), "{error}");
}

#[test]
fn lpips_names_a_folder_that_is_not_there() {
    let dir0 = tempfile::tempdir().unwrap();
    let error = failure(&percept(
        &[
            "lpips",
            "--dir0",
            dir0.path().to_str().unwrap(),
            "--dir1",
            "/no/such/folder",
        ],
        None,
    ));
    assert!(
        error.contains("--dir1 /no/such/folder is not a folder"),
        "{error}"
    );
}

/// What a new user met after creating an experiment: an unknown distortion
/// type said "sampler" twice, `experiment edit` with nothing to change said
/// it had changed it, and a long name pushed the list's columns out of line.
#[sqlx::test(migrator = "server::db::MIGRATOR")]
async fn experiment_commands_say_what_is_wrong_and_keep_the_list_in_line(pool: PgPool) {
    server::researchers::add(&pool, "owner@example.org", "a long password")
        .await
        .unwrap();
    let images = tempfile::tempdir().unwrap();
    synthetic_image(80, 80, 0)
        .save(images.path().join("a.png"))
        .unwrap();
    let url = database_url(&pool);
    let create = |extra: &[&str]| {
        let mut args = vec![
            "experiment",
            "create",
            "--kind",
            "2afc",
            "--images",
            images.path().to_str().unwrap(),
            "--owner",
            "owner@example.org",
            "--name",
            "A name longer than the list's name column",
            "--patches-per-image",
            "2",
            "--judgments-per-stimulus",
            "1",
            "--seed",
            "1",
        ];
        args.extend_from_slice(extra);
        percept(&args, Some(&url))
    };
    let error = failure(&create(&["--types", "jpeg,bogus"]));
    assert!(
        error.contains("invalid distortion sampler: unknown distortion type `bogus`"),
        "{error}"
    );
    assert_eq!(error.matches("sampler").count(), 1, "{error}");

    let created = create(&[]);
    assert!(created.status.success(), "{created:?}");
    let id = String::from_utf8_lossy(&created.stdout).trim().to_owned();
    let error = failure(&percept(&["experiment", "edit", &id], Some(&url)));
    assert!(
        error.contains("nothing to change: pass one or more of --name"),
        "{error}"
    );
    // Refusals name the flags typed, not the API's fields.
    let error = failure(&percept(
        &[
            "experiment",
            "edit",
            &id,
            "--judgments-per-stimulus",
            "0",
            "--assignment-ttl-minutes",
            "0",
            "--completion-redirect-url",
            "ftp://example.org",
            "--name",
            " ",
        ],
        Some(&url),
    ));
    for expected in [
        "--judgments-per-stimulus must be at least 1",
        "--assignment-ttl-minutes must be between 1 and 525600",
        "--completion-redirect-url must start with https://",
        "--name must not be empty",
    ] {
        assert!(error.contains(expected), "{expected} missing from {error}");
    }
    for field in [
        "judgments_per_stimulus",
        "assignment_ttl_minutes",
        "the completion redirect URL",
    ] {
        assert!(!error.contains(field), "{error}");
    }

    let output = percept(&["experiment", "list"], Some(&url));
    assert!(output.status.success(), "{output:?}");
    let table = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(table.contains("A name longer than the …"), "{table}");
    // The split column starts at the same character in the header and the row.
    let column = |line: &str, text: &str| line.find(text).map(|at| line[..at].chars().count());
    let mut lines = table.lines();
    let header = column(lines.next().unwrap(), "split/category");
    let row = column(lines.next().unwrap(), "train");
    assert!(
        header.is_some() && header == row,
        "the columns stay in line:\n{table}"
    );
}

/// `percept simulate` refuses what it cannot do before it sends anything:
/// a negative number gets its range (not "unexpected argument"), no
/// workers, and a URL that is no http(s) address (which it used to retry
/// silently for five minutes).
#[test]
fn simulate_refuses_bad_settings_before_sending_anything() {
    let simulate = |extra: &[&str]| {
        let mut args = vec![
            "simulate",
            "--experiment",
            "1",
            "--url",
            "http://127.0.0.1:9",
        ];
        args.extend_from_slice(extra);
        failure(&percept(&args, None))
    };
    let error = simulate(&["--noise", "-1"]);
    assert!(
        error.contains("the noise must be a finite number ≥ 0, not -1"),
        "{error}"
    );
    let error = simulate(&["--careless-share", "-0.5"]);
    assert!(
        error.contains("the careless share must be between 0 and 1, not -0.5"),
        "{error}"
    );
    let error = simulate(&["--workers", "0"]);
    assert!(
        error.contains("the number of workers must be at least 1, not 0"),
        "{error}"
    );
    let error = failure(&percept(
        &["simulate", "--experiment", "1", "--url", "notaurl"],
        None,
    ));
    assert!(
        error.contains("must be an http:// or https:// address"),
        "{error}"
    );
}

/// `percept report --versus A,B`, as the README and `--help` write it, is
/// two metrics (clap used to count it as one value and refuse it); one or
/// three metrics are refused with what the flag takes.
#[sqlx::test(migrator = "server::db::MIGRATOR")]
async fn report_takes_versus_as_documented(pool: PgPool) {
    let url = database_url(&pool);
    let report = |versus: &str| {
        failure(&percept(
            &[
                "report",
                "--experiment",
                "1",
                "--versus",
                versus,
                "--json",
                "-",
            ],
            Some(&url),
        ))
    };
    let error = report("lpips-alex,ssim-rgb");
    assert!(!error.contains("values required"), "{error}");
    assert!(error.contains("experiment 1"), "{error}");
    for versus in ["lpips-alex", "a,b,c"] {
        let error = report(versus);
        assert!(
            error.contains("--versus takes two metrics, A,B (e.g. lpips-alex,ssim-rgb)"),
            "{error}"
        );
    }
}

/// `percept distort`: a spec that is neither JSON nor a file says it can
/// be either, and `sample --count 0` is refused rather than writing an
/// empty sheet.
#[test]
fn distort_says_what_a_spec_and_a_count_may_be() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in.png");
    synthetic_image(32, 32, 0).save(&input).unwrap();
    let error = failure(&percept(
        &[
            "distort",
            "apply",
            "--input",
            input.to_str().unwrap(),
            "--spec",
            "notjson",
            "--seed",
            "1",
            "--out",
            dir.path().join("out.png").to_str().unwrap(),
        ],
        None,
    ));
    assert!(
        error.contains("is neither a JSON pipeline (it starts with [ or {) nor a file"),
        "{error}"
    );
    let error = failure(&percept(
        &[
            "distort",
            "sample",
            "--input",
            input.to_str().unwrap(),
            "--count",
            "0",
            "--out-dir",
            dir.path().join("sheet").to_str().unwrap(),
        ],
        None,
    ));
    assert!(error.contains("--count"), "{error}");
    assert!(!dir.path().join("sheet").exists());
}
