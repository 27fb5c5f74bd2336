//! `vcc-pki db`: statistics over the API; backup, restore and verify on the store itself
//! (SPEC §10). Backup reads a consistent snapshot while a server keeps writing; restore writes
//! only into a data dir no server holds, and keeps the result only if every check passes.
use crate::output::text;
use crate::GlobalArgs;
use anyhow::{bail, Context};
use clap::Subcommand;
use serde_json::json;
use std::path::{Path, PathBuf};
use std::time::Instant;
use vcc_pki_authority::files;
use vcc_pki_authority::store_check::verify_store;
use vcc_pki_store::{CheckFinding, Store};
use zeroize::Zeroizing;

/// The SQLite file of a data dir (as `serve` names it).
const STORE_FILE: &str = "pki.db";

#[derive(Subcommand)]
pub enum DbCommand {
    /// Rows per table and certificates per status.
    #[command(after_help = "Example:\n  vcc-pki db stats")]
    Stats,
    /// Copy the SQLite store to FILE while the server keeps serving (a consistent snapshot).
    #[command(
        after_help = "Example:\n  vcc-pki db backup --data-dir /var/lib/vcc-pki --out /backup/pki-$(date +%F).db\n\nPostgreSQL: use pg_dump (docs/OPERATIONS.md), then `vcc-pki db verify --database-url …`."
    )]
    Backup {
        /// The backup file to write (mode 0600); it must not exist.
        #[arg(long)]
        out: PathBuf,
        /// The store to copy [default: <data-dir>/pki.db].
        #[arg(long, env = "VCC_PKI_DATABASE_URL", hide_env_values = true)]
        database_url: Option<String>,
    },
    /// Restore a backup into a new data dir (no server may be using it), then check that the
    /// schema migrates, the audit chain verifies and the CA keys open with the password.
    #[command(
        after_help = "Example:\n  vcc-pki db restore --from /backup/pki-2026-12-01.db --data-dir /var/lib/vcc-pki-restored --ca-password-file /etc/vcc-pki/ca-password"
    )]
    Restore {
        /// The backup file (`db backup --out`).
        #[arg(long)]
        from: PathBuf,
        /// File holding the CA password [default: --password / VCC_CA_PASSWORD].
        #[arg(long)]
        ca_password_file: Option<PathBuf>,
    },
    /// Check a store without changing it: integrity, schema, counters, audit chain, and with the
    /// CA password that the CA keys open. Exit 1 on any failure.
    #[command(
        after_help = "Examples:\n  vcc-pki db verify --data-dir /var/lib/vcc-pki\n  vcc-pki db verify --database-url postgres://vcc@db/vcc --ca-password-file ./ca-password"
    )]
    Verify {
        /// The store to check [default: <data-dir>/pki.db].
        #[arg(long, env = "VCC_PKI_DATABASE_URL", hide_env_values = true)]
        database_url: Option<String>,
        /// File holding the CA password, to open the CA keys [default: --password / VCC_CA_PASSWORD].
        #[arg(long)]
        ca_password_file: Option<PathBuf>,
    },
}

pub async fn db(cmd: DbCommand, g: &GlobalArgs) -> anyhow::Result<()> {
    match cmd {
        DbCommand::Stats => stats(g).await,
        DbCommand::Backup { out, database_url } => backup(g, &out, database_url).await,
        DbCommand::Restore {
            from,
            ca_password_file,
        } => {
            let password = password(g, ca_password_file.as_deref())?.context(
                "db restore checks that the CA keys open: give the CA password \
                 (--ca-password-file FILE, or VCC_CA_PASSWORD)",
            )?;
            restore(g, &from, &password).await
        }
        DbCommand::Verify {
            database_url,
            ca_password_file,
        } => {
            let password = password(g, ca_password_file.as_deref())?;
            verify(g, database_url, password.as_ref().map(|p| p.as_str())).await
        }
    }
}

fn password(g: &GlobalArgs, file: Option<&Path>) -> anyhow::Result<Option<Zeroizing<String>>> {
    if let Some(file) = file {
        let text = Zeroizing::new(
            std::fs::read_to_string(file)
                .with_context(|| format!("cannot read CA password file {}", file.display()))?,
        );
        return Ok(Some(Zeroizing::new(
            text.trim_end_matches(['\r', '\n']).to_string(),
        )));
    }
    Ok(g.password
        .clone()
        .filter(|p| !p.is_empty())
        .map(Zeroizing::new))
}

fn store_url(g: &GlobalArgs, database_url: Option<String>) -> String {
    database_url.unwrap_or_else(|| format!("sqlite://{}", g.data_dir.join(STORE_FILE).display()))
}

async fn stats(g: &GlobalArgs) -> anyhow::Result<()> {
    let out = g.output();
    let h = g.client()?.get("/api/health").await?;
    let stats = &h["statistics"];
    if out.json() {
        out.print_json(stats);
        return Ok(());
    }
    out.heading("Rows per table");
    let rows = stats["tables"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .iter()
        .map(|t| vec![t[0].as_str().unwrap_or("").to_string(), t[1].to_string()])
        .collect();
    out.table(&["Table", "Rows"], rows);
    out.heading("Certificates");
    out.table(
        &["Status", "Count"],
        ["active", "expiring", "expired", "revoked"]
            .iter()
            .map(|s| vec![out.status(s), text(stats, &format!("certificates_{s}"))])
            .collect(),
    );
    Ok(())
}

async fn backup(
    g: &GlobalArgs,
    out_file: &Path,
    database_url: Option<String>,
) -> anyhow::Result<()> {
    let out = g.output();
    let url = store_url(g, database_url);
    let Some(source) = vcc_pki_store::sqlite_path(&url) else {
        bail!(
            "db backup copies a SQLite store; for PostgreSQL use pg_dump (docs/OPERATIONS.md) \
             and check the copy with `vcc-pki db verify --database-url …`"
        );
    };
    if out_file.exists() {
        bail!("{} already exists; nothing written", out_file.display());
    }
    let dir = match out_file.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let name = out_file
        .file_name()
        .context("--out names no file")?
        .to_string_lossy()
        .into_owned();
    // The snapshot is made in a private directory beside the target and moved into place only
    // when complete: a reader never sees half a backup, nobody else ever sees the keys' file.
    let partial = dir.join(format!(".{name}.partial-{}", std::process::id()));
    files::ensure_private_dir(&partial)
        .with_context(|| format!("cannot create {}", partial.display()))?;
    let started = Instant::now();
    let result = snapshot_into(&source, &partial, out_file).await;
    let _ = std::fs::remove_dir_all(&partial);
    let summary = result?;
    let bytes = std::fs::metadata(out_file).map(|m| m.len()).unwrap_or(0);
    let elapsed = started.elapsed();
    if out.json() {
        out.print_json(&json!({
            "file": out_file.display().to_string(),
            "bytes": bytes,
            "certificates": summary.certificates,
            "audit_rows": summary.audit_rows,
            "migrations": summary.migrations,
            "seconds": elapsed.as_secs_f64(),
        }));
    } else {
        out.success(&format!(
            "backup written to {} ({} certificates, {} audit rows, {:.1} MB, {:.1} s)",
            out_file.display(),
            summary.certificates,
            summary.audit_rows,
            bytes as f64 / 1e6,
            elapsed.as_secs_f64()
        ));
    }
    Ok(())
}

async fn snapshot_into(
    source: &Path,
    partial: &Path,
    out_file: &Path,
) -> anyhow::Result<vcc_pki_store::SnapshotSummary> {
    let staged = partial.join(STORE_FILE);
    vcc_pki_store::snapshot_sqlite(source, &staged)
        .await
        .with_context(|| format!("cannot snapshot {}", source.display()))?;
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&staged, std::fs::Permissions::from_mode(0o600))?;
    }
    let summary = vcc_pki_store::describe_sqlite_snapshot(&staged).await?;
    std::fs::File::open(&staged)?.sync_all()?;
    // hard_link: fails rather than replacing a file that appeared meanwhile.
    std::fs::hard_link(&staged, out_file)
        .with_context(|| format!("cannot write {}", out_file.display()))?;
    if let Some(dir) = out_file.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::File::open(dir)?.sync_all()?;
    }
    Ok(summary)
}

async fn restore(g: &GlobalArgs, from: &Path, password: &str) -> anyhow::Result<()> {
    let out = g.output();
    let data_dir = &g.data_dir;
    let header = read_header(from)?;
    if &header != b"SQLite format 3\0" {
        bail!(
            "{} is not a vcc-pki backup (not a SQLite database); nothing restored",
            from.display()
        );
    }
    files::ensure_private_dir(data_dir)
        .with_context(|| format!("cannot create data dir {}", data_dir.display()))?;
    // Held until the restore is done: no server starts on the dir half-way, and a dir that a
    // running server holds is refused.
    let _lock = files::lock_data_dir(data_dir).map_err(|e| {
        anyhow::anyhow!("{e}; stop it or restore into another --data-dir; nothing restored")
    })?;
    let target = data_dir.join(STORE_FILE);
    if target.exists() {
        bail!(
            "{} already holds a store ({}); restore into an empty data dir; nothing restored",
            data_dir.display(),
            target.display()
        );
    }
    let copy = || -> std::io::Result<()> {
        use std::os::unix::fs::OpenOptionsExt;
        let mut source = std::fs::File::open(from)?;
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&target)?;
        std::io::copy(&mut source, &mut f)?;
        f.sync_all()
    };
    if let Err(e) = copy() {
        if !matches!(e.kind(), std::io::ErrorKind::AlreadyExists) {
            remove_store_files(&target);
        }
        bail!(
            "cannot copy {} to {}: {e}; nothing restored",
            from.display(),
            target.display()
        );
    }
    let url = format!("sqlite://{}", target.display());
    let checked = async {
        // Open as `serve` would: an older backup is migrated forward here.
        let store = Store::open(&url)
            .await
            .context("the backup does not open")?;
        let findings = verify_store(&store, Some(password.as_bytes())).await;
        store.close().await;
        anyhow::Ok(findings)
    }
    .await;
    let findings = match checked {
        Ok(f) if f.iter().all(|f| f.ok) => f,
        failed => {
            remove_store_files(&target);
            let why = match failed {
                Ok(f) => failures(&f),
                Err(e) => format!("{e:#}"),
            };
            bail!("the restored store fails its checks ({why}); nothing restored");
        }
    };
    files::restrict_sqlite_files(&url);
    if out.json() {
        out.print_json(&json!({
            "data_dir": data_dir.display().to_string(),
            "checks": findings,
        }));
    } else {
        print_findings(g, &findings);
        out.success(&format!(
            "restored {} into {}; start it with: vcc-pki serve --data-dir {}",
            from.display(),
            data_dir.display(),
            data_dir.display()
        ));
    }
    Ok(())
}

async fn verify(
    g: &GlobalArgs,
    database_url: Option<String>,
    password: Option<&str>,
) -> anyhow::Result<()> {
    let out = g.output();
    let url = store_url(g, database_url);
    let store = Store::open_existing(&url)
        .await
        .with_context(|| format!("cannot open store {}", vcc_pki_store::redacted_url(&url)))?;
    let findings = verify_store(&store, password.map(str::as_bytes)).await;
    store.close().await;
    if out.json() {
        out.print_json(&json!({
            "ok": findings.iter().all(|f| f.ok),
            "checks": findings,
        }));
    } else {
        print_findings(g, &findings);
    }
    if findings.iter().all(|f| f.ok) {
        Ok(())
    } else {
        bail!("store check failed: {}", failures(&findings))
    }
}

fn print_findings(g: &GlobalArgs, findings: &[CheckFinding]) {
    let out = g.output();
    out.table(
        &["Check", "Result", "Detail"],
        findings
            .iter()
            .map(|f| {
                vec![
                    f.check.to_string(),
                    out.status(if f.ok { "ok" } else { "failed" }),
                    f.detail.clone(),
                ]
            })
            .collect(),
    );
}

fn failures(findings: &[CheckFinding]) -> String {
    findings
        .iter()
        .filter(|f| !f.ok)
        .map(|f| format!("{}: {}", f.check, f.detail))
        .collect::<Vec<_>>()
        .join("; ")
}

fn read_header(file: &Path) -> anyhow::Result<[u8; 16]> {
    use std::io::Read;
    let mut header = [0u8; 16];
    std::fs::File::open(file)
        .and_then(|mut f| f.read_exact(&mut header))
        .with_context(|| format!("cannot read backup {}", file.display()))?;
    Ok(header)
}

fn remove_store_files(target: &Path) {
    for suffix in ["", "-wal", "-shm"] {
        let mut p = target.as_os_str().to_os_string();
        p.push(suffix);
        let _ = std::fs::remove_file(PathBuf::from(p));
    }
}
