//! headless-dns: authoritative DNS for Kubernetes headless Services.
//!
//! Data flows one way (DESIGN §2): sources (`source/`) turn Kubernetes
//! objects into domain values (`model`), the driver (`driver`) feeds them to
//! the synchronous index (`index`), which renders immutable snapshots
//! (`snapshot`) that the server (`server`) answers from without a lock.

#![forbid(unsafe_code)]

pub mod admin;
pub mod api_resource;
pub mod app;
pub mod cli;
pub mod config;
pub mod controller;
pub mod ctl;
pub mod driver;
pub mod index;
pub mod metrics;
pub mod model;
pub mod names;
pub mod refused;
pub mod selector;
pub mod serial;
pub mod server;
pub mod snapshot;
pub mod source;
pub mod transfer;
pub mod wire;
