//! `percept researcher add`: create a researcher account.

use std::io::{BufRead, IsTerminal};

use anyhow::Context;

use super::DatabaseArgs;
use crate::researchers;

#[derive(Debug, clap::Subcommand)]
pub enum ResearcherCommand {
    /// Create a researcher account and print its id.
    Add {
        /// The researcher's email, used to sign in and as `--owner` of experiments.
        #[arg(long)]
        email: String,
        /// Read the password from the first line of stdin instead of prompting.
        #[arg(long)]
        password_stdin: bool,
        #[command(flatten)]
        database: DatabaseArgs,
    },
}

pub fn run(command: ResearcherCommand) -> anyhow::Result<()> {
    crate::telemetry::init();
    match command {
        ResearcherCommand::Add {
            email,
            password_stdin,
            database,
        } => {
            let password = read_password(password_stdin)?;
            tokio::runtime::Runtime::new()?.block_on(async {
                let database = database.open().await?;
                let added = researchers::add(&database.pool, &email, &password).await;
                database.close().await?;
                println!("{}", added?);
                Ok(())
            })
        }
    }
}

fn read_password(from_stdin: bool) -> anyhow::Result<String> {
    if from_stdin {
        let mut line = String::new();
        std::io::stdin()
            .lock()
            .read_line(&mut line)
            .context("cannot read the password from stdin")?;
        return Ok(line.trim_end_matches(['\r', '\n']).to_owned());
    }
    if !std::io::stdin().is_terminal() {
        anyhow::bail!("no terminal to prompt for the password on: pass --password-stdin");
    }
    let password = rpassword::prompt_password("Password: ")?;
    if rpassword::prompt_password("Repeat password: ")? != password {
        anyhow::bail!("the passwords differ");
    }
    Ok(password)
}
