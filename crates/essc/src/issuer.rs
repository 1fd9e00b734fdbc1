//! The issuer side of the e-SSC profile: minting signed codes.
//!
//! Used by the sandbox insurer, the demo and tests — never by a production terminal, which
//! only verifies. The secret key is held in memory only; `Debug` shows the key id and the
//! public key. Signing is deterministic (RFC 6979-style nonce derivation in `sm2`), so a fixed
//! key and fixed claims give a fixed code, which keeps fixtures reproducible.

use std::fmt;

use sm2::dsa::SigningKey;
use sm2::dsa::signature::Signer as _;
use sm2::elliptic_curve::sec1::ToSec1Point as _;

use crate::payload::{join, signed_text};
use crate::{Claims, DIST_ID, KeyError};

/// Mints e-SSC codes under one key id.
pub struct Issuer {
    kid: String,
    key: SigningKey,
}

/// A fresh random SM2 secret key, as 64 hex digits.
pub fn generate_secret_hex() -> String {
    loop {
        let bytes: [u8; 32] = rand::random();
        // Zero or a value at or above the curve order is refused; retry (probability ~2^-32).
        if SigningKey::from_slice(DIST_ID, &bytes).is_ok() {
            return hex::encode(bytes);
        }
    }
}

impl Issuer {
    /// An issuer from a secret key given as 64 hex digits.
    pub fn from_secret_hex(kid: &str, secret_hex: &str) -> Result<Self, KeyError> {
        let err = |reason| KeyError {
            kid: kid.to_owned(),
            reason,
        };
        let bytes = hex::decode(secret_hex.trim()).map_err(|_| err("secret key is not hex"))?;
        if bytes.len() != 32 {
            return Err(err("secret key is not 32 bytes"));
        }
        let key = SigningKey::from_slice(DIST_ID, &bytes)
            .map_err(|_| err("secret key out of range for SM2"))?;
        Ok(Self {
            kid: kid.to_owned(),
            key,
        })
    }

    /// An issuer with a fresh random key.
    pub fn generate(kid: &str) -> Self {
        Self::from_secret_hex(kid, &generate_secret_hex()).expect("generated key is valid")
    }

    /// The key id written into minted codes.
    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// The public key as uncompressed SEC1 hex (`04‖x‖y`), the form [`super::KeyRing`] takes.
    pub fn public_key_hex(&self) -> String {
        hex::encode(
            self.key
                .verifying_key()
                .as_affine()
                .to_sec1_point(false)
                .as_bytes(),
        )
    }

    /// The secret key as 64 hex digits (for writing a sandbox key file; handle with care).
    pub fn secret_key_hex(&self) -> String {
        hex::encode(self.key.to_bytes())
    }

    /// Claims for a holder, issued at `iat`, valid `lifetime_secs`, with a random nonce and
    /// this issuer's `kid`.
    pub fn claims(
        &self,
        sn: &str,
        nm: &str,
        cn: &str,
        ad: &str,
        iat: i64,
        lifetime_secs: i64,
    ) -> Claims {
        Claims {
            v: 1,
            kid: self.kid.clone(),
            sn: sn.to_owned(),
            nm: nm.to_owned(),
            cn: cn.to_owned(),
            ad: ad.to_owned(),
            iat,
            exp: iat + lifetime_secs,
            nonce: hex::encode(rand::random::<[u8; 16]>()),
        }
    }

    /// Serialises `claims` as compact JSON and signs it. The claims are not checked: the
    /// sandbox and tests mint invalid codes on purpose.
    pub fn mint(&self, claims: &Claims) -> String {
        let json = serde_json::to_vec(claims).expect("claims serialise");
        self.mint_raw(&json)
    }

    /// Signs an arbitrary payload, for codes whose JSON is wrong on purpose.
    pub fn mint_raw(&self, payload_json: &[u8]) -> String {
        let signed = signed_text(payload_json);
        let sig: sm2::dsa::Signature = self.key.sign(signed.as_bytes());
        join(&signed, &sig.to_bytes())
    }
}

impl fmt::Debug for Issuer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Issuer")
            .field("kid", &self.kid)
            .field("public_key", &self.public_key_hex())
            .finish_non_exhaustive()
    }
}
