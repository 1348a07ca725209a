//! The transports a fetch may use, registered with libgit2 once per process: smart HTTP on
//! reqwest ([`crate::http`]) and ssh through the platform's client ([`crate::ssh`]). libgit2's
//! own `file://` and local-path transport stays; nothing else is built in.

use std::sync::Once;

use git2::transport::Transport;

type Factory = fn(&git2::Remote<'_>) -> Result<Transport, git2::Error>;

/// Registers `http`, `https` and `ssh`, once per process.
pub(crate) fn register() -> Result<(), git2::Error> {
    static REGISTER: Once = Once::new();
    let mut outcome = Ok(());
    REGISTER.call_once(|| {
        let transports: [(&str, Factory); 3] = [
            ("http", crate::http::factory),
            ("https", crate::http::factory),
            ("ssh", crate::ssh::factory),
        ];
        for (scheme, factory) in transports {
            // SAFETY: called once per process (the `Once`), before any fetch of this process
            // runs: libgit2's transport registry is not guarded against concurrent registration.
            #[allow(unsafe_code)]
            let registered = unsafe { git2::transport::register(scheme, factory) };
            if let Err(e) = registered {
                outcome = Err(e);
            }
        }
    });
    outcome
}
