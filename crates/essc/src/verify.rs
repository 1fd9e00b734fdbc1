//! Verifying a scanned e-SSC code: the checks of qr.md, in a fixed order.
//!
//! Order: shape, base64, JSON, version, key id, signature — then, only for authentic claims,
//! the validity window, the ID checksum, region, nonce and fields, and last the replay guard,
//! so that only codes that would otherwise be accepted consume a nonce. The clock is a
//! parameter (unix seconds); nothing here reads the system time or logs personal data.

use std::fmt;

use sm2::dsa::Signature;
use sm2::dsa::signature::Verifier as _;

use crate::checks::{field_ok, gb11643_ok, nonce_ok, region_ok};
use crate::payload::{parse_claims, split};
use crate::{DEFAULT_SKEW_SECS, EsscError, Freshness, KeyRing, MAX_LIFETIME_SECS, ReplayGuard};
use medsettle_base::person::{CardNumber, IdNumber, PersonName};

/// Verifies e-SSC codes against configured issuer keys.
#[derive(Debug, Clone)]
pub struct Verifier {
    keys: KeyRing,
    skew_secs: i64,
}

/// A verified e-SSC holder. `Debug` and `Display` mask the ID number, name and card number.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EsscIdentity {
    /// 社会保障号码; settlement uses it as `certno` (`mdtrt_cert_type=02`).
    pub sn: IdNumber,
    pub name: PersonName,
    pub card_no: CardNumber,
    /// 参保地 region, 6 digits.
    pub region: String,
    /// The issuer key that signed the code.
    pub kid: String,
    pub iat: i64,
    pub exp: i64,
}

impl fmt::Display for EsscIdentity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "e-SSC {} {} region {} (kid {})",
            self.sn, self.name, self.region, self.kid
        )
    }
}

impl Verifier {
    /// A verifier with the default skew (30 s).
    pub fn new(keys: KeyRing) -> Self {
        Self {
            keys,
            skew_secs: DEFAULT_SKEW_SECS,
        }
    }

    /// Sets the clock skew tolerated on both ends of the validity window (negative → 0).
    pub fn with_skew(mut self, skew_secs: i64) -> Self {
        self.skew_secs = skew_secs.max(0);
        self
    }

    /// The configured keys.
    pub fn keys(&self) -> &KeyRing {
        &self.keys
    }

    /// Verifies `text` (a whole code, surrounding whitespace already trimmed) at `now_unix`,
    /// consuming its nonce in `guard` when every other check passed.
    pub fn verify(
        &self,
        text: &str,
        now_unix: i64,
        guard: &dyn ReplayGuard,
    ) -> Result<EsscIdentity, EsscError> {
        let claims = self.authenticate(text)?;
        let lifetime = i128::from(claims.exp) - i128::from(claims.iat);
        if !(0..=i128::from(MAX_LIFETIME_SECS)).contains(&lifetime) {
            return Err(EsscError::Lifetime(lifetime));
        }
        let (now, skew) = (i128::from(now_unix), i128::from(self.skew_secs));
        if now < i128::from(claims.iat) - skew {
            return Err(EsscError::NotYetValid {
                ahead: i128::from(claims.iat) - now,
            });
        }
        if now > i128::from(claims.exp) + skew {
            return Err(EsscError::Expired {
                ago: now - i128::from(claims.exp),
            });
        }
        if !gb11643_ok(&claims.sn) {
            return Err(EsscError::IdChecksum);
        }
        if !region_ok(&claims.ad) {
            return Err(EsscError::Region);
        }
        if !nonce_ok(&claims.nonce) {
            return Err(EsscError::Nonce);
        }
        if !field_ok(&claims.nm, 64) {
            return Err(EsscError::Field("nm"));
        }
        if !field_ok(&claims.cn, 32) {
            return Err(EsscError::Field("cn"));
        }
        let expires_at = claims.exp.saturating_add(self.skew_secs);
        let nonce = claims.nonce.to_ascii_lowercase();
        match guard.check_and_remember(&claims.kid, &nonce, expires_at, now_unix)? {
            Freshness::Fresh => {}
            Freshness::Replayed => return Err(EsscError::Replayed),
        }
        Ok(EsscIdentity {
            sn: IdNumber::new(claims.sn),
            name: PersonName::new(claims.nm),
            card_no: CardNumber::new(claims.cn),
            region: claims.ad,
            kid: claims.kid,
            iat: claims.iat,
            exp: claims.exp,
        })
    }

    /// Shape, decoding, version, key and signature: the claims are authentic afterwards.
    fn authenticate(&self, text: &str) -> Result<super::Claims, EsscError> {
        let parts = split(text)?;
        let claims = parse_claims(&parts.payload)?;
        if claims.v != 1 {
            return Err(EsscError::Version(claims.v));
        }
        let key = self
            .keys
            .get(&claims.kid)
            .ok_or_else(|| EsscError::UnknownKid(claims.kid.chars().take(64).collect()))?;
        let sig = Signature::from_slice(&parts.signature).map_err(|_| EsscError::Signature)?;
        key.verify(parts.signed.as_bytes(), &sig)
            .map_err(|_| EsscError::Signature)?;
        Ok(claims)
    }
}
