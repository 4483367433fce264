//! `cargo xtask bench-load`: how many judgments per second `percept serve`
//! acknowledges, and how fast, with PostgreSQL, the server and the load
//! generator (wrk) all on this machine.
//!
//! The server is the release build on a private cluster of the bench's own
//! with PostgreSQL's default, durable settings (`synchronous_commit = on`):
//! an acknowledged judgment is on disk. Every request stores a distinct
//! judgment (a fresh id for one (assignment, position)), as workers' answers
//! are; none is a retry. Afterwards the database must hold exactly the
//! judgments wrk saw acknowledged, each once.

use std::{
    fmt::Write as _,
    fs,
    io::Write as _,
    net::TcpListener,
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    thread,
    time::{Duration, Instant},
};

use crate::{
    build::{cargo, target_dir},
    cache::Cache,
    process::{output, run, step, Result},
    setup, workspace_root,
};

const WRK_THREADS: u32 = 2;
const CONNECTIONS: u32 = 64;
const DURATION_SECONDS: u32 = 20;
/// Room for 5,000 judgments a second over the whole run, well above the goal
/// of 2,000; wrk reports it if it runs out.
const ASSIGNMENTS: u32 = 1_000;
const TRIALS_PER_ASSIGNMENT: u32 = 100;
/// 4 photos × 300 patches = 1,200 triplets × 84 = 100,800 slots, at least
/// one per trial of the assignments.
const PATCHES_PER_IMAGE: u32 = 300;
const JUDGMENTS_PER_TRIPLET: u32 = 84;
const OWNER: &str = "load-bench@percept.local";

pub fn run_bench() -> Result {
    setup::everything(setup::Purpose::Test)?;
    step("percept binary (release)", false);
    run(cargo().args(["build", "--release", "--package", "server"]))?;
    let percept = Percept {
        binary: target_dir().join("release/percept"),
        env: Cache::locate()?.runtime_env()?,
    };

    let work_dir = WorkDir::create()?;
    step(
        &format!("PostgreSQL cluster in {}", work_dir.path.display()),
        false,
    );
    let cluster = Cluster::start(&percept, &work_dir.path)?;
    let database_url = cluster.url.clone();
    let psql = |sql: &str| output(Command::new("psql").args([&database_url, "-tAX", "-c", sql]));

    step("load benchmark experiment", false);
    output(
        percept
            .command()
            .args(["researcher", "add", "--password-stdin", "--email", OWNER])
            .env("DATABASE_URL", &database_url)
            .stdin(stdin_with("load-bench-password\n")?),
    )?;
    let photos = Cache::locate()?.demo_photos();
    let experiment_id = output(
        percept
            .command()
            .args([
                "experiment",
                "create",
                "--kind",
                "2afc",
                "--name",
                "load benchmark",
            ])
            .args(["--owner", OWNER, "--seed", "1", "--sentinel-rate", "0"])
            .arg("--images")
            .arg(&photos)
            .args(["--patches-per-image", &PATCHES_PER_IMAGE.to_string()])
            .args([
                "--judgments-per-stimulus",
                &JUDGMENTS_PER_TRIPLET.to_string(),
            ])
            .args([
                "--trials-per-assignment",
                &TRIALS_PER_ASSIGNMENT.to_string(),
            ])
            .args(["--max-assignments-per-worker", "1"])
            .env("DATABASE_URL", &database_url)
            .stderr(Stdio::null()),
    )?;

    step("percept serve (release)", false);
    let server = Server::start(percept.command(), &database_url, &work_dir.path)?;

    step(&format!("{ASSIGNMENTS} assignments"), false);
    for worker in 0..ASSIGNMENTS {
        let status = output(Command::new("curl").args([
            "-s",
            "-o",
            "/dev/null",
            "-w",
            "%{http_code}",
            "-H",
            "Content-Type: application/json",
            "--data",
            &format!(r#"{{"platform":"prolific","platform_worker_id":"load-bench-{worker}"}}"#),
            &server.url(&format!("/api/experiments/{experiment_id}/assignments")),
        ]))?;
        if status != "201" {
            return Err(format!(
                "assignment {worker} was refused ({status}); see {}",
                server.log.display()
            ));
        }
    }
    // Shuffled, so that concurrent requests rarely wait on one assignment's
    // lock, as with many workers each answering their own assignment.
    let data_file = work_dir.path.join("judgments.tsv");
    fs::write(
        &data_file,
        psql(&format!(
            "SELECT a.token || ' ' || at.position FROM assignment_trials at
             JOIN assignments a ON a.id = at.assignment_id
             WHERE a.experiment_id = {experiment_id} ORDER BY random()"
        ))?,
    )
    .map_err(|error| format!("cannot write {}: {error}", data_file.display()))?;
    let script = work_dir.path.join("judgments.lua");
    fs::write(&script, wrk_script(&data_file))
        .map_err(|error| format!("cannot write {}: {error}", script.display()))?;

    let stats_before = database_stats(&psql)?;
    step(
        &format!("wrk -t{WRK_THREADS} -c{CONNECTIONS} -d{DURATION_SECONDS}s --latency"),
        false,
    );
    let wrk_output = output(
        Command::new("wrk")
            .args([
                &format!("-t{WRK_THREADS}"),
                &format!("-c{CONNECTIONS}"),
                &format!("-d{DURATION_SECONDS}s"),
                "--latency",
                "-s",
            ])
            .arg(&script)
            .arg(server.url("/")),
    )?;
    println!("{wrk_output}");
    let wrk = WrkResult::parse(&wrk_output)?;
    // PostgreSQL's backends publish their statistics when they exit (or
    // after ten idle seconds): stop the server and wait for its connections
    // to close before reading them.
    drop(server);
    let deadline = Instant::now() + Duration::from_secs(10);
    while psql(
        "SELECT count(*) FROM pg_stat_activity
         WHERE datname = current_database() AND pid <> pg_backend_pid()",
    )? != "0"
        && Instant::now() < deadline
    {
        thread::sleep(Duration::from_millis(100));
    }
    let stats_after = database_stats(&psql)?;

    let stored: Vec<u64> = psql(
        "SELECT count(*), count(DISTINCT id), count(DISTINCT (assignment_id, position))
         FROM judgments",
    )?
    .split('|')
    .map(|count| count.parse().unwrap_or(0))
    .collect();
    let [stored, distinct_ids, distinct_trials] = stored[..] else {
        return Err("cannot read the judgment counts".into());
    };
    drop(cluster);

    let acknowledged = wrk.completed - wrk.refused;
    let seconds = wrk.duration_us as f64 / 1e6;
    let transactions = stats_after.commits - stats_before.commits;
    let mut summary = String::new();
    let _ = writeln!(
        summary,
        "\nload benchmark: {CONNECTIONS} connections, {WRK_THREADS} wrk threads, {seconds:.1} s"
    );
    let _ = writeln!(
        summary,
        "  acknowledged (2xx)   {acknowledged} judgments, {:.0} judgments/s (goal ≥ 2000)",
        acknowledged as f64 / seconds
    );
    let _ = writeln!(
        summary,
        "  latency              p50 {:.1} ms, p99 {:.1} ms (goal p99 < 50 ms)",
        wrk.p50_us as f64 / 1e3,
        wrk.p99_us as f64 / 1e3
    );
    let _ = writeln!(
        summary,
        "  not acknowledged     {} refused (status ≥ 400), {} socket errors, {} unanswered when wrk stopped",
        wrk.refused,
        wrk.socket_errors,
        wrk.sent - wrk.completed
    );
    let _ = writeln!(
        summary,
        "  stored               {stored} judgments ({distinct_ids} distinct ids, {distinct_trials} distinct trials)"
    );
    let _ = writeln!(
        summary,
        "  PostgreSQL           {transactions} commits, {:.1} per stored judgment; {} WAL syncs",
        transactions as f64 / stored.max(1) as f64,
        stats_after.wal_syncs - stats_before.wal_syncs,
    );
    print!("{summary}");

    if wrk.exhausted {
        return Err(format!(
            "wrk ran out of distinct judgments: raise ASSIGNMENTS in {}",
            file!()
        ));
    }
    if distinct_ids != stored || distinct_trials != stored {
        return Err("a judgment or a trial is stored more than once".into());
    }
    // A request still in flight when wrk stops may be committed without wrk
    // reading its answer; beyond those, stored must equal acknowledged.
    let unanswered = wrk.sent - wrk.completed;
    if stored < acknowledged || stored > acknowledged + unanswered {
        return Err(format!(
            "{stored} judgments stored, but wrk saw {acknowledged} acknowledged \
             and {unanswered} unanswered"
        ));
    }
    if wrk.refused > 0 {
        let log = fs::read_to_string(work_dir.path.join("serve.log")).unwrap_or_default();
        let log_tail: Vec<&str> = log.lines().rev().take(20).collect();
        return Err(format!(
            "{} judgments were refused; the server's last log lines:\n{}",
            wrk.refused,
            log_tail.into_iter().rev().collect::<Vec<_>>().join("\n")
        ));
    }
    println!(
        "✓ every acknowledged judgment is stored exactly once ({} stored from requests wrk stopped waiting for)",
        stored - acknowledged
    );
    Ok(())
}

/// The Lua script for wrk: each thread takes every n-th line of the data
/// file, a (token, position) each, and builds one request per line with a
/// fresh judgment id before the run starts (building requests during the
/// run would make wrk the bottleneck). It reports, in `done`, the counts and
/// latencies the bench parses.
fn wrk_script(data_file: &Path) -> String {
    let template = r#"
local threads = {}

function setup(thread)
    thread:set("thread_index", #threads)
    table.insert(threads, thread)
end

local function uuid_v4()
    local hex = "0123456789abcdef"
    local digits = {}
    for i = 1, 32 do
        local digit = math.random(0, 15)
        if i == 13 then digit = 4 end
        if i == 17 then digit = 8 + digit % 4 end
        digits[i] = hex:sub(digit + 1, digit + 1)
    end
    local id = table.concat(digits)
    return id:sub(1, 8) .. "-" .. id:sub(9, 12) .. "-" .. id:sub(13, 16) .. "-"
        .. id:sub(17, 20) .. "-" .. id:sub(21, 32)
end

function init(args)
    math.randomseed(os.time() * 1000 + thread_index * 7919 + math.floor(os.clock() * 1e6))
    local headers = { ["Content-Type"] = "application/json" }
    requests = {}
    local line_number = 0
    for line in io.lines("DATA_FILE") do
        if line_number % THREADS == thread_index then
            local token, position = line:match("^(%S+) (%d+)$")
            local side = (tonumber(position) % 2 == 0) and "left" or "right"
            local body = string.format(
                '{"id":"%s","position":%s,"chosen_side":"%s","response_ms":850,"client_time":"2025-01-02T03:04:05.678Z"}',
                uuid_v4(), position, side)
            table.insert(requests, wrk.format("POST", "/api/assignments/" .. token .. "/judgments", headers, body))
        end
        line_number = line_number + 1
    end
    sent = 0
    exhausted = false
end

function request()
    if sent == #requests then
        -- Out of distinct judgments: stop rather than send one twice.
        exhausted = true
        wrk.thread:stop()
        return wrk.format("GET", "/healthz")
    end
    sent = sent + 1
    return requests[sent]
end

function done(summary, latency, per_thread)
    local sent, exhausted = 0, false
    for _, thread in ipairs(threads) do
        sent = sent + thread:get("sent")
        exhausted = exhausted or thread:get("exhausted")
    end
    local errors = summary.errors
    print(string.format("bench: sent=%d completed=%d refused=%d socket_errors=%d duration_us=%d p50_us=%d p99_us=%d exhausted=%s",
        sent, summary.requests, errors.status, errors.connect + errors.read + errors.write + errors.timeout,
        summary.duration, latency:percentile(50), latency:percentile(99), tostring(exhausted)))
end
"#;
    template
        .replace("DATA_FILE", &data_file.display().to_string())
        .replace("THREADS", &WRK_THREADS.to_string())
}

/// What the script's `done` printed.
struct WrkResult {
    sent: u64,
    completed: u64,
    refused: u64,
    socket_errors: u64,
    duration_us: u64,
    p50_us: u64,
    p99_us: u64,
    exhausted: bool,
}

impl WrkResult {
    fn parse(wrk_output: &str) -> Result<Self> {
        let line = wrk_output
            .lines()
            .find_map(|line| line.strip_prefix("bench: "))
            .ok_or("wrk printed no results: did the script fail?")?;
        let field = |name: &str| {
            line.split(' ')
                .find_map(|pair| pair.strip_prefix(name)?.strip_prefix('='))
                .ok_or(format!("wrk's results lack {name}: {line}"))
        };
        let number = |name: &str| -> Result<u64> {
            field(name)?
                .parse()
                .map_err(|_| format!("wrk's {name} is not a number: {line}"))
        };
        Ok(Self {
            sent: number("sent")?,
            completed: number("completed")?,
            refused: number("refused")?,
            socket_errors: number("socket_errors")?,
            duration_us: number("duration_us")?,
            p50_us: number("p50_us")?,
            p99_us: number("p99_us")?,
            exhausted: field("exhausted")? == "true",
        })
    }
}

/// Counters PostgreSQL keeps: committed transactions and WAL flushes to disk.
struct DatabaseStats {
    commits: u64,
    wal_syncs: u64,
}

fn database_stats(psql: &impl Fn(&str) -> Result<String>) -> Result<DatabaseStats> {
    let row = psql(
        "SELECT (SELECT xact_commit FROM pg_stat_database WHERE datname = current_database()),
                (SELECT wal_sync FROM pg_stat_wal)",
    )?;
    let numbers: Vec<u64> = row.split('|').filter_map(|n| n.parse().ok()).collect();
    match numbers[..] {
        [commits, wal_syncs] => Ok(DatabaseStats { commits, wal_syncs }),
        _ => Err(format!("cannot read PostgreSQL's statistics: {row}")),
    }
}

fn stdin_with(text: &str) -> Result<Stdio> {
    let (reader, mut writer) =
        std::io::pipe().map_err(|error| format!("cannot make a pipe: {error}"))?;
    writer
        .write_all(text.as_bytes())
        .map_err(|error| format!("cannot write to a pipe: {error}"))?;
    Ok(reader.into())
}

/// A directory in /tmp for the cluster and the bench's files, removed at
/// the end. In /tmp, because PostgreSQL runs as the `postgres` user when
/// the bench runs as root, and must reach it.
struct WorkDir {
    path: PathBuf,
}

impl WorkDir {
    fn create() -> Result<Self> {
        let path = PathBuf::from(format!("/tmp/percept-bench-{}", std::process::id()));
        fs::create_dir_all(&path)
            .and_then(|_| {
                fs::set_permissions(&path, std::os::unix::fs::PermissionsExt::from_mode(0o755))
            })
            .map_err(|error| format!("cannot create {}: {error}", path.display()))?;
        Ok(Self { path })
    }
}

impl Drop for WorkDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.path);
    }
}

/// The release `percept` with the environment it needs (libtorch).
struct Percept {
    binary: PathBuf,
    env: Vec<(&'static str, String)>,
}

impl Percept {
    /// A command on the bench's own database only: the caller's
    /// `DATABASE_URL` is not passed on.
    fn command(&self) -> Command {
        let mut command = Command::new(&self.binary);
        command
            .envs(self.env.iter().cloned())
            .env_remove("DATABASE_URL");
        command
    }
}

/// The private cluster, made and run by `percept db start`; stopped when dropped.
struct Cluster<'a> {
    percept: &'a Percept,
    data_dir: PathBuf,
    url: String,
}

impl<'a> Cluster<'a> {
    fn start(percept: &'a Percept, data_dir: &Path) -> Result<Self> {
        let url = output(
            percept
                .command()
                .args(["db", "start", "--data-dir"])
                .arg(data_dir),
        )?;
        Ok(Self {
            percept,
            data_dir: data_dir.to_owned(),
            url,
        })
    }
}

impl Drop for Cluster<'_> {
    fn drop(&mut self) {
        let _ = run(self
            .percept
            .command()
            .args(["db", "stop", "--data-dir"])
            .arg(&self.data_dir));
    }
}

/// `percept serve` on a free loopback port; killed when dropped.
struct Server {
    child: Child,
    port: u16,
    log: PathBuf,
}

impl Server {
    fn start(mut percept: Command, database_url: &str, work_dir: &Path) -> Result<Self> {
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|listener| listener.local_addr())
            .map_err(|error| format!("cannot find a free port: {error}"))?
            .port();
        let log = work_dir.join("serve.log");
        let log_file =
            fs::File::create(&log).map_err(|error| format!("cannot create the log: {error}"))?;
        let child = percept
            .args(["serve", "--job-kinds", "generation", "--addr"])
            .arg(format!("127.0.0.1:{port}"))
            .arg("--static-dir")
            .arg(workspace_root().join("static"))
            // wrk is one client address sending as many workers' answers:
            // the limits (0 turns one off) would measure themselves.
            .args(["--judgments-per-ip-per-second", "0"])
            .args(["--judgments-per-worker-per-second", "0"])
            .args(["--assignments-per-ip-per-minute", "0"])
            .env("DATABASE_URL", database_url)
            .stdout(log_file.try_clone().map_err(|error| error.to_string())?)
            .stderr(log_file)
            .spawn()
            .map_err(|error| format!("cannot start percept serve: {error}"))?;
        let mut server = Self { child, port, log };
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let health = Command::new("curl")
                .args(["-sf", "-o", "/dev/null", &server.url("/healthz")])
                .status();
            if health.is_ok_and(|status| status.success()) {
                return Ok(server);
            }
            if Instant::now() > deadline || server.child.try_wait().ok().flatten().is_some() {
                return Err(format!(
                    "percept serve did not come up:\n{}",
                    fs::read_to_string(&server.log).unwrap_or_default()
                ));
            }
            thread::sleep(Duration::from_millis(100));
        }
    }

    fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
