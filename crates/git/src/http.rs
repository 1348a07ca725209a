//! Git's smart HTTP protocol (fetch only) as a libgit2 transport, on reqwest with rustls: the
//! `http://` and `https://` remotes of a sync. libgit2 speaks the protocol; this module carries
//! its bytes: `GET <url>/info/refs?service=git-upload-pack` for the advertisement, then
//! `POST <url>/git-upload-pack` with what libgit2 wrote.
//!
//! Credentials come in the URL's user part, as Nautobot puts them there (`user:token@` or
//! `token@`), and go out as HTTP basic authentication; they are never part of an error.
//! What a remote may send is bounded ([`MAX_RESPONSE`]), and so is how long it may take.

use std::io::{self, Read, Write};
use std::time::Duration;

use git2::transport::{Service, SmartSubtransport, SmartSubtransportStream, Transport};

/// The most bytes one answer of a remote may carry (a pack included).
pub const MAX_RESPONSE: u64 = 1 << 30;

/// The most bytes libgit2 may write into one request (its wants and haves).
const MAX_REQUEST: usize = 64 << 20;

const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
const TIMEOUT: Duration = Duration::from_secs(600);

/// The transport of `http://` and `https://` remotes.
pub(crate) fn factory(remote: &git2::Remote<'_>) -> Result<Transport, git2::Error> {
    let client = reqwest::blocking::Client::builder()
        .connect_timeout(CONNECT_TIMEOUT)
        .timeout(TIMEOUT)
        .user_agent(concat!("git/2.0 (ferrobot ", env!("CARGO_PKG_VERSION"), ")"))
        .build()
        .map_err(|e| git2::Error::from_str(&format!("HTTP client: {e}")))?;
    Transport::smart(remote, true, Http { client })
}

struct Http {
    client: reqwest::blocking::Client,
}

impl SmartSubtransport for Http {
    fn action(
        &self,
        url: &str,
        action: Service,
    ) -> Result<Box<dyn SmartSubtransportStream>, git2::Error> {
        let (base, auth) = split_credentials(url)?;
        let base = base.trim_end_matches('/').to_owned();
        let request = match action {
            Service::UploadPackLs => {
                Request::Get(format!("{base}/info/refs?service=git-upload-pack"))
            }
            Service::UploadPack => Request::Post(format!("{base}/git-upload-pack")),
            Service::ReceivePackLs | Service::ReceivePack => {
                return Err(git2::Error::from_str("Ferrobot only reads Git repositories"));
            }
        };
        Ok(Box::new(Stream {
            client: self.client.clone(),
            request,
            auth,
            body: Vec::new(),
            response: None,
        }))
    }

    fn close(&self) -> Result<(), git2::Error> {
        Ok(())
    }
}

enum Request {
    Get(String),
    Post(String),
}

struct Stream {
    client: reqwest::blocking::Client,
    request: Request,
    auth: Option<(String, String)>,
    body: Vec<u8>,
    response: Option<io::Take<reqwest::blocking::Response>>,
}

impl Stream {
    fn send(&mut self) -> io::Result<io::Take<reqwest::blocking::Response>> {
        let (builder, advertisement) = match &self.request {
            Request::Get(url) => (self.client.get(url), true),
            Request::Post(url) => (
                self.client
                    .post(url)
                    .header("Content-Type", "application/x-git-upload-pack-request")
                    .header("Accept", "application/x-git-upload-pack-result")
                    .body(std::mem::take(&mut self.body)),
                false,
            ),
        };
        let builder = match &self.auth {
            Some((user, password)) => builder.basic_auth(user, Some(password)),
            None => builder,
        };
        // reqwest's errors name the URL, which holds no credentials (they were split off).
        let response = builder.send().map_err(|e| io::Error::other(e.without_url()))?;
        let status = response.status();
        if !status.is_success() {
            let reason = match status.as_u16() {
                401 | 403 => "the remote refused the credentials".to_owned(),
                404 => "the remote has no such repository".to_owned(),
                _ => format!("the remote answered HTTP {}", status.as_u16()),
            };
            return Err(io::Error::other(reason));
        }
        if advertisement {
            let smart = response
                .headers()
                .get("content-type")
                .and_then(|v| v.to_str().ok())
                .is_some_and(|v| v.starts_with("application/x-git-upload-pack-advertisement"));
            if !smart {
                return Err(io::Error::other("the remote is not a smart-HTTP Git server"));
            }
        }
        Ok(response.take(MAX_RESPONSE))
    }
}

impl Read for Stream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.response.is_none() {
            self.response = Some(self.send()?);
        }
        let Some(response) = self.response.as_mut() else { return Ok(0) };
        let n = response.read(buf)?;
        if n == 0 && !buf.is_empty() && response.limit() == 0 {
            return Err(io::Error::other(format!(
                "the remote sent more than {MAX_RESPONSE} bytes in one answer"
            )));
        }
        Ok(n)
    }
}

impl Write for Stream {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        if self.body.len() + data.len() > MAX_REQUEST {
            return Err(io::Error::other("the request to the remote grew too large"));
        }
        self.body.extend_from_slice(data);
        Ok(data.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// A percent-encoded part of a URL, decoded.
pub(crate) fn decode(part: &str) -> String {
    let bytes = part.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        match (
            bytes[i],
            bytes.get(i + 1).copied().and_then(hex),
            bytes.get(i + 2).copied().and_then(hex),
        ) {
            (b'%', Some(hi), Some(lo)) => {
                out.push((hi * 16 + lo) as u8);
                i += 3;
            }
            (b, _, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The URL without its user part, and the basic-auth credentials the user part held (a token
/// alone is the user name with an empty password, as Git sends `token@host`).
pub fn split_credentials(url: &str) -> Result<(String, Option<(String, String)>), git2::Error> {
    let mut parsed = url::Url::parse(url)
        .map_err(|e| git2::Error::from_str(&format!("the remote URL is not valid: {e}")))?;
    let user = decode(parsed.username());
    let password = parsed.password().map(decode).unwrap_or_default();
    let auth = (!user.is_empty() || !password.is_empty()).then_some((user, password));
    // Clearing the user part of an http(s) URL cannot fail.
    let _ = parsed.set_username("");
    let _ = parsed.set_password(None);
    Ok((parsed.to_string(), auth))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_leave_the_url() {
        let cases = [
            ("https://git.example/r.git", "https://git.example/r.git", None),
            (
                "https://bob:s3cr%40t@git.example/r.git",
                "https://git.example/r.git",
                Some(("bob", "s3cr@t")),
            ),
            ("http://tok@127.0.0.1:9/r", "http://127.0.0.1:9/r", Some(("tok", ""))),
            ("https://a+b:c+d@h/r", "https://h/r", Some(("a+b", "c+d"))),
        ];
        for (url, bare, auth) in cases {
            let (got, got_auth) = split_credentials(url).expect(url);
            assert_eq!(got, bare);
            assert_eq!(got_auth, auth.map(|(u, p)| (u.to_owned(), p.to_owned())));
        }
    }
}
