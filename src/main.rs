//! CLI: `run` (the controller) and `crd` (print the CRD).
#![forbid(unsafe_code)]

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use clap::{Parser, Subcommand};
use cross_account_api_operator::access::{AccessPolicy, Grants};
use cross_account_api_operator::aws::{AwsClients, LimiterSettings};
use cross_account_api_operator::controller::{self, Context};
use cross_account_api_operator::telemetry::{self, Metrics, Readiness};
use cross_account_api_operator::{account_role, api, leader};

#[derive(Parser)]
#[command(name = "cross-account-api-operator", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the controller (Kubernetes from KUBECONFIG or in-cluster; AWS from the standard chain).
    Run(RunArgs),
    /// Print the CustomResourceDefinitions (CrossAccountApi, AccountRole) as YAML.
    Crd,
}

#[derive(clap::Args)]
struct RunArgs {
    /// How often a Ready object is re-checked for drift (e.g. 5m, 10s).
    #[arg(long, env = "XAPI_RESYNC_INTERVAL", default_value = "5m", value_parser = humantime::parse_duration)]
    resync_interval: Duration,
    /// Address of /metrics, /healthz and /readyz.
    #[arg(long, env = "XAPI_METRICS_ADDR", default_value = "0.0.0.0:8080")]
    metrics_addr: SocketAddr,
    /// Hold a coordination.k8s.io Lease so that one replica acts at a time.
    #[arg(long, env = "XAPI_LEADER_ELECTION", default_value_t = false)]
    leader_election: bool,
    /// Namespace of the Lease (default: POD_NAMESPACE, else `default`).
    #[arg(long, env = "POD_NAMESPACE", default_value = "default")]
    leader_election_namespace: String,
    /// Watch only this namespace (default: all).
    #[arg(long, env = "XAPI_NAMESPACE")]
    namespace: Option<String>,
    /// Scales API Gateway's control-plane quota periods for the client-side limiter
    /// (1.0: AWS's defaults; below 1 for an account with raised quotas).
    #[arg(long, env = "XAPI_APIGATEWAY_QUOTA_SCALE", default_value_t = 1.0,
          allow_negative_numbers = true, value_parser = positive_scale)]
    apigateway_quota_scale: f64,
    /// At most this many objects reconciled at once; the others wait their turn. Bounds the
    /// calls in flight (and the memory they hold) when many objects change together.
    #[arg(long, env = "XAPI_MAX_CONCURRENT_RECONCILES", default_value_t = 100,
          allow_negative_numbers = true, value_parser = clap::value_parser!(u16).range(1..))]
    max_concurrent_reconciles: u16,
    /// Accept an inline `roleArn` in a CrossAccountApi (any tenant may then name any role the
    /// operator can assume). Off: only AccountRoles.
    #[arg(long, env = "XAPI_ALLOW_INLINE_ROLES", default_value_t = false)]
    allow_inline_roles: bool,
    /// Act with the operator's own credentials (its own account) for a side that names no
    /// role. Off: such a side is refused.
    #[arg(long, env = "XAPI_ALLOW_OWN_CREDENTIALS", default_value_t = false)]
    allow_own_credentials: bool,
}

/// A quota scale: a finite number above zero (zero or less would lift the limiter altogether).
fn positive_scale(value: &str) -> Result<f64, String> {
    match value.parse::<f64>() {
        Ok(scale) if scale.is_finite() && scale > 0.0 => Ok(scale),
        Ok(_) => Err("must be a finite number above 0".into()),
        Err(e) => Err(e.to_string()),
    }
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    match Cli::parse().command {
        Command::Crd => match api::crd_yaml().and_then(|a| Ok((a, account_role::crd_yaml()?))) {
            Ok((objects, roles)) => {
                print!("{objects}---\n{roles}");
                std::process::ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("cannot render the CRD: {e}");
                std::process::ExitCode::FAILURE
            }
        },
        Command::Run(args) => {
            telemetry::init_logging();
            match run(args).await {
                Ok(()) => std::process::ExitCode::SUCCESS,
                Err(e) => {
                    tracing::error!("{e}");
                    std::process::ExitCode::FAILURE
                }
            }
        }
    }
}

async fn run(args: RunArgs) -> Result<(), String> {
    let kube = kube::Client::try_default()
        .await
        .map_err(|e| format!("Kubernetes config: {e}"))?;
    let metrics = Arc::new(Metrics::new());
    let readiness = Readiness::default();
    let server = telemetry::serve(args.metrics_addr, metrics.clone(), readiness.clone());
    tokio::spawn(async move {
        if let Err(e) = server.await {
            tracing::error!("metrics server: {e}");
            std::process::exit(1);
        }
    });
    let me = std::env::var("POD_NAME").unwrap_or_else(|_| format!("pid-{}", std::process::id()));
    if args.leader_election {
        // A standby replica is healthy and ready: otherwise a rolling update of two replicas
        // would wait forever for the one that cannot take the lease.
        readiness.set_ready();
        leader::acquire(
            kube.clone(),
            &args.leader_election_namespace,
            LEASE_NAME,
            me.clone(),
        )
        .await;
    }
    let aws = AwsClients::from_env(
        metrics.clone(),
        LimiterSettings {
            period_scale: args.apigateway_quota_scale,
        },
    )
    .await;
    let (grants, feeds) = Grants::new(AccessPolicy {
        allow_inline_roles: args.allow_inline_roles,
        allow_own_credentials: args.allow_own_credentials,
    });
    let ctx = Arc::new(Context::new(
        kube.clone(),
        aws,
        metrics,
        args.resync_interval,
        grants,
    ));
    let result = controller::run(
        ctx,
        feeds,
        args.namespace,
        args.max_concurrent_reconciles,
        readiness,
    )
    .await;
    if args.leader_election {
        leader::release(kube, &args.leader_election_namespace, LEASE_NAME, &me).await;
    }
    result
}

/// The Lease the replicas share.
const LEASE_NAME: &str = "cross-account-api-operator";

#[cfg(test)]
mod tests {
    use super::*;

    fn run_args(args: &[&str]) -> Result<RunArgs, clap::Error> {
        let cli = Cli::try_parse_from(["cross-account-api-operator", "run"].iter().chain(args))?;
        match cli.command {
            Command::Run(run) => Ok(run),
            Command::Crd => unreachable!("parsed `run`"),
        }
    }

    fn concurrency(args: &[&str]) -> Result<u16, clap::Error> {
        run_args(args).map(|run| run.max_concurrent_reconciles)
    }

    #[test]
    fn a_quota_scale_is_a_finite_number_above_zero() {
        let scale = |v: &str| run_args(&["--apigateway-quota-scale", v]);
        assert_eq!(
            run_args(&[]).map(|r| r.apigateway_quota_scale).ok(),
            Some(1.0)
        );
        assert_eq!(
            scale("0.05").map(|r| r.apigateway_quota_scale).ok(),
            Some(0.05)
        );
        for bad in ["0", "-1", "NaN", "inf", "fast"] {
            let err = scale(bad).err().map(|e| e.to_string()).unwrap_or_default();
            assert!(err.contains("--apigateway-quota-scale"), "{bad}: {err}");
        }
    }

    #[test]
    fn at_least_one_reconcile_at_a_time() {
        assert_eq!(concurrency(&[]).ok(), Some(100));
        assert_eq!(
            concurrency(&["--max-concurrent-reconciles", "1"]).ok(),
            Some(1)
        );
        for bad in ["0", "-1", "65536", "many"] {
            let err = concurrency(&["--max-concurrent-reconciles", bad]).unwrap_err();
            assert!(
                err.to_string().contains("--max-concurrent-reconciles"),
                "{err}"
            );
        }
    }
}
