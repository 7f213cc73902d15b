//! Who the operator may act as for one side of one object: the `AccountRole` its `roleRef`
//! names (when the grant covers the object's namespace and region), an inline `roleArn` (only
//! with `--allow-inline-roles`), or the operator's own credentials (only with
//! `--allow-own-credentials`). Decided from the watched AccountRoles and namespaces before any
//! AWS call of that side.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use futures::{Stream, TryStreamExt};
use k8s_openapi::api::core::v1::Namespace;
use kube::runtime::reflector::{self, ObjectRef, Store, store::Writer};
use kube::runtime::{WatchStreamExt, predicates, watcher};
use kube::{Api, Client, ResourceExt};

use crate::account_role::{self, AccountRole};
use crate::api::CrossAccountApi;
use crate::aws::{AccountKey, Session};
use crate::error::Error;
use crate::reconcile::SideName;

/// Reason of a side whose AccountRole does not cover the object.
pub const ROLE_NOT_PERMITTED: &str = "RoleNotPermitted";
/// Reason of an inline `roleArn` while `--allow-inline-roles` is off.
pub const INLINE_ROLE_NOT_ALLOWED: &str = "InlineRoleNotAllowed";
/// Reason of a side without any role while `--allow-own-credentials` is off.
pub const OWN_CREDENTIALS_NOT_ALLOWED: &str = "OwnCredentialsNotAllowed";

/// What the operator's flags allow besides AccountRoles.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct AccessPolicy {
    /// `--allow-inline-roles`: a `roleArn` in the object itself.
    pub allow_inline_roles: bool,
    /// `--allow-own-credentials`: no role at all (the operator's own account).
    pub allow_own_credentials: bool,
}

/// The grants as the operator last saw them.
#[derive(Clone)]
pub struct Grants {
    /// The flags.
    pub policy: AccessPolicy,
    /// Every AccountRole.
    pub roles: Store<AccountRole>,
    /// Every namespace (for their labels).
    pub namespaces: Store<Namespace>,
    /// Whether both watches have listed once: before that, a role missing from the store may
    /// only not be loaded yet.
    listed: [Arc<AtomicBool>; 2],
}

/// The writers behind [`Grants`]' stores, for the controller's watches.
pub struct GrantFeeds {
    roles: Writer<AccountRole>,
    namespaces: Writer<Namespace>,
    listed: [Arc<AtomicBool>; 2],
}

/// Marks `flag` once the watch's first list is in the store.
fn mark_listed<K>(flag: Arc<AtomicBool>) -> impl FnMut(&watcher::Event<K>) {
    move |event| {
        if matches!(event, watcher::Event::InitDone) {
            flag.store(true, Ordering::Release);
        }
    }
}

type Changes<K> = std::pin::Pin<Box<dyn Stream<Item = Result<K, watcher::Error>> + Send>>;

impl GrantFeeds {
    /// Watches every AccountRole and every namespace, keeping the stores current; the streams
    /// yield what changed: any AccountRole event (a deletion too, which a generation filter
    /// would hide), and namespaces whose labels changed.
    pub fn watch(self, kube: Client) -> (Changes<AccountRole>, Changes<Namespace>) {
        let [roles_listed, namespaces_listed] = self.listed;
        let roles = watcher(Api::<AccountRole>::all(kube.clone()), Default::default())
            .default_backoff()
            .reflect(self.roles)
            .inspect_ok(mark_listed(roles_listed))
            .touched_objects();
        let namespaces = watcher(Api::<Namespace>::all(kube), Default::default())
            .default_backoff()
            .reflect(self.namespaces)
            .inspect_ok(mark_listed(namespaces_listed))
            .touched_objects()
            .predicate_filter(predicates::labels, Default::default());
        (Box::pin(roles), Box::pin(namespaces))
    }
}

/// The spec fields of one side's identity.
struct Identity<'a> {
    field: &'static str,
    region: &'a str,
    role_ref: Option<&'a str>,
    role_arn: Option<&'a str>,
    external_id: Option<&'a str>,
}

fn identity(obj: &CrossAccountApi, side: SideName) -> Identity<'_> {
    match side {
        SideName::Provider => {
            let p = &obj.spec.provider;
            Identity {
                field: "spec.provider",
                region: &p.region,
                role_ref: p.role_ref.as_deref(),
                role_arn: p.role_arn.as_deref(),
                external_id: p.external_id.as_deref(),
            }
        }
        SideName::Consumer => {
            let c = &obj.spec.consumer;
            Identity {
                field: "spec.consumer",
                region: &c.region,
                role_ref: c.role_ref.as_deref(),
                role_arn: c.role_arn.as_deref(),
                external_id: c.external_id.as_deref(),
            }
        }
    }
}

fn refused(reason: &'static str, field: String, message: String) -> Error {
    Error::NotPermitted {
        reason,
        field,
        message,
    }
}

impl Grants {
    /// Empty stores (filled by [`GrantFeeds::watch`]) under `policy`.
    pub fn new(policy: AccessPolicy) -> (Grants, GrantFeeds) {
        let (roles, roles_writer) = reflector::store();
        let (namespaces, namespaces_writer) = reflector::store();
        let listed = [Arc::default(), Arc::default()];
        (
            Grants {
                policy,
                roles,
                namespaces,
                listed: listed.clone(),
            },
            GrantFeeds {
                roles: roles_writer,
                namespaces: namespaces_writer,
                listed,
            },
        )
    }

    /// The key of the credentials for `side` of `obj`, or why there are none. Makes no call.
    pub fn key_for(&self, obj: &CrossAccountApi, side: SideName) -> Result<AccountKey, Error> {
        let id = identity(obj, side);
        if id.role_ref.is_some() && !self.listed.iter().all(|l| l.load(Ordering::Acquire)) {
            return Err(Error::GrantsNotListed);
        }
        let namespace = obj.namespace().unwrap_or_default();
        let session = Some(Session::for_object(&namespace, &obj.name_any()));
        match (id.role_ref, id.role_arn) {
            (Some(name), _) => {
                let field = format!("{}.roleRef", id.field);
                let role = self
                    .roles
                    .get(&ObjectRef::new(name))
                    .ok_or_else(|| {
                        refused(
                            ROLE_NOT_PERMITTED,
                            field.clone(),
                            format!("AccountRole {name} does not exist"),
                        )
                    })?;
                let ns = self.namespaces.get(&ObjectRef::new(&namespace));
                let labels = ns.as_ref().map(|n| n.labels());
                if let Some(why) = account_role::refusal(&role, &namespace, labels, id.region) {
                    return Err(refused(ROLE_NOT_PERMITTED, field, why));
                }
                Ok(AccountKey {
                    role_arn: Some(role.spec.role_arn.clone()),
                    external_id: role.spec.external_id.clone(),
                    region: id.region.to_string(),
                    session,
                })
            }
            (None, Some(arn)) if self.policy.allow_inline_roles => Ok(AccountKey {
                role_arn: Some(arn.to_string()),
                external_id: id.external_id.map(str::to_string),
                region: id.region.to_string(),
                session,
            }),
            (None, Some(_)) => Err(refused(
                INLINE_ROLE_NOT_ALLOWED,
                format!("{}.roleArn", id.field),
                "an inline role is accepted only when the operator runs with --allow-inline-roles; name an AccountRole in roleRef".into(),
            )),
            (None, None) if self.policy.allow_own_credentials => Ok(AccountKey {
                role_arn: None,
                external_id: None,
                region: id.region.to_string(),
                session: None,
            }),
            (None, None) => Err(refused(
                OWN_CREDENTIALS_NOT_ALLOWED,
                format!("{}.roleRef", id.field),
                "no role named: the operator's own credentials are used only when it runs with --allow-own-credentials; name an AccountRole in roleRef".into(),
            )),
        }
    }

    /// The objects that name AccountRole `role` (to re-check when it changes).
    pub fn users_of(
        objects: &Store<CrossAccountApi>,
        role: &str,
    ) -> Vec<ObjectRef<CrossAccountApi>> {
        objects
            .state()
            .iter()
            .filter(|o| {
                o.spec.provider.role_ref.as_deref() == Some(role)
                    || o.spec.consumer.role_ref.as_deref() == Some(role)
            })
            .map(|o| ObjectRef::from_obj(o.as_ref()))
            .collect()
    }

    /// The objects of namespace `namespace` that name any AccountRole.
    pub fn in_namespace(
        objects: &Store<CrossAccountApi>,
        namespace: &str,
    ) -> Vec<ObjectRef<CrossAccountApi>> {
        objects
            .state()
            .iter()
            .filter(|o| o.namespace().as_deref() == Some(namespace))
            .filter(|o| o.spec.provider.role_ref.is_some() || o.spec.consumer.role_ref.is_some())
            .map(|o| ObjectRef::from_obj(o.as_ref()))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn object(provider: &str, consumer: &str) -> CrossAccountApi {
        serde_yaml::from_str(&format!(
            r#"
apiVersion: apigw.crossaccount.io/v1alpha1
kind: CrossAccountApi
metadata: {{name: orders, namespace: team-a}}
spec:
  provider: {{region: us-east-1, {provider} vpcId: vpc-0123abcd, subnetIds: [subnet-0123abcd], allowedCidrs: [10.1.0.0/16], privateApi: {{stageName: prod}}}}
  consumer: {{region: us-east-1, {consumer} vpcId: vpc-4567abcd, subnetIds: [subnet-4567abcd], regionalApi: {{stageName: prod}}}}
"#
        ))
        .expect("fixture parses")
    }

    fn grants(policy: AccessPolicy, roles: &[&str]) -> Grants {
        let (grants, mut feeds) = Grants::new(policy);
        for yaml in roles {
            let role: AccountRole = serde_yaml::from_str(yaml).expect("role parses");
            feeds
                .roles
                .apply_watcher_event(&watcher::Event::Apply(role));
        }
        for flag in &feeds.listed {
            flag.store(true, Ordering::Release);
        }
        grants
    }

    const PROVIDER_ROLE: &str = "apiVersion: apigw.crossaccount.io/v1alpha1\nkind: AccountRole\nmetadata: {name: orders-provider}\nspec: {roleArn: 'arn:aws:iam::222222222222:role/p', externalId: ext-p, namespaces: [team-a]}";

    #[test]
    fn a_granted_role_ref_gives_the_role_and_the_object_session() {
        let g = grants(AccessPolicy::default(), &[PROVIDER_ROLE]);
        let obj = object("roleRef: orders-provider,", "roleRef: orders-provider,");
        let key = g.key_for(&obj, SideName::Provider).expect("granted");
        assert_eq!(
            key.role_arn.as_deref(),
            Some("arn:aws:iam::222222222222:role/p")
        );
        assert_eq!(key.external_id.as_deref(), Some("ext-p"));
        assert_eq!(key.session, Some(Session::for_object("team-a", "orders")));
    }

    #[test]
    fn nothing_is_refused_before_the_grants_are_listed() {
        let (g, _feeds) = Grants::new(AccessPolicy::default());
        let obj = object("roleRef: orders-provider,", "");
        let early = g
            .key_for(&obj, SideName::Provider)
            .expect_err("not listed yet");
        assert!(matches!(early, Error::GrantsNotListed), "{early:?}");
        assert_eq!(early.class(), crate::error::ErrorClass::NotYetVisible);
    }

    #[test]
    fn a_missing_or_ungranted_role_is_not_permitted() {
        let g = grants(AccessPolicy::default(), &[PROVIDER_ROLE]);
        let obj = object("roleRef: nobody,", "");
        match g.key_for(&obj, SideName::Provider) {
            Err(Error::NotPermitted {
                reason,
                field,
                message,
            }) => {
                assert_eq!(reason, ROLE_NOT_PERMITTED);
                assert_eq!(field, "spec.provider.roleRef");
                assert!(message.contains("nobody does not exist"), "{message}");
            }
            other => panic!("{other:?}"),
        }
        let mut elsewhere = object("roleRef: orders-provider,", "");
        elsewhere.metadata.namespace = Some("team-b".into());
        let refused = g
            .key_for(&elsewhere, SideName::Provider)
            .expect_err("not granted");
        assert_eq!(refused.reason(), ROLE_NOT_PERMITTED);
        assert!(refused.to_string().contains("team-b"), "{refused}");
    }

    #[test]
    fn inline_roles_and_own_credentials_need_their_flags() {
        let inline = object("roleArn: 'arn:aws:iam::222222222222:role/p',", "");
        let off = grants(AccessPolicy::default(), &[]);
        assert_eq!(
            off.key_for(&inline, SideName::Provider)
                .map_err(|e| e.reason()),
            Err(INLINE_ROLE_NOT_ALLOWED.to_string())
        );
        assert_eq!(
            off.key_for(&inline, SideName::Consumer)
                .map_err(|e| e.reason()),
            Err(OWN_CREDENTIALS_NOT_ALLOWED.to_string())
        );
        let on = grants(
            AccessPolicy {
                allow_inline_roles: true,
                allow_own_credentials: true,
            },
            &[],
        );
        let key = on
            .key_for(&inline, SideName::Provider)
            .expect("inline allowed");
        assert_eq!(key.session, Some(Session::for_object("team-a", "orders")));
        let own = on
            .key_for(&inline, SideName::Consumer)
            .expect("own allowed");
        assert_eq!((own.role_arn, own.session), (None, None));
    }
}
