//! Integration tests for redis-rest: the server in-process (and the binary, for its CLI) in front
//! of a real Redis, driven over real HTTP.

mod cli;
mod contract;
mod harness;
mod outage;
