//! Shared test support: a DNS client (`dns`, `xfr`), the server run
//! in-process (`app`) or as the real binary (`server`), the configs that
//! load manifests into the embedded cluster (`config`), a Kubernetes API
//! server to point either at (`kube_api`), `ctl` against a running server
//! (`tutorial`), and zones built without sockets (`zone`) from the zone's
//! settings (`settings`).

#![allow(dead_code)]

pub mod app;
pub mod config;
pub mod dns;
pub mod kube_api;
pub mod server;
pub mod settings;
pub mod tutorial;
pub mod xfr;
pub mod zone;
