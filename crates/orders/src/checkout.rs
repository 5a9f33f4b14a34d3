//! The checkout's decision as a pure function: from the cart's lines read under the variants'
//! row locks (so stock cannot change before the writes), the shipping method, the tax rate and
//! the promotions' evaluation (made under the promotions' locks), either a plan of exactly what
//! to write or the refusal. The adapter locks, calls [`plan`], and writes the plan: stock
//! decrements, ledger rows, the order with its discounts and line snapshots, the redemptions,
//! the events.

use cart::{LineSnapshot, PricedLine, Totals, apply_discounts, price_lines, totals};
use primitives::Money;
use promotions::Evaluation;
use uuid::Uuid;

use crate::OrderPromotion;
use crate::repo::{CheckoutRefusal, UnavailableLine};

/// What a checkout writes.
#[derive(Debug, Clone, PartialEq)]
pub struct CheckoutPlan {
    /// The order's lines, in the order they are numbered (1, 2, ...), their discounts set.
    pub lines: Vec<PricedLine>,
    pub totals: Totals,
    /// The promotions applied, in the order applied (each one a redemption).
    pub promotions: Vec<OrderPromotion>,
    /// Variants this sale takes to the low-stock threshold or below (from above it).
    pub low_stock: Vec<LowStock>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LowStock {
    pub variant_id: Uuid,
    pub product_id: Uuid,
    pub sku: String,
    pub stock_after: i32,
}

/// Plans the sale of `lines` (stock as read under lock), shipped for `shipping`, taxed at
/// `tax_rate_bp`, discounted as `promotions` (the evaluation of these lines) says. Refused when
/// the cart is empty, a line cannot be bought in its quantity, the currencies differ, or a code
/// entered on the cart does not apply.
pub fn plan(
    lines: &[LineSnapshot],
    shipping: Money,
    tax_rate_bp: i64,
    low_stock_threshold: i32,
    promotions: &Evaluation,
) -> Result<CheckoutPlan, CheckoutRefusal> {
    if lines.is_empty() {
        return Err(CheckoutRefusal::CartEmpty);
    }
    let mut priced = price_lines(lines);
    let unavailable: Vec<UnavailableLine> = priced
        .iter()
        .filter_map(|l| {
            l.issue.map(|issue| UnavailableLine { sku: l.sku.clone(), issue, available_quantity: l.available_quantity })
        })
        .collect();
    if !unavailable.is_empty() {
        return Err(CheckoutRefusal::LinesUnavailable { lines: unavailable });
    }
    if let Some((code, refusal)) = promotions.refused.first() {
        return Err(CheckoutRefusal::Promotion { promotion_code: code.clone(), refusal: *refusal });
    }
    apply_discounts(&mut priced, promotions);
    let totals = totals(&priced, shipping, promotions.shipping_discount_minor, tax_rate_bp)
        .map_err(|_| CheckoutRefusal::CurrencyMismatch)?;
    let cur = totals.total.currency;
    let applied = promotions
        .applied
        .iter()
        .map(|a| OrderPromotion {
            promotion_id: a.promotion_id,
            name: a.name.clone(),
            code: a.code.clone(),
            amount: Money::new(a.amount_minor, cur),
            shipping: Money::new(a.shipping_minor, cur),
            lines: a.lines_minor.iter().map(|m| Money::new(*m, cur)).collect(),
        })
        .collect();
    let low_stock = lines
        .iter()
        .filter_map(|l| {
            // Priced without an issue: the quantity is in stock, so this cannot go below zero.
            let stock_after = l.stock - l.quantity;
            crate::events::crossed_low_stock(stock_after, l.quantity, low_stock_threshold).then(|| LowStock {
                variant_id: l.variant_id,
                product_id: l.product_id,
                sku: l.sku.clone(),
                stock_after,
            })
        })
        .collect();
    Ok(CheckoutPlan { lines: priced, totals, promotions: applied, low_stock })
}

#[cfg(test)]
mod tests {
    use super::*;
    use primitives::Currency;

    fn eur() -> Currency {
        "EUR".parse().unwrap()
    }

    fn none() -> Evaluation {
        Evaluation::default()
    }

    fn line(n: u128, price: i64, quantity: i32, stock: i32) -> LineSnapshot {
        LineSnapshot {
            variant_id: Uuid::from_u128(n),
            product_id: Uuid::from_u128(100 + n),
            category_id: None,
            product_slug: format!("p{n}"),
            name: format!("P{n}"),
            sku: format!("SKU-{n}"),
            options: Default::default(),
            unit_price_minor: price,
            currency: eur(),
            quantity,
            stock,
            purchasable: true,
        }
    }

    #[test]
    fn plans_totals_and_low_stock_from_the_locked_lines() {
        let lines = [line(1, 1000, 2, 7), line(2, 250, 1, 100)];
        let p = plan(&lines, Money::new(490, eur()), 1900, 5, &Evaluation::default()).unwrap();
        assert_eq!(p.lines.len(), 2);
        assert_eq!(p.totals.subtotal.amount_minor, 2250);
        assert_eq!(p.totals.total.amount_minor, p.totals.subtotal.amount_minor + 490 + p.totals.tax.amount_minor);
        assert_eq!(
            p.low_stock,
            vec![LowStock {
                variant_id: Uuid::from_u128(1),
                product_id: Uuid::from_u128(101),
                sku: "SKU-1".into(),
                stock_after: 5
            }]
        );
    }

    #[test]
    fn refusals() {
        assert_eq!(plan(&[], Money::new(0, eur()), 0, 5, &none()), Err(CheckoutRefusal::CartEmpty));
        let short = plan(&[line(1, 1000, 3, 2)], Money::new(0, eur()), 0, 5, &none()).unwrap_err();
        assert!(matches!(short, CheckoutRefusal::LinesUnavailable { ref lines } if lines[0].available_quantity == 2));
        let usd = Money::new(0, "USD".parse().unwrap());
        assert_eq!(plan(&[line(1, 1000, 1, 9)], usd, 0, 5, &none()), Err(CheckoutRefusal::CurrencyMismatch));
    }

    #[test]
    fn discounts_are_planned_per_line_and_a_refused_code_refuses() {
        use promotions::{Applied, LineDiscount, Refusal};
        let lines = [line(1, 1000, 2, 50), line(2, 500, 1, 50)];
        let e = Evaluation {
            applied: vec![Applied {
                promotion_id: Uuid::from_u128(7),
                name: "Ten off".into(),
                code: Some("TEN".into()),
                lines_minor: vec![200, 50],
                shipping_minor: 490,
                amount_minor: 740,
            }],
            lines: vec![
                LineDiscount { discount_minor: 200, total_minor: 1800 },
                LineDiscount { discount_minor: 50, total_minor: 450 },
            ],
            lines_discount_minor: 250,
            shipping_discount_minor: 490,
            discount_minor: 740,
            refused: vec![],
        };
        let p = plan(&lines, Money::new(490, eur()), 1000, 5, &e).unwrap();
        assert_eq!(p.lines.iter().map(|l| l.discount.amount_minor).collect::<Vec<_>>(), vec![200, 50]);
        // 10 % tax on 25.00 + 4.90 - 7.40 = 22.50.
        assert_eq!(
            (p.totals.discount.amount_minor, p.totals.tax.amount_minor, p.totals.total.amount_minor),
            (740, 225, 2475)
        );
        assert_eq!(p.promotions[0].lines.iter().map(|m| m.amount_minor).sum::<i64>() + 490, 740);
        let refused = Evaluation { refused: vec![("OLD".into(), Refusal::Expired)], ..e };
        assert_eq!(
            plan(&lines, Money::new(490, eur()), 1000, 5, &refused),
            Err(CheckoutRefusal::Promotion { promotion_code: "OLD".into(), refusal: Refusal::Expired })
        );
    }

    #[test]
    fn stock_already_below_the_threshold_is_not_reported_again() {
        let p = plan(&[line(1, 100, 1, 4)], Money::new(0, eur()), 0, 5, &none()).unwrap();
        assert!(p.low_stock.is_empty());
    }
}
