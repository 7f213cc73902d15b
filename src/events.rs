//! Kubernetes Events about objects (events.k8s.io/v1). A repeat of an Event within six minutes
//! (same object, type and reason) counts in the first one's `series`, with the latest note,
//! instead of making a new Event, as kube-runtime's recorder does; what is remembered of each
//! Event is its name and count, not a copy of it (the recorder keeps both the Event and its
//! object reference, and its table never shrinks), so a burst of Events from a thousand objects
//! costs kilobytes.

use std::collections::HashMap;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::sync::Mutex;

use jiff::{SignedDuration, Timestamp};
use k8s_openapi::api::core::v1::ObjectReference;
use k8s_openapi::api::events::v1::{Event, EventSeries};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta};
use kube::api::{Api, Patch, PatchParams, PostParams};
use kube::runtime::events::EventType;
use kube::{Client, Resource};
use serde_json::json;

/// How long a published Event takes its repeats into its series (kube-runtime's recorder's).
const SERIES_WINDOW: SignedDuration = SignedDuration::from_mins(6);

/// The action of every Event.
const ACTION: &str = "Reconcile";

/// The API server refuses an Event whose note is longer than 1 kB.
const NOTE_MAX_BYTES: usize = 1024;

/// `note` cut to what the API server accepts (an AWS message can be longer), ending in `…`.
fn fit_note(note: String) -> String {
    if note.len() <= NOTE_MAX_BYTES {
        return note;
    }
    let mut end = NOTE_MAX_BYTES - '…'.len_utf8();
    while !note.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &note[..end])
}

/// One Event published recently.
#[derive(Debug)]
struct Published {
    name: String,
    count: i32,
    last: Timestamp,
}

/// The Events published within the series window, by a hash of what makes a repeat.
#[derive(Debug, Default)]
pub(crate) struct Recent(HashMap<u64, Published>);

impl Recent {
    /// Forgets Events last seen a window before `now`, and gives back the room of a burst.
    fn expire(&mut self, now: Timestamp) {
        self.0.retain(|_, p| p.last + SERIES_WINDOW > now);
        if self.0.capacity() > 4 * self.0.len() + 64 {
            self.0.shrink_to_fit();
        }
    }

    /// For a repeat of a recent Event: its name and its new count.
    fn repeat(&mut self, key: u64, now: Timestamp) -> Option<(String, i32)> {
        self.expire(now);
        let p = self.0.get_mut(&key)?;
        p.count = p.count.saturating_add(1);
        p.last = now;
        Some((p.name.clone(), p.count))
    }

    fn published(&mut self, key: u64, name: String, now: Timestamp) {
        self.0.insert(
            key,
            Published {
                name,
                count: 1,
                last: now,
            },
        );
    }

    fn forget(&mut self, key: u64) {
        self.0.remove(&key);
    }
}

/// What makes two Events one series: the object (by uid: its resourceVersion changes with
/// every status write), the type and the reason.
fn series_key(regarding: &ObjectReference, type_: EventType, reason: &str) -> u64 {
    let mut h = DefaultHasher::new();
    (
        regarding.uid.as_deref(),
        regarding.namespace.as_deref(),
        regarding.name.as_deref(),
        type_ == EventType::Warning,
        reason,
    )
        .hash(&mut h);
    h.finish()
}

/// Publishes Events as one controller instance.
pub struct Events {
    client: Client,
    controller: String,
    instance: String,
    recent: Mutex<Recent>,
}

impl Events {
    /// Events reported by `controller` (instance `instance`, else the controller's name).
    pub fn new(client: Client, controller: &str, instance: Option<String>) -> Self {
        Events {
            client,
            controller: controller.to_string(),
            instance: instance.unwrap_or_else(|| controller.to_string()),
            recent: Mutex::default(),
        }
    }

    /// Publishes one Event about `obj`: a new Event, or one more of a recent one's series.
    pub async fn publish<K: Resource<DynamicType = ()>>(
        &self,
        obj: &K,
        type_: EventType,
        reason: &str,
        note: String,
    ) -> Result<(), kube::Error> {
        let note = fit_note(note);
        let regarding = obj.object_ref(&());
        let namespace = regarding.namespace.clone().unwrap_or("default".into());
        let api: Api<Event> = Api::namespaced(self.client.clone(), &namespace);
        let key = series_key(&regarding, type_, reason);
        let now = Timestamp::now();
        let repeat = self.lock().repeat(key, now);
        if let Some((name, count)) = repeat {
            let series = EventSeries {
                count,
                last_observed_time: MicroTime(now),
            };
            let patched = api
                .patch(
                    &name,
                    &PatchParams::default(),
                    &Patch::Merge(json!({ "series": series, "note": note })),
                )
                .await;
            match patched {
                Ok(_) => return Ok(()),
                // Gone (deleted, or expired by the API server's Event TTL): a new Event starts
                // the series again.
                Err(kube::Error::Api(e)) if e.code == 404 => self.lock().forget(key),
                Err(e) => {
                    self.lock().forget(key);
                    return Err(e);
                }
            }
        }
        let name = format!(
            "{}.{:x}",
            regarding.name.as_deref().unwrap_or(&self.controller),
            now.as_nanosecond()
        );
        let event = Event {
            metadata: ObjectMeta {
                name: Some(name.clone()),
                namespace: Some(namespace),
                ..Default::default()
            },
            action: Some(ACTION.into()),
            reason: Some(reason.into()),
            note: Some(note),
            event_time: Some(MicroTime(now)),
            regarding: Some(regarding),
            reporting_controller: Some(self.controller.clone()),
            reporting_instance: Some(self.instance.clone()),
            type_: Some(
                match type_ {
                    EventType::Normal => "Normal",
                    EventType::Warning => "Warning",
                }
                .into(),
            ),
            ..Default::default()
        };
        api.create(&PostParams::default(), &event).await?;
        self.lock().published(key, name, now);
        Ok(())
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Recent> {
        self.recent.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn object(uid: &str) -> ObjectReference {
        ObjectReference {
            uid: Some(uid.into()),
            namespace: Some("team-a".into()),
            name: Some("orders".into()),
            resource_version: Some("1".into()),
            ..Default::default()
        }
    }

    #[test]
    fn a_repeat_is_the_same_object_type_and_reason() {
        let key = series_key(&object("u1"), EventType::Warning, "AccessDenied");
        let moved = ObjectReference {
            resource_version: Some("2".into()),
            ..object("u1")
        };
        assert_eq!(
            key,
            series_key(&moved, EventType::Warning, "AccessDenied"),
            "a status write does not start a new series"
        );
        for other in [
            series_key(&object("u2"), EventType::Warning, "AccessDenied"),
            series_key(&object("u1"), EventType::Normal, "AccessDenied"),
            series_key(&object("u1"), EventType::Warning, "Throttled"),
        ] {
            assert_ne!(key, other);
        }
    }

    #[test]
    fn repeats_count_within_the_window_and_start_over_after_it() {
        let mut recent = Recent::default();
        let t0 = Timestamp::UNIX_EPOCH;
        assert_eq!(recent.repeat(7, t0), None, "never published");
        recent.published(7, "orders.1".into(), t0);
        let t1 = t0 + SignedDuration::from_mins(5);
        assert_eq!(recent.repeat(7, t1), Some(("orders.1".into(), 2)));
        // The window counts from the last repeat.
        let t2 = t1 + SignedDuration::from_mins(5);
        assert_eq!(recent.repeat(7, t2), Some(("orders.1".into(), 3)));
        let t3 = t2 + SERIES_WINDOW;
        assert_eq!(
            recent.repeat(7, t3),
            None,
            "a new Event after a quiet window"
        );
    }

    #[test]
    fn a_long_note_is_cut_to_what_the_api_server_takes() {
        assert_eq!(fit_note("denied".into()), "denied");
        for long in ["x".repeat(2000), "é".repeat(1000)] {
            let cut = fit_note(long.clone());
            assert!(cut.len() <= NOTE_MAX_BYTES, "{}", cut.len());
            assert!(cut.ends_with('…') && long.starts_with(cut.trim_end_matches('…')));
        }
    }

    #[test]
    fn a_burst_gives_its_room_back() {
        let mut recent = Recent::default();
        let t0 = Timestamp::UNIX_EPOCH;
        for key in 0..10_000 {
            recent.published(key, format!("orders.{key}"), t0);
        }
        let room = recent.0.capacity();
        recent.published(10_000, "later".into(), t0 + SignedDuration::from_mins(5));
        recent.expire(t0 + SERIES_WINDOW + SignedDuration::from_secs(1));
        assert_eq!(recent.0.len(), 1);
        assert!(recent.0.capacity() < room / 100, "{}", recent.0.capacity());
    }
}
