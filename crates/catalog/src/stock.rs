//! Stock arithmetic as a pure decision: what a manual adjustment leaves, or why it cannot be made.
//! The adapter reads the stock under the variant's row lock and writes what this returns; the
//! `CHECK (stock >= 0)` constraint is the backstop.

use crate::CatalogError;

/// The most stock an adjustment may leave. Well under `i32::MAX`, so that the stock sold and later
/// returned by cancellations (which are never refused) always fits the column.
pub const MAX_STOCK: i32 = 1_000_000_000;

/// The stock after adding `delta` (negative: taking away) to `stock`.
pub fn adjusted(stock: i32, delta: i32) -> Result<i32, CatalogError> {
    let after = i64::from(stock) + i64::from(delta);
    if after < 0 {
        return Err(CatalogError::InsufficientStock { available: stock });
    }
    if after > i64::from(MAX_STOCK) {
        return Err(CatalogError::Invalid {
            field: "delta",
            message: format!("would take the stock to {after}; at most {MAX_STOCK} units are held"),
        });
    }
    // In range by the two checks above.
    Ok(after as i32)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn adjustments_stay_within_zero_and_the_maximum() {
        assert_eq!(adjusted(5, 3).unwrap(), 8);
        assert_eq!(adjusted(5, -5).unwrap(), 0);
        assert!(matches!(adjusted(5, -6), Err(CatalogError::InsufficientStock { available: 5 })));
        assert_eq!(adjusted(MAX_STOCK - 1, 1).unwrap(), MAX_STOCK);
        assert!(matches!(adjusted(MAX_STOCK, 1), Err(CatalogError::Invalid { field: "delta", .. })));
        assert!(matches!(adjusted(i32::MAX, i32::MAX), Err(CatalogError::Invalid { .. })));
        assert!(matches!(adjusted(0, i32::MIN), Err(CatalogError::InsufficientStock { available: 0 })));
    }

    use proptest::prelude::*;

    proptest! {
        /// For any stock a variant can hold and any delta a client can send: the exact new stock
        /// when it lies in 0..=MAX_STOCK, a refusal otherwise.
        #[test]
        fn adjustments_are_exact_or_refused(stock in 0..=i32::MAX, delta in any::<i32>()) {
            let exact = i64::from(stock) + i64::from(delta);
            match adjusted(stock, delta) {
                Ok(after) => {
                    prop_assert_eq!(i64::from(after), exact);
                    prop_assert!((0..=i64::from(MAX_STOCK)).contains(&exact));
                }
                Err(CatalogError::InsufficientStock { available }) => {
                    prop_assert!(exact < 0);
                    prop_assert_eq!(available, stock);
                }
                Err(_) => prop_assert!(exact > i64::from(MAX_STOCK)),
            }
        }
    }
}
