//! Server-side pricing: the only place totals are computed (the cart view and checkout both use
//! it). Integer minor units throughout; tax is a rate in basis points applied to subtotal plus
//! shipping and rounded half away from zero.

use primitives::Money;
use serde::{Deserialize, Serialize};

use promotions::Evaluation;

use crate::{LineIssue, LineSnapshot, PricedLine};

/// Prices each line at its current price and flags lines that cannot be bought as they are.
pub fn price_lines(lines: &[LineSnapshot]) -> Vec<PricedLine> {
    lines
        .iter()
        .map(|l| {
            let unit = Money::new(l.unit_price_minor, l.currency);
            let line_total = unit.checked_mul(i64::from(l.quantity)).unwrap_or(unit);
            let issue = if !l.purchasable {
                Some(LineIssue::Unavailable)
            } else if l.stock <= 0 {
                Some(LineIssue::OutOfStock)
            } else if l.stock < l.quantity {
                Some(LineIssue::InsufficientStock)
            } else {
                None
            };
            PricedLine {
                variant_id: l.variant_id,
                product_id: l.product_id,
                product_slug: l.product_slug.clone(),
                name: l.name.clone(),
                sku: l.sku.clone(),
                options: l.options.clone(),
                unit_price: unit,
                quantity: l.quantity,
                line_total,
                discount: Money::zero(l.currency),
                discounted_total: line_total,
                available_quantity: if l.purchasable { l.stock.max(0) } else { 0 },
                issue,
            }
        })
        .collect()
}

/// The lines as the promotions engine sees them, in the same order.
pub fn promotion_lines(lines: &[LineSnapshot]) -> Vec<promotions::CartLine> {
    lines
        .iter()
        .map(|l| promotions::CartLine {
            product_id: l.product_id,
            variant_id: l.variant_id,
            category_id: l.category_id,
            unit_price_minor: l.unit_price_minor,
            quantity: l.quantity,
        })
        .collect()
}

/// Sets each line's discount from an evaluation of these lines (in the same order).
pub fn apply_discounts(lines: &mut [PricedLine], e: &Evaluation) {
    for (line, d) in lines.iter_mut().zip(&e.lines) {
        let cur = line.line_total.currency;
        let discount = d.discount_minor.clamp(0, line.line_total.amount_minor.max(0));
        line.discount = Money::new(discount, cur);
        line.discounted_total = Money::new(line.line_total.amount_minor - discount, cur);
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Totals {
    pub subtotal: Money,
    pub shipping: Money,
    /// Lines' discounts plus the shipping's.
    pub discount: Money,
    pub tax: Money,
    pub total: Money,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TotalsError {
    #[error("lines and shipping are in different currencies")]
    CurrencyMismatch,
    #[error("amount out of range")]
    Overflow,
}

/// Totals of priced lines (all in one currency, their discounts set) plus shipping, less
/// `shipping_discount_minor` of it, and tax on what is left:
/// `total = subtotal + shipping - discount + tax`.
pub fn totals(
    lines: &[PricedLine],
    shipping: Money,
    shipping_discount_minor: i64,
    tax_rate_bp: i64,
) -> Result<Totals, TotalsError> {
    let currency = shipping.currency;
    let zero = Money::zero(currency);
    let (subtotal, lines_discount) = lines.iter().try_fold((zero, zero), |(sub, disc), l| {
        if l.line_total.currency != currency || l.discount.currency != currency {
            return Err(TotalsError::CurrencyMismatch);
        }
        let sub = sub.checked_add(l.line_total).ok_or(TotalsError::Overflow)?;
        Ok((sub, disc.checked_add(l.discount).ok_or(TotalsError::Overflow)?))
    })?;
    let shipping_discount = Money::new(shipping_discount_minor.clamp(0, shipping.amount_minor.max(0)), currency);
    let discount = lines_discount.checked_add(shipping_discount).ok_or(TotalsError::Overflow)?;
    let gross = subtotal.checked_add(shipping).ok_or(TotalsError::Overflow)?;
    let taxable = Money::new(
        gross.amount_minor.checked_sub(discount.amount_minor).ok_or(TotalsError::Overflow)?.max(0),
        currency,
    );
    let tax = taxable.percent_bp(tax_rate_bp).ok_or(TotalsError::Overflow)?;
    let total = taxable.checked_add(tax).ok_or(TotalsError::Overflow)?;
    Ok(Totals { subtotal, shipping, discount, tax, total })
}

#[cfg(test)]
mod tests {
    use super::*;
    use primitives::Currency;
    use uuid::Uuid;

    fn eur() -> Currency {
        "EUR".parse().expect("valid")
    }

    fn line(price: i64, qty: i32, stock: i32, purchasable: bool) -> LineSnapshot {
        LineSnapshot {
            variant_id: Uuid::new_v4(),
            product_id: Uuid::new_v4(),
            category_id: None,
            product_slug: "p".into(),
            name: "P".into(),
            sku: "P".into(),
            options: Default::default(),
            unit_price_minor: price,
            currency: eur(),
            quantity: qty,
            stock,
            purchasable,
        }
    }

    #[test]
    fn totals_are_exact_to_the_cent() {
        // 3 x 19.99 + 1 x 0.05 = 60.02; shipping 4.90; 19% tax on 64.92 = 12.3348 -> 12.33
        let priced = price_lines(&[line(1999, 3, 10, true), line(5, 1, 10, true)]);
        let t = totals(&priced, Money::new(490, eur()), 0, 1900).expect("totals");
        assert_eq!(t.subtotal.amount_minor, 6002);
        assert_eq!(t.tax.amount_minor, 1233);
        assert_eq!(t.total.amount_minor, 6002 + 490 + 1233);
    }

    #[test]
    fn discounts_come_off_before_tax() {
        // 2 x 10.00 with 3.00 off the line and 4.90 shipping free: 19% of 17.00 = 3.23.
        let mut priced = price_lines(&[line(1000, 2, 10, true)]);
        let e = promotions::Evaluation {
            lines: vec![promotions::LineDiscount { discount_minor: 300, total_minor: 1700 }],
            ..Default::default()
        };
        apply_discounts(&mut priced, &e);
        assert_eq!((priced[0].discount.amount_minor, priced[0].discounted_total.amount_minor), (300, 1700));
        let t = totals(&priced, Money::new(490, eur()), 490, 1900).expect("totals");
        assert_eq!((t.subtotal.amount_minor, t.discount.amount_minor, t.tax.amount_minor), (2000, 790, 323));
        assert_eq!(t.total.amount_minor, 2000 + 490 - 790 + 323);
        // A shipping discount beyond the shipping is only the shipping.
        assert_eq!(totals(&priced, Money::new(490, eur()), 9_999, 0).expect("totals").discount.amount_minor, 790);
    }

    #[test]
    fn lines_are_flagged_not_dropped() {
        let priced =
            price_lines(&[line(100, 2, 0, true), line(100, 5, 3, true), line(100, 1, 9, false), line(100, 1, 9, true)]);
        let issues: Vec<_> = priced.iter().map(|l| l.issue).collect();
        assert_eq!(
            issues,
            vec![Some(LineIssue::OutOfStock), Some(LineIssue::InsufficientStock), Some(LineIssue::Unavailable), None]
        );
        assert_eq!(priced[1].available_quantity, 3);
        assert_eq!(priced[2].available_quantity, 0);
    }

    #[test]
    fn mixed_currencies_are_refused() {
        let priced = price_lines(&[line(100, 1, 1, true)]);
        let usd: Currency = "USD".parse().expect("valid");
        assert_eq!(totals(&priced, Money::new(0, usd), 0, 0), Err(TotalsError::CurrencyMismatch));
    }
}
