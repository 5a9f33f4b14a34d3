//! The cart's invariants as pure decisions: one currency per cart, at most [`MAX_LINES`] lines,
//! each line's quantity between 1 and [`MAX_QUANTITY`]. The adapter loads the cart's lines under
//! the cart's row lock, asks one of these functions what to write, and writes exactly that, so
//! every path (add, set, merge, the merge at login) keeps the rules under any concurrency. The
//! database's constraints (a line's currency must be its cart's; a line count CHECK) are the
//! backstop.

use primitives::Currency;
use uuid::Uuid;

use crate::{CartError, LineSnapshot, MAX_CODES, MAX_LINES, MAX_QUANTITY};

/// What the rules need to know of a stored line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LineFact {
    pub variant_id: Uuid,
    pub quantity: i32,
    pub currency: Currency,
}

/// A line to write: its variant, its new total quantity and its currency.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LineWrite {
    pub variant_id: Uuid,
    pub quantity: i32,
    pub currency: Currency,
}

/// The currency the cart is in: that of its lines (an empty cart takes any).
pub fn cart_currency(lines: &[LineFact]) -> Option<Currency> {
    lines.first().map(|l| l.currency)
}

/// Adding `quantity` of `variant` (priced in `currency`) to a cart holding `lines`: the line to
/// write (quantities add up, capped at [`MAX_QUANTITY`]), or why not.
pub fn add(lines: &[LineFact], variant_id: Uuid, currency: Currency, quantity: i32) -> Result<LineWrite, CartError> {
    check_quantity(quantity)?;
    if let Some(held) = cart_currency(lines).filter(|c| *c != currency) {
        return Err(CartError::CurrencyMismatch(held));
    }
    let quantity = match lines.iter().find(|l| l.variant_id == variant_id) {
        Some(existing) => existing.quantity.saturating_add(quantity).min(MAX_QUANTITY),
        None if lines.len() >= MAX_LINES => return Err(CartError::TooManyLines(MAX_LINES)),
        None => quantity,
    };
    Ok(LineWrite { variant_id, quantity, currency })
}

/// The lines of a cart holding `held` (oldest first) once `write` of `item`'s variant is
/// written: the line it changes takes the new quantity, a new line comes last (lines are
/// written with the time the cart's lock was taken, so a later write sorts after every line
/// held). What the answer to an add shows without reading the cart again.
pub fn with_write(mut held: Vec<LineSnapshot>, write: &LineWrite, item: LineSnapshot) -> Vec<LineSnapshot> {
    match held.iter_mut().find(|l| l.variant_id == write.variant_id) {
        Some(line) => line.quantity = write.quantity,
        None => held.push(LineSnapshot { quantity: write.quantity, ..item }),
    }
    held
}

/// Entering `code` (normalised) on a cart holding `codes`: the codes to write, `None` when it
/// is there already, or why not (at most [`MAX_CODES`]).
pub fn add_code(codes: &[String], code: &str) -> Result<Option<Vec<String>>, CartError> {
    if codes.iter().any(|c| c == code) {
        return Ok(None);
    }
    if codes.len() >= MAX_CODES {
        return Err(CartError::TooManyCodes(MAX_CODES));
    }
    let mut out = codes.to_vec();
    out.push(code.to_owned());
    Ok(Some(out))
}

/// The codes of a cart that a guest cart is merged into: its own first, then the guest's that
/// it lacks, while there is room (a merge never fails over codes; the extra ones are dropped).
pub fn merge_codes(into: &[String], from: &[String]) -> Vec<String> {
    let mut out = into.to_vec();
    for c in from {
        if out.len() >= MAX_CODES {
            break;
        }
        if !out.contains(c) {
            out.push(c.clone());
        }
    }
    out
}

/// Putting the lines of a declined order back into its customer's cart, which holds `into`:
/// the lines to write. Unlike [`merge`] it never fails (the decline has happened; the cart
/// gets what fits): quantities add up, capped at [`MAX_QUANTITY`]; a line of another currency
/// than the cart's, or a new line past [`MAX_LINES`], is left out.
pub fn restore(into: &[LineFact], order_lines: &[LineFact]) -> Vec<LineWrite> {
    let Some(currency) = cart_currency(into).or_else(|| cart_currency(order_lines)) else { return Vec::new() };
    let mut count = into.len();
    let mut out: Vec<LineWrite> = Vec::new();
    for line in order_lines.iter().filter(|l| l.currency == currency && l.quantity > 0) {
        if let Some(w) = out.iter_mut().find(|w| w.variant_id == line.variant_id) {
            w.quantity = w.quantity.saturating_add(line.quantity).min(MAX_QUANTITY);
            continue;
        }
        let held = into.iter().find(|i| i.variant_id == line.variant_id).map(|i| i.quantity);
        if held.is_none() {
            if count >= MAX_LINES {
                continue;
            }
            count += 1;
        }
        let quantity = held.unwrap_or(0).saturating_add(line.quantity).clamp(1, MAX_QUANTITY);
        out.push(LineWrite { variant_id: line.variant_id, quantity, currency });
    }
    out
}

/// Setting a line's quantity: only an existing line, only within the bounds.
pub fn set_quantity(lines: &[LineFact], variant_id: Uuid, quantity: i32) -> Result<LineWrite, CartError> {
    check_quantity(quantity)?;
    let line = lines.iter().find(|l| l.variant_id == variant_id).ok_or(CartError::NotFound)?;
    Ok(LineWrite { variant_id, quantity, currency: line.currency })
}

/// Moving every line of `from` into `into`: the lines of `into` to write (new and changed ones),
/// or why the merge cannot happen. All or nothing: a merge that would mix currencies or pass the
/// line limit changes neither cart.
pub fn merge(into: &[LineFact], from: &[LineFact]) -> Result<Vec<LineWrite>, CartError> {
    let Some(theirs) = cart_currency(from) else { return Ok(Vec::new()) };
    if from.iter().any(|l| l.currency != theirs) {
        // A cart cannot hold two currencies (the database refuses it); refuse rather than guess.
        return Err(CartError::CurrencyMismatch(theirs));
    }
    if let Some(ours) = cart_currency(into).filter(|c| *c != theirs) {
        return Err(CartError::CurrencyMismatch(ours));
    }
    let new_lines = from.iter().filter(|f| !into.iter().any(|i| i.variant_id == f.variant_id)).count();
    if into.len() + new_lines > MAX_LINES {
        return Err(CartError::TooManyLines(MAX_LINES));
    }
    Ok(from
        .iter()
        .map(|f| {
            let held = into.iter().find(|i| i.variant_id == f.variant_id).map_or(0, |i| i.quantity);
            LineWrite {
                variant_id: f.variant_id,
                quantity: held.saturating_add(f.quantity).clamp(1, MAX_QUANTITY),
                currency: theirs,
            }
        })
        .collect())
}

fn check_quantity(quantity: i32) -> Result<(), CartError> {
    if (1..=MAX_QUANTITY).contains(&quantity) {
        Ok(())
    } else {
        Err(CartError::Invalid { field: "quantity", message: format!("must be between 1 and {MAX_QUANTITY}") })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn eur() -> Currency {
        "EUR".parse().unwrap()
    }
    fn usd() -> Currency {
        "USD".parse().unwrap()
    }
    fn id(n: u128) -> Uuid {
        Uuid::from_u128(n)
    }
    fn line(n: u128, quantity: i32, currency: Currency) -> LineFact {
        LineFact { variant_id: id(n), quantity, currency }
    }
    fn full(currency: Currency) -> Vec<LineFact> {
        (0..MAX_LINES as u128).map(|n| line(n, 1, currency)).collect()
    }

    #[test]
    fn add_keeps_one_currency() {
        assert_eq!(add(&[], id(1), usd(), 2).unwrap(), LineWrite { variant_id: id(1), quantity: 2, currency: usd() });
        assert!(
            matches!(add(&[line(1, 1, eur())], id(2), usd(), 1), Err(CartError::CurrencyMismatch(c)) if c == eur())
        );
    }

    #[test]
    fn add_sums_and_caps_quantities() {
        let lines = [line(1, 98, eur())];
        assert_eq!(add(&lines, id(1), eur(), 5).unwrap().quantity, MAX_QUANTITY);
        assert_eq!(add(&[line(1, 3, eur())], id(1), eur(), 4).unwrap().quantity, 7);
        assert!(matches!(add(&[], id(1), eur(), 0), Err(CartError::Invalid { field: "quantity", .. })));
        assert!(matches!(add(&[], id(1), eur(), i32::MAX), Err(CartError::Invalid { .. })));
        let near_max = [line(1, i32::MAX, eur())];
        assert_eq!(add(&near_max, id(1), eur(), 99).unwrap().quantity, MAX_QUANTITY, "no overflow");
    }

    fn snapshot(n: u128, quantity: i32) -> LineSnapshot {
        LineSnapshot {
            variant_id: id(n),
            product_id: id(100 + n),
            category_id: None,
            product_slug: format!("p{n}"),
            name: format!("P{n}"),
            sku: format!("S{n}"),
            options: Default::default(),
            unit_price_minor: 100,
            currency: eur(),
            quantity,
            stock: 5,
            purchasable: true,
        }
    }

    #[test]
    fn with_write_changes_the_held_line_in_place_or_appends_the_new_one() {
        let held = vec![snapshot(1, 2), snapshot(2, 1)];
        // More of a held line: its quantity changes, the order stays.
        let write = add(&[line(1, 2, eur()), line(2, 1, eur())], id(2), eur(), 3).unwrap();
        let after = with_write(held.clone(), &write, snapshot(2, 0));
        assert_eq!(after.iter().map(|l| (l.variant_id, l.quantity)).collect::<Vec<_>>(), [(id(1), 2), (id(2), 4)]);
        // A new line comes last with the written quantity, the item's other fields kept.
        let write = add(&[line(1, 2, eur()), line(2, 1, eur())], id(3), eur(), 5).unwrap();
        let after = with_write(held, &write, snapshot(3, 0));
        assert_eq!(
            after.iter().map(|l| (l.variant_id, l.quantity)).collect::<Vec<_>>(),
            [(id(1), 2), (id(2), 1), (id(3), 5)]
        );
        assert_eq!(after[2].sku, "S3");
        // The first line of an empty cart.
        let write = add(&[], id(7), eur(), 1).unwrap();
        assert_eq!(with_write(Vec::new(), &write, snapshot(7, 0)), vec![snapshot(7, 1)]);
    }

    #[test]
    fn add_refuses_a_new_line_to_a_full_cart_but_not_more_of_a_held_one() {
        let lines = full(eur());
        assert!(matches!(add(&lines, id(999), eur(), 1), Err(CartError::TooManyLines(MAX_LINES))));
        assert_eq!(add(&lines, id(0), eur(), 1).unwrap().quantity, 2);
    }

    #[test]
    fn set_quantity_needs_the_line_and_bounds() {
        let lines = [line(1, 3, eur())];
        assert_eq!(set_quantity(&lines, id(1), 9).unwrap().quantity, 9);
        assert!(matches!(set_quantity(&lines, id(2), 9), Err(CartError::NotFound)));
        assert!(matches!(set_quantity(&lines, id(1), 100), Err(CartError::Invalid { .. })));
    }

    #[test]
    fn merge_adds_quantities_and_keeps_the_rules() {
        let into = [line(1, 2, eur()), line(2, 98, eur())];
        let from = [line(2, 5, eur()), line(3, 1, eur())];
        let writes = merge(&into, &from).unwrap();
        assert_eq!(
            writes,
            vec![
                LineWrite { variant_id: id(2), quantity: 99, currency: eur() },
                LineWrite { variant_id: id(3), quantity: 1, currency: eur() },
            ]
        );
        assert_eq!(merge(&into, &[]).unwrap(), vec![]);
        assert_eq!(merge(&[], &from).unwrap().len(), 2);
        assert!(matches!(merge(&into, &[line(9, 1, usd())]), Err(CartError::CurrencyMismatch(c)) if c == eur()));
        assert!(matches!(merge(&[], &[line(1, 1, eur()), line(2, 1, usd())]), Err(CartError::CurrencyMismatch(_))));
    }

    #[test]
    fn restore_gives_back_what_fits_and_never_fails() {
        // Into an empty cart: everything, in the order's currency.
        let order = [line(1, 3, eur()), line(2, 1, eur())];
        assert_eq!(
            restore(&[], &order),
            vec![
                LineWrite { variant_id: id(1), quantity: 3, currency: eur() },
                LineWrite { variant_id: id(2), quantity: 1, currency: eur() },
            ]
        );
        // Into a cart that filled meanwhile: quantities add up to the cap, new lines up to the limit.
        let mut into = full(eur());
        into[1].quantity = 98;
        let writes = restore(&into, &[line(1, 5, eur()), line(500, 1, eur())]);
        assert_eq!(writes, vec![LineWrite { variant_id: id(1), quantity: MAX_QUANTITY, currency: eur() }]);
        // Another currency than the cart's is left out, not mixed in.
        assert_eq!(restore(&[line(9, 1, usd())], &order), vec![]);
        assert_eq!(restore(&[], &[]), vec![]);
        // Ninety-nine lines held: one new line fits, the second does not.
        let held: Vec<LineFact> = (0..99).map(|n| line(n, 1, eur())).collect();
        assert_eq!(restore(&held, &[line(200, 1, eur()), line(201, 1, eur())]).len(), 1);
    }

    #[test]
    fn merge_never_passes_the_line_limit() {
        let into: Vec<LineFact> = (0..60).map(|n| line(n, 1, eur())).collect();
        let overlapping: Vec<LineFact> = (20..60).map(|n| line(n, 1, eur())).collect();
        assert_eq!(merge(&into, &overlapping).unwrap().len(), 40, "lines already held do not count twice");
        let too_many: Vec<LineFact> = (40..101).map(|n| line(n, 1, eur())).collect();
        assert!(matches!(merge(&into, &too_many), Err(CartError::TooManyLines(MAX_LINES))));
        let exactly: Vec<LineFact> = (40..100).map(|n| line(n, 1, eur())).collect();
        assert_eq!(merge(&into, &exactly).unwrap().len(), 60);
    }

    use proptest::prelude::*;

    fn cart(currency: &'static str) -> impl Strategy<Value = Vec<LineFact>> {
        proptest::collection::btree_map(0u128..300, 1..=MAX_QUANTITY, 0..=MAX_LINES).prop_map(move |m| {
            m.into_iter()
                .map(|(v, q)| LineFact { variant_id: id(v), quantity: q, currency: currency.parse().unwrap() })
                .collect()
        })
    }

    fn holds(lines: &[LineFact], writes: &[LineWrite]) -> Result<(), TestCaseError> {
        let mut after: std::collections::BTreeMap<Uuid, (i32, Currency)> =
            lines.iter().map(|l| (l.variant_id, (l.quantity, l.currency))).collect();
        for w in writes {
            after.insert(w.variant_id, (w.quantity, w.currency));
        }
        prop_assert!(after.len() <= MAX_LINES);
        prop_assert!(after.values().all(|(q, _)| (1..=MAX_QUANTITY).contains(q)));
        let currencies: std::collections::BTreeSet<Currency> = after.values().map(|(_, c)| *c).collect();
        prop_assert!(currencies.len() <= 1);
        Ok(())
    }

    proptest! {
        /// Whatever the cart holds and whatever is asked, what the rules let through keeps every
        /// invariant: at most 100 lines, one currency, quantities 1..=99.
        #[test]
        fn adding_keeps_the_invariants(lines in cart("EUR"), v in 0u128..400, q in any::<i32>(), in_usd in any::<bool>()) {
            let currency = if in_usd { usd() } else { eur() };
            if let Ok(w) = add(&lines, id(v), currency, q) {
                holds(&lines, &[w])?;
            }
        }

        #[test]
        fn merging_keeps_the_invariants(into in cart("EUR"), from in prop_oneof![cart("EUR"), cart("USD")]) {
            match merge(&into, &from) {
                Ok(writes) => {
                    holds(&into, &writes)?;
                    prop_assert_eq!(writes.len(), from.len(), "every guest line moves");
                }
                Err(CartError::TooManyLines(_)) => {
                    let mut all: std::collections::BTreeSet<Uuid> = into.iter().map(|l| l.variant_id).collect();
                    all.extend(from.iter().map(|l| l.variant_id));
                    prop_assert!(all.len() > MAX_LINES);
                }
                Err(CartError::CurrencyMismatch(_)) => prop_assert!(!into.is_empty() && !from.is_empty() && from[0].currency != into[0].currency),
                Err(e) => prop_assert!(false, "unexpected {e}"),
            }
        }
    }
}
