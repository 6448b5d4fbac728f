//! `repo-digest`: mail what arrived in the repositories you follow.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use clap::{Parser, Subcommand};

use repo_digest::config::{self, Config};
use repo_digest::mail::Sender;
use repo_digest::paths::expand_tilde;
use repo_digest::render::Highlighter;
use repo_digest::run::{self, Summary};
use repo_digest::spool::{self, Spool};

/// Fetch the repositories you follow and mail one digest per repository with what
/// arrived: commit list, stats, highlighted diff, and the diff attached.
///
/// Exit status: 0 when everything was mailed, 1 when a repository failed or an item
/// stayed in the spool (it is retried by the next run), 2 on usage errors.
#[derive(Parser)]
#[command(name = "repo-digest", version)]
struct Cli {
    /// Configuration file [default: `$REPO_DIGEST_CONFIG`, else
    /// `$XDG_CONFIG_HOME/repo-digest/config.toml`, else `~/.config/repo-digest/config.toml`].
    #[arg(long, short, global = true)]
    config: Option<String>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Write a commented example configuration.
    Init {
        /// Overwrite an existing file.
        #[arg(long)]
        force: bool,
    },
    /// Collect every repository into the spool, then mail every spooled item.
    Run {
        #[command(flatten)]
        dry: DryRun,
    },
    /// Only fetch, spool and update the repositories.
    Collect,
    /// Only mail what is in the spool.
    Send {
        #[command(flatten)]
        dry: DryRun,
    },
}

#[derive(clap::Args)]
struct DryRun {
    /// Write each mail as an .eml file instead of sending it. Fetches, but neither
    /// spools, updates working copies nor deletes spool items.
    #[arg(long)]
    dry_run: bool,
    /// Directory for the --dry-run .eml files.
    #[arg(long, default_value = "repo-digest-eml", requires = "dry_run")]
    eml_dir: String,
}

fn config_path(arg: Option<&str>) -> PathBuf {
    if let Some(p) = arg {
        return expand_tilde(p);
    }
    if let Some(p) = std::env::var("REPO_DIGEST_CONFIG").ok().filter(|p| !p.is_empty()) {
        return expand_tilde(&p);
    }
    let base = std::env::var_os("XDG_CONFIG_HOME")
        .filter(|v| !v.is_empty())
        .map_or_else(|| expand_tilde("~/.config"), PathBuf::from);
    base.join("repo-digest").join("config.toml")
}

fn init(path: &Path, force: bool) -> Result<()> {
    if path.exists() && !force {
        bail!("{} exists; pass --force to overwrite it", path.display());
    }
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    }
    spool::write_atomic(path, config::EXAMPLE.as_bytes())?;
    println!("wrote {}; edit it, then run `repo-digest run --dry-run`", path.display());
    Ok(())
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let path = config_path(cli.config.as_deref());
    match real_main(&cli.command, &path) {
        Ok(summary) if summary.clean() => ExitCode::SUCCESS,
        Ok(summary) => {
            eprintln!(
                "repo-digest: {} repository error(s), {} item(s) left in the spool",
                summary.repo_errors, summary.kept
            );
            ExitCode::FAILURE
        }
        Err(e) => {
            eprintln!("repo-digest: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn real_main(command: &Command, path: &Path) -> Result<Summary> {
    if let Command::Init { force } = command {
        init(path, *force)?;
        return Ok(Summary::default());
    }
    let cfg = Config::load(path)?;
    let spool = Spool::open(&cfg.spool)?;
    let mut summary = Summary::default();
    match command {
        Command::Init { .. } => {}
        Command::Collect => run::collect(&cfg, &spool, &mut summary),
        Command::Run { dry } | Command::Send { dry } => {
            let collect = matches!(command, Command::Run { .. });
            let hl = Highlighter::new();
            if dry.dry_run {
                let dir = expand_tilde(&dry.eml_dir);
                if collect {
                    let items = run::preview(&cfg, &mut summary);
                    run::write_previews(&cfg, &items, &dir, &hl, &mut summary);
                }
                run::send(&cfg, &spool, &Sender::DryRun(dir), &hl, &mut summary)?;
            } else {
                if collect {
                    run::collect(&cfg, &spool, &mut summary);
                }
                let sender = Sender::from_config(&cfg.mail.transport, path)?;
                run::send(&cfg, &spool, &sender, &hl, &mut summary)?;
            }
        }
    }
    eprintln!(
        "repo-digest: {} spooled, {} mailed, {} left in the spool, {} repository error(s)",
        summary.spooled, summary.sent, summary.kept, summary.repo_errors
    );
    Ok(summary)
}
