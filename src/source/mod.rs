//! Sources: the only code that knows Kubernetes object types. Each turns
//! objects into the plain values of `model.rs` and sends them to the driver.

pub mod cluster;
pub mod cluster_api;
pub mod convert;
pub mod embedded;
pub mod kubernetes;
pub mod manifest;
