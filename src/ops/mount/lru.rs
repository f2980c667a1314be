//! A least-recently-used map with a cost budget: what the mount keeps of decoded trees and
//! chunks for its next requests, never more than the budget.

use std::collections::{BTreeMap, HashMap};
use std::hash::Hash;

/// Values by key; inserting past the budget drops the least recently used others first.
pub(super) struct Lru<K, V> {
    map: HashMap<K, Slot<V>>,
    /// Keys by the tick of their last use, oldest first.
    order: BTreeMap<u64, K>,
    budget: u64,
    cost: u64,
    tick: u64,
}

struct Slot<V> {
    value: V,
    cost: u64,
    used: u64,
}

impl<K: Hash + Eq + Clone, V: Clone> Lru<K, V> {
    pub(super) fn new(budget: u64) -> Self {
        Self { map: HashMap::new(), order: BTreeMap::new(), budget, cost: 0, tick: 0 }
    }

    /// The value of `key`, now the most recently used.
    pub(super) fn get(&mut self, key: &K) -> Option<V> {
        self.tick += 1;
        let slot = self.map.get_mut(key)?;
        self.order.remove(&slot.used);
        slot.used = self.tick;
        self.order.insert(self.tick, key.clone());
        Some(slot.value.clone())
    }

    /// Keeps `value` under `key` (replacing what it held), then drops the least recently used
    /// others until the total cost is within the budget. A value that alone costs more than the
    /// budget is not kept.
    pub(super) fn insert(&mut self, key: K, value: V, cost: u64) {
        self.remove(&key);
        if cost > self.budget {
            return;
        }
        while self.cost + cost > self.budget {
            let Some((_, oldest)) = self.order.pop_first() else { break };
            if let Some(s) = self.map.remove(&oldest) {
                self.cost -= s.cost;
            }
        }
        self.tick += 1;
        self.order.insert(self.tick, key.clone());
        self.map.insert(key, Slot { value, cost, used: self.tick });
        self.cost += cost;
    }

    pub(super) fn remove(&mut self, key: &K) {
        if let Some(s) = self.map.remove(key) {
            self.order.remove(&s.used);
            self.cost -= s.cost;
        }
    }

    #[cfg(test)]
    fn cost(&self) -> u64 {
        self.cost
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.map.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn drops_the_least_recently_used_first() {
        let mut l = Lru::new(3);
        l.insert("a", 1, 1);
        l.insert("b", 2, 1);
        l.insert("c", 3, 1);
        assert_eq!(l.get(&"a"), Some(1));
        l.insert("d", 4, 1);
        assert_eq!(l.get(&"b"), None, "b was used least recently");
        assert_eq!((l.get(&"a"), l.get(&"c"), l.get(&"d")), (Some(1), Some(3), Some(4)));
        l.insert("e", 5, 2);
        assert_eq!((l.get(&"a"), l.get(&"c"), l.get(&"d"), l.get(&"e")), (None, None, Some(4), Some(5)));
    }

    #[test]
    fn a_value_larger_than_the_budget_is_not_kept_and_evicts_nothing() {
        let mut l = Lru::new(10);
        l.insert(1, "x", 4);
        l.insert(2, "huge", 11);
        assert_eq!((l.get(&1), l.get(&2)), (Some("x"), None));
        assert_eq!(l.cost(), 4);
    }

    proptest! {
        /// Whatever the sequence, the cost stays within the budget, the books balance, and the
        /// value just inserted is there unless it alone is over budget.
        #[test]
        fn stays_within_budget(ops in proptest::collection::vec((0u8..16, 0u64..8, any::<bool>()), 0..200)) {
            let mut l = Lru::new(20);
            for (k, cost, get) in ops {
                if get {
                    let _ = l.get(&k);
                } else {
                    l.insert(k, u64::from(k) * 100 + cost, cost);
                    prop_assert_eq!(l.get(&k), Some(u64::from(k) * 100 + cost));
                }
                prop_assert!(l.cost() <= 20);
                prop_assert_eq!(l.cost(), l.map.values().map(|s| s.cost).sum::<u64>());
                prop_assert_eq!(l.len(), l.order.len());
            }
        }
    }
}
