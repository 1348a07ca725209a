//! Fetching a repository's branch into a bare repository of Ferrobot's own and reading the
//! files of its commit that the repository provides something from (no working tree).
//!
//! The branch is forced onto the local ref on every fetch, so a force-pushed branch is taken
//! as it now is. A branch may also name a tag or a commit, as Nautobot's `branch` says.

use std::path::Path;
use std::sync::Mutex;

use ferrobot_domain::git_repository::{self, Refused};
use git2::{
    FetchOptions, ObjectType, Oid, RemoteCallbacks, Repository, TreeEntry, TreeWalkMode,
    TreeWalkResult,
};

use crate::ssh;

/// The most bytes of files one commit may provide.
pub const MAX_TOTAL: usize = 256 << 20;

/// The most files one commit may provide.
pub const MAX_FILES: usize = 50_000;

/// Where a remote lives and what of it to take.
#[derive(Debug, Clone)]
pub struct Remote {
    pub url: String,
    /// A branch, a tag or a commit.
    pub branch: String,
    /// From the repository's secrets group: sent as HTTP basic authentication.
    pub username: Option<String>,
    pub token: Option<String>,
}

/// Whether `file://` remotes and local paths may be fetched (an operator's command line may;
/// the API may only when the server's settings say so).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Local {
    Allowed,
    Refused,
}

/// A fetched commit and the files of it the repository provides something from.
#[derive(Debug)]
pub struct Fetched {
    pub commit: String,
    pub files: Vec<(String, Vec<u8>)>,
}

/// Why a fetch failed.
#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    /// The remote, its URL or the branch: what the user can mend in the repository's settings.
    #[error("{0}")]
    Remote(String),
    /// A file of the commit that refuses the repository.
    #[error("{0}")]
    File(Refused),
}

/// How far a fetch got: objects received of those announced.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Progress {
    pub received: usize,
    pub total: usize,
}

/// Fetches `remote` into the bare repository at `dir` (made when missing) and reads its commit;
/// `ssh` is the client an ssh remote is fetched through (`None`: ssh remotes are refused).
pub fn fetch(
    dir: &Path,
    remote: &Remote,
    local: Local,
    ssh: Option<&ssh::Command>,
    progress: &mut dyn FnMut(Progress),
) -> Result<Fetched, FetchError> {
    let url = access_url(remote, local, ssh.is_some())?;
    match ssh {
        Some(command) => ssh::using(command, || fetch_commit(dir, remote, &url, progress)),
        None => fetch_commit(dir, remote, &url, progress),
    }
}

/// The fetch itself, from `url` (the remote's, as [`access_url`] gives it).
fn fetch_commit(
    dir: &Path,
    remote: &Remote,
    url: &str,
    progress: &mut dyn FnMut(Progress),
) -> Result<Fetched, FetchError> {
    let secrets: Vec<&str> =
        [&remote.username, &remote.token].into_iter().flatten().map(String::as_str).collect();
    let scrub = |e: git2::Error| FetchError::Remote(scrubbed(e.message(), &secrets));
    crate::transports::register().map_err(scrub)?;
    let repo = match Repository::open_bare(dir) {
        Ok(repo) => repo,
        Err(_) => Repository::init_bare(dir).map_err(scrub)?,
    };
    let branch = remote.branch.as_str();
    if !valid_branch(branch) {
        return Err(FetchError::Remote(format!("`{branch}` is not a valid branch, tag or commit")));
    }
    let mut anonymous = repo.remote_anonymous(url).map_err(scrub)?;
    let mut run = |refspecs: &[String]| {
        let mut callbacks = RemoteCallbacks::new();
        callbacks.transfer_progress(|p| {
            progress(Progress { received: p.received_objects(), total: p.total_objects() });
            true
        });
        let mut options = FetchOptions::new();
        options.remote_callbacks(callbacks);
        options.download_tags(git2::AutotagOption::None);
        anonymous.fetch(refspecs, Some(&mut options), None)
    };
    // What an earlier fetch left is forgotten: a branch deleted on the remote must not be
    // taken from here.
    for name in repo
        .references_glob("refs/ferrobot/*")
        .map_err(scrub)?
        .names()
        .flatten()
        .map(str::to_owned)
        .collect::<Vec<_>>()
    {
        if let Ok(mut reference) = repo.find_reference(&name) {
            reference.delete().map_err(scrub)?;
        }
    }
    let (as_branch, as_tag) =
        (format!("refs/ferrobot/heads/{branch}"), format!("refs/ferrobot/tags/{branch}"));
    run(&[format!("+refs/heads/{branch}:{as_branch}"), format!("+refs/tags/{branch}:{as_tag}")])
        .map_err(scrub)?;
    let named = [as_branch, as_tag].into_iter().find_map(|r| repo.refname_to_id(&r).ok());
    let commit = match named {
        Some(id) => {
            repo.find_object(id, None).and_then(|o| o.peel_to_commit()).map_err(scrub)?.id()
        }
        None => {
            // A commit: every branch is fetched, to find it among them.
            let not_found = || {
                FetchError::Remote(format!("the remote has no branch, tag or commit `{branch}`"))
            };
            if branch.len() < 7 || Oid::from_str(branch).is_err() {
                return Err(not_found());
            }
            run(&["+refs/heads/*:refs/ferrobot/all/*".to_owned()]).map_err(scrub)?;
            let object = repo.revparse_single(branch).map_err(|_| not_found())?;
            object.peel_to_commit().map_err(scrub)?.id()
        }
    };
    let commit = repo.find_commit(commit).map_err(scrub)?;
    let files = files_of(&repo, &commit.tree().map_err(scrub)?)?;
    Ok(Fetched { commit: commit.id().to_string(), files })
}

/// The files of one commit of a bare repository, each read when asked for (what templates
/// include): a render reads only the files its templates reach.
pub struct CommitFiles {
    repo: Mutex<Repository>,
    tree: Oid,
}

impl CommitFiles {
    /// The text of the file at `path`; `None` when the commit has no such file (a directory, a
    /// link or a submodule is none). A file over 16 MiB or not UTF-8 is an error naming it.
    pub fn read(&self, path: &str) -> Result<Option<String>, String> {
        let repo = self.repo.lock().map_err(|_| "the repository is unusable".to_owned())?;
        let tree = repo.find_tree(self.tree).map_err(|e| e.message().to_owned())?;
        let Ok(entry) = tree.get_path(Path::new(path)) else { return Ok(None) };
        if !is_file(&entry) {
            return Ok(None);
        }
        let odb = repo.odb().map_err(|e| e.message().to_owned())?;
        let (size, _) = odb.read_header(entry.id()).map_err(|e| e.message().to_owned())?;
        if size > git_repository::MAX_FILE {
            return Err(format!("`{path}` is larger than {} bytes", git_repository::MAX_FILE));
        }
        let blob = repo.find_blob(entry.id()).map_err(|e| e.message().to_owned())?;
        String::from_utf8(blob.content().to_vec())
            .map(Some)
            .map_err(|_| format!("`{path}` is not UTF-8 text"))
    }
}

/// The files of `commit` in the bare repository at `dir`; `None` when this clone does not have
/// the commit (yet).
pub fn commit_files(dir: &Path, commit: &str) -> Result<Option<CommitFiles>, FetchError> {
    let Ok(repo) = Repository::open_bare(dir) else { return Ok(None) };
    let Some(tree) = Oid::from_str(commit)
        .ok()
        .and_then(|id| repo.find_commit(id).ok())
        .and_then(|commit| commit.tree().ok())
        .map(|tree| tree.id())
    else {
        return Ok(None);
    };
    Ok(Some(CommitFiles { repo: Mutex::new(repo), tree }))
}

/// The URL a fetch uses: the remote's, with the credentials in its user part for HTTP(S); an
/// ssh remote as it is (`ssh://` for its other schemes), its keys being the ssh client's.
fn access_url(remote: &Remote, local: Local, ssh_allowed: bool) -> Result<String, FetchError> {
    let url = remote.url.trim();
    if ssh::is_ssh(url) {
        if !ssh_allowed {
            return Err(FetchError::Remote(
                "ssh remotes are not allowed here (they sign in with the server's own keys); use an http(s) URL".into(),
            ));
        }
        ssh::target(url).map_err(FetchError::Remote)?;
        return Ok(match url.split_once("://") {
            Some((_, rest)) => format!("ssh://{rest}"),
            None => url.to_owned(),
        });
    }
    let scheme = url.split_once("://").map(|(s, _)| s.to_ascii_lowercase());
    match scheme.as_deref() {
        Some("http" | "https") => {}
        Some("file") | None if local == Local::Allowed => return Ok(url.to_owned()),
        Some("file") | None => {
            return Err(FetchError::Remote(
                "local repositories (file://) are not allowed here; use an http(s) URL".into(),
            ))
        }
        Some(other) => {
            return Err(FetchError::Remote(format!("`{other}` URLs are not supported")));
        }
    }
    let mut parsed = url::Url::parse(url)
        .map_err(|e| FetchError::Remote(format!("the remote URL is not valid: {e}")))?;
    let encode = |s: &str| {
        s.bytes()
            .map(|b| match b {
                b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                    (b as char).to_string()
                }
                _ => format!("%{b:02X}"),
            })
            .collect::<String>()
    };
    // Nautobot's rule (`get_repo_access_url`): a token goes in as `user:token@` when there is a
    // user name, else as `token@`.
    if let Some(token) = remote.token.as_deref().filter(|t| !t.is_empty()) {
        let set = match remote.username.as_deref().filter(|u| !u.is_empty()) {
            Some(user) => parsed
                .set_username(&encode(user))
                .and_then(|()| parsed.set_password(Some(&encode(token)))),
            None => parsed.set_username(&encode(token)),
        };
        set.map_err(|()| FetchError::Remote("the remote URL cannot hold credentials".into()))?;
    }
    Ok(parsed.to_string())
}

/// A branch, tag or commit name Git accepts, that cannot be read as an option or a path.
fn valid_branch(branch: &str) -> bool {
    !branch.is_empty()
        && branch.len() <= 255
        && !branch.starts_with(['-', '/'])
        && !branch.contains("..")
        && git2::Reference::is_valid_name(&format!("refs/heads/{branch}"))
}

/// A message with every secret replaced.
fn scrubbed(message: &str, secrets: &[&str]) -> String {
    let mut out = message.to_owned();
    for secret in secrets.iter().filter(|s| !s.is_empty()) {
        out = out.replace(secret, "********");
    }
    out
}

/// Whether a tree entry is a regular file (not a directory, a link or a submodule).
fn is_file(entry: &TreeEntry<'_>) -> bool {
    entry.kind() == Some(ObjectType::Blob) && entry.filemode() != 0o120000
}

/// The files of `tree` the repository provides something from (`git_repository::wanted`),
/// bounded in size and number.
fn files_of(
    repo: &Repository,
    tree: &git2::Tree<'_>,
) -> Result<Vec<(String, Vec<u8>)>, FetchError> {
    let odb = repo.odb().map_err(|e| FetchError::Remote(e.message().to_owned()))?;
    let mut wanted = Vec::new();
    let mut refused = None;
    tree.walk(TreeWalkMode::PreOrder, |dir, entry| {
        if !is_file(entry) {
            return TreeWalkResult::Ok;
        }
        let Some(name) = entry.name() else { return TreeWalkResult::Ok };
        let path = format!("{dir}{name}");
        if git_repository::wanted(&path) {
            wanted.push((path, entry.id()));
            if wanted.len() > MAX_FILES {
                refused = Some(Refused {
                    file: dir.trim_end_matches('/').to_owned(),
                    reason: format!("the repository provides more than {MAX_FILES} files"),
                });
                return TreeWalkResult::Abort;
            }
        }
        TreeWalkResult::Ok
    })
    .ok();
    if let Some(refused) = refused {
        return Err(FetchError::File(refused));
    }
    let mut total = 0;
    let mut files = Vec::with_capacity(wanted.len());
    for (path, id) in wanted {
        let (size, _) =
            odb.read_header(id).map_err(|e| FetchError::Remote(e.message().to_owned()))?;
        if size > git_repository::MAX_FILE {
            return Err(FetchError::File(Refused {
                file: path,
                reason: format!("the file is larger than {} bytes", git_repository::MAX_FILE),
            }));
        }
        total += size;
        if total > MAX_TOTAL {
            return Err(FetchError::File(Refused {
                file: path,
                reason: format!("the repository provides more than {MAX_TOTAL} bytes of files"),
            }));
        }
        let blob = repo.find_blob(id).map_err(|e| FetchError::Remote(e.message().to_owned()))?;
        files.push((path, blob.content().to_vec()));
    }
    Ok(files)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn remote(url: &str, user: Option<&str>, token: Option<&str>) -> Remote {
        Remote {
            url: url.into(),
            branch: "main".into(),
            username: user.map(Into::into),
            token: token.map(Into::into),
        }
    }

    /// Spec: nautobot/extras/datasources/git.py (`get_repo_access_url`).
    #[test]
    fn credentials_go_in_the_url_as_nautobot_puts_them() {
        let cases = [
            (remote("https://h/r.git", None, None), Ok("https://h/r.git")),
            (remote("https://h/r.git", None, Some("t0k")), Ok("https://t0k@h/r.git")),
            (
                remote("https://h/r.git", Some("bob"), Some("a:b@c")),
                Ok("https://bob:a%3Ab%40c@h/r.git"),
            ),
            (remote("https://h/r.git", Some("bob"), None), Ok("https://h/r.git")),
            (remote("ssh://git@h/r.git", None, Some("t0k")), Ok("ssh://git@h/r.git")),
            (remote("git+ssh://h:2222/r.git", None, None), Ok("ssh://h:2222/r.git")),
            (remote("git@h:org/r.git", None, None), Ok("git@h:org/r.git")),
            (remote("ssh://-oProxyCommand=x/r", None, None), Err("may not start with `-`")),
            (remote("file:///srv/r", None, None), Err("local repositories")),
            (remote("/srv/r", None, None), Err("local repositories")),
            (remote("ftp://h/r", None, None), Err("`ftp` URLs are not supported")),
        ];
        for (r, want) in cases {
            let got = access_url(&r, Local::Refused, true).map_err(|e| e.to_string());
            match (got, want) {
                (Ok(got), Ok(want)) => assert_eq!(got, want),
                (Err(got), Err(want)) => assert!(got.contains(want), "{got}"),
                (got, want) => panic!("{}: {got:?} against {want:?}", r.url),
            }
        }
        assert_eq!(
            access_url(&remote("/srv/r", None, None), Local::Allowed, true).ok().as_deref(),
            Some("/srv/r")
        );
        for url in ["ssh://git@h/r.git", "git@h:r.git"] {
            let refused = access_url(&remote(url, None, None), Local::Allowed, false);
            assert!(
                refused.is_err_and(|e| e.to_string().contains("ssh remotes are not allowed here")),
                "{url}"
            );
        }
    }

    #[test]
    fn branch_names_cannot_be_options_or_paths() {
        for good in ["main", "release/1.2", "v1.0", "0123abc"] {
            assert!(valid_branch(good), "{good}");
        }
        for bad in ["", "-upload-pack=x", "a..b", "/etc", "a b", "a~1", "x:y"] {
            assert!(!valid_branch(bad), "{bad}");
        }
    }

    /// A bare repository at `dir` with one commit of these files; the commit's hash.
    fn committed(dir: &Path, files: &[(&str, &[u8])]) -> String {
        let repo = Repository::init_bare(dir).expect("init");
        let mut index = git2::Index::new().expect("index");
        for (path, bytes) in files {
            let entry = git2::IndexEntry {
                ctime: git2::IndexTime::new(0, 0),
                mtime: git2::IndexTime::new(0, 0),
                dev: 0,
                ino: 0,
                mode: 0o100644,
                uid: 0,
                gid: 0,
                file_size: 0,
                id: repo.blob(bytes).expect("blob"),
                flags: 0,
                flags_extended: 0,
                path: path.as_bytes().to_vec(),
            };
            index.add(&entry).expect("add");
        }
        let tree = repo.find_tree(index.write_tree_to(&repo).expect("tree")).expect("tree");
        let who = git2::Signature::now("t", "t@example.com").expect("signature");
        repo.commit(None, &who, &who, "files", &tree, &[]).expect("commit").to_string()
    }

    #[test]
    fn a_commits_files_are_read_when_asked_for() {
        let dir = std::env::temp_dir().join(format!("fb_files_{}", uuid::Uuid::new_v4().simple()));
        let huge = vec![b'x'; git_repository::MAX_FILE + 1];
        let commit = committed(
            &dir,
            &[("t/a.j2", b"{{ x }}"), ("data/huge.bin", &huge), ("latin1.txt", b"caf\xe9")],
        );
        let files = commit_files(&dir, &commit).expect("opens").expect("has the commit");
        assert_eq!(files.read("t/a.j2"), Ok(Some("{{ x }}".to_owned())));
        for none in ["t", "t/missing.j2", "../t/a.j2", "/etc/passwd", ""] {
            assert_eq!(files.read(none), Ok(None), "{none}");
        }
        assert!(files.read("data/huge.bin").is_err_and(|e| e.contains("is larger than")));
        assert_eq!(files.read("latin1.txt"), Err("`latin1.txt` is not UTF-8 text".to_owned()));
        assert!(commit_files(&dir, "0123456789012345678901234567890123456789")
            .is_ok_and(|f| f.is_none()));
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn secrets_never_reach_a_message() {
        assert_eq!(
            scrubbed("failed for https://bob:t0k@h", &["t0k", ""]),
            "failed for https://bob:********@h"
        );
    }
}
