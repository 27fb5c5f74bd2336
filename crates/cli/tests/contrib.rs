//! The files an install uses (issue 16): the systemd unit passes `systemd-analyze verify` and is
//! hardened as SPEC §10 asks; `vcc-pki config example` starts a real server with `serve --config`.
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn contrib(name: &str) -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../contrib")
        .join(name)
}

#[test]
fn the_systemd_unit_verifies_and_is_hardened() {
    let unit = std::fs::read_to_string(contrib("vcc-pki.service")).unwrap();
    for directive in [
        "User=vcc-pki",
        "NoNewPrivileges=yes",
        "ProtectSystem=strict",
        "LoadCredential=ca-password:",
        "--ca-password-file ${CREDENTIALS_DIRECTORY}/ca-password",
        "StateDirectoryMode=0700",
        "UMask=0077",
    ] {
        assert!(unit.contains(directive), "{directive} missing");
    }
    // systemd checks the unit, with ExecStart pointing at this build.
    let dir = tempfile::tempdir().unwrap();
    let local = dir.path().join("vcc-pki.service");
    std::fs::write(
        &local,
        unit.replace("/usr/local/bin/vcc-pki", env!("CARGO_BIN_EXE_vcc-pki")),
    )
    .unwrap();
    let out = Command::new("systemd-analyze")
        .arg("verify")
        .arg(&local)
        .output()
        .expect("systemd-analyze (Debian package systemd)");
    let text =
        String::from_utf8_lossy(&out.stderr).to_string() + &String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && text.trim().is_empty(),
        "systemd-analyze verify: {text}"
    );
}

#[test]
fn the_example_configuration_starts_a_server() {
    let dir = tempfile::tempdir().unwrap();
    let example = Command::new(env!("CARGO_BIN_EXE_vcc-pki"))
        .args(["config", "example"])
        .output()
        .unwrap();
    assert!(example.status.success());
    let file = dir.path().join("config.toml");
    std::fs::write(&file, &example.stdout).unwrap();
    let password = dir.path().join("ca-password");
    std::fs::write(&password, "example password").unwrap();
    // The file as printed; flags override only what this machine cannot give it (ports, paths).
    let mut child = Command::new(env!("CARGO_BIN_EXE_vcc-pki"))
        .arg("serve")
        .arg("--config")
        .arg(&file)
        .args(["--host", "127.0.0.1", "--port", "0", "--http-port", "0"])
        .args(["--metrics-listen", "127.0.0.1:0", "--data-dir"])
        .arg(dir.path().join("data"))
        .arg("--ca-password-file")
        .arg(&password)
        .env("VCC_PKI_LOG", "warn")
        .env_remove("VCC_PKI_DATABASE_URL")
        .env_remove("VCC_CA_PASSWORD")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut seen = Vec::new();
    for line in BufReader::new(stdout).lines().map_while(Result::ok) {
        seen.push(line.clone());
        if line.starts_with("vcc-pki listening on https://127.0.0.1:") || Instant::now() > deadline
        {
            break;
        }
    }
    let _ = child.kill();
    let _ = child.wait();
    assert!(
        seen.iter()
            .any(|l| l.starts_with("vcc-pki metrics listening on http://127.0.0.1:")),
        "{seen:?}"
    );
    assert!(
        seen.iter()
            .any(|l| l.starts_with("vcc-pki listening on https://127.0.0.1:")),
        "{seen:?}"
    );
}
