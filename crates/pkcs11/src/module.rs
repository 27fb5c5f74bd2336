//! One PKCS#11 context per module per process (C_Initialize once; a second one would fail).
use crate::{describe, Pkcs11Error};
use cryptoki::context::{CInitializeArgs, CInitializeFlags, Pkcs11};
use cryptoki::error::{Error, RvError};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

static MODULES: OnceLock<Mutex<HashMap<PathBuf, Pkcs11>>> = OnceLock::new();
static RESCANS: OnceLock<Mutex<HashMap<PathBuf, Instant>>> = OnceLock::new();
/// The least time between two rescans of one module (each ends every session on it).
const RESCAN_INTERVAL: Duration = Duration::from_secs(1);

/// The initialised context of the module at `path`, loading it on first use.
pub(crate) fn context(path: &Path) -> Result<Pkcs11, Pkcs11Error> {
    let fail = |reason: String| Pkcs11Error::Module {
        module: path.display().to_string(),
        reason,
    };
    let mut modules = MODULES
        .get_or_init(Default::default)
        .lock()
        .map_err(|_| fail("module table lock poisoned".into()))?;
    if let Some(ctx) = modules.get(path) {
        return Ok(ctx.clone());
    }
    if !path.is_file() {
        return Err(fail("no such file".into()));
    }
    let ctx = Pkcs11::new(path).map_err(|e| fail(describe(&e)))?;
    match ctx.initialize(CInitializeArgs::new(CInitializeFlags::OS_LOCKING_OK)) {
        Ok(()) | Err(Error::Pkcs11(RvError::CryptokiAlreadyInitialized, _)) => {}
        Err(e) => return Err(fail(describe(&e))),
    }
    modules.insert(path.to_path_buf(), ctx.clone());
    Ok(ctx)
}

/// Finalise and initialise the module again so that it looks for its tokens afresh: SoftHSM2,
/// like many modules, reads its slot list only in C_Initialize, so a token taken away and put
/// back is not seen otherwise. Every session on the module ends; keys reopen theirs on their
/// next signature. At most once per [`RESCAN_INTERVAL`] per module.
pub(crate) fn rescan(path: &Path) {
    let Ok(mut last) = RESCANS.get_or_init(Default::default).lock() else {
        return;
    };
    if last
        .get(path)
        .is_some_and(|t| t.elapsed() < RESCAN_INTERVAL)
    {
        return;
    }
    last.insert(path.to_path_buf(), Instant::now());
    let Some(ctx) = MODULES
        .get()
        .and_then(|m| m.lock().ok())
        .and_then(|m| m.get(path).cloned())
    else {
        return;
    };
    if let Err(e) = ctx.clone().finalize() {
        tracing::debug!(error = %describe(&e), "C_Finalize before a rescan");
    }
    match ctx.initialize(CInitializeArgs::new(CInitializeFlags::OS_LOCKING_OK)) {
        Ok(()) | Err(Error::Pkcs11(RvError::CryptokiAlreadyInitialized, _)) => {
            tracing::info!(module = %path.display(), "PKCS#11 module initialised again to look for its tokens");
        }
        Err(e) => {
            tracing::warn!(module = %path.display(), error = %describe(&e), "PKCS#11 module did not initialise again")
        }
    }
}
