//! `shop-api`: serve the HTTP API (default), apply migrations, or run admin tasks.

use clap::{Parser, Subcommand};
use shop_api::Application;
use shop_api::config::Config;

#[derive(Parser)]
#[command(name = "shop-api", version, about = "shop e-commerce API")]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the HTTP API (the default).
    Serve,
    /// Create the database if needed, apply pending migrations, and exit.
    Migrate,
    /// Load deterministic demo data (categories, products with variants and stock, users,
    /// shipping methods, reviews). Seeded users' password is `SHOP_SEED_PASSWORD` (default
    /// `demo password 123`); in the dev profile it also creates the admin `admin@example.com`
    /// (password `demo store passphrase`) and prints both.
    Seed {
        #[arg(long, default_value_t = 1000)]
        products: i64,
        #[arg(long, default_value_t = 100)]
        users: i64,
    },
    /// Print the OpenAPI document (as `/openapi.json` serves it) and exit; needs no database.
    Openapi,
    /// Administrative tasks.
    Admin {
        #[command(subcommand)]
        command: AdminCommand,
    },
}

#[derive(Subcommand)]
enum AdminCommand {
    /// Ask every instance's search index to rebuild itself from PostgreSQL (through the catalog
    /// feed: each instance reads the request within `catalog.search_feed_interval_ms`).
    Reindex,
    /// Create an admin account. The password is read from SHOP_ADMIN_PASSWORD or, if unset, from
    /// the first line of standard input.
    Create {
        #[arg(long)]
        email: String,
        #[arg(long, default_value = "Administrator")]
        name: String,
    },
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let config = match Config::load() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("shop-api: {e}");
            return std::process::ExitCode::from(2);
        }
    };
    let _telemetry = shop_api::telemetry::init(&config.telemetry);
    match run(cli.command.unwrap_or(Command::Serve), config).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!(error = format!("{e:#}"), "fatal");
            eprintln!("shop-api: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn run(command: Command, mut config: Config) -> anyhow::Result<()> {
    match command {
        Command::Serve => {
            let app = Application::build(config).await?;
            tracing::info!(port = app.port(), "listening");
            app.run_until_stopped().await?;
        }
        Command::Openapi => {
            let doc = shop_api::startup::document(config.server.public_url.as_deref());
            let mut text = serde_json::to_string_pretty(&doc)?;
            text.push('\n');
            std::io::Write::write_all(&mut std::io::stdout().lock(), text.as_bytes())?;
        }
        Command::Migrate => shop_api::startup::prepare_database(&mut config).await?,
        Command::Seed { products, users } => {
            shop_api::startup::prepare_database(&mut config).await?;
            let started = std::time::Instant::now();
            let password = std::env::var("SHOP_SEED_PASSWORD").unwrap_or_else(|_| "demo password 123".into());
            let hash = auth::PasswordHasher::new(1).hash(&password).await;
            let db = persistence::Db::connect(&config.db_config())?;
            let seeded = persistence::seed::seed(&db, products, users, &hash).await?;
            println!(
                "seeded {} categories, {} products, {} variants, {} users, {} shipping methods, {} reviews, {} promotions in {:.1} s",
                seeded.categories,
                seeded.products,
                seeded.variants,
                seeded.users,
                seeded.shipping_methods,
                seeded.reviews,
                seeded.promotions,
                started.elapsed().as_secs_f64()
            );
            println!("customers: user1@example.com .. user{users}@example.com, password \"{password}\"");
            if config.profile == shop_api::config::Profile::Dev {
                // A dev admin, so the admin API can be tried at once; never in other profiles.
                let (email, admin_password) = ("admin@example.com", "demo store passphrase");
                match shop_api::startup::create_admin(&config, email.into(), "Demo Admin".into(), admin_password.into())
                    .await
                {
                    Ok(_) => {}
                    Err(e) if matches!(e.downcast_ref::<auth::AuthError>(), Some(auth::AuthError::EmailTaken)) => {}
                    Err(e) => return Err(e),
                }
                println!("dev admin: {email}, password \"{admin_password}\" (dev profile only)");
            }
        }
        Command::Admin { command: AdminCommand::Reindex } => {
            use catalog::CatalogFeed;
            let db = persistence::Db::connect(&config.db_config())?;
            persistence::PgCatalogRepo::new(db.clone()).request_rebuild().await?;
            db.close();
            println!("asked every search index to rebuild from the catalog");
        }
        Command::Admin { command: AdminCommand::Create { email, name } } => {
            let password = match std::env::var("SHOP_ADMIN_PASSWORD") {
                Ok(p) if !p.is_empty() => p,
                _ => {
                    let mut line = String::new();
                    std::io::stdin().read_line(&mut line)?;
                    line.trim_end_matches(['\r', '\n']).to_owned()
                }
            };
            shop_api::startup::prepare_database(&mut config).await?;
            let user = shop_api::startup::create_admin(&config, email, name, password).await?;
            println!("created admin {} ({})", user.email, user.id);
        }
    }
    Ok(())
}
