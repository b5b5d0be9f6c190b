//! Stable resources, tracked in this process's memory as Orthanc does (≥ 1.9.2): a patient,
//! study or series that received no new instance for `StableAge` seconds becomes stable, which
//! logs a `Stable*` change. Resources not tracked (e.g. stored before a restart) are stable.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use stowage_core::ResourceType;

pub struct StableTracker {
    age: Duration,
    unstable: Mutex<HashMap<String, (ResourceType, Instant)>>,
}

impl StableTracker {
    pub fn new(age: Duration) -> Self {
        StableTracker {
            age,
            unstable: Mutex::new(HashMap::new()),
        }
    }

    fn map(&self) -> std::sync::MutexGuard<'_, HashMap<String, (ResourceType, Instant)>> {
        self.unstable.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A resource received a new instance: its stability countdown restarts.
    pub fn touch(&self, level: ResourceType, public_id: &str) {
        self.map()
            .insert(public_id.to_owned(), (level, Instant::now() + self.age));
    }

    pub fn is_stable(&self, public_id: &str) -> bool {
        !self.map().contains_key(public_id)
    }

    pub fn forget(&self, public_id: &str) {
        self.map().remove(public_id);
    }

    /// Removes and returns the resources whose countdown has expired.
    pub fn take_expired(&self) -> Vec<(ResourceType, String)> {
        let now = Instant::now();
        let mut map = self.map();
        let expired: Vec<String> = map
            .iter()
            .filter(|(_, (_, deadline))| *deadline <= now)
            .map(|(id, _)| id.clone())
            .collect();
        let mut out: Vec<(ResourceType, String)> = expired
            .into_iter()
            .filter_map(|id| map.remove(&id).map(|(level, _)| (level, id)))
            .collect();
        // Series first, then studies, then patients, as Orthanc reports them.
        out.sort_by_key(|(level, _)| std::cmp::Reverse(level.code()));
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn becomes_stable_after_age() {
        let t = StableTracker::new(Duration::from_millis(20));
        t.touch(ResourceType::Study, "s");
        t.touch(ResourceType::Series, "x");
        assert!(!t.is_stable("s"));
        assert!(t.take_expired().is_empty());
        std::thread::sleep(Duration::from_millis(30));
        assert_eq!(
            t.take_expired(),
            vec![
                (ResourceType::Series, "x".into()),
                (ResourceType::Study, "s".into())
            ]
        );
        assert!(t.is_stable("s"));
    }
}
