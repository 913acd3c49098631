//! The commands that talk to a container's Kit: `hoody terminal`, `hoody files` and
//! `hoody db`. The route (through hoody-proxy or straight to the Kit) is
//! [`hoody::kit::KitClient::for_container`]'s choice; these only parse and print.

use std::io::Write;
use std::process::ExitCode;

use clap::Subcommand;
use hoody::kit::{Kit, KitClient, copy_body};
use serde_json::{Value, json};

use crate::api_cli::{ApiOpt, Ctx, TopApiOpt, run, table, usage};

/// `hoody terminal ...`
#[derive(Subcommand, Debug)]
pub enum TerminalCmd {
    /// Terminal sessions.
    Sessions {
        #[command(subcommand)]
        cmd: SessionsCmd,
    },
    /// Run a command (same as `terminal sessions exec`).
    Exec(ExecArgs),
}

/// `hoody terminal sessions ...`
#[derive(Subcommand, Debug)]
pub enum SessionsCmd {
    /// Run a command in a terminal session and print its output; exits with its status.
    Exec(ExecArgs),
    /// List the sessions of a terminal instance.
    #[command(visible_alias = "ls")]
    List {
        /// The terminal instance (`terminal-N`).
        #[arg(long, default_value = "1")]
        instance: String,
    },
}

/// `hoody terminal sessions exec`
#[derive(clap::Args, Debug)]
pub struct ExecArgs {
    /// The command line (run by bash).
    #[arg(long, visible_alias = "cmd")]
    command: String,
    /// The terminal session (`terminal-N`: also its terminal_id).
    #[arg(long, visible_alias = "terminal-id", default_value_t = 1)]
    terminal: u32,
    /// Seconds before the command is killed.
    #[arg(long)]
    timeout: Option<u64>,
    /// Working directory.
    #[arg(long)]
    cwd: Option<String>,
    /// Start it and print its command id instead of waiting.
    #[arg(long = "async")]
    no_wait: bool,
}

/// `hoody files ...`
#[derive(Subcommand, Debug)]
pub enum FilesCmd {
    /// Print a file (streamed), or list a directory.
    #[command(visible_alias = "get-file")]
    Get {
        /// The path inside the container.
        path: String,
        /// Write the file here instead of standard output.
        #[arg(long, value_name = "FILE")]
        to: Option<std::path::PathBuf>,
    },
}

/// `hoody db ...`
#[derive(Subcommand, Debug)]
pub enum DbCmd {
    /// Run statements as one transaction: `{"transaction":[{"statement"|"query": SQL,
    /// "values": [...]}]}`.
    ExecTransaction {
        /// The request body (JSON), or `@FILE`.
        #[arg(long)]
        transaction: String,
        /// The database: a name under /hoody/databases, or an absolute path.
        #[arg(long, default_value = "main")]
        db: String,
        /// The sqlite instance (`sqlite-N`).
        #[arg(long, default_value = "1")]
        instance: String,
        /// Fail when the database does not exist (by default it is created).
        #[arg(long)]
        no_create: bool,
    },
    /// Run a read-only SELECT (the shareable query URL's form).
    ExecShareable {
        /// The SELECT.
        #[arg(long)]
        sql: String,
        /// The database.
        #[arg(long, default_value = "main")]
        db: String,
        /// The sqlite instance (`sqlite-N`).
        #[arg(long, default_value = "1")]
        instance: String,
    },
}

fn kit(ctx: &Ctx, service: Kit, instance: &str) -> anyhow::Result<KitClient> {
    let id = ctx.container(None)?;
    let c = ctx.client.get_container(&id)?;
    Ok(KitClient::for_container(
        &ctx.client,
        &c,
        service,
        instance,
    )?)
}

/// Runs `hoody terminal`.
pub fn terminal(top: &TopApiOpt, sub: &ApiOpt, cmd: &TerminalCmd) -> ExitCode {
    run(top, sub, |ctx| match cmd {
        TerminalCmd::Exec(a)
        | TerminalCmd::Sessions {
            cmd: SessionsCmd::Exec(a),
        } => exec(ctx, a),
        TerminalCmd::Sessions {
            cmd: SessionsCmd::List { instance },
        } => {
            let k = kit(ctx, Kit::Terminal, instance)?;
            let v = k.terminal_sessions()?;
            ctx.print(&v, || {
                let rows: Vec<Vec<String>> = v
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(|s| {
                        vec![
                            s["id"].to_string(),
                            s["shell"].as_str().unwrap_or("").into(),
                            s["cwd"].as_str().unwrap_or("").into(),
                            s["started_at"].as_str().unwrap_or("").into(),
                        ]
                    })
                    .collect();
                table(&["ID", "SHELL", "CWD", "STARTED"], &rows);
            })?;
            Ok(ExitCode::SUCCESS)
        }
    })
}

fn exec(ctx: &Ctx, a: &ExecArgs) -> anyhow::Result<ExitCode> {
    let k = kit(ctx, Kit::Terminal, &a.terminal.to_string())?
        // A command may run long (apt install): no read timeout beyond its own.
        .with_read_timeout(None);
    let mut body = json!({ "command": a.command, "wait": !a.no_wait });
    if let Some(t) = a.timeout {
        body["timeout"] = json!(t);
    }
    if let Some(cwd) = &a.cwd {
        body["cwd"] = json!(cwd);
    }
    let r = k.terminal_execute(Some(a.terminal), &body)?;
    if ctx.json() || a.no_wait {
        println!("{}", serde_json::to_string_pretty(&r)?);
        return Ok(ExitCode::SUCCESS);
    }
    let field = |k: &str| r[k].as_str().unwrap_or("").to_string();
    let (out, err) = (field("stdout"), field("stderr"));
    std::io::stdout().write_all(out.as_bytes())?;
    std::io::stderr().write_all(err.as_bytes())?;
    let code = r["exit_code"].as_i64().unwrap_or(1);
    Ok(ExitCode::from(
        u8::try_from(code.clamp(0, 255)).unwrap_or(1),
    ))
}

/// Runs `hoody files`.
pub fn files(top: &TopApiOpt, sub: &ApiOpt, cmd: &FilesCmd) -> ExitCode {
    run(top, sub, |ctx| match cmd {
        FilesCmd::Get { path, to } => {
            let k = kit(ctx, Kit::Files, "1")?.with_read_timeout(None);
            // A directory is listed, a file streamed: ask which it is first.
            let stat = k.json(
                "GET",
                &format!("/api/v1/files/stat{}", hoody::kit::encode_path(path)),
                None,
            )?;
            if stat["path_type"]
                .as_str()
                .is_some_and(|t| t.ends_with("Dir"))
            {
                let r = k.files_get(path, true)?.into_raw()?;
                let v: Value = serde_json::from_slice(&r.body)?;
                return list_dir(ctx, &v);
            }
            let mut r = k.files_get(path, false)?;
            match to {
                Some(file) => {
                    let mut f = std::fs::File::create(file)
                        .map_err(|e| anyhow::anyhow!("create {}: {e}", file.display()))?;
                    copy_body(&mut r, &mut f)?;
                }
                None => {
                    let stdout = std::io::stdout();
                    let mut out = stdout.lock();
                    copy_body(&mut r, &mut out)?;
                    out.flush()?;
                }
            }
            Ok(ExitCode::SUCCESS)
        }
    })
}

fn list_dir(ctx: &Ctx, v: &Value) -> anyhow::Result<ExitCode> {
    ctx.print(v, || {
        let rows: Vec<Vec<String>> = v["paths"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|p| {
                vec![
                    p["path_type"].as_str().unwrap_or("").into(),
                    p["size"]
                        .as_u64()
                        .map(|s| s.to_string())
                        .unwrap_or_default(),
                    p["name"].as_str().unwrap_or("").into(),
                ]
            })
            .collect();
        table(&["TYPE", "SIZE", "NAME"], &rows);
    })?;
    Ok(ExitCode::SUCCESS)
}

/// Runs `hoody db`.
pub fn db(top: &TopApiOpt, sub: &ApiOpt, cmd: &DbCmd) -> ExitCode {
    run(top, sub, |ctx| match cmd {
        DbCmd::ExecTransaction {
            transaction,
            db,
            instance,
            no_create,
        } => {
            let text = match transaction.strip_prefix('@') {
                Some(file) => std::fs::read_to_string(file)
                    .map_err(|e| anyhow::anyhow!("read {file}: {e}"))?,
                None => transaction.clone(),
            };
            let mut body: Value = serde_json::from_str(&text)
                .map_err(|e| usage(format!("--transaction is not JSON: {e}")))?;
            if body.is_array() {
                body = json!({ "transaction": body });
            }
            if body.get("transaction").is_none_or(|t| !t.is_array()) {
                return Err(usage(
                    "--transaction: expected {\"transaction\":[{\"statement\":\"...\"}, ...]}",
                ));
            }
            let k = kit(ctx, Kit::Sqlite, instance)?;
            let r = k.db_transaction(db, &body, !no_create)?;
            println!("{}", serde_json::to_string_pretty(&r)?);
            Ok(ExitCode::SUCCESS)
        }
        DbCmd::ExecShareable { sql, db, instance } => {
            let k = kit(ctx, Kit::Sqlite, instance)?;
            let r = k.db_query_url(db, sql)?;
            println!("{}", serde_json::to_string_pretty(&r)?);
            Ok(ExitCode::SUCCESS)
        }
    })
}
