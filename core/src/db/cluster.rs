//! A private PostgreSQL cluster inside Percept's data directory, used when no
//! `DATABASE_URL` is given.
//!
//! PostgreSQL refuses to run as root, so when Percept runs as root the cluster
//! is owned by and run as the `postgres` system user (which Debian's
//! `postgresql` package creates). The server listens only on a unix socket in
//! the data directory: no TCP port, so it cannot clash with other servers.

use std::{
    ffi::OsStr,
    fs,
    os::unix::{fs::MetadataExt, process::CommandExt},
    path::{Path, PathBuf},
    process::{Command, Output},
};

use anyhow::{bail, Context};
use nix::unistd::{Uid, User};
use sqlx::postgres::PgConnectOptions;

const DATABASE: &str = "percept";
const ROLE: &str = "percept";
/// Names the socket file (`.s.PGSQL.5432`); nothing listens on TCP.
const SOCKET_PORT: u16 = 5432;
/// `sun_path` is 108 bytes including the terminating NUL.
const MAX_SOCKET_PATH: usize = 107;

pub struct PrivateCluster {
    bin_dir: PathBuf,
    pgdata: PathBuf,
    socket_dir: PathBuf,
    log_file: PathBuf,
    /// The unprivileged account the server runs as when we are root.
    run_as: Option<User>,
}

impl PrivateCluster {
    /// Describes the cluster under `data_dir` without touching the disk.
    pub fn new(data_dir: &Path) -> anyhow::Result<Self> {
        let data_dir = std::path::absolute(data_dir)
            .with_context(|| format!("invalid data directory {}", data_dir.display()))?;
        let run_as = if Uid::effective().is_root() {
            Some(User::from_name("postgres")?.context(
                "running as root, but there is no `postgres` user to run PostgreSQL as \
                 (PostgreSQL refuses to run as root): install Debian's postgresql package \
                 (apt-get install postgresql), or run percept as an unprivileged user, \
                 or set DATABASE_URL to use an existing server",
            )?)
        } else {
            None
        };
        let socket_dir = data_dir.join("postgres-socket");
        let socket_path_len =
            socket_dir.as_os_str().len() + format!("/.s.PGSQL.{SOCKET_PORT}").len();
        if socket_path_len > MAX_SOCKET_PATH {
            bail!(
                "the data directory path {} is too long for PostgreSQL's unix socket \
                 ({socket_path_len} bytes, at most {MAX_SOCKET_PATH}): choose a shorter --data-dir",
                data_dir.display()
            );
        }
        Ok(Self {
            bin_dir: find_postgres_bin_dir()?,
            pgdata: data_dir.join("postgres"),
            socket_dir,
            log_file: data_dir.join("postgres.log"),
            run_as,
        })
    }

    pub fn pgdata(&self) -> &Path {
        &self.pgdata
    }

    pub fn log_file(&self) -> &Path {
        &self.log_file
    }

    /// Creates the cluster on first use and starts it unless it already runs.
    /// Returns whether this call started it (and so should stop it).
    pub fn start(&self) -> anyhow::Result<bool> {
        if !self.pgdata.join("PG_VERSION").exists() {
            self.init()?;
        }
        self.check_ownership()?;
        if self.is_running()? {
            return Ok(false);
        }
        let server_options = format!(
            "-k {} -p {SOCKET_PORT} -c listen_addresses=''",
            self.socket_dir.display()
        );
        let output = self.pg_ctl(&[
            OsStr::new("start"),
            OsStr::new("--wait"),
            OsStr::new("-o"),
            OsStr::new(&server_options),
            OsStr::new("-l"),
            self.log_file.as_os_str(),
        ])?;
        if !output.status.success() {
            let log_tail = fs::read_to_string(&self.log_file)
                .map(|log| log.lines().rev().take(5).collect::<Vec<_>>().join("\n"))
                .unwrap_or_default();
            bail!(
                "PostgreSQL did not start in {}: {}{}\n(log: {})",
                self.pgdata.display(),
                String::from_utf8_lossy(&output.stderr).trim(),
                if log_tail.is_empty() {
                    String::new()
                } else {
                    format!("\nlast log lines:\n{log_tail}")
                },
                self.log_file.display()
            );
        }
        self.create_database()?;
        Ok(true)
    }

    /// Stops the server with a fast shutdown (open sessions are ended cleanly).
    pub fn stop(&self) -> anyhow::Result<()> {
        if !self.is_running()? {
            return Ok(());
        }
        let output = self.pg_ctl(&[
            OsStr::new("stop"),
            OsStr::new("--wait"),
            OsStr::new("-m"),
            OsStr::new("fast"),
        ])?;
        if !output.status.success() {
            bail!(
                "pg_ctl stop failed: {}",
                String::from_utf8_lossy(&output.stderr).trim()
            );
        }
        Ok(())
    }

    pub fn connect_options(&self) -> PgConnectOptions {
        PgConnectOptions::new()
            .socket(&self.socket_dir)
            .port(SOCKET_PORT)
            .username(ROLE)
            .database(DATABASE)
    }

    /// A `DATABASE_URL` for other programs (sqlx-cli, tests) to reach this cluster.
    pub fn url(&self) -> String {
        format!(
            "postgres://{ROLE}@localhost:{SOCKET_PORT}/{DATABASE}?host={}",
            self.socket_dir.display()
        )
    }

    fn init(&self) -> anyhow::Result<()> {
        for dir in [&self.pgdata, &self.socket_dir] {
            fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
        }
        if let Some(user) = &self.run_as {
            for path in [&self.pgdata, &self.socket_dir] {
                nix::unistd::chown(path.as_path(), Some(user.uid), Some(user.gid)).with_context(
                    || format!("cannot hand {} to the postgres user", path.display()),
                )?;
            }
            self.check_reachable_by(user)?;
        }
        let output = self.run(
            "initdb",
            &[
                OsStr::new("-D"),
                self.pgdata.as_os_str(),
                OsStr::new("-U"),
                OsStr::new(ROLE),
                OsStr::new("--auth=trust"),
                OsStr::new("--encoding=UTF8"),
                OsStr::new("--no-instructions"),
            ],
        )?;
        if !output.status.success() {
            bail!(
                "initdb failed in {}: {}",
                self.pgdata.display(),
                String::from_utf8_lossy(&output.stderr).trim()
            );
        }
        // The log lives beside the cluster and must be writable by its server.
        fs::write(&self.log_file, "")?;
        if let Some(user) = &self.run_as {
            nix::unistd::chown(self.log_file.as_path(), Some(user.uid), Some(user.gid))?;
        }
        Ok(())
    }

    fn create_database(&self) -> anyhow::Result<()> {
        let exists_query = format!("SELECT 1 FROM pg_database WHERE datname = '{DATABASE}'");
        let exists = self.client("psql", &["-d", "postgres", "-tAc", &exists_query])?;
        if String::from_utf8_lossy(&exists.stdout).trim() == "1" {
            return Ok(());
        }
        let output = self.client("createdb", &[DATABASE])?;
        if !output.status.success() {
            bail!(
                "createdb failed: {}",
                String::from_utf8_lossy(&output.stderr).trim()
            );
        }
        Ok(())
    }

    /// Runs a PostgreSQL client program against this cluster's socket.
    fn client(&self, program: &str, args: &[&str]) -> anyhow::Result<Output> {
        let port = SOCKET_PORT.to_string();
        let mut full = vec![
            OsStr::new("-h"),
            self.socket_dir.as_os_str(),
            OsStr::new("-p"),
            OsStr::new(&port),
            OsStr::new("-U"),
            OsStr::new(ROLE),
        ];
        full.extend(args.iter().map(OsStr::new));
        self.run(program, &full)
    }

    fn is_running(&self) -> anyhow::Result<bool> {
        // pg_ctl status: 0 running, 3 not running, 4 no accessible data directory.
        let output = self.pg_ctl(&[OsStr::new("status")])?;
        Ok(output.status.code() == Some(0))
    }

    fn check_ownership(&self) -> anyhow::Result<()> {
        let owner = fs::metadata(&self.pgdata)
            .with_context(|| format!("cannot read {}", self.pgdata.display()))?
            .uid();
        let expected = self
            .run_as
            .as_ref()
            .map_or(Uid::effective(), |user| user.uid);
        if owner != expected.as_raw() {
            let owner_name = User::from_uid(Uid::from_raw(owner))
                .ok()
                .flatten()
                .map_or(owner.to_string(), |user| user.name);
            bail!(
                "the database directory {} belongs to user {owner_name}, but percept runs PostgreSQL \
                 as uid {expected}: run percept as {owner_name}, or pass another --data-dir",
                self.pgdata.display()
            );
        }
        Ok(())
    }

    /// Every parent of the cluster must be searchable by the postgres user;
    /// `/root` (mode 700) is the usual trap.
    fn check_reachable_by(&self, user: &User) -> anyhow::Result<()> {
        for dir in self.pgdata.ancestors().skip(1) {
            let meta = fs::metadata(dir)?;
            let mode = meta.mode();
            let searchable = mode & 0o001 != 0
                || (meta.uid() == user.uid.as_raw() && mode & 0o100 != 0)
                || (meta.gid() == user.gid.as_raw() && mode & 0o010 != 0);
            if !searchable {
                bail!(
                    "PostgreSQL runs as the postgres user (percept is running as root), which \
                     cannot enter {} (mode {:o}): pass a --data-dir outside it \
                     (the default for root is /var/lib/percept)",
                    dir.display(),
                    mode & 0o7777
                );
            }
        }
        Ok(())
    }

    fn pg_ctl(&self, args: &[&OsStr]) -> anyhow::Result<Output> {
        let mut full = vec![OsStr::new("-D"), self.pgdata.as_os_str()];
        full.extend_from_slice(args);
        self.run("pg_ctl", &full)
    }

    fn run(&self, program: &str, args: &[&OsStr]) -> anyhow::Result<Output> {
        let program_path = self.bin_dir.join(program);
        let mut command = match &self.run_as {
            Some(user) => {
                let mut command = Command::new("runuser");
                command.args(["-u", &user.name, "--"]).arg(&program_path);
                command
            }
            None => Command::new(&program_path),
        };
        command
            .args(args)
            // A Ctrl-C in the terminal must reach percept only: it stops the
            // cluster itself, after the web server has drained.
            .process_group(0)
            .current_dir("/");
        command
            .output()
            .with_context(|| format!("cannot run {}", program_path.display()))
    }
}

/// Debian installs the server binaries under /usr/lib/postgresql/<major>/bin,
/// off the PATH; other systems put them on it.
fn find_postgres_bin_dir() -> anyhow::Result<PathBuf> {
    const INSTALL_HINT: &str = "install Debian's postgresql package (apt-get install postgresql), \
         set PERCEPT_PG_BIN_DIR to their directory, or set DATABASE_URL to use an existing server";
    if let Some(dir) = std::env::var_os("PERCEPT_PG_BIN_DIR").map(PathBuf::from) {
        if !dir.join("initdb").exists() {
            bail!(
                "PERCEPT_PG_BIN_DIR={} has no initdb: {INSTALL_HINT}",
                dir.display()
            );
        }
        return Ok(dir);
    }
    let mut debian: Vec<(u32, PathBuf)> = fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|entry| {
            let major = entry.file_name().to_str()?.parse().ok()?;
            let bin = entry.path().join("bin");
            bin.join("initdb").exists().then_some((major, bin))
        })
        .collect();
    debian.sort();
    if let Some((_, bin)) = debian.pop() {
        return Ok(bin);
    }
    let on_path = std::env::var_os("PATH")
        .into_iter()
        .flat_map(|path| std::env::split_paths(&path).collect::<Vec<_>>())
        .find(|dir| dir.join("initdb").exists() && dir.join("pg_ctl").exists());
    on_path.with_context(|| {
        format!("PostgreSQL server binaries (initdb, pg_ctl) not found: {INSTALL_HINT}")
    })
}
