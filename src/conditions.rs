//! Status conditions (pure): one per step plus `Ready`, with `lastTransitionTime` moving only
//! when a condition's status flips, and `observedGeneration` on each.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};

/// The outcome of one step, as its condition will say it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StepCondition {
    /// Condition type, e.g. `EndpointReady`.
    pub type_: &'static str,
    /// True when the step is done for this generation.
    pub ready: bool,
    /// CamelCase reason, e.g. `Available`, `WaitingForEndpoint`, `InvalidVpcIDNotFound`.
    pub reason: String,
    /// Human-readable detail.
    pub message: String,
}

impl StepCondition {
    /// A step that is done.
    pub fn ready(type_: &'static str, reason: &str, message: impl Into<String>) -> Self {
        StepCondition {
            type_,
            ready: true,
            reason: reason.into(),
            message: message.into(),
        }
    }

    /// A step that is not done (waiting or failed).
    pub fn not_ready(
        type_: &'static str,
        reason: impl Into<String>,
        message: impl Into<String>,
    ) -> Self {
        StepCondition {
            type_,
            ready: false,
            reason: reason.into(),
            message: message.into(),
        }
    }
}

/// `Ready`: True only when every step is True; otherwise it carries the first step that is not.
pub fn ready_condition(steps: &[StepCondition]) -> StepCondition {
    match steps.iter().find(|s| !s.ready) {
        None => StepCondition::ready("Ready", "Ready", "every resource of the chain is in place"),
        Some(step) => StepCondition::not_ready(
            "Ready",
            step.reason.clone(),
            format!("{}: {}", step.type_, step.message),
        ),
    }
}

/// The new condition list: `Ready` first, then each step; `lastTransitionTime` is kept from
/// `existing` unless the status flipped.
pub fn merge(
    existing: &[Condition],
    steps: &[StepCondition],
    generation: Option<i64>,
    now: &Time,
) -> Vec<Condition> {
    let mut all = vec![ready_condition(steps)];
    all.extend(steps.iter().cloned());
    all.into_iter()
        .map(|step| to_condition(existing, step, generation, now))
        .collect()
}

/// `existing` with one condition replaced (or added first), the others kept as they are.
pub fn set_one(
    existing: &[Condition],
    step: StepCondition,
    generation: Option<i64>,
    now: &Time,
) -> Vec<Condition> {
    let updated = to_condition(existing, step, generation, now);
    let mut out: Vec<Condition> = existing
        .iter()
        .filter(|c| c.type_ != updated.type_)
        .cloned()
        .collect();
    out.insert(0, updated);
    out
}

fn to_condition(
    existing: &[Condition],
    step: StepCondition,
    generation: Option<i64>,
    now: &Time,
) -> Condition {
    let status = if step.ready { "True" } else { "False" };
    let last_transition_time = match existing.iter().find(|c| c.type_ == step.type_) {
        Some(p) if p.status == status => p.last_transition_time.clone(),
        _ => now.clone(),
    };
    Condition {
        type_: step.type_.to_string(),
        status: status.to_string(),
        reason: step.reason,
        // The API server limits messages to 32768 bytes.
        message: truncate(&step.message, 32_000),
        last_transition_time,
        observed_generation: generation,
    }
}

fn truncate(s: &str, max: usize) -> String {
    if s.len() <= max {
        return s.to_string();
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &s[..end])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn time(s: &str) -> Time {
        Time(s.parse().expect("timestamp"))
    }

    #[test]
    fn ready_needs_every_step() {
        let steps = [
            StepCondition::ready("EndpointReady", "Available", "vpce-1"),
            StepCondition::not_ready("VpcLinkReady", "WaitingForVpcLink", "PENDING"),
        ];
        let ready = ready_condition(&steps);
        assert!(!ready.ready);
        assert_eq!(ready.reason, "WaitingForVpcLink");
        assert_eq!(ready.message, "VpcLinkReady: PENDING");
        assert!(ready_condition(&steps[..1]).ready);
    }

    #[test]
    fn transition_time_moves_only_on_flip() {
        let t1 = time("2026-01-01T00:00:00Z");
        let t2 = time("2026-01-01T00:05:00Z");
        let first = merge(
            &[],
            &[StepCondition::not_ready(
                "EndpointReady",
                "WaitingForEndpoint",
                "pending",
            )],
            Some(1),
            &t1,
        );
        assert_eq!(first[0].type_, "Ready");
        assert_eq!(first[1].last_transition_time, t1);

        // Same status, new message: time kept.
        let again = merge(
            &first,
            &[StepCondition::not_ready(
                "EndpointReady",
                "WaitingForEndpoint",
                "still pending",
            )],
            Some(2),
            &t2,
        );
        assert_eq!(again[1].last_transition_time, t1);
        assert_eq!(again[1].observed_generation, Some(2));

        // Flip: time moves.
        let flipped = merge(
            &again,
            &[StepCondition::ready("EndpointReady", "Available", "ok")],
            Some(2),
            &t2,
        );
        assert_eq!(flipped[1].last_transition_time, t2);
        assert_eq!(flipped[0].status, "True");
    }

    #[test]
    fn long_messages_are_cut_on_a_char_boundary() {
        let s = "é".repeat(20_000);
        let cut = truncate(&s, 32_001);
        assert!(cut.len() <= 32_004);
        assert!(cut.ends_with('…'));
    }
}
