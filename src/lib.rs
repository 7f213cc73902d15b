//! cross-account-api-operator: serves a private API Gateway REST API of one AWS account to the
//! internet through a regional REST API of another, from one `CrossAccountApi` object.
#![forbid(unsafe_code)]

pub mod access;
pub mod account_role;
pub mod account_role_check;
pub mod api;
pub mod aws;
pub mod conditions;
pub mod controller;
pub mod error;
pub mod events;
pub mod leader;
pub mod limits;
pub mod partition;
pub mod policy;
pub mod reconcile;
pub mod telemetry;
