//! Shared test support: a DNS client and a runner for the real binary.

#![allow(dead_code)]

pub mod dns;
pub mod server;
