//! Personal data carried by a QR credential, wrapped so it cannot leak by accident.
//!
//! [`IdNumber`], [`PersonName`] and [`CardNumber`] hold the clear value but their `Debug` and
//! `Display` go through the masking helpers of [`crate::pii`]; the clear value is
//! reached only through an explicit `expose()`, for the upstream request that needs it. These
//! types do no validation (see `essc` for GB 11643) and must never gain a clear `Display`.

use std::fmt;

use crate::pii::{mask_id, mask_name};

macro_rules! sensitive {
    ($(#[$doc:meta])* $ty:ident, $mask:expr) => {
        $(#[$doc])*
        #[derive(Clone, PartialEq, Eq)]
        pub struct $ty(String);

        impl $ty {
            /// Wraps a clear value.
            pub fn new(value: impl Into<String>) -> Self {
                Self(value.into())
            }

            /// The clear value, for the one place that must send it (an upstream request).
            /// Never log or display it.
            pub fn expose(&self) -> &str {
                &self.0
            }

            /// The masked form, as shown by `Display` and `Debug`.
            pub fn masked(&self) -> String {
                let mask: fn(&str) -> String = $mask;
                mask(&self.0)
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
    }
}
