//! `percept db …`: the private cluster on its own, for tools (sqlx-cli, the
//! test suite, psql) that need a server without the web app.

use super::DataDirArgs;

#[derive(Debug, clap::Subcommand)]
pub enum DbCommand {
    /// Create (first time) and start the private cluster, apply migrations, print its DATABASE_URL.
    Start(DataDirArgs),
    /// Stop the private cluster.
    Stop(DataDirArgs),
    /// Print the private cluster's DATABASE_URL.
    Url(DataDirArgs),
}

pub fn run(command: DbCommand) -> anyhow::Result<()> {
    match command {
        DbCommand::Start(args) => {
            let cluster = args.private_cluster()?;
            cluster.start()?;
            tokio::runtime::Runtime::new()?.block_on(async {
                crate::db::connect(cluster.connect_options())
                    .await?
                    .close()
                    .await;
                anyhow::Ok(())
            })?;
            println!("{}", cluster.url());
        }
        DbCommand::Stop(args) => args.private_cluster()?.stop()?,
        DbCommand::Url(args) => println!("{}", args.private_cluster()?.url()),
    }
    Ok(())
}
