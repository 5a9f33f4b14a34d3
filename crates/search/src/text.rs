//! Words of a text as the index and the queries see them: lower-cased, accents folded, split at
//! anything but letters and digits, English stop words left out, stemmed by Snowball English.

use std::sync::LazyLock;

use rust_stemmers::{Algorithm, Stemmer};
use unicode_normalization::UnicodeNormalization;
use unicode_normalization::char::is_combining_mark;

/// A query reads at most this many words; the rest are ignored (bounded work per request).
pub const MAX_QUERY_WORDS: usize = 8;
/// Words longer than this (in bytes) are matched exactly, never by typo or prefix.
pub const MAX_FUZZY_BYTES: usize = 48;

/// Words too common to tell products apart (PostgreSQL's `english` configuration drops them too).
const STOP_WORDS: [&str; 33] = [
    "a", "an", "and", "are", "as", "at", "be", "but", "by", "for", "from", "has", "have", "if", "in", "into", "is",
    "it", "its", "no", "not", "of", "on", "or", "our", "so", "such", "that", "the", "their", "this", "to", "with",
];

static STEMMER: LazyLock<Stemmer> = LazyLock::new(|| Stemmer::create(Algorithm::English));

/// The words of `text`: lower-case, accents folded ("Café" → "cafe"), without stop words.
pub fn words(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut word = String::new();
    let mut push = |word: &mut String| {
        if !word.is_empty() && !STOP_WORDS.contains(&word.as_str()) {
            out.push(std::mem::take(word));
        }
        word.clear();
    };
    for c in text.nfkd() {
        if is_combining_mark(c) {
            continue;
        }
        if c.is_alphanumeric() {
            word.extend(c.to_lowercase());
        } else {
            push(&mut word);
        }
    }
    push(&mut word);
    out
}

/// The stem of a word from [`words`]: "jackets" and "jacket" are one term.
pub fn stem(word: &str) -> String {
    STEMMER.stem(word).into_owned()
}

/// How many edits a query word may be from an indexed word and still match it: none below five
/// letters, one from five, two from nine (a swap of two neighbours is one edit).
pub fn typo_budget(word: &str) -> u8 {
    if word.len() > MAX_FUZZY_BYTES {
        return 0;
    }
    match word.chars().count() {
        0..=4 => 0,
        5..=8 => 1,
        _ => 2,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_fold_case_and_accents_and_drop_stop_words() {
        assert_eq!(words("A Café-Crème made of Oak!"), ["cafe", "creme", "made", "oak"]);
        assert_eq!(words("  "), Vec::<String>::new());
        assert_eq!(words("t-shirt 2XL"), ["t", "shirt", "2xl"]);
        assert_eq!(words("ÄPFEL straße"), ["apfel", "straße"]);
    }

    #[test]
    fn stems_join_forms_of_a_word() {
        assert_eq!(stem("jackets"), stem("jacket"));
        assert_eq!(stem("running"), stem("run"));
        assert_eq!(stem("headphones"), "headphon");
    }

    #[test]
    fn typo_budget_grows_with_the_word() {
        assert_eq!(typo_budget("mug"), 0);
        assert_eq!(typo_budget("lamp"), 0);
        assert_eq!(typo_budget("jaket"), 1);
        assert_eq!(typo_budget("leather"), 1);
        assert_eq!(typo_budget("headphone"), 2);
        assert_eq!(typo_budget(&"x".repeat(100)), 0);
    }
}
