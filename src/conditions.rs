//! Status conditions (pure): one per step plus the kstatus summary (`Ready`, `Reconciling`,
//! `Stalled`), with `lastTransitionTime` moving only when a condition's status flips, and
//! `observedGeneration` on each.

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

/// How far an object is, as kstatus-aware tools (kubectl wait, Argo CD, Flux) read it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Progress {
    /// Done, or working towards it (waiting for AWS, retrying a retryable error).
    Moving,
    /// Failed with an error that only a change (to the spec, a grant, an account) resolves.
    Stalled,
}

/// `Reconciling` and `Stalled` beside `ready`: at most one of the two is True. Reconciling is
/// True while not ready and not stalled, carrying Ready's reason; Stalled carries the error.
pub fn summary(
    ready: &StepCondition,
    progress: Progress,
    error: Option<(&str, &str)>,
) -> [StepCondition; 2] {
    let at = |type_, status, reason: &str, message: &str| StepCondition {
        type_,
        ready: status,
        reason: reason.into(),
        message: message.into(),
    };
    match (ready.ready, progress, error) {
        (false, Progress::Stalled, Some((reason, message))) => [
            at(
                "Reconciling",
                false,
                "Stalled",
                "no progress without a change",
            ),
            at("Stalled", true, reason, message),
        ],
        (false, _, _) => [
            at("Reconciling", true, &ready.reason, &ready.message),
            at("Stalled", false, "Progressing", "working towards Ready"),
        ],
        (true, _, _) => [
            at("Reconciling", false, "Ready", "nothing left to do"),
            at("Stalled", false, "Ready", "nothing left to do"),
        ],
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

/// The new condition list: `Ready`, `Reconciling`, `Stalled`, then each step;
/// `lastTransitionTime` is kept from `existing` unless the status flipped.
pub fn merge(
    existing: &[Condition],
    steps: &[StepCondition],
    progress: Progress,
    error: Option<(&str, &str)>,
    generation: Option<i64>,
    now: &Time,
) -> Vec<Condition> {
    let ready = ready_condition(steps);
    let [reconciling, stalled] = summary(&ready, progress, error);
    let mut all = vec![ready, reconciling, stalled];
    all.extend(steps.iter().cloned());
    all.into_iter()
        .map(|step| to_condition(existing, step, generation, now))
        .collect()
}

/// `existing` with `Ready` (and the summary that follows from it) replaced or added first, the
/// step conditions kept as they are.
pub fn set_ready(
    existing: &[Condition],
    ready: StepCondition,
    progress: Progress,
    generation: Option<i64>,
    now: &Time,
) -> Vec<Condition> {
    let error = (ready.reason.clone(), ready.message.clone());
    let [reconciling, stalled] = summary(&ready, progress, Some((&error.0, &error.1)));
    let updated: Vec<Condition> = [ready, reconciling, stalled]
        .into_iter()
        .map(|c| to_condition(existing, c, generation, now))
        .collect();
    let kept = existing
        .iter()
        .filter(|c| !updated.iter().any(|u| u.type_ == c.type_))
        .cloned();
    updated.iter().cloned().chain(kept).collect()
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
            Progress::Moving,
            None,
            Some(1),
            &t1,
        );
        assert_eq!(first[0].type_, "Ready");
        assert_eq!(first[3].last_transition_time, t1);

        // Same status, new message: time kept.
        let again = merge(
            &first,
            &[StepCondition::not_ready(
                "EndpointReady",
                "WaitingForEndpoint",
                "still pending",
            )],
            Progress::Moving,
            None,
            Some(2),
            &t2,
        );
        assert_eq!(again[3].last_transition_time, t1);
        assert_eq!(again[3].observed_generation, Some(2));

        // Flip: time moves.
        let flipped = merge(
            &again,
            &[StepCondition::ready("EndpointReady", "Available", "ok")],
            Progress::Moving,
            None,
            Some(2),
            &t2,
        );
        assert_eq!(flipped[3].last_transition_time, t2);
        assert_eq!(flipped[0].status, "True");
    }

    fn statuses(conditions: &[Condition]) -> Vec<(&str, &str, &str)> {
        conditions
            .iter()
            .take(3)
            .map(|c| (c.type_.as_str(), c.status.as_str(), c.reason.as_str()))
            .collect()
    }

    #[test]
    fn summary_is_reconciling_or_stalled_never_both() {
        let t = time("2026-01-01T00:00:00Z");
        let waiting = [StepCondition::not_ready(
            "VpcLinkReady",
            "WaitingForVpcLink",
            "PENDING",
        )];
        let moving = merge(&[], &waiting, Progress::Moving, None, Some(1), &t);
        assert_eq!(
            statuses(&moving),
            [
                ("Ready", "False", "WaitingForVpcLink"),
                ("Reconciling", "True", "WaitingForVpcLink"),
                ("Stalled", "False", "Progressing"),
            ]
        );
        let refused = [StepCondition::not_ready(
            "EndpointReady",
            "InvalidSpec",
            "spec.provider.vpcId: no such VPC",
        )];
        let error = Some(("InvalidSpec", "spec.provider.vpcId: no such VPC"));
        let stalled = merge(&[], &refused, Progress::Stalled, error, Some(1), &t);
        assert_eq!(
            statuses(&stalled),
            [
                ("Ready", "False", "InvalidSpec"),
                ("Reconciling", "False", "Stalled"),
                ("Stalled", "True", "InvalidSpec"),
            ]
        );
        assert_eq!(stalled[2].message, "spec.provider.vpcId: no such VPC");
        let done = [StepCondition::ready("EndpointReady", "Available", "ok")];
        let ready = merge(&stalled, &done, Progress::Stalled, error, Some(2), &t);
        assert_eq!(
            statuses(&ready),
            [
                ("Ready", "True", "Ready"),
                ("Reconciling", "False", "Ready"),
                ("Stalled", "False", "Ready"),
            ]
        );
        assert!(ready.iter().all(|c| c.observed_generation == Some(2)));
    }

    #[test]
    fn set_ready_replaces_the_summary_and_keeps_the_steps() {
        let t = time("2026-01-01T00:00:00Z");
        let done = [StepCondition::ready("EndpointReady", "Available", "ok")];
        let before = merge(&[], &done, Progress::Moving, None, Some(1), &t);
        let deleting = set_ready(
            &before,
            StepCondition::not_ready("Ready", "Deleting", "waiting for the NLB"),
            Progress::Moving,
            Some(1),
            &t,
        );
        assert_eq!(
            statuses(&deleting),
            [
                ("Ready", "False", "Deleting"),
                ("Reconciling", "True", "Deleting"),
                ("Stalled", "False", "Progressing"),
            ]
        );
        assert_eq!(deleting.len(), 4);
        assert_eq!(deleting[3].type_, "EndpointReady");
    }

    #[test]
    fn long_messages_are_cut_on_a_char_boundary() {
        let s = "é".repeat(20_000);
        let cut = truncate(&s, 32_001);
        assert!(cut.len() <= 32_004);
        assert!(cut.ends_with('…'));
    }
}
