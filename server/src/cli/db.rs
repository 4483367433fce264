//! `percept db …`: the private cluster on its own, for tools (sqlx-cli, the
//! test suite, psql) that need a server without the web app.

use super::DatabaseArgs;

#[derive(Debug, clap::Subcommand)]
pub enum DbCommand {
    /// Create (first time) and start the private cluster, apply migrations, print its DATABASE_URL.
    Start(DatabaseArgs),
    /// Stop the private cluster.
    Stop(DatabaseArgs),
    /// Print the private cluster's DATABASE_URL.
    Url(DatabaseArgs),
}

pub fn run(command: DbCommand) -> anyhow::Result<()> {
    match command {
        DbCommand::Start(args) => {
            let cluster = args.private_cluster()?;
            cluster.start()?;
            tokio::runtime::Runtime::new()?.block_on(async {
                crate::db::connect(cluster.connect_options()).await?.close().await;
                anyhow::Ok(())
            })?;
            println!("{}", cluster.url());
        }
        DbCommand::Stop(args) => args.private_cluster()?.stop()?,
        DbCommand::Url(args) => println!("{}", args.private_cluster()?.url()),
    }
    Ok(())
}
