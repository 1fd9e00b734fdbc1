//! Credentials: what a patient presents and what a sale is made with.
//!
//! - The acceptance rules for a card that was read correctly: GB 11643 ID numbers
//!   (`idnumber`), GB/T 2260 region codes shipped as data (`region`), the card blacklist
//!   (`blacklist`) and the rules with their stable error codes (`validate`, `error`); the
//!   e-voucher code's local syntax (`evoucher`).
//! - [`Credential`] (`kind`): the credential a sale document holds, personal data in the
//!   masked `medsettle_base::pii` newtypes.
//! - [`Credentials`] (`cache`): what this terminal just read or scanned, held under a
//!   `credential_id`; [`ScanResult`] (`scan`), one processed code.
//! - [`Intake`] (`intake`): the one "wait for the next credential", for the API and the kiosk.
//!
//! Below `card`, `qr` and `settle`: this module imports none of them (only the pure crates),
//! does no card or network I/O, and takes the clock as a parameter; the only file read is the
//! blacklist, on request.

pub mod blacklist;
pub mod cache;
pub mod error;
pub mod evoucher;
pub mod idnumber;
pub mod intake;
pub mod kind;
pub mod region;
pub mod scan;
pub mod validate;

pub use blacklist::{Blacklist, BlacklistError};
pub use cache::{Credentials, Fresh};
pub use error::CredentialError;
pub use evoucher::EVoucherCode;
pub use intake::{CardSource, Intake, IntakeError, Presented, Want};
pub use kind::{BearerToken, Credential};
pub use scan::{EsscHolder, ScanResult, TraceOffer};
pub use validate::{Policy, problems, today_in_china, validate};

#[cfg(test)]
mod tests {
    /// The layering this module's doc promises: nothing here names a module above it.
    #[test]
    fn imports_none_of_the_modules_above() {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/src/credential");
        let above = [
            "card", "qr", "settle", "api", "daemon", "store", "upstream", "config", "cli",
        ];
        let mut files = Vec::new();
        let mut dirs = vec![std::path::PathBuf::from(dir)];
        while let Some(d) = dirs.pop() {
            for entry in std::fs::read_dir(d).unwrap() {
                let path = entry.unwrap().path();
                if path.is_dir() {
                    dirs.push(path);
                } else {
                    files.push(path);
                }
            }
        }
        assert!(files.len() > 5, "{files:?}");
        for path in files {
            let text = std::fs::read_to_string(&path).unwrap();
            for (n, line) in text.lines().enumerate() {
                if line.trim_start().starts_with("//") {
                    continue;
                }
                for m in above {
                    assert!(
                        !line.contains(&format!("crate::{m}::"))
                            && !line.contains(&format!("crate::{m};"))
                            && !line.contains(&format!("crate::{m}}}")),
                        "{}:{}: {line}",
                        path.display(),
                        n + 1
                    );
                }
            }
        }
    }
}
