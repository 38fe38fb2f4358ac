//! `ConversationCache`: what a backend keeps of one conversation between its calls.

use std::any::Any;
use std::sync::{Mutex, PoisonError};

/// What a backend derived from a conversation's earlier turns, kept between its calls so that
/// each call does work only for what is new (for Bedrock: the turns normalized, validated and
/// converted to the SDK's types). Pass it with [`ChatCall::cached`](crate::ChatCall::cached).
///
/// One cache belongs to one conversation whose messages grow by appending: between calls, the
/// messages sent before stay as they were, except that trailing cache points may come and go
/// and the last message may gain content. Backends check each kept message cheaply (its role,
/// how many blocks it has, and where they live) and convert again whatever no longer matches,
/// so a request rebuilt from scratch is answered correctly, only without the saving. A caller
/// that edits an earlier message in place, keeping its length, must [`clear`](Self::clear)
/// the cache.
///
/// A backend that keeps nothing ignores it; the request alone is what is sent.
#[derive(Default)]
pub struct ConversationCache {
    kept: Mutex<Option<Box<dyn Any + Send>>>,
}

impl ConversationCache {
    /// An empty cache.
    pub fn new() -> Self {
        Self::default()
    }

    /// Forgets everything kept: the next call converts the whole conversation.
    pub fn clear(&self) {
        *self.lock() = None;
    }

    /// Runs `f` on the backend's kept state of type `T`, made with `Default` when the cache is
    /// empty or holds another backend's. The lock is held for `f` only: keep `f` synchronous.
    pub fn with<T: Any + Send + Default, R>(&self, f: impl FnOnce(&mut T) -> R) -> R {
        let mut kept = self.lock();
        if !kept.as_ref().is_some_and(|k| k.is::<T>()) {
            *kept = Some(Box::new(T::default()));
        }
        match kept.as_mut().and_then(|k| k.downcast_mut::<T>()) {
            Some(state) => f(state),
            // Unreachable: a `T` was put there just above. Still, a fresh state is correct.
            None => f(&mut T::default()),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Option<Box<dyn Any + Send>>> {
        // A panic while it was held leaves a state that is at worst stale; backends check
        // each kept message before using it.
        self.kept.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl std::fmt::Debug for ConversationCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConversationCache")
            .field("holds", &self.lock().is_some())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_state_per_type_and_forgets_on_clear() {
        let cache = ConversationCache::new();
        cache.with(|n: &mut u32| *n += 2);
        assert_eq!(cache.with(|n: &mut u32| *n), 2);
        // Another backend's state replaces it.
        cache.with(|s: &mut String| s.push('x'));
        assert_eq!(cache.with(|n: &mut u32| *n), 0);
        cache.with(|n: &mut u32| *n = 5);
        cache.clear();
        assert_eq!(cache.with(|n: &mut u32| *n), 0);
    }
}
