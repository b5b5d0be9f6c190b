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

    /// Resources received a new instance: their stability countdown restarts.
    pub fn touch(&self, resources: &[(ResourceType, &str)]) {
        let deadline = Instant::now() + self.age;
        let mut map = self.map();
        for (level, id) in resources {
            map.insert((*id).to_owned(), (*level, deadline));
        }
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
        let mut expired: Vec<(Instant, i64, String)> = map
            .iter()
            .filter(|(_, (_, deadline))| *deadline <= now)
            .map(|(id, (level, deadline))| (*deadline, -level.code(), id.clone()))
            .collect();
        // In the order they became stable; for one instance: series, study, then patient.
        expired.sort();
        expired
            .into_iter()
            .filter_map(|(_, _, id)| map.remove(&id).map(|(level, _)| (level, id)))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn becomes_stable_after_age() {
        let t = StableTracker::new(Duration::from_millis(20));
        t.touch(&[(ResourceType::Study, "s"), (ResourceType::Series, "x")]);
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
