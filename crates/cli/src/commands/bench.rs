//! `vcc-pki bench` and `vcc-pki bench-revocation`: the CLI resolves where the server is and how it
//! is trusted, vcc-pki-bench measures, and the summary is printed here.
use crate::api_client::{self, Connection};
use crate::output::Output;
use crate::GlobalArgs;
use anyhow::bail;

pub fn load(args: vcc_pki_bench::BenchArgs, g: &GlobalArgs) -> anyhow::Result<()> {
    let server = if args.spawns() || args.in_process() {
        if g.server.is_some() {
            bail!("--spawn starts its own server; leave out --server (or VCC_PKI_SERVER)");
        }
        None
    } else {
        if g.no_verify_ssl {
            bail!("bench verifies the server as its clients would: give its CA with --ca-bundle instead of --no-verify-ssl");
        }
        let conn = Connection {
            server: g.server(),
            token: g.token.clone(),
            ca_bundle: g.ca_bundle.clone(),
            no_verify_ssl: false,
            data_dir: g.data_dir.clone(),
        };
        Some(vcc_pki_bench::Connection {
            server: conn.server.clone(),
            token: api_client::resolve_token(&conn),
            trust_anchors: api_client::trust_anchor_files(&conn),
        })
    };
    let summary = vcc_pki_bench::run(args, server)?;
    print(&g.output(), &summary);
    Ok(())
}

pub fn revocation(
    args: vcc_pki_bench::revocation::RevocationBenchArgs,
    out: &Output,
) -> anyhow::Result<()> {
    let summary = vcc_pki_bench::revocation::run(args)?;
    print(out, &summary);
    Ok(())
}

fn print(out: &Output, summary: &vcc_pki_bench::Summary) {
    if out.json() {
        out.print_json(&summary.json);
        return;
    }
    out.heading(&summary.heading);
    let fields: Vec<(&str, String)> = summary
        .fields
        .iter()
        .map(|(k, v)| (k.as_str(), v.clone()))
        .collect();
    out.fields(&fields);
    for (i, warning) in summary.warnings.iter().enumerate() {
        if i == 0 {
            out.warn(warning);
        } else {
            eprintln!("{warning}");
        }
    }
}
