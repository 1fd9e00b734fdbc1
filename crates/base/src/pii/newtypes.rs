//! Personal data held in the daemon's types, wrapped so it cannot leak by accident.
//!
//! [`IdNumber`], [`PersonName`], [`CardNumber`] and [`PsnNo`] hold the clear value, but their
//! `Debug` and `Display` go through the masking helpers of [`super::mask`]; the clear value is
//! reached only through an explicit `expose()`, for the upstream request or the cashier answer
//! that needs it. Serde sees the clear string (`#[serde(transparent)]`): the sealed sale
//! document and the API's clear answers keep their exact shape. These types do no validation
//! (GB 11643 is `medsettle::credential`'s job) and must never gain a clear `Display`.

use std::fmt;

use serde::{Deserialize, Serialize};

use super::mask::{mask_id, mask_name};

macro_rules! sensitive {
    ($(#[$doc:meta])* $ty:ident, $mask:expr) => {
        $(#[$doc])*
        #[derive(Clone, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $ty(String);

        impl $ty {
            /// Wraps a clear value.
            pub fn new(value: impl Into<String>) -> Self {
                Self(value.into())
            }

            /// The clear value, for the one place that must send or show it (an upstream
            /// request, the cashier program's answer). Never log or display it.
            pub fn expose(&self) -> &str {
                &self.0
            }

            /// The masked form, as shown by `Display` and `Debug`.
            pub fn masked(&self) -> String {
                let mask: fn(&str) -> String = $mask;
                mask(&self.0)
            }

            /// True when nothing is held (a card that withheld its holder data).
            pub fn is_empty(&self) -> bool {
                self.0.is_empty()
            }
        }

        impl From<String> for $ty {
            fn from(value: String) -> Self {
                Self(value)
            }
        }

        impl From<&str> for $ty {
            fn from(value: &str) -> Self {
                Self(value.to_owned())
            }
        }

        impl fmt::Display for $ty {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.masked())
            }
        }

        impl fmt::Debug for $ty {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}({:?})", stringify!($ty), self.masked())
            }
        }
    };
}

sensitive!(
    /// A citizen ID / social security number (社会保障号码); shown as `110105********002X`.
    IdNumber,
    mask_id
);
sensitive!(
    /// A person's name; shown with the family name only (`张*`).
    PersonName,
    mask_name
);
sensitive!(
    /// A social security card number (卡号); shown like an ID number (short ones fully masked).
    CardNumber,
    mask_id
);
sensitive!(
    /// The platform's person number (人员编号, `psn_no`); shown like an ID number.
    PsnNo,
    mask_id
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_and_display_are_masked() {
        let id = IdNumber::new("11010519491231002X");
        assert_eq!(id.to_string(), "110105********002X");
        assert_eq!(format!("{id:?}"), "IdNumber(\"110105********002X\")");
        assert_eq!(id.expose(), "11010519491231002X");
        let name = PersonName::new("张三");
        assert_eq!(format!("{name} {name:?}"), "张* PersonName(\"张*\")");
        assert_eq!(CardNumber::new("A12345678").to_string(), "*********");
        let psn = PsnNo::from("43000000000000000012345678");
        assert_eq!(format!("{psn:?}"), "PsnNo(\"430000****************5678\")");
    }

    #[test]
    fn serde_sees_the_clear_string() {
        let id = IdNumber::new("11010519491231002X");
        let json = serde_json::to_string(&id).unwrap();
        assert_eq!(json, "\"11010519491231002X\"");
        let back: IdNumber = serde_json::from_str(&json).unwrap();
        assert_eq!(back, id);
        assert!(PersonName::default().is_empty());
    }
}
