//! The e-SSC profile (`medsettle-essc`, re-exported here) and the daemon's replay guard: the
//! store's `essc_nonce` table, so a restart does not reopen a code's window.

pub use medsettle_essc::*;

use crate::store::{Nonce, Store};

/// The daemon's guard: the store's `essc_nonce` table, one IMMEDIATE transaction per check,
/// committed (`synchronous=FULL`) before the code is accepted. Blocks on the writer thread:
/// call it from `spawn_blocking` or outside the runtime, never on a runtime thread.
impl ReplayGuard for Store {
    fn check_and_remember(
        &self,
        kid: &str,
        nonce: &str,
        expires_at_unix: i64,
        now_unix: i64,
    ) -> Result<Freshness, GuardError> {
        match self.remember_nonce_blocking(kid, nonce, expires_at_unix, now_unix) {
            Ok(Nonce::Fresh) => Ok(Freshness::Fresh),
            Ok(Nonce::Replayed) => Ok(Freshness::Replayed),
            Err(e) => Err(GuardError::Storage(e.to_string())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use medsettle_base::UserFacing;

    #[test]
    fn the_store_guard_remembers_a_code_across_a_restart() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures/qr/essc/cases.json");
        let file: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
        let public = file["public_key_hex"].as_str().unwrap();
        let keys = KeyRing::from_hex([(file["kid"].as_str().unwrap(), public)]).unwrap();
        let verifier = Verifier::new(keys);
        let code = file["cases"][0]["code"].as_str().unwrap();
        // The fixtures' clock (`fixtures.rs` in medsettle-essc).
        const T: i64 = 1_767_225_600;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("guard.db");
        let busy = std::time::Duration::from_secs(1);
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();

        let (store, _) = Store::open(&path, busy).unwrap();
        verifier
            .verify(code, T, &store)
            .expect("first use is fresh");
        let again = verifier.verify(code, T + 1, &store).unwrap_err();
        assert_eq!(again.code(), "essc.replayed");
        rt.block_on(store.close()).unwrap();

        // A restart does not reopen the window: the nonce is in the database.
        let (store, _) = Store::open(&path, busy).unwrap();
        let after = verifier.verify(code, T + 2, &store).unwrap_err();
        assert_eq!(after.code(), "essc.replayed");
        // A closed store fails closed: the code is refused, not accepted.
        rt.block_on(store.clone().close()).unwrap();
        let closed = verifier.verify(code, T + 3, &store).unwrap_err();
        assert_eq!(closed.code(), "essc.replay_guard");
    }
}
