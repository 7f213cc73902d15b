//! cross-account-api-operator: serves a private API Gateway REST API of one AWS account to the
//! internet through a regional REST API of another, from one `CrossAccountApi` object.
#![forbid(unsafe_code)]

pub mod api;
