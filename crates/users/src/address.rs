use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::model::no_control_chars;

/// A user keeps at most this many addresses.
pub const MAX_ADDRESSES_PER_USER: i64 = 20;

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Address {
    pub id: Uuid,
    pub label: Option<String>,
    pub full_name: String,
    pub line1: String,
    pub line2: Option<String>,
    pub city: String,
    pub region: Option<String>,
    pub postal_code: String,
    /// ISO 3166-1 alpha-2, upper case.
    pub country: String,
    pub phone: Option<String>,
    pub is_default_shipping: bool,
    pub is_default_billing: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// ISO 3166-1 alpha-2 codes (officially assigned).
const COUNTRIES: &str = "AD AE AF AG AI AL AM AO AQ AR AS AT AU AW AX AZ BA BB BD BE BF BG BH BI BJ BL BM BN BO BQ BR BS \
BT BV BW BY BZ CA CC CD CF CG CH CI CK CL CM CN CO CR CU CV CW CX CY CZ DE DJ DK DM DO DZ EC EE EG EH ER ES ET FI FJ FK FM \
FO FR GA GB GD GE GF GG GH GI GL GM GN GP GQ GR GS GT GU GW GY HK HM HN HR HT HU ID IE IL IM IN IO IQ IR IS IT JE JM JO JP \
KE KG KH KI KM KN KP KR KW KY KZ LA LB LC LI LK LR LS LT LU LV LY MA MC MD ME MF MG MH MK ML MM MN MO MP MQ MR MS MT MU MV \
MW MX MY MZ NA NC NE NF NG NI NL NO NP NR NU NZ OM PA PE PF PG PH PK PL PM PN PR PS PT PW PY QA RE RO RS RU RW SA SB SC SD \
SE SG SH SI SJ SK SL SM SN SO SR SS ST SV SX SY SZ TC TD TF TG TH TJ TK TL TM TN TO TR TT TV TW TZ UA UG UM US UY UZ VA VC \
VE VG VI VN VU WF WS YE YT ZA ZM ZW";

pub fn is_country_code(code: &str) -> bool {
    code.len() == 2 && COUNTRIES.split_ascii_whitespace().any(|c| c == code)
}

fn valid_country(value: &str, _: &()) -> garde::Result {
    if is_country_code(value) {
        Ok(())
    } else {
        Err(garde::Error::new("must be an ISO 3166-1 alpha-2 country code, such as DE or US"))
    }
}

fn opt_text(value: &Option<String>, ctx: &()) -> garde::Result {
    match value {
        Some(v) => no_control_chars(v, ctx),
        None => Ok(()),
    }
}

fn valid_phone(value: &Option<String>, _: &()) -> garde::Result {
    match value {
        Some(v) if !v.chars().all(|c| c.is_ascii_digit() || " +-()./".contains(c)) || v.len() < 5 => {
            Err(garde::Error::new("must be a phone number (digits, spaces and + - ( ) . /)"))
        }
        _ => Ok(()),
    }
}

/// A new address, or the full replacement of one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, garde::Validate)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct AddressInput {
    #[garde(inner(length(chars, max = 50)), custom(opt_text))]
    #[cfg_attr(feature = "openapi", schema(max_length = 50))]
    pub label: Option<String>,
    #[garde(length(chars, min = 1, max = 100), custom(no_control_chars))]
    #[cfg_attr(feature = "openapi", schema(min_length = 1, max_length = 100))]
    pub full_name: String,
    #[garde(length(chars, min = 1, max = 200), custom(no_control_chars))]
    #[cfg_attr(feature = "openapi", schema(min_length = 1, max_length = 200))]
    pub line1: String,
    #[garde(inner(length(chars, max = 200)), custom(opt_text))]
    #[cfg_attr(feature = "openapi", schema(max_length = 200))]
    pub line2: Option<String>,
    #[garde(length(chars, min = 1, max = 100), custom(no_control_chars))]
    #[cfg_attr(feature = "openapi", schema(min_length = 1, max_length = 100))]
    pub city: String,
    #[garde(inner(length(chars, max = 100)), custom(opt_text))]
    #[cfg_attr(feature = "openapi", schema(max_length = 100))]
    pub region: Option<String>,
    #[garde(length(chars, min = 1, max = 20), custom(no_control_chars))]
    #[cfg_attr(feature = "openapi", schema(min_length = 1, max_length = 20))]
    pub postal_code: String,
    #[garde(custom(valid_country))]
    #[cfg_attr(feature = "openapi", schema(min_length = 2, max_length = 2, pattern = "^[A-Z]{2}$"))]
    pub country: String,
    #[garde(inner(length(max = 32)), custom(valid_phone))]
    #[cfg_attr(feature = "openapi", schema(max_length = 32))]
    pub phone: Option<String>,
    #[serde(default)]
    #[garde(skip)]
    pub is_default_shipping: bool,
    #[serde(default)]
    #[garde(skip)]
    pub is_default_billing: bool,
}

/// A partial update: absent fields stay as they are.
#[derive(Debug, Clone, Default, Deserialize, garde::Validate)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct AddressPatch {
    #[garde(inner(length(chars, max = 50)), custom(opt_text))]
    #[cfg_attr(feature = "openapi", schema(max_length = 50))]
    pub label: Option<String>,
    #[garde(inner(length(chars, min = 1, max = 100), custom(no_control_chars)))]
    #[cfg_attr(feature = "openapi", schema(min_length = 1, max_length = 100))]
    pub full_name: Option<String>,
    #[garde(inner(length(chars, min = 1, max = 200), custom(no_control_chars)))]
    #[cfg_attr(feature = "openapi", schema(min_length = 1, max_length = 200))]
    pub line1: Option<String>,
    #[garde(inner(length(chars, max = 200)), custom(opt_text))]
    #[cfg_attr(feature = "openapi", schema(max_length = 200))]
    pub line2: Option<String>,
    #[garde(inner(length(chars, min = 1, max = 100), custom(no_control_chars)))]
    #[cfg_attr(feature = "openapi", schema(min_length = 1, max_length = 100))]
    pub city: Option<String>,
    #[garde(inner(length(chars, max = 100)), custom(opt_text))]
    #[cfg_attr(feature = "openapi", schema(max_length = 100))]
    pub region: Option<String>,
    #[garde(inner(length(chars, min = 1, max = 20), custom(no_control_chars)))]
    #[cfg_attr(feature = "openapi", schema(min_length = 1, max_length = 20))]
    pub postal_code: Option<String>,
    #[garde(inner(custom(valid_country)))]
    #[cfg_attr(feature = "openapi", schema(min_length = 2, max_length = 2, pattern = "^[A-Z]{2}$"))]
    pub country: Option<String>,
    #[garde(inner(length(max = 32)), custom(valid_phone))]
    #[cfg_attr(feature = "openapi", schema(max_length = 32))]
    pub phone: Option<String>,
    #[garde(skip)]
    pub is_default_shipping: Option<bool>,
    #[garde(skip)]
    pub is_default_billing: Option<bool>,
}

impl AddressPatch {
    /// The address after applying this patch.
    pub fn apply(&self, a: &Address) -> AddressInput {
        let pick = |new: &Option<String>, old: &String| new.clone().unwrap_or_else(|| old.clone());
        let pick_opt = |new: &Option<String>, old: &Option<String>| new.clone().or_else(|| old.clone());
        AddressInput {
            label: pick_opt(&self.label, &a.label),
            full_name: pick(&self.full_name, &a.full_name),
            line1: pick(&self.line1, &a.line1),
            line2: pick_opt(&self.line2, &a.line2),
            city: pick(&self.city, &a.city),
            region: pick_opt(&self.region, &a.region),
            postal_code: pick(&self.postal_code, &a.postal_code),
            country: pick(&self.country, &a.country),
            phone: pick_opt(&self.phone, &a.phone),
            is_default_shipping: self.is_default_shipping.unwrap_or(a.is_default_shipping),
            is_default_billing: self.is_default_billing.unwrap_or(a.is_default_billing),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use garde::Validate;

    fn input() -> AddressInput {
        AddressInput {
            label: None,
            full_name: "Ada Lovelace".into(),
            line1: "1 Main St".into(),
            line2: None,
            city: "London".into(),
            region: None,
            postal_code: "N1 9GU".into(),
            country: "GB".into(),
            phone: Some("+44 20 7946 0000".into()),
            is_default_shipping: false,
            is_default_billing: false,
        }
    }

    #[test]
    fn validates_country_and_text() {
        assert!(input().validate().is_ok());
        let bad = AddressInput { country: "UK".into(), ..input() };
        let report = bad.validate().expect_err("UK is not ISO 3166-1");
        assert!(report.iter().any(|(p, _)| p.to_string() == "country"));
        let bad = AddressInput { city: "Lon\u{0}don".into(), ..input() };
        assert!(bad.validate().is_err());
        let bad = AddressInput { phone: Some("call me".into()), ..input() };
        assert!(bad.validate().is_err());
    }
}
