//! Field-level encryption of personal data at rest: the database key set and the sealed
//! values the store writes instead of clear text.
//!
//! A [`KeySet`] is read from a key file or systemd credential: one key per line as
//! `ID:BASE64` (32 bytes), `#` comments allowed. The first key seals every new value; the
//! others only open old ones, which is what makes rotation possible (add a key at the top,
//! restart, `medsettle store rekey`, then remove the old line). Each value is sealed with
//! AES-256-GCM (ring) under a fresh random 96-bit nonce; the key id and a column label are the
//! associated data, so a value cannot be opened under another key id or moved to another
//! column. A sealed value is a BLOB: `b"M1"`, the key id's length and bytes, the nonce, then
//! ciphertext and tag.
//!
//! [`Crypt`] adds the lookup key: a random HMAC-SHA256 key created once per database and
//! kept in `meta`, sealed under the key set like any other value. Rotation re-seals it but
//! never changes it, so the `person_key` hashes already stored stay valid. This module never
//! logs key material or clear text and never touches SQLite itself.

use std::fmt;
use std::io::Write as _;
use std::path::Path;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use ring::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use ring::hmac;
use ring::rand::{SecureRandom, SystemRandom};
use zeroize::Zeroizing;

use crate::secret::{Secret, SecretError, SecretRef};

/// The first bytes of every sealed value (format version 1).
const MAGIC: &[u8; 2] = b"M1";
/// Bytes of a data key.
pub const KEY_LEN: usize = 32;
/// The file name of the default key file, beside the database.
pub const DEFAULT_KEY_FILE: &str = "db-key";

/// Column labels: the associated data that ties a sealed value to its place.
pub mod label {
    pub const SALE_DOC: &str = "sales.doc";
    pub const EVENT_DETAIL: &str = "sale_events.detail";
    pub const AUDIT_REQUEST: &str = "upstream_audit.request";
    pub const AUDIT_RESPONSE: &str = "upstream_audit.response";
    pub const IDEMPOTENCY_RESPONSE: &str = "idempotency.response";
    pub const LOOKUP_KEY: &str = "meta.lookup_key";
}

/// Why a key set could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// The file or credential could not be read.
    #[error("database key set: {0}")]
    Secret(#[from] SecretError),
    /// A line is not `ID:BASE64` with a 32-byte key.
    #[error(
        "database key set {source_ref}, line {line}: {reason} (expected `ID:BASE64` with a 32-byte key; `medsettle store keygen` prints one)"
    )]
    Parse {
        source_ref: String,
        line: usize,
        reason: String,
    },
    /// Two lines share an id.
    #[error("database key set {source_ref}: key id `{id}` appears twice")]
    Duplicate { source_ref: String, id: String },
    /// A default key file could not be created.
    #[error("cannot create the database key file {path}: {error}")]
    Create { path: String, error: std::io::Error },
}

/// Why a sealed value could not be opened.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CryptError {
    /// The value was sealed under a key that is not in the key set.
    #[error(
        "{label} is sealed under database key `{key_id}`, which is not in the key set (it has {known}); put that key back in store.key"
    )]
    UnknownKey {
        label: String,
        key_id: String,
        known: String,
    },
    /// The value does not open: tampered, moved from another column, or a wrong key under the
    /// same id.
    #[error(
        "{label} sealed under database key `{key_id}` does not authenticate: the value was altered or moved, or the key under that id is not the one that sealed it"
    )]
    Tampered { label: String, key_id: String },
    /// Not a sealed value at all (clear text where a sealed value belongs, or truncated).
    #[error("{label} is not a sealed value ({reason})")]
    Malformed { label: String, reason: String },
}

struct DataKey {
    id: String,
    key: LessSafeKey,
}

/// The database keys: the first seals, all open.
pub struct KeySet {
    keys: Vec<DataKey>,
    rng: SystemRandom,
}

impl fmt::Debug for KeySet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeySet").field("ids", &self.ids()).finish()
    }
}

fn valid_id(id: &str) -> bool {
    (1..=32).contains(&id.len())
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
}

impl KeySet {
    /// Parses key set text; `source_ref` names it in errors.
    pub fn parse(text: &str, source_ref: &str) -> Result<KeySet, KeyError> {
        let mut keys: Vec<DataKey> = Vec::new();
        let err = |line, reason: &str| KeyError::Parse {
            source_ref: source_ref.to_owned(),
            line,
            reason: reason.to_owned(),
        };
        for (n, raw) in text.lines().enumerate() {
            let line = raw.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let (id, b64) = line
                .split_once(':')
                .ok_or_else(|| err(n + 1, "no `:` between id and key"))?;
            let id = id.trim();
            if !valid_id(id) {
                return Err(err(
                    n + 1,
                    "the id must be 1-32 letters, digits, '-', '_' or '.'",
                ));
            }
            let bytes = Zeroizing::new(
                B64.decode(b64.trim())
                    .map_err(|_| err(n + 1, "the key is not base64"))?,
            );
            if bytes.len() != KEY_LEN {
                return Err(err(n + 1, "the key is not 32 bytes"));
            }
            if keys.iter().any(|k| k.id == id) {
                return Err(KeyError::Duplicate {
                    source_ref: source_ref.to_owned(),
                    id: id.to_owned(),
                });
            }
            let unbound = UnboundKey::new(&AES_256_GCM, &bytes)
                .map_err(|_| err(n + 1, "the key was refused"))?;
            keys.push(DataKey {
                id: id.to_owned(),
                key: LessSafeKey::new(unbound),
            });
        }
        if keys.is_empty() {
            return Err(err(0, "no key"));
        }
        Ok(KeySet {
            keys,
            rng: SystemRandom::new(),
        })
    }

    /// Loads the key set `r` names (`credentials_dir` is `$CREDENTIALS_DIRECTORY`).
    pub fn load(r: &SecretRef, credentials_dir: Option<&Path>) -> Result<KeySet, KeyError> {
        let secret = Secret::load(r, credentials_dir)?;
        KeySet::parse(secret.expose(), &r.to_string())
    }

    /// [`KeySet::load`], but a key file that does not exist yet is created first (mode 0600,
    /// one fresh key). Answers whether it was created. A credential is never created.
    pub fn load_or_create(
        r: &SecretRef,
        credentials_dir: Option<&Path>,
    ) -> Result<(KeySet, bool), KeyError> {
        let mut created = false;
        if let SecretRef::File(path) = r {
            if !path.exists() {
                create_key_file(path)?;
                created = true;
            }
        }
        Ok((KeySet::load(r, credentials_dir)?, created))
    }

    /// One fresh key as a key-file line, `ID:BASE64`.
    pub fn generate_line() -> String {
        let rng = SystemRandom::new();
        let mut key = Zeroizing::new([0u8; KEY_LEN]);
        let mut id = [0u8; 4];
        rng.fill(&mut *key).expect("the system random source works");
        rng.fill(&mut id).expect("the system random source works");
        let date = chrono::Utc::now().format("%Y%m%d");
        format!("k{date}-{}:{}", hex::encode(id), B64.encode(*key))
    }

    /// The id of the key that seals.
    pub fn write_id(&self) -> &str {
        &self.keys[0].id
    }

    /// Every key id, the sealing one first.
    pub fn ids(&self) -> Vec<&str> {
        self.keys.iter().map(|k| k.id.as_str()).collect()
    }

    fn aad(label: &str, id: &str) -> Vec<u8> {
        let mut aad = Vec::with_capacity(label.len() + id.len() + 16);
        aad.extend_from_slice(b"medsettle/1/");
        aad.extend_from_slice(label.as_bytes());
        aad.push(0);
        aad.extend_from_slice(id.as_bytes());
        aad
    }

    /// Seals `plain` for the column `label` under the first key.
    pub fn seal(&self, label: &str, plain: &[u8]) -> Vec<u8> {
        let k = &self.keys[0];
        let mut nonce = [0u8; NONCE_LEN];
        self.rng
            .fill(&mut nonce)
            .expect("the system random source works");
        let mut out = Vec::with_capacity(3 + k.id.len() + NONCE_LEN + plain.len() + 16);
        out.extend_from_slice(MAGIC);
        out.push(u8::try_from(k.id.len()).expect("ids are at most 32 bytes"));
        out.extend_from_slice(k.id.as_bytes());
        out.extend_from_slice(&nonce);
        let start = out.len();
        out.extend_from_slice(plain);
        let mut body = out.split_off(start);
        k.key
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(Self::aad(label, &k.id)),
                &mut body,
            )
            .expect("AES-GCM seals any length we store");
        out.extend_from_slice(&body);
        out
    }

    /// The key id a sealed value names, without opening it.
    pub fn key_id_of(sealed: &[u8]) -> Option<&str> {
        let (id, _, _) = split(sealed).ok()?;
        Some(id)
    }

    /// Opens a value sealed for the column `label`.
    pub fn open(&self, label: &str, sealed: &[u8]) -> Result<Vec<u8>, CryptError> {
        let (id, nonce, body) = split(sealed).map_err(|reason| CryptError::Malformed {
            label: label.to_owned(),
            reason: reason.to_owned(),
        })?;
        let k = self
            .keys
            .iter()
            .find(|k| k.id == id)
            .ok_or_else(|| CryptError::UnknownKey {
                label: label.to_owned(),
                key_id: id.to_owned(),
                known: self.ids().join(", "),
            })?;
        let mut buf = body.to_vec();
        let nonce = Nonce::try_assume_unique_for_key(nonce).map_err(|_| CryptError::Malformed {
            label: label.to_owned(),
            reason: "bad nonce".into(),
        })?;
        let plain = k
            .key
            .open_in_place(nonce, Aad::from(Self::aad(label, id)), &mut buf)
            .map_err(|_| CryptError::Tampered {
                label: label.to_owned(),
                key_id: id.to_owned(),
            })?;
        let n = plain.len();
        buf.truncate(n);
        Ok(buf)
    }

    /// Opens a sealed UTF-8 text.
    pub fn open_text(&self, label: &str, sealed: &[u8]) -> Result<String, CryptError> {
        String::from_utf8(self.open(label, sealed)?).map_err(|_| CryptError::Malformed {
            label: label.to_owned(),
            reason: "not UTF-8 once opened".into(),
        })
    }
}

/// The parts of a sealed value: key id, nonce, ciphertext + tag.
fn split(sealed: &[u8]) -> Result<(&str, &[u8], &[u8]), &'static str> {
    let rest = sealed
        .strip_prefix(MAGIC.as_slice())
        .ok_or("no format marker")?;
    let (&len, rest) = rest.split_first().ok_or("truncated")?;
    let len = usize::from(len);
    if rest.len() < len + NONCE_LEN + 16 {
        return Err("truncated");
    }
    let (id, rest) = rest.split_at(len);
    let id = std::str::from_utf8(id).map_err(|_| "key id not UTF-8")?;
    let (nonce, body) = rest.split_at(NONCE_LEN);
    Ok((id, nonce, body))
}

/// Creates a key file with one fresh key, mode 0600, failing if it appeared meanwhile.
fn create_key_file(path: &Path) -> Result<(), KeyError> {
    let fail = |error| KeyError::Create {
        path: path.display().to_string(),
        error,
    };
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(fail)?;
    }
    use std::os::unix::fs::OpenOptionsExt as _;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .map_err(fail)?;
    let text = Zeroizing::new(format!(
        "# medsettle database keys, one `ID:BASE64` per line. The first seals new values;\n\
         # the others only open old ones. Rotation: add a new first line, restart, run\n\
         # `medsettle store rekey`, then remove the old line. Losing this file loses the\n\
         # personal data in the database: back it up apart from the database.\n{}\n",
        KeySet::generate_line()
    ));
    f.write_all(text.as_bytes()).map_err(fail)?;
    f.sync_all().map_err(fail)?;
    tracing::info!(path = %path.display(), "database key file created");
    Ok(())
}

/// The key set plus this database's lookup key: everything the store needs to seal, open and
/// hash personal data.
pub struct Crypt {
    keys: KeySet,
    lookup: Lookup,
}

/// The keyed hash ID numbers are looked up by.
pub struct Lookup(hmac::Key);

impl Lookup {
    /// The lookup key of a database (32 bytes).
    pub fn new(key: &[u8]) -> Lookup {
        Lookup(hmac::Key::new(hmac::HMAC_SHA256, key))
    }

    /// HMAC-SHA256 of the normalised number (trimmed, upper-case `X`) under the lookup key.
    /// `None` for an empty number.
    pub fn person_key(&self, id_number: &str) -> Option<Vec<u8>> {
        let norm = id_number.trim().to_ascii_uppercase();
        if norm.is_empty() {
            return None;
        }
        let mut msg = b"person/".to_vec();
        msg.extend_from_slice(norm.as_bytes());
        Some(hmac::sign(&self.0, &msg).as_ref().to_vec())
    }

    /// HMAC-SHA256 of `data` under the lookup key, separated from the person hashes by
    /// `domain`: for values that must be compared but could be guessed from a plain hash.
    pub fn keyed(&self, domain: &str, data: &[u8]) -> Vec<u8> {
        let mut msg = domain.as_bytes().to_vec();
        msg.push(b'/');
        msg.extend_from_slice(data);
        hmac::sign(&self.0, &msg).as_ref().to_vec()
    }
}

impl fmt::Debug for Crypt {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Crypt").field("keys", &self.keys).finish()
    }
}

impl Crypt {
    /// Combines the key set with the database's lookup key (32 bytes, opened from `meta`).
    pub(super) fn new(keys: KeySet, lookup: &[u8]) -> Crypt {
        Crypt {
            keys,
            lookup: Lookup::new(lookup),
        }
    }

    /// A fresh random lookup key (once per database).
    pub(super) fn fresh_lookup_key() -> Zeroizing<[u8; KEY_LEN]> {
        let mut key = Zeroizing::new([0u8; KEY_LEN]);
        SystemRandom::new()
            .fill(&mut *key)
            .expect("the system random source works");
        key
    }

    pub fn keys(&self) -> &KeySet {
        &self.keys
    }

    /// Seals a text for `label`.
    pub fn seal(&self, label: &str, plain: &str) -> Vec<u8> {
        self.keys.seal(label, plain.as_bytes())
    }

    /// Opens a text sealed for `label`.
    pub fn open(&self, label: &str, sealed: &[u8]) -> Result<String, CryptError> {
        self.keys.open_text(label, sealed)
    }

    /// The keyed hash an ID number is looked up by: HMAC-SHA256 of the normalised number
    /// (trimmed, upper-case `X`) under the lookup key. `None` for an empty number.
    pub fn person_key(&self, id_number: &str) -> Option<Vec<u8>> {
        self.lookup.person_key(id_number)
    }

    /// A keyed hash of `data` for `domain` (see [`Lookup::keyed`]).
    pub fn keyed(&self, domain: &str, data: &[u8]) -> Vec<u8> {
        self.lookup.keyed(domain, data)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(id: &str, byte: u8) -> String {
        format!("{id}:{}", B64.encode([byte; KEY_LEN]))
    }

    fn set(lines: &[String]) -> KeySet {
        KeySet::parse(&lines.join("\n"), "test").unwrap()
    }

    #[test]
    fn a_value_round_trips_and_names_its_key() {
        let k = set(&[line("a", 1)]);
        let sealed = k.seal(label::SALE_DOC, "张三 110105199003071239".as_bytes());
        assert_eq!(KeySet::key_id_of(&sealed), Some("a"));
        assert!(!sealed.windows(4).any(|w| w == b"1101"));
        assert_eq!(
            k.open_text(label::SALE_DOC, &sealed).unwrap(),
            "张三 110105199003071239"
        );
        // Fresh nonces: the same text seals differently each time.
        assert_ne!(
            sealed,
            k.seal(label::SALE_DOC, "张三 110105199003071239".as_bytes())
        );
    }

    #[test]
    fn a_different_key_under_the_same_id_does_not_open() {
        let sealed = set(&[line("a", 1)]).seal(label::SALE_DOC, b"x");
        let err = set(&[line("a", 2)])
            .open(label::SALE_DOC, &sealed)
            .unwrap_err();
        assert!(matches!(err, CryptError::Tampered { ref key_id, .. } if key_id == "a"));
    }

    #[test]
    fn a_tampered_value_does_not_open() {
        let k = set(&[line("a", 1)]);
        let sealed = k.seal(label::SALE_DOC, b"some personal data");
        for i in 3..sealed.len() {
            let mut bad = sealed.clone();
            bad[i] ^= 0x01;
            assert!(k.open(label::SALE_DOC, &bad).is_err(), "byte {i} flipped");
        }
        assert!(matches!(
            k.open(label::SALE_DOC, &sealed[..sealed.len() - 1]),
            Err(CryptError::Tampered { .. })
        ));
        assert!(matches!(
            k.open(label::SALE_DOC, b"{\"clear\":1}"),
            Err(CryptError::Malformed { .. })
        ));
    }

    #[test]
    fn a_value_moved_to_another_column_does_not_open() {
        let k = set(&[line("a", 1)]);
        let sealed = k.seal(label::AUDIT_REQUEST, b"{}");
        assert!(matches!(
            k.open(label::AUDIT_RESPONSE, &sealed),
            Err(CryptError::Tampered { .. })
        ));
    }

    #[test]
    fn an_unknown_key_id_is_named() {
        let sealed = set(&[line("old-1", 1)]).seal(label::SALE_DOC, b"x");
        let err = set(&[line("new-2", 2)])
            .open(label::SALE_DOC, &sealed)
            .unwrap_err();
        let text = err.to_string();
        assert!(text.contains("`old-1`") && text.contains("new-2"), "{text}");
    }

    #[test]
    fn rotation_reads_old_values_and_seals_with_the_new_key() {
        let old = set(&[line("old", 1)]);
        let sealed_old = old.seal(label::SALE_DOC, b"v");
        let both = set(&[line("new", 2), line("old", 1)]);
        assert_eq!(both.open(label::SALE_DOC, &sealed_old).unwrap(), b"v");
        let resealed = both.seal(label::SALE_DOC, b"v");
        assert_eq!(KeySet::key_id_of(&resealed), Some("new"));
        let only_new = set(&[line("new", 2)]);
        assert_eq!(only_new.open(label::SALE_DOC, &resealed).unwrap(), b"v");
        assert!(matches!(
            only_new.open(label::SALE_DOC, &sealed_old),
            Err(CryptError::UnknownKey { .. })
        ));
    }

    #[test]
    fn key_files_are_parsed_strictly() {
        assert!(KeySet::parse("", "t").is_err());
        assert!(KeySet::parse("# only a comment\n", "t").is_err());
        assert!(KeySet::parse("nocolon", "t").is_err());
        assert!(KeySet::parse("a:c2hvcnQ=", "t").is_err(), "short key");
        assert!(KeySet::parse(&format!("{}\n{}", line("a", 1), line("a", 2)), "t").is_err());
        assert!(KeySet::parse(&format!("bad id:{}", B64.encode([0u8; 32])), "t").is_err());
        let k =
            KeySet::parse(&format!("# c\n\n{}\n{}\n", line("b", 1), line("a", 2)), "t").unwrap();
        assert_eq!(k.ids(), ["b", "a"]);
        assert_eq!(k.write_id(), "b");
        let generated = KeySet::generate_line();
        assert_eq!(KeySet::parse(&generated, "t").unwrap().ids().len(), 1);
    }

    #[test]
    fn a_missing_key_file_is_created_private_and_then_reused() {
        use std::os::unix::fs::PermissionsExt as _;
        let dir = tempfile::tempdir().unwrap();
        let r = SecretRef::File(dir.path().join("sub").join(DEFAULT_KEY_FILE));
        let (first, created) = KeySet::load_or_create(&r, None).unwrap();
        assert!(created);
        let SecretRef::File(path) = &r else {
            unreachable!()
        };
        let mode = std::fs::metadata(path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let (again, created) = KeySet::load_or_create(&r, None).unwrap();
        assert!(!created);
        assert_eq!(first.ids(), again.ids());
        let sealed = first.seal(label::SALE_DOC, b"x");
        assert_eq!(again.open(label::SALE_DOC, &sealed).unwrap(), b"x");
        // A credential is never created.
        assert!(KeySet::load_or_create(&SecretRef::Credential("db-key".into()), None).is_err());
    }

    #[test]
    fn person_keys_are_stable_normalised_and_keyed() {
        let c = Crypt::new(set(&[line("a", 1)]), &[7; 32]);
        let rotated = Crypt::new(set(&[line("b", 2), line("a", 1)]), &[7; 32]);
        let other_db = Crypt::new(set(&[line("a", 1)]), &[8; 32]);
        let k = c.person_key("11010519900307123x").unwrap();
        assert_eq!(Some(k.clone()), c.person_key(" 11010519900307123X "));
        assert_eq!(Some(k.clone()), rotated.person_key("11010519900307123X"));
        assert_ne!(Some(k), other_db.person_key("11010519900307123X"));
        assert_eq!(c.person_key("  "), None);
    }
}
