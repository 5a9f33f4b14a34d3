//! A small insertion-ordered map that forgets its oldest entries past a fixed capacity.

use std::borrow::Borrow;
use std::collections::{HashMap, VecDeque};
use std::hash::Hash;

#[derive(Debug)]
pub(crate) struct BoundedMap<K, V> {
    capacity: usize,
    entries: HashMap<K, V>,
    order: VecDeque<K>,
}

impl<K: Eq + Hash + Clone, V> BoundedMap<K, V> {
    pub(crate) fn new(capacity: usize) -> Self {
        Self { capacity: capacity.max(1), entries: HashMap::new(), order: VecDeque::new() }
    }

    pub(crate) fn get<Q>(&self, key: &Q) -> Option<&V>
    where
        K: Borrow<Q>,
        Q: Eq + Hash + ?Sized,
    {
        self.entries.get(key)
    }

    /// Returns the value stored under `key`, inserting `value` first if there is none (evicting
    /// the oldest entry when full).
    pub(crate) fn get_or_insert(&mut self, key: K, value: V) -> &V {
        if !self.entries.contains_key(&key) {
            while self.entries.len() >= self.capacity {
                match self.order.pop_front() {
                    Some(oldest) => {
                        self.entries.remove(&oldest);
                    }
                    None => break,
                }
            }
            self.order.push_back(key.clone());
            self.entries.insert(key.clone(), value);
        }
        &self.entries[&key]
    }

    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }
}

#[cfg(test)]
mod tests {
    use super::BoundedMap;

    #[test]
    fn keeps_the_first_value_and_evicts_the_oldest() {
        let mut m = BoundedMap::new(2);
        assert_eq!(*m.get_or_insert("a", 1), 1);
        assert_eq!(*m.get_or_insert("a", 9), 1);
        m.get_or_insert("b", 2);
        m.get_or_insert("c", 3);
        assert_eq!(m.len(), 2);
        assert_eq!(m.get(&"a"), None);
        assert_eq!(m.get(&"b"), Some(&2));
        assert_eq!(m.get(&"c"), Some(&3));
    }
}
