//! The promotion engine through its public functions: each action and condition, the order of
//! application and stacking, caps, code refusals, and (proptest) the money invariants.

use std::collections::HashMap;

use chrono::{DateTime, Duration, TimeZone, Utc};
use primitives::Currency;
use promotions::{
    Action, CartLine, Conditions, Customer, Evaluation, Promotion, PromotionStatus, Refusal, Shopper, Usage, allocate,
    evaluate,
};
use proptest::prelude::*;
use uuid::Uuid;

fn eur() -> Currency {
    "EUR".parse().expect("currency")
}

fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 12, 3, 12, 0, 0).single().expect("time")
}

fn id(n: u128) -> Uuid {
    Uuid::from_u128(n)
}

fn line(n: u128, price: i64, quantity: i32) -> CartLine {
    CartLine {
        product_id: id(100 + n),
        variant_id: id(200 + n),
        category_id: Some(id(300)),
        unit_price_minor: price,
        quantity,
    }
}

fn promo(n: u128, action: Action) -> Promotion {
    Promotion {
        id: id(n),
        name: format!("promo {n}"),
        code: None,
        status: PromotionStatus::Active,
        starts_at: None,
        ends_at: None,
        priority: 0,
        combinable: true,
        conditions: Conditions::default(),
        action,
        max_discount_minor: None,
        usage_limit: None,
        per_customer_limit: None,
    }
}

fn coded(n: u128, code: &str, action: Action) -> Promotion {
    Promotion { code: Some(code.into()), ..promo(n, action) }
}

fn guest_with(codes: &[&str]) -> Shopper {
    Shopper { customer: None, codes: codes.iter().map(|c| (*c).to_owned()).collect() }
}

fn run(promotions: &[Promotion], lines: &[CartLine], shipping: i64, shopper: &Shopper) -> Evaluation {
    evaluate(promotions, lines, eur(), shipping, shopper, &HashMap::new(), now())
}

fn line_discounts(e: &Evaluation) -> Vec<i64> {
    e.lines.iter().map(|l| l.discount_minor).collect()
}

#[test]
fn percent_off_the_order_is_split_over_the_lines_to_the_cent() {
    // 10 % of 100.00 + 33.33 + 0.01 = 13.334 -> 13.33, split 10.00 / 3.33 / 0.00.
    let lines = [line(1, 10_000, 1), line(2, 3_333, 1), line(3, 1, 1)];
    let e = run(&[promo(1, Action::PercentOffOrder { percent_bp: 1_000 })], &lines, 490, &Shopper::default());
    assert_eq!(e.lines_discount_minor, 1_333);
    assert_eq!(line_discounts(&e), vec![1_000, 333, 0]);
    assert_eq!(e.applied[0].lines_minor.iter().sum::<i64>(), e.applied[0].amount_minor);
    assert_eq!(e.shipping_discount_minor, 0, "order percentages are off the lines, not the shipping");
}

#[test]
fn fixed_off_the_order_never_exceeds_the_lines() {
    let lines = [line(1, 700, 1), line(2, 300, 1)];
    let e = run(&[promo(1, Action::FixedOffOrder { amount_minor: 500 })], &lines, 0, &Shopper::default());
    assert_eq!(line_discounts(&e), vec![350, 150]);
    let e = run(&[promo(1, Action::FixedOffOrder { amount_minor: 5_000 })], &lines, 490, &Shopper::default());
    assert_eq!(line_discounts(&e), vec![700, 300], "the whole lines, no more");
    assert!(e.lines.iter().all(|l| l.total_minor == 0));
    assert_eq!(e.shipping_discount_minor, 0);
}

#[test]
fn line_actions_touch_only_matching_lines() {
    let lines = [line(1, 1_000, 2), line(2, 999, 1)];
    let only_first = Conditions { products: vec![id(101)], ..Default::default() };
    let percent =
        Promotion { conditions: only_first.clone(), ..promo(1, Action::PercentOffLines { percent_bp: 2_500 }) };
    assert_eq!(line_discounts(&run(&[percent], &lines, 0, &Shopper::default())), vec![500, 0]);
    let per_unit = Promotion { conditions: only_first, ..promo(1, Action::FixedOffUnits { amount_minor: 150 }) };
    assert_eq!(line_discounts(&run(&[per_unit], &lines, 0, &Shopper::default())), vec![300, 0]);
    let too_much = promo(1, Action::FixedOffUnits { amount_minor: 5_000 });
    assert_eq!(line_discounts(&run(&[too_much], &lines, 0, &Shopper::default())), vec![2_000, 999]);
}

#[test]
fn free_shipping_takes_the_shipping_and_counts_before_a_method_is_chosen() {
    let lines = [line(1, 1_000, 1)];
    let free = promo(1, Action::FreeShipping {});
    let e = run(std::slice::from_ref(&free), &lines, 490, &Shopper::default());
    assert_eq!((e.shipping_discount_minor, e.lines_discount_minor, e.discount_minor), (490, 0, 490));
    let before = run(&[free], &lines, 0, &Shopper::default());
    assert_eq!(before.applied.len(), 1, "shown as applied, worth 0 until shipping is priced");
}

#[test]
fn buy_two_get_one_frees_the_cheapest_of_each_three() {
    // Units, dearest first: 30 30 20 | 10 10 5 | 5 -> free: one 20, one 5; the last 5 is not in
    // a full block.
    let lines = [line(1, 3_000, 2), line(2, 2_000, 1), line(3, 1_000, 2), line(4, 500, 2)];
    let e = run(&[promo(1, Action::BuyXGetY { buy: 2, get: 1, percent_bp: 10_000 })], &lines, 0, &Shopper::default());
    assert_eq!(line_discounts(&e), vec![0, 2_000, 0, 500]);
    let half = run(
        &[promo(1, Action::BuyXGetY { buy: 1, get: 1, percent_bp: 5_000 })],
        &[line(1, 1_001, 2)],
        0,
        &Shopper::default(),
    );
    assert_eq!(line_discounts(&half), vec![501], "half of 10.01, rounded half away from zero");
    let too_few = run(
        &[coded(1, "B2G1", Action::BuyXGetY { buy: 2, get: 1, percent_bp: 10_000 })],
        &[line(1, 1_000, 2)],
        0,
        &guest_with(&["B2G1"]),
    );
    assert_eq!(too_few.refused, vec![("B2G1".to_owned(), Refusal::NotApplicable)], "nothing to take off");
}

#[test]
fn conditions_decide_who_and_what() {
    let lines = [line(1, 2_000, 1)];
    let group = id(900);
    let member = Customer { id: id(1), groups: vec![group], orders_placed: 3 };
    let newcomer = Customer { id: id(2), groups: vec![], orders_placed: 0 };
    let off = Action::PercentOffOrder { percent_bp: 1_000 };
    let with = |conditions: Conditions| Promotion { conditions, ..coded(1, "TEN", off) };
    let applies = |p: &Promotion, customer: Option<Customer>| {
        run(std::slice::from_ref(p), &lines, 0, &Shopper { customer, codes: vec!["TEN".into()] }).discount_minor > 0
    };

    let min = with(Conditions { min_subtotal_minor: Some(2_000), ..Default::default() });
    assert!(applies(&min, None));
    let min_more = with(Conditions { min_subtotal_minor: Some(2_001), ..Default::default() });
    assert!(!applies(&min_more, None));

    let usd = with(Conditions { currency: Some("USD".parse().expect("usd")), ..Default::default() });
    assert!(!applies(&usd, None));

    let for_group = with(Conditions { customer_group: Some(group), ..Default::default() });
    assert!(applies(&for_group, Some(member.clone())));
    assert!(!applies(&for_group, Some(newcomer.clone())));
    assert!(!applies(&for_group, None), "guests are in no group");

    let first = with(Conditions { first_order_only: true, ..Default::default() });
    assert!(applies(&first, Some(newcomer)));
    assert!(!applies(&first, Some(member)));
    assert!(!applies(&first, None));

    let by_category = with(Conditions { categories: vec![id(300)], ..Default::default() });
    assert!(applies(&by_category, None));
    let elsewhere = with(Conditions { categories: vec![id(301)], variants: vec![id(999)], ..Default::default() });
    assert!(!applies(&elsewhere, None), "targets: at least one line must match");
}

#[test]
fn codes_are_refused_with_their_reason() {
    let lines = [line(1, 1_000, 1)];
    let off = Action::FixedOffOrder { amount_minor: 100 };
    let future = Promotion { starts_at: Some(now() + Duration::hours(1)), ..coded(1, "SOON", off) };
    let past = Promotion { ends_at: Some(now()), ..coded(2, "GONE", off) };
    let paused = Promotion { status: PromotionStatus::Paused, ..coded(3, "PAUSED", off) };
    let used_up = Promotion { usage_limit: Some(1), ..coded(4, "ONCE", off) };
    let per_customer = Promotion { per_customer_limit: Some(1), ..coded(5, "MINE", off) };
    let all = [future, past, paused, used_up, per_customer];
    let usage: HashMap<Uuid, Usage> =
        [(id(4), Usage { total: 1, by_customer: 0 }), (id(5), Usage { total: 7, by_customer: 1 })].into();
    let customer = Customer { id: id(77), ..Default::default() };
    let codes = ["SOON", "GONE", "PAUSED", "ONCE", "MINE", "NOPE"];
    let shopper = Shopper { customer: Some(customer), codes: codes.iter().map(|c| (*c).to_owned()).collect() };
    let e = evaluate(&all, &lines, eur(), 0, &shopper, &usage, now());
    assert_eq!(e.discount_minor, 0);
    let why: Vec<Refusal> = e.refused.iter().map(|(_, r)| *r).collect();
    assert_eq!(
        why,
        vec![
            Refusal::NotYetValid,
            Refusal::Expired,
            Refusal::UnknownCode,
            Refusal::LimitReached,
            Refusal::LimitReached,
            Refusal::UnknownCode
        ]
    );
    // The window's edges: valid from `starts_at`, no longer at `ends_at`.
    let edge =
        Promotion { starts_at: Some(now()), ends_at: Some(now() + Duration::seconds(1)), ..coded(6, "EDGE", off) };
    assert_eq!(run(&[edge], &lines, 0, &guest_with(&["EDGE"])).discount_minor, 100);
    // An automatic promotion that does not apply is not a refusal.
    let auto = Promotion { usage_limit: Some(0), ..promo(7, off) };
    assert!(run(&[auto], &lines, 0, &Shopper::default()).refused.is_empty());
}

#[test]
fn stacking_follows_priority_then_id_never_arrival() {
    let lines = [line(1, 10_000, 1)];
    let ten = Promotion { priority: 1, ..promo(1, Action::PercentOffOrder { percent_bp: 1_000 }) };
    let five_off = Promotion { priority: 2, ..promo(2, Action::FixedOffOrder { amount_minor: 500 }) };
    // 10 % of 100.00, then 5.00 of the 90.00 left.
    let e = run(&[five_off.clone(), ten.clone()], &lines, 0, &Shopper::default());
    assert_eq!(e.applied.iter().map(|a| a.amount_minor).collect::<Vec<_>>(), vec![1_000, 500]);
    assert_eq!(e, run(&[ten.clone(), five_off.clone()], &lines, 0, &Shopper::default()), "input order is irrelevant");
    // The other way round when the priorities are: 5.00, then 10 % of 95.00.
    let first = Promotion { priority: 0, ..five_off };
    let e = run(&[ten.clone(), first], &lines, 0, &Shopper::default());
    assert_eq!(e.applied.iter().map(|a| a.amount_minor).collect::<Vec<_>>(), vec![500, 950]);
    // Equal priorities: by id.
    let a = promo(5, Action::FixedOffOrder { amount_minor: 100 });
    let b = promo(4, Action::PercentOffOrder { percent_bp: 5_000 });
    let e = run(&[a, b], &lines, 0, &Shopper::default());
    assert_eq!(e.applied[0].promotion_id, id(4));
}

#[test]
fn a_promotion_that_does_not_combine_applies_alone() {
    let lines = [line(1, 10_000, 1)];
    let exclusive = Promotion { combinable: false, ..coded(1, "SOLO", Action::PercentOffOrder { percent_bp: 2_000 }) };
    let auto = Promotion { priority: 5, ..promo(2, Action::FreeShipping {}) };
    let e = run(&[exclusive.clone(), auto.clone()], &lines, 490, &guest_with(&["SOLO"]));
    assert_eq!((e.lines_discount_minor, e.shipping_discount_minor), (2_000, 0), "applied first: nothing after it");
    // Applied after another one: refused.
    let late = Promotion { priority: 10, ..exclusive };
    let e = run(&[late, auto], &lines, 490, &guest_with(&["SOLO"]));
    assert_eq!((e.lines_discount_minor, e.shipping_discount_minor), (0, 490));
    assert_eq!(e.refused, vec![("SOLO".to_owned(), Refusal::NotCombinable)]);
}

#[test]
fn the_cap_bounds_lines_and_shipping_together() {
    let lines = [line(1, 6_000, 1), line(2, 4_000, 1)];
    let capped =
        Promotion { max_discount_minor: Some(1_001), ..promo(1, Action::PercentOffOrder { percent_bp: 5_000 }) };
    let e = run(&[capped], &lines, 0, &Shopper::default());
    assert_eq!(line_discounts(&e), vec![601, 400]);
    let free = Promotion { max_discount_minor: Some(300), ..promo(1, Action::FreeShipping {}) };
    assert_eq!(run(&[free], &lines, 490, &Shopper::default()).shipping_discount_minor, 300);
}

#[test]
fn allocation_is_exact_and_deterministic() {
    assert_eq!(allocate(100, &[100, 100, 100]), vec![34, 33, 33], "ties go to the earlier part");
    assert_eq!(allocate(2, &[1, 1, 1]), vec![1, 1, 0]);
    assert_eq!(allocate(10, &[0, 0]), vec![0, 0]);
    assert_eq!(allocate(10, &[3, 2]), vec![3, 2], "never more than the weights");
    assert_eq!(allocate(-5, &[3, 2]), vec![0, 0]);
    assert_eq!(allocate(i64::MAX, &[i64::MAX, i64::MAX]), vec![i64::MAX / 2 + 1, i64::MAX / 2], "no overflow");
}

fn arb_action() -> impl Strategy<Value = Action> {
    prop_oneof![
        (1i64..=10_000).prop_map(|percent_bp| Action::PercentOffOrder { percent_bp }),
        (0i64..100_000).prop_map(|amount_minor| Action::FixedOffOrder { amount_minor }),
        (1i64..=10_000).prop_map(|percent_bp| Action::PercentOffLines { percent_bp }),
        (0i64..5_000).prop_map(|amount_minor| Action::FixedOffUnits { amount_minor }),
        Just(Action::FreeShipping {}),
        (1i32..4, 1i32..3, 1i64..=10_000).prop_map(|(buy, get, percent_bp)| Action::BuyXGetY { buy, get, percent_bp }),
    ]
}

fn arb_promotion() -> impl Strategy<Value = Promotion> {
    (1u128..50, arb_action(), -3i32..3, any::<bool>(), proptest::option::of(0i64..20_000), 0u128..4).prop_map(
        |(n, action, priority, combinable, cap, target)| Promotion {
            priority,
            combinable,
            max_discount_minor: cap,
            conditions: Conditions {
                products: if target == 0 { vec![] } else { vec![id(100 + target)] },
                ..Default::default()
            },
            ..promo(n, action)
        },
    )
}

proptest! {
    #[test]
    fn discounts_sum_exactly_and_never_go_below_zero(
        prices in proptest::collection::vec((0i64..50_000, 1i32..=99), 1..8),
        promos in proptest::collection::vec(arb_promotion(), 0..6).prop_map(|ps| {
            ps.into_iter().enumerate().map(|(i, p)| Promotion { id: id(i as u128 + 1), ..p }).collect::<Vec<_>>()
        }),
        shipping in 0i64..3_000,
    ) {
        let lines: Vec<CartLine> =
            prices.iter().enumerate().map(|(i, (p, q))| line(i as u128 + 1, *p, *q)).collect();
        let e = run(&promos, &lines, shipping, &Shopper::default());
        for (l, d) in lines.iter().zip(&e.lines) {
            let total = l.unit_price_minor * i64::from(l.quantity);
            prop_assert!(d.discount_minor >= 0 && d.discount_minor <= total);
            prop_assert_eq!(d.discount_minor + d.total_minor, total);
        }
        prop_assert!(e.shipping_discount_minor >= 0 && e.shipping_discount_minor <= shipping);
        let applied: i64 = e.applied.iter().map(|a| a.amount_minor).sum();
        prop_assert_eq!(applied, e.discount_minor);
        prop_assert_eq!(e.lines_discount_minor + e.shipping_discount_minor, e.discount_minor);
        for a in &e.applied {
            prop_assert_eq!(a.lines_minor.iter().sum::<i64>() + a.shipping_minor, a.amount_minor);
            if let Some(p) = promos.iter().find(|p| p.id == a.promotion_id) {
                prop_assert!(p.max_discount_minor.is_none_or(|cap| a.amount_minor <= cap));
            }
        }
        for (i, d) in e.lines.iter().enumerate() {
            let per_line: i64 = e.applied.iter().map(|a| a.lines_minor[i]).sum();
            prop_assert_eq!(per_line, d.discount_minor);
        }
        // At most one promotion that does not combine, and then alone.
        let exclusive = e.applied.iter().filter(|a| promos.iter().any(|p| p.id == a.promotion_id && !p.combinable)).count();
        prop_assert!(exclusive == 0 || e.applied.len() == 1);
        // Arrival order does not matter.
        let mut reversed = promos.clone();
        reversed.reverse();
        prop_assert_eq!(&run(&reversed, &lines, shipping, &Shopper::default()), &e);
        // Nor does the order of the lines: each keeps its own result.
        let backwards: Vec<CartLine> = lines.iter().rev().cloned().collect();
        let mut b = run(&promos, &backwards, shipping, &Shopper::default());
        b.lines.reverse();
        for a in &mut b.applied {
            a.lines_minor.reverse();
        }
        prop_assert_eq!(&b, &e);
    }

    #[test]
    fn allocation_sums_to_the_total_within_the_weights(
        total in -10i64..1_000_000,
        weights in proptest::collection::vec(0i64..100_000, 0..12),
    ) {
        let parts = allocate(total, &weights);
        let sum: i64 = weights.iter().sum();
        prop_assert_eq!(parts.iter().sum::<i64>(), total.clamp(0, sum));
        prop_assert!(parts.iter().zip(&weights).all(|(p, w)| *p >= 0 && p <= w));
    }
}
