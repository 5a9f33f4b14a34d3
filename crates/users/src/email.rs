//! Email addresses as accounts are keyed by them. Two addresses a person cannot tell apart must
//! be one account or no account: the address is normalised (NFKC, full case folding), and one that
//! holds invisible characters or mixes scripts is refused rather than stored beside its twin.
//!
//! - NFKC folds compatibility forms (fullwidth `ａ`, ligatures, superscripts) into their plain
//!   letters, so `ＡＤＡ@example.com` is `ada@example.com`.
//! - Full case folding (Unicode CaseFolding.txt, through ICU4X) then lower-casing: `ADA`, `Ada`
//!   and `ada` are one address; so are `STRASSE` and `straße`.
//! - Refused: any character that is Default_Ignorable (zero-width spaces and joiners, soft hyphen,
//!   variation selectors, Hangul fillers) or of General_Category Other (controls, format
//!   characters, private use, unassigned) or Separator (spaces); and any part (the local part, each
//!   label of the domain) that is not single-script in the sense of UTS #39 (Latin with Cyrillic
//!   `а` is mixed; Han with Hiragana is one augmented script, Japanese, and allowed).

use icu_casemap::CaseMapper;
use icu_normalizer::ComposingNormalizerBorrowed;
use icu_properties::props::{DefaultIgnorableCodePoint, GeneralCategory, GeneralCategoryGroup};
use icu_properties::{CodePointMapData, CodePointSetData};
use unicode_security::MixedScript;

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum EmailError {
    #[error("must be a valid email address")]
    Syntax,
    #[error("must not contain invisible or control characters")]
    Invisible,
    #[error("must not mix writing systems (such as Latin and Cyrillic letters) within one part")]
    MixedScript,
}

/// The address as it is stored and compared, or why it is refused.
pub fn normalise_email(email: &str) -> Result<String, EmailError> {
    let trimmed = email.trim();
    if trimmed.chars().any(invisible) {
        return Err(EmailError::Invisible);
    }
    let nfkc = ComposingNormalizerBorrowed::new_nfkc();
    let folded = CaseMapper::new().fold_string(&nfkc.normalize(trimmed)).to_lowercase();
    // Folding can leave a string that is not in NFKC (and NFKC can expose new invisibles).
    let normal = nfkc.normalize(&folded).into_owned();
    if normal.chars().any(invisible) {
        return Err(EmailError::Invisible);
    }
    if !plausible(&normal) {
        return Err(EmailError::Syntax);
    }
    let (local, domain) = normal.split_once('@').ok_or(EmailError::Syntax)?;
    if !std::iter::once(local).chain(domain.split('.')).all(|part| part.is_single_script()) {
        return Err(EmailError::MixedScript);
    }
    Ok(normal)
}

/// Characters that render as nothing, or as a space, or are not characters at all.
fn invisible(c: char) -> bool {
    if c.is_ascii() {
        return c.is_ascii_control() || c == ' ';
    }
    let gc = CodePointMapData::<GeneralCategory>::new().get(c);
    CodePointSetData::new::<DefaultIgnorableCodePoint>().contains(c)
        || GeneralCategoryGroup::Other.contains(gc)
        || GeneralCategoryGroup::Separator.contains(gc)
}

/// A deliberately loose syntactic check (one `@`, a dot in the domain, lengths within RFC 5321);
/// deliverability is proven by email, not by pattern.
fn plausible(email: &str) -> bool {
    let Some((local, domain)) = email.split_once('@') else {
        return false;
    };
    !local.is_empty()
        && email.len() <= 254
        && local.len() <= 64
        && domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && !domain.contains("..")
        && !domain.contains('@')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn case_and_compatibility_forms_are_one_address() {
        for raw in ["ada@example.com", "  Ada@Example.COM ", "ＡＤＡ@ｅｘａｍｐｌｅ.ｃｏｍ", "ADA@EXAMPLE.COM"]
        {
            assert_eq!(normalise_email(raw), Ok("ada@example.com".into()), "{raw}");
        }
        assert_eq!(normalise_email("STRASSE@example.de"), normalise_email("straße@example.de"));
        assert_eq!(normalise_email("ﬁnn@example.com"), Ok("finn@example.com".into()), "ligature");
        assert_eq!(normalise_email("ΩΜΕΓΑ@example.gr"), Ok("ωμεγα@example.gr".into()));
    }

    #[test]
    fn invisible_characters_are_refused() {
        for raw in [
            "ad\u{200B}a@example.com", // zero-width space
            "ad\u{200D}a@example.com", // zero-width joiner
            "ada\u{00AD}@example.com", // soft hyphen
            "ada@exa\u{2060}mple.com", // word joiner
            "ada\u{FE0F}@example.com", // variation selector
            "a\u{3164}da@example.com", // Hangul filler
            "ad\u{202E}a@example.com", // right-to-left override
            "ada\u{E000}@example.com", // private use
            "a da@example.com",
            "a\u{00A0}da@example.com", // no-break space
            "a\u{0007}da@example.com",
        ] {
            assert_eq!(normalise_email(raw), Err(EmailError::Invisible), "{raw:?}");
        }
    }

    #[test]
    fn mixed_scripts_are_refused_within_a_part() {
        assert_eq!(normalise_email("p\u{0430}ypal@example.com"), Err(EmailError::MixedScript), "Cyrillic а");
        assert_eq!(normalise_email("ada@ex\u{0430}mple.com"), Err(EmailError::MixedScript));
        assert_eq!(normalise_email("\u{03BF}mega@example.com"), Err(EmailError::MixedScript), "Greek ο");
        // One script per part is fine, and so are digits and punctuation beside it.
        assert!(normalise_email("иван.петров-2@пример.рф").is_ok());
        assert!(normalise_email("иван@example.com").is_ok(), "Cyrillic local part, Latin domain");
        assert!(normalise_email("山田たろう@example.jp").is_ok(), "Han with Hiragana is Japanese");
        assert!(normalise_email("ada+shop_1@example.co.uk").is_ok());
    }

    #[test]
    fn syntax() {
        assert!(normalise_email("a@example.com").is_ok());
        for bad in ["", "a", "@example.com", "a@b", "a@.com", "a@b.", "a@b@c.d", "a@b..c"] {
            assert_eq!(normalise_email(bad), Err(EmailError::Syntax), "{bad}");
        }
        assert_eq!(normalise_email(&format!("{}@example.com", "a".repeat(65))), Err(EmailError::Syntax));
    }

    #[test]
    fn normalising_twice_changes_nothing() {
        for raw in ["Ada@Example.com", "ＡＤＡ@example.com", "straße@example.de", "ꭰꭱ@example.com", "ΣΑΣ@example.gr"]
        {
            let once = normalise_email(raw).expect(raw);
            assert_eq!(normalise_email(&once), Ok(once.clone()), "{raw}");
        }
    }

    use proptest::prelude::*;

    proptest! {
        /// Any input: an address or a refusal, never a panic; what is accepted is stored as it
        /// normalises again (idempotent), has no invisible characters, and fits the limits.
        #[test]
        fn any_input_normalises_stably_or_is_refused(raw in "\\PC{0,40}@\\PC{0,20}\\.[a-z\\PL]{1,8}|.{0,80}") {
            if let Ok(email) = normalise_email(&raw) {
                prop_assert_eq!(normalise_email(&email), Ok(email.clone()));
                prop_assert!(!email.chars().any(invisible));
                prop_assert!(email.len() <= 254);
                prop_assert_eq!(email.trim(), email.as_str());
            }
        }
    }
}
