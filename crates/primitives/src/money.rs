//! Money is an integer amount of minor units (cents, pence, yen) plus an ISO 4217 currency code.
//! Floats never appear.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// An ISO 4217 alphabetic currency code: three upper-case ASCII letters.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Currency([u8; 3]);

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("a currency is three upper-case letters (ISO 4217), such as EUR or USD")]
pub struct CurrencyError;

impl Currency {
    pub fn as_str(&self) -> &str {
        // Only ever built from validated ASCII letters.
        std::str::from_utf8(&self.0).unwrap_or("XXX")
    }
}

impl Currency {
    /// Digits of the minor unit (ISO 4217): 0 for JPY and KRW, 3 for BHD, KWD, OMR and the
    /// like, 2 otherwise.
    pub fn minor_digits(&self) -> u32 {
        match self.as_str() {
            "BIF" | "CLP" | "DJF" | "GNF" | "ISK" | "JPY" | "KMF" | "KRW" | "PYG" | "RWF" | "UGX" | "UYI" | "VND"
            | "VUV" | "XAF" | "XOF" | "XPF" => 0,
            "BHD" | "IQD" | "JOD" | "KWD" | "LYD" | "OMR" | "TND" => 3,
            _ => 2,
        }
    }
}

impl FromStr for Currency {
    type Err = CurrencyError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let b = s.as_bytes();
        if b.len() == 3 && b.iter().all(u8::is_ascii_uppercase) {
            Ok(Currency([b[0], b[1], b[2]]))
        } else {
            Err(CurrencyError)
        }
    }
}

impl fmt::Display for Currency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for Currency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Currency({})", self.as_str())
    }
}

impl Serialize for Currency {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for Currency {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// An amount in minor units of a currency.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Money {
    /// Integer amount in the currency's minor unit (cents for EUR and USD, yen for JPY).
    #[cfg_attr(feature = "openapi", schema(example = 1999))]
    pub amount_minor: i64,
    /// ISO 4217 code.
    #[cfg_attr(feature = "openapi", schema(value_type = String, example = "EUR"))]
    pub currency: Currency,
}

impl Money {
    pub fn new(amount_minor: i64, currency: Currency) -> Self {
        Self { amount_minor, currency }
    }

    pub fn zero(currency: Currency) -> Self {
        Self { amount_minor: 0, currency }
    }

    /// Adds two amounts of the same currency; `None` on a currency mismatch or overflow.
    pub fn checked_add(self, other: Money) -> Option<Money> {
        (self.currency == other.currency)
            .then(|| self.amount_minor.checked_add(other.amount_minor))
            .flatten()
            .map(|amount_minor| Money { amount_minor, ..self })
    }

    /// Multiplies by a quantity; `None` on overflow.
    pub fn checked_mul(self, qty: i64) -> Option<Money> {
        self.amount_minor.checked_mul(qty).map(|amount_minor| Money { amount_minor, ..self })
    }

    /// For people: the amount in major units with the currency's minor digits, then the code
    /// (`12.34 EUR`, `1500 JPY`, `-0.05 USD`).
    pub fn display(&self) -> String {
        let digits = self.currency.minor_digits();
        let sign = if self.amount_minor < 0 { "-" } else { "" };
        let abs = self.amount_minor.unsigned_abs();
        if digits == 0 {
            return format!("{sign}{abs} {}", self.currency);
        }
        let unit = 10u64.pow(digits);
        format!("{sign}{}.{:0width$} {}", abs / unit, abs % unit, self.currency, width = digits as usize)
    }

    /// Applies a rate given in basis points (1/100 of a percent), rounding half away from zero.
    pub fn percent_bp(self, basis_points: i64) -> Option<Money> {
        let scaled = (self.amount_minor as i128) * (basis_points as i128);
        let q = scaled / 10_000;
        let r = scaled % 10_000;
        let rounded = if r.abs() * 2 >= 10_000 { q + scaled.signum() } else { q };
        i64::try_from(rounded).ok().map(|amount_minor| Money { amount_minor, ..self })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn eur() -> Currency {
        "EUR".parse().expect("valid")
    }

    #[test]
    fn currency_parsing() {
        assert_eq!(eur().as_str(), "EUR");
        for bad in ["eur", "EU", "EURO", "E1R", ""] {
            assert!(bad.parse::<Currency>().is_err(), "{bad}");
        }
    }

    #[test]
    fn arithmetic_is_exact_and_checked() {
        let a = Money::new(1999, eur());
        assert_eq!(a.checked_mul(3).map(|m| m.amount_minor), Some(5997));
        assert_eq!(a.checked_add(Money::new(1, eur())).map(|m| m.amount_minor), Some(2000));
        assert_eq!(a.checked_add(Money::new(1, "USD".parse().expect("valid"))), None);
        assert_eq!(Money::new(i64::MAX, eur()).checked_add(Money::new(1, eur())), None);
    }

    #[test]
    fn display_uses_the_currency_minor_digits() {
        assert_eq!(Money::new(1234, eur()).display(), "12.34 EUR");
        assert_eq!(Money::new(5, eur()).display(), "0.05 EUR");
        assert_eq!(Money::new(-5, eur()).display(), "-0.05 EUR");
        assert_eq!(Money::new(1500, "JPY".parse().expect("valid")).display(), "1500 JPY");
        assert_eq!(Money::new(1500, "KWD".parse().expect("valid")).display(), "1.500 KWD");
    }

    #[test]
    fn percentages_round_half_away_from_zero() {
        // 19% of 1.05 = 0.1995 -> 0.20
        assert_eq!(Money::new(105, eur()).percent_bp(1900).map(|m| m.amount_minor), Some(20));
        // 20% of 0.02 = 0.004 -> 0.00
        assert_eq!(Money::new(2, eur()).percent_bp(2000).map(|m| m.amount_minor), Some(0));
        // 50% of 0.01 = 0.005 -> 0.01
        assert_eq!(Money::new(1, eur()).percent_bp(5000).map(|m| m.amount_minor), Some(1));
    }

    #[test]
    fn serde_round_trip() {
        let m = Money::new(1234, eur());
        let j = serde_json::to_string(&m).expect("serialise");
        assert_eq!(j, r#"{"amount_minor":1234,"currency":"EUR"}"#);
        assert_eq!(serde_json::from_str::<Money>(&j).expect("parse"), m);
        assert!(serde_json::from_str::<Money>(r#"{"amount_minor":1,"currency":"eur"}"#).is_err());
    }

    use proptest::prelude::*;

    proptest! {
        /// The checked operations agree with exact (128-bit) arithmetic, or refuse.
        #[test]
        fn checked_arithmetic_is_exact_or_refused(a in any::<i64>(), b in any::<i64>(), bp in -1_000_000i64..1_000_000) {
            let sum = Money::new(a, eur()).checked_add(Money::new(b, eur()));
            prop_assert_eq!(sum.map(|m| i128::from(m.amount_minor)), i64::try_from(i128::from(a) + i128::from(b)).ok().map(i128::from));
            let product = Money::new(a, eur()).checked_mul(b);
            prop_assert_eq!(product.map(|m| i128::from(m.amount_minor)), i64::try_from(i128::from(a) * i128::from(b)).ok().map(i128::from));
            if let Some(p) = Money::new(a, eur()).percent_bp(bp) {
                // Within half a minor unit of the exact value.
                let exact = i128::from(a) * i128::from(bp);
                prop_assert!((i128::from(p.amount_minor) * 10_000 - exact).abs() <= 5_000);
            }
            let usd: Currency = "USD".parse().expect("valid");
            prop_assert_eq!(Money::new(a, eur()).checked_add(Money::new(b, usd)), None);
        }

        #[test]
        fn any_string_parses_as_a_currency_only_if_it_is_three_capitals(s in ".{0,8}") {
            let parsed = s.parse::<Currency>();
            prop_assert_eq!(parsed.is_ok(), s.len() == 3 && s.bytes().all(|b| b.is_ascii_uppercase()));
        }
    }
}
