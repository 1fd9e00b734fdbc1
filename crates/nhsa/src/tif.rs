//! The optional gateway signature headers of the "tif" scheme (upstream.md, Transport):
//! `x-tif-paasid`, `x-tif-timestamp` (unix seconds), `x-tif-nonce` and `x-tif-signature`, the
//! lowercase hex SHA-256 of `timestamp + paas_token + nonce + timestamp`.
//!
//! Pure: the caller supplies the clock and the nonce, so requests are reproducible in tests.
//! The paas token is a secret: it never appears in the headers or in `Debug` output.

use sha2::{Digest, Sha256};

/// The four header values for one request.
#[derive(Clone, PartialEq, Eq)]
pub struct TifHeaders {
    pub paasid: String,
    pub timestamp: String,
    pub nonce: String,
    pub signature: String,
}

impl std::fmt::Debug for TifHeaders {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TifHeaders")
            .field("paasid", &self.paasid)
            .field("timestamp", &self.timestamp)
            .field("nonce", &self.nonce)
            .finish_non_exhaustive()
    }
}

impl TifHeaders {
    /// Signs with `paas_token` at `unix_secs` with `nonce`.
    pub fn sign(paasid: &str, paas_token: &str, unix_secs: i64, nonce: &str) -> TifHeaders {
        let timestamp = unix_secs.to_string();
        let mut h = Sha256::new();
        for part in [timestamp.as_str(), paas_token, nonce, timestamp.as_str()] {
            h.update(part.as_bytes());
        }
        TifHeaders {
            paasid: paasid.to_owned(),
            timestamp,
            nonce: nonce.to_owned(),
            signature: hex::encode(h.finalize()),
        }
    }

    /// The headers as (name, value) pairs, in the order the scheme lists them.
    pub fn pairs(&self) -> [(&'static str, &str); 4] {
        [
            ("x-tif-paasid", &self.paasid),
            ("x-tif-timestamp", &self.timestamp),
            ("x-tif-nonce", &self.nonce),
            ("x-tif-signature", &self.signature),
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signature_matches_an_independent_sha256() {
        // python3: hashlib.sha256(b"1795400000paas-token-testabc1231795400000").hexdigest()
        let h = TifHeaders::sign("hospital-01", "paas-token-test", 1_795_400_000, "abc123");
        assert_eq!(
            h.signature,
            "e2c4ae25e6dacffa1a006b323a1fe707c97d85b649a031ea834ba14adbccf635"
        );
        assert_eq!(h.pairs()[1], ("x-tif-timestamp", "1795400000"));
    }

    #[test]
    fn the_token_never_shows() {
        let h = TifHeaders::sign("p", "secret-token-xyz", 1, "n");
        let shown = format!("{h:?}");
        assert!(
            !shown.contains("secret-token-xyz") && !shown.contains(&h.signature),
            "{shown}"
        );
        assert!(
            h.pairs()
                .iter()
                .all(|(_, v)| !v.contains("secret-token-xyz"))
        );
        // Every input changes the signature.
        assert_ne!(
            h.signature,
            TifHeaders::sign("p", "secret-token-xyz", 2, "n").signature
        );
        assert_ne!(
            h.signature,
            TifHeaders::sign("p", "secret-token-xyw", 1, "n").signature
        );
        assert_ne!(
            h.signature,
            TifHeaders::sign("p", "secret-token-xyz", 1, "m").signature
        );
    }
}
