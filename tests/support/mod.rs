//! Shared test support: a DNS client, a runner for the real binary, and a
//! Kubernetes API server to point it at.

#![allow(dead_code)]

pub mod app;
pub mod config;
pub mod dns;
pub mod kube_api;
pub mod server;
pub mod tutorial;
pub mod xfr;
pub mod zone;
