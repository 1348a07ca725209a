//! Git over SSH through the platform's ssh client, as git itself runs it: `ssh [-p port]
//! [user@]host "git-upload-pack '<path>'"`, libgit2 speaking the protocol over the child's
//! standard input and output (a stateful transport: one connection for the advertisement and
//! the pack).
//!
//! Keys, known hosts and `ssh_config` are the platform's (those of the user Ferrobot runs as),
//! as they are for git. The client runs in batch mode, so it never prompts: an unknown host key
//! or a key it cannot use fails the sync with what ssh said. The client is OpenSSH's or one
//! that takes its options (`-o`, `-p`); which program is a setting ([`Command`]). The watchdog
//! ends the process it started: a wrapper script named as the client should `exec` its ssh.

use std::cell::RefCell;
use std::io::{self, Read, Write};
use std::process::{Child, ChildStdin, ChildStdout, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use git2::transport::{Service, SmartSubtransport, SmartSubtransportStream, Transport};

use crate::http::{decode, MAX_RESPONSE};

/// How long one connection may last, the pack included (as an HTTP answer may).
const TIMEOUT: Duration = Duration::from_secs(600);
/// How long ssh has to exit once the connection has ended.
const EXIT_WAIT: Duration = Duration::from_secs(5);
/// The most bytes of what ssh writes to its standard error that are kept for a message.
const MAX_STDERR: usize = 4096;

/// The ssh client to run: a program and its first arguments (`ssh`, or
/// `ssh -i /etc/ferrobot/deploy_key -o UserKnownHostsFile=/etc/ferrobot/known_hosts`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Command(Vec<String>);

impl Default for Command {
    fn default() -> Self {
        Command(vec!["ssh".to_owned()])
    }
}

impl Command {
    /// A command line split at whitespace (no shell: quotes are not read).
    pub fn parse(line: &str) -> Result<Command, String> {
        let words: Vec<String> = line.split_whitespace().map(str::to_owned).collect();
        if words.is_empty() {
            return Err("the ssh command is empty".to_owned());
        }
        Ok(Command(words))
    }

    /// The arguments that connect to `target` and run upload-pack there.
    fn args(&self, target: &Target) -> Vec<String> {
        let mut args: Vec<String> = self.0[1..].to_vec();
        for option in ["BatchMode=yes", "ConnectTimeout=10"] {
            args.extend(["-o".to_owned(), option.to_owned()]);
        }
        if let Some(port) = target.port {
            args.extend(["-p".to_owned(), port.to_string()]);
        }
        args.push(match &target.user {
            Some(user) => format!("{user}@{}", target.host),
            None => target.host.clone(),
        });
        args.push(format!("git-upload-pack {}", quoted(&target.path)));
        args
    }
}

thread_local! {
    /// The client of the fetch running on this thread: libgit2 makes the transport on the
    /// thread that fetches, with nothing of the fetch's own but its remote.
    static CURRENT: RefCell<Command> = RefCell::new(Command::default());
}

/// Runs `fetch` with `command` as the ssh client of the transports it makes.
pub(crate) fn using<T>(command: &Command, fetch: impl FnOnce() -> T) -> T {
    let before = CURRENT.with(|c| c.replace(command.clone()));
    let out = fetch();
    CURRENT.with(|c| c.replace(before));
    out
}

/// Where an ssh remote lives: `ssh://[user@]host[:port]/path` (also `git+ssh://`, `ssh+git://`)
/// or git's scp-like `[user@]host:path`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Target {
    user: Option<String>,
    host: String,
    port: Option<u16>,
    path: String,
}

/// Whether `url` is an ssh remote git would take: a scheme of ssh, or scp-like (a `:` before
/// any `/`).
pub(crate) fn is_ssh(url: &str) -> bool {
    match url.split_once("://") {
        Some((scheme, _)) => {
            matches!(scheme.to_ascii_lowercase().as_str(), "ssh" | "git+ssh" | "ssh+git")
        }
        None => url.find(':').is_some_and(|colon| !url[..colon].contains('/')),
    }
}

/// Reads an ssh remote, refusing what could reach the client as an option or the remote
/// shell as anything but the repository's path.
pub(crate) fn target(url: &str) -> Result<Target, String> {
    let invalid = |why: &str| Err(format!("the ssh remote URL is not valid: {why}"));
    let (user, host, port, path) = match url.split_once("://") {
        Some((_, rest)) => {
            let (authority, path) = match rest.find('/') {
                Some(slash) => rest.split_at(slash),
                None => return invalid("it names no repository path"),
            };
            let (user, host_port) = match authority.rsplit_once('@') {
                Some((user, host)) => (Some(decode(user)), host),
                None => (None, authority),
            };
            let (host, port) = split_port(host_port)?;
            // `ssh://host/~user/repo` is `~user/repo`, relative to that user's home, as git reads it.
            let path = decode(path);
            let path = match path.strip_prefix("/~") {
                Some(home) => format!("~{home}"),
                None => path,
            };
            (user, host, port, path)
        }
        None => {
            let (authority, path) = match url.strip_prefix('[') {
                Some(bracketed) => match bracketed.split_once("]:") {
                    Some((host, path)) => (host, path),
                    None => return invalid("an opened `[` is not closed by `]:`"),
                },
                None => match url.split_once(':') {
                    Some(split) => split,
                    None => return invalid("it names no repository path"),
                },
            };
            let (user, host) = match authority.rsplit_once('@') {
                Some((user, host)) => (Some(user.to_owned()), host),
                None => (None, authority),
            };
            (user, host.trim_matches(['[', ']']).to_owned(), None, path.to_owned())
        }
    };
    if host.is_empty() {
        return invalid("it names no host");
    }
    if path.is_empty() || path == "/" {
        return invalid("it names no repository path");
    }
    let unsafe_word =
        |s: &str| s.starts_with('-') || s.chars().any(|c| c.is_whitespace() || c.is_control());
    if unsafe_word(&host) || user.as_deref().is_some_and(|u| u.is_empty() || unsafe_word(u)) {
        return invalid("a user or host may not start with `-` or hold spaces");
    }
    if path.chars().any(char::is_control) {
        return invalid("the path holds a control character");
    }
    Ok(Target { user, host, port, path })
}

/// `host[:port]`, the host of an IPv6 address in brackets.
fn split_port(host_port: &str) -> Result<(String, Option<u16>), String> {
    let (host, port) = match host_port.strip_prefix('[') {
        Some(bracketed) => match bracketed.split_once(']') {
            Some((host, rest)) => (host, rest.strip_prefix(':')),
            None => return Err("the ssh remote URL is not valid: `[` is not closed".to_owned()),
        },
        None => match host_port.split_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (host_port, None),
        },
    };
    let port =
        match port.filter(|p| !p.is_empty()) {
            Some(port) => Some(port.parse::<u16>().ok().filter(|p| *p > 0).ok_or_else(|| {
                format!("the ssh remote URL is not valid: `{port}` is not a port")
            })?),
            None => None,
        };
    Ok((host.to_owned(), port))
}

/// `text` as one word of a POSIX shell (the remote runs the command through one), as git
/// quotes it: in single quotes, each `'` and `!` outside them.
fn quoted(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('\'');
    for c in text.chars() {
        match c {
            '\'' | '!' => {
                out.push_str("'\\");
                out.push(c);
                out.push('\'');
            }
            c => out.push(c),
        }
    }
    out.push('\'');
    out
}

/// The transport of `ssh://` remotes (and of scp-like ones, which libgit2 sends to it).
pub(crate) fn factory(remote: &git2::Remote<'_>) -> Result<Transport, git2::Error> {
    let command = CURRENT.with(|c| c.borrow().clone());
    Transport::smart(remote, false, Ssh { command })
}

struct Ssh {
    command: Command,
}

impl SmartSubtransport for Ssh {
    fn action(
        &self,
        url: &str,
        action: Service,
    ) -> Result<Box<dyn SmartSubtransportStream>, git2::Error> {
        match action {
            // The pack comes over the connection the advertisement opened (git2 hands libgit2
            // the same stream), so only the advertisement connects.
            Service::UploadPackLs | Service::UploadPack => {}
            Service::ReceivePackLs | Service::ReceivePack => {
                return Err(git2::Error::from_str("Ferrobot only reads Git repositories"));
            }
        }
        let target = target(url).map_err(|e| git2::Error::from_str(&e))?;
        Connection::open(&self.command, &target, TIMEOUT)
            .map(|c| Box::new(c) as Box<dyn SmartSubtransportStream>)
            .map_err(|e| git2::Error::from_str(&e))
    }

    fn close(&self) -> Result<(), git2::Error> {
        Ok(())
    }
}

/// One run of the ssh client: its pipes, what it says on standard error, and a watchdog that
/// ends it when it has run too long.
struct Connection {
    child: Arc<Mutex<Child>>,
    stdin: Option<ChildStdin>,
    stdout: io::Take<ChildStdout>,
    stderr: Arc<Mutex<Vec<u8>>>,
    stderr_reader: Option<JoinHandle<()>>,
    timed_out: Arc<AtomicBool>,
    timeout: Duration,
    /// Dropped when the connection is, which ends the watchdog.
    _watchdog: mpsc::Sender<()>,
}

impl Connection {
    fn open(command: &Command, target: &Target, timeout: Duration) -> Result<Connection, String> {
        let program = &command.0[0];
        let mut child = std::process::Command::new(program)
            .args(command.args(target))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| format!("cannot run the ssh client `{program}`: {e}"))?;
        let (Some(stdin), Some(stdout), Some(mut stderr_pipe)) =
            (child.stdin.take(), child.stdout.take(), child.stderr.take())
        else {
            let _ = child.kill();
            let _ = child.wait();
            return Err("the ssh client's pipes could not be opened".to_owned());
        };
        let stderr = Arc::new(Mutex::new(Vec::new()));
        let kept = Arc::clone(&stderr);
        let stderr_reader = std::thread::spawn(move || {
            let mut chunk = [0u8; 1024];
            while let Ok(n) = stderr_pipe.read(&mut chunk) {
                if n == 0 {
                    break;
                }
                if let Ok(mut kept) = kept.lock() {
                    let room = MAX_STDERR.saturating_sub(kept.len()).min(n);
                    kept.extend_from_slice(&chunk[..room]);
                }
            }
        });
        let child = Arc::new(Mutex::new(child));
        let timed_out = Arc::new(AtomicBool::new(false));
        let (watchdog, ended) = mpsc::channel::<()>();
        let (running, late) = (Arc::clone(&child), Arc::clone(&timed_out));
        std::thread::spawn(move || {
            if let Err(mpsc::RecvTimeoutError::Timeout) = ended.recv_timeout(timeout) {
                late.store(true, Ordering::SeqCst);
                if let Ok(mut child) = running.lock() {
                    let _ = child.kill();
                }
            }
        });
        Ok(Connection {
            child,
            stdin: Some(stdin),
            stdout: stdout.take(MAX_RESPONSE),
            stderr,
            stderr_reader: Some(stderr_reader),
            timed_out,
            timeout,
            _watchdog: watchdog,
        })
    }

    /// Why the connection ended, once it has: `None` when ssh exited cleanly.
    fn failure(&mut self) -> Option<String> {
        if self.timed_out.load(Ordering::SeqCst) {
            return Some(format!("the remote took longer than {} s", self.timeout.as_secs_f64()));
        }
        let deadline = Instant::now() + EXIT_WAIT;
        let status = loop {
            let exited = self.child.lock().ok().and_then(|mut c| c.try_wait().ok().flatten());
            match exited {
                Some(status) => break Some(status),
                None if Instant::now() >= deadline => break None,
                None => std::thread::sleep(Duration::from_millis(10)),
            }
        };
        if status.is_some_and(|s| s.success()) {
            return None;
        }
        // ssh has exited (or will not): what it said is all there, or soon is.
        if let Some(reader) = self.stderr_reader.take() {
            let deadline = Instant::now() + Duration::from_secs(1);
            while !reader.is_finished() && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(10));
            }
        }
        let said = self
            .stderr
            .lock()
            .map(|s| String::from_utf8_lossy(&s).trim().to_owned())
            .unwrap_or_default();
        let how = match status.and_then(|s| s.code()) {
            Some(code) => format!("ssh exited with {code}"),
            None => "ssh ended".to_owned(),
        };
        Some(if said.is_empty() { how } else { format!("{how}: {said}") })
    }
}

impl Read for Connection {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.stdout.read(buf)?;
        if n == 0 && !buf.is_empty() {
            if self.stdout.limit() == 0 {
                return Err(io::Error::other(format!(
                    "the remote sent more than {MAX_RESPONSE} bytes in one answer"
                )));
            }
            if let Some(reason) = self.failure() {
                return Err(io::Error::other(reason));
            }
        }
        Ok(n)
    }
}

impl Write for Connection {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        match self.stdin.as_mut() {
            Some(stdin) => match stdin.write(data) {
                Ok(n) => Ok(n),
                // The remote hung up: why is what ssh said.
                Err(e) if e.kind() == io::ErrorKind::BrokenPipe => {
                    Err(io::Error::other(self.failure().unwrap_or_else(|| e.to_string())))
                }
                Err(e) => Err(e),
            },
            None => Err(io::Error::other("the connection is closed")),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        self.stdin.as_mut().map_or(Ok(()), Write::flush)
    }
}

impl Drop for Connection {
    fn drop(&mut self) {
        self.stdin = None;
        if let Ok(mut child) = self.child.lock() {
            if !matches!(child.try_wait(), Ok(Some(_))) {
                let _ = child.kill();
            }
            let _ = child.wait();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(user: Option<&str>, host: &str, port: Option<u16>, path: &str) -> Target {
        Target { user: user.map(Into::into), host: host.into(), port, path: path.into() }
    }

    /// Spec: git's urls.txt ("ssh://[user@]host.xz[:port]/path/to/repo.git/", the scp-like
    /// "[user@]host.xz:path/to/repo.git/", and `~user` paths).
    #[test]
    fn remotes_are_read_as_git_reads_them() {
        let cases = [
            ("ssh://git@h.example/srv/r.git", t(Some("git"), "h.example", None, "/srv/r.git")),
            ("ssh://h.example:2222/r", t(None, "h.example", Some(2222), "/r")),
            ("git+ssh://a%40b@h/r", t(Some("a@b"), "h", None, "/r")),
            ("ssh://h/~alice/r.git", t(None, "h", None, "~alice/r.git")),
            ("ssh://[::1]:22/r", t(None, "::1", Some(22), "/r")),
            ("ssh://h/a%20b", t(None, "h", None, "/a b")),
            ("git@github.com:org/r.git", t(Some("git"), "github.com", None, "org/r.git")),
            ("h.example:/srv/r", t(None, "h.example", None, "/srv/r")),
            ("[::1]:r.git", t(None, "::1", None, "r.git")),
        ];
        for (url, want) in cases {
            assert!(is_ssh(url), "{url}");
            assert_eq!(target(url), Ok(want), "{url}");
        }
    }

    #[test]
    fn nothing_reaches_the_client_as_an_option() {
        for (url, why) in [
            ("ssh://-oProxyCommand=touch%20x/r", "may not start with `-`"),
            ("ssh://-oProxyCommand=x@h/r", "may not start with `-`"),
            ("-oProxyCommand=x:r", "may not start with `-`"),
            ("ssh://a%20b@h/r", "hold spaces"),
            ("ssh://h", "no repository path"),
            ("ssh://h/", "no repository path"),
            ("ssh://@h/r", "may not start with `-`"),
            ("ssh:///r", "no host"),
            ("ssh://h:99999/r", "is not a port"),
            ("ssh://h:x/r", "is not a port"),
            ("ssh://h/r%0A", "control character"),
            ("[::1/r", "not closed"),
        ] {
            let got = target(url);
            assert!(got.as_ref().is_err_and(|e| e.contains(why)), "{url}: {got:?}");
        }
    }

    #[test]
    fn local_paths_and_other_schemes_are_not_ssh() {
        for url in ["/srv/r", "./r:x", "https://h/r", "file:///srv/r", "r"] {
            assert!(!is_ssh(url), "{url}");
        }
    }

    /// Spec: git's quote.c (`sq_quote_buf`): the remote shell reads the path as one word.
    #[test]
    fn the_path_is_one_word_of_the_remote_shell() {
        assert_eq!(quoted("/srv/r.git"), "'/srv/r.git'");
        assert_eq!(quoted("it's!"), "'it'\\''s'\\!''");
        assert_eq!(quoted("$(reboot) `x` a b"), "'$(reboot) `x` a b'");
    }

    /// A client that takes the arguments and runs `script` (no remote at all).
    fn client(script: &str) -> Command {
        Command(vec!["sh".into(), "-c".into(), script.into(), "ssh".into()])
    }

    #[test]
    fn a_remote_that_stalls_is_ended() {
        let mut connection = Connection::open(
            &client("exec sleep 30"),
            &t(None, "h", None, "/r"),
            Duration::from_millis(200),
        )
        .expect("sh runs");
        let started = Instant::now();
        let mut buf = [0u8; 16];
        let got = connection.read(&mut buf).map_err(|e| e.to_string());
        assert_eq!(got, Err("the remote took longer than 0.2 s".to_owned()));
        assert!(started.elapsed() < Duration::from_secs(10));
    }

    #[test]
    fn what_ssh_says_is_the_reason_and_bounded() {
        let mut connection = Connection::open(
            &client("head -c 100000 /dev/zero | tr '\\0' x >&2; echo; echo denied >&2; exit 255"),
            &t(None, "h", None, "/r"),
            TIMEOUT,
        )
        .expect("sh runs");
        let mut buf = [0u8; 16];
        assert_eq!(connection.read(&mut buf).ok(), Some(1));
        let got = connection.read(&mut buf).map_err(|e| e.to_string());
        let Err(message) = got else { panic!("{got:?}") };
        assert!(message.starts_with("ssh exited with 255: xxx"), "{message}");
        assert!(message.len() < MAX_STDERR + 64, "{}", message.len());
    }

    #[test]
    fn the_client_runs_in_batch_mode() {
        let command = Command::parse("ssh -i /k").unwrap_or_default();
        assert_eq!(
            command.args(&t(Some("git"), "h", Some(2222), "/r")),
            [
                "-i",
                "/k",
                "-o",
                "BatchMode=yes",
                "-o",
                "ConnectTimeout=10",
                "-p",
                "2222",
                "git@h",
                "git-upload-pack '/r'"
            ]
        );
        assert!(Command::parse("  ").is_err());
    }
}
