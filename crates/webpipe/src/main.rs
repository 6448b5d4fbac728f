//! The `webpipe` command: see `webpipe --help`.

// The doc comments below are the --help text, written for a terminal.
#![allow(clippy::doc_markdown)]

use std::ffi::OsString;
use std::io::Write as _;
use std::net::SocketAddr;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// A command as a streaming HTTP filter, and a piping-server relay.
#[derive(Parser, Debug)]
#[command(name = "webpipe", version, about, long_about = None)]
struct Args {
    #[command(subcommand)]
    mode: Mode,
}

#[derive(Subcommand, Debug)]
enum Mode {
    /// Run COMMAND once per request: the request body is its stdin, its
    /// stdout the response, both streaming at once.
    ///
    /// Example: webpipe serve --listen 0.0.0.0:8080 -- dot -Tpng
    ///          curl --data-binary @in.dot http://host:8080/ > out.png
    ///
    /// A non-zero exit aborts the (chunked) response, so curl fails (exit
    /// 18) and `set -o pipefail` catches it. Clients sending `TE: trailers`
    /// (curl -H 'TE: trailers') instead get the status, zero or not, in an
    /// `x-exit-status` trailer and a complete response. The child's stderr
    /// goes to the log. When the client goes away, the child's process group
    /// gets SIGTERM, then SIGKILL a second later; when the child exits, any
    /// process left in its group gets SIGKILL. Requests beyond
    /// --max-concurrent get 503.
    #[command(verbatim_doc_comment)]
    Serve {
        /// Address to listen on (port 0 picks one; the address chosen is
        /// printed on stdout).
        #[arg(long, value_name = "ADDR")]
        listen: SocketAddr,
        /// Children running at once; further requests get 503.
        #[arg(long, value_name = "N", default_value_t = 64,
              value_parser = clap::value_parser!(u32).range(1..=65_536))]
        max_concurrent: u32,
        /// The command and its arguments, after `--`.
        #[arg(required = true, last = true, value_name = "COMMAND")]
        command: Vec<OsString>,
    },
    /// Relay with piping-server's API: a PUT or POST to /PATH is piped to
    /// one GET of /PATH, whichever comes first waiting for the other.
    ///
    /// Example: curl -T file http://host:8080/abc    (sender)
    ///          curl http://host:8080/abc > file     (receiver)
    ///
    /// Nothing is stored: a slow receiver slows the sender. One receiver
    /// per sender (`?n=` other than 1 is refused).
    #[command(verbatim_doc_comment)]
    Relay {
        /// Address to listen on (port 0 picks one; the address chosen is
        /// printed on stdout).
        #[arg(long, value_name = "ADDR")]
        listen: SocketAddr,
    },
}

fn main() -> ExitCode {
    let args = Args::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    match run(args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("webpipe: {message}");
            ExitCode::FAILURE
        }
    }
}

fn run(args: Args) -> Result<(), String> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the runtime: {e}"))?;
    runtime.block_on(async move {
        let listen = match &args.mode {
            Mode::Serve { listen, .. } | Mode::Relay { listen } => *listen,
        };
        let listener = tokio::net::TcpListener::bind(listen)
            .await
            .map_err(|e| format!("cannot listen on {listen}: {e}"))?;
        let local = listener.local_addr().map_err(|e| format!("{listen}: {e}"))?;
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "webpipe listening on http://{local}");
        let _ = out.flush();
        drop(out);
        let work = async move {
            match args.mode {
                Mode::Serve { max_concurrent, command, .. } => {
                    let mut command = command.into_iter();
                    let program = command.next().ok_or("serve needs a COMMAND after --")?;
                    let mut config = webpipe::serve::ServeConfig::new(program, command.collect());
                    config.max_concurrent = max_concurrent as usize;
                    tracing::info!(
                        "serving {:?} {:?} on {local}, at most {max_concurrent} at once",
                        config.program,
                        config.args
                    );
                    webpipe::serve::serve(listener, config).await;
                }
                Mode::Relay { .. } => {
                    tracing::info!("relaying on {local}");
                    webpipe::relay::relay(listener).await;
                }
            }
            Ok::<(), String>(())
        };
        tokio::select! {
            r = work => r,
            () = shutdown_signal() => {
                tracing::info!("shutting down");
                Ok(())
            }
        }
    })
}

async fn shutdown_signal() {
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        () = async {
            match term.as_mut() {
                Some(t) => { t.recv().await; }
                None => std::future::pending::<()>().await,
            }
        } => {}
    }
}
