//! One PKCS#11 context per module per process (C_Initialize once; a second one would fail).
use crate::{describe, Pkcs11Error};
use cryptoki::context::{CInitializeArgs, CInitializeFlags, Pkcs11};
use cryptoki::error::{Error, RvError};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};

static MODULES: OnceLock<Mutex<HashMap<PathBuf, Pkcs11>>> = OnceLock::new();

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
