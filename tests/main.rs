//! End-to-end tests: a real server on a random loopback port, over HTTP, on every backend.

mod generic;
mod graphql;
mod planner;
