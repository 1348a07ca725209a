//! Git repositories as data sources, as Nautobot's Git data source takes them: a sync fetches
//! the repository's branch ([`fetch`]: over our smart-HTTP transport [`http`], through the
//! platform's ssh client [`ssh`], or from a local path), reads what its files provide
//! (`ferrobot_domain::git_repository`) and loads it in one transaction ([`sync`]), reporting as
//! a job result.
//!
//! The library is git2 (libgit2): a fetch, an object store and tree reads without a working
//! tree are what a sync needs, and its default transports are left out so that no OpenSSL or
//! libssh2 is built; HTTPS goes through reqwest and rustls, which the server already has, and
//! ssh through the platform's client, as git itself does.

pub mod fetch;
pub mod http;
pub mod ssh;
pub mod sync;
mod transports;

pub use fetch::{FetchError, Local, Remote};
pub use sync::{sync, SyncOptions, Synced};
