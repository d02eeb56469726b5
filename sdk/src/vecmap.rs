//! A map kept as a sorted vector: for the engine's few, small maps, where a
//! B-tree's code (several KB per instantiation in the wasm bundle) buys nothing.

#[derive(Debug)]
pub struct VecMap<K, V>(Vec<(K, V)>);

impl<K, V> Default for VecMap<K, V> {
    fn default() -> Self {
        Self(Vec::new())
    }
}

impl<K: Ord + Copy, V> VecMap<K, V> {
    fn find(&self, key: &K) -> Result<usize, usize> {
        self.0.binary_search_by(|(k, _)| k.cmp(key))
    }

    pub fn insert(&mut self, key: K, value: V) {
        match self.find(&key) {
            Ok(at) => self.0[at].1 = value,
            Err(at) => self.0.insert(at, (key, value)),
        }
    }

    pub fn get(&self, key: &K) -> Option<&V> {
        self.find(key).ok().map(|at| &self.0[at].1)
    }

    pub fn get_mut(&mut self, key: &K) -> Option<&mut V> {
        self.find(key).ok().map(|at| &mut self.0[at].1)
    }

    pub fn remove(&mut self, key: &K) -> Option<V> {
        self.find(key).ok().map(|at| self.0.remove(at).1)
    }

    pub fn contains_key(&self, key: &K) -> bool {
        self.find(key).is_ok()
    }

    pub fn keys(&self) -> impl Iterator<Item = &K> {
        self.0.iter().map(|(k, _)| k)
    }

    pub fn values(&self) -> impl Iterator<Item = &V> {
        self.0.iter().map(|(_, v)| v)
    }

    pub fn clear(&mut self) {
        self.0.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::VecMap;

    #[test]
    fn behaves_like_a_sorted_map() {
        let mut map = VecMap::default();
        for k in [5, 1, 3, 1] {
            map.insert(k, k * 10);
        }
        assert_eq!(map.keys().copied().collect::<Vec<_>>(), [1, 3, 5]);
        assert_eq!(map.get(&3), Some(&30));
        *map.get_mut(&5).unwrap() += 1;
        assert_eq!(map.remove(&5), Some(51));
        assert!(!map.contains_key(&5) && map.contains_key(&1));
        assert_eq!(map.values().sum::<i32>(), 40);
        map.clear();
        assert!(map.get(&1).is_none());
    }
}
