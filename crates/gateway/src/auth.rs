//! Authentication: Nautobot-format API tokens (40 hex characters, stored as a SHA-256 digest),
//! JWTs (HS256, expiry enforced) obtained with a username and password (argon2 hashes), and the
//! gate every endpoint that wants a user passes ([`user_of`]).

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use chrono::{Duration, Utc};
use ferrobot_persistence::auth::User;
use ferrobot_persistence::{Store, StoreResult};
use jsonwebtoken::{decode, encode, Algorithm, DecodingKey, EncodingKey, Header, Validation};
use rand::RngCore;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// Why a request was refused; the message is what DRF would answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    Missing,
    Invalid,
    /// A token used from outside its allowed networks.
    Source,
}

impl Refusal {
    pub fn detail(self) -> &'static str {
        match self {
            Refusal::Missing => "Authentication credentials were not provided.",
            Refusal::Invalid => "Invalid token.",
            Refusal::Source => "This token may not be used from this address.",
        }
    }
}

/// Whether a token whose allowed networks are `allowed` may be used from `client`: any address
/// when the list is empty; an unknown address never otherwise. An entry that does not parse
/// allows nothing (entries are checked when written).
pub fn source_allowed(allowed: &[String], client: Option<std::net::IpAddr>) -> bool {
    if allowed.is_empty() {
        return true;
    }
    let Some(client) = client else { return false };
    allowed.iter().any(|entry| {
        let entry = entry.trim();
        match entry.parse::<ipnet::IpNet>() {
            Ok(net) => net.contains(&client),
            Err(_) => entry.parse::<std::net::IpAddr>().is_ok_and(|ip| ip == client),
        }
    })
}

pub fn hash_password(password: &str) -> Result<String, crate::error::GatewayError> {
    let failed = |e: argon2::password_hash::Error| {
        crate::error::GatewayError::Internal(format!("password hash: {e}"))
    };
    let mut salt = [0u8; 16];
    rand::thread_rng().fill_bytes(&mut salt);
    let salt = SaltString::encode_b64(&salt).map_err(failed)?;
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(failed)
}

pub fn verify_password(password: &str, hash: &str) -> bool {
    PasswordHash::new(hash)
        .is_ok_and(|h| Argon2::default().verify_password(password.as_bytes(), &h).is_ok())
}

/// A new token key: 40 hex characters, like Nautobot's.
pub fn new_token_key() -> String {
    let mut bytes = [0u8; 20];
    rand::thread_rng().fill_bytes(&mut bytes);
    hex::encode(bytes)
}

pub fn token_digest(key: &str) -> String {
    hex::encode(Sha256::digest(key.as_bytes()))
}

#[derive(Debug, Serialize, Deserialize)]
struct Claims {
    sub: String,
    exp: i64,
    iat: i64,
}

/// Issues a JWT for a user, valid for `lifetime`.
pub fn issue_jwt(
    secret: &str,
    user: &User,
    lifetime: Duration,
) -> Result<(String, chrono::DateTime<Utc>), String> {
    let now = Utc::now();
    let expires = now + lifetime;
    let claims =
        Claims { sub: user.id.to_string(), exp: expires.timestamp(), iat: now.timestamp() };
    encode(&Header::new(Algorithm::HS256), &claims, &EncodingKey::from_secret(secret.as_bytes()))
        .map(|t| (t, expires))
        .map_err(|e| e.to_string())
}

/// How a JWT is checked: HS256 only, signed with the secret, `exp` required and past it refused,
/// a `nbf` in the future refused, no leeway.
fn validation() -> Validation {
    let mut validation = Validation::new(Algorithm::HS256);
    validation.leeway = 0;
    validation.validate_nbf = true;
    validation
}

/// The user an `Authorization` header names, or why not.
pub async fn authenticate(
    store: &Store,
    secret: &str,
    header: Option<&str>,
    client: Option<std::net::IpAddr>,
) -> StoreResult<Result<User, Refusal>> {
    let Some(header) = header.map(str::trim).filter(|h| !h.is_empty()) else {
        return Ok(Err(Refusal::Missing));
    };
    let (scheme, credential) = header.split_once(' ').unwrap_or((header, ""));
    let credential = credential.trim();
    if scheme.eq_ignore_ascii_case("token") {
        let valid = credential.len() == 40 && credential.chars().all(|c| c.is_ascii_hexdigit());
        if !valid {
            return Ok(Err(Refusal::Invalid));
        }
        return Ok(match store.user_by_token(&token_digest(credential)).await? {
            None => Err(Refusal::Invalid),
            Some(user) if !source_allowed(&user.allowed_ips, client) => Err(Refusal::Source),
            Some(user) => Ok(user),
        });
    }
    if scheme.eq_ignore_ascii_case("bearer") {
        let Ok(data) = decode::<Claims>(
            credential,
            &DecodingKey::from_secret(secret.as_bytes()),
            &validation(),
        ) else {
            return Ok(Err(Refusal::Invalid));
        };
        let Ok(id) = uuid::Uuid::parse_str(&data.claims.sub) else {
            return Ok(Err(Refusal::Invalid));
        };
        return Ok(store.user_by_id(id).await?.filter(|u| u.is_active).ok_or(Refusal::Invalid));
    }
    Ok(Err(Refusal::Invalid))
}

/// The address a request comes from: the peer's, or behind a trusted proxy the last address
/// of `X-Forwarded-For` that is not a trusted proxy's.
#[derive(Debug, Clone, Copy)]
pub struct ClientAddress(pub Option<std::net::IpAddr>);

pub(crate) fn client_address(
    trusted: &[ipnet::IpNet],
    request: &axum::extract::Request,
) -> Option<std::net::IpAddr> {
    let peer = request
        .extensions()
        .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
        .map(|c| c.0.ip())?;
    let is_trusted = |ip: &std::net::IpAddr| trusted.iter().any(|n| n.contains(ip));
    if !is_trusted(&peer) {
        return Some(peer);
    }
    let forwarded = request.headers().get_all("x-forwarded-for");
    let hops: Vec<&str> =
        forwarded.iter().filter_map(|v| v.to_str().ok()).flat_map(|v| v.split(',')).collect();
    // From the nearest hop back: trusted proxies are passed over; the first other address is
    // the client, and one that does not parse leaves the proxy as the client.
    for hop in hops.iter().rev().take(64) {
        match hop.trim().parse::<std::net::IpAddr>() {
            Ok(ip) if is_trusted(&ip) => continue,
            Ok(ip) => return Some(ip),
            Err(_) => return Some(peer),
        }
    }
    Some(peer)
}

/// The user the request's `Authorization` header names, or the answer that refuses it: 403
/// `{"detail"}` as Nautobot's, `busy` when the database did not answer in time, 500 otherwise.
pub(crate) async fn user_of(
    state: &crate::AppState,
    headers: &HeaderMap,
    client: Option<std::net::IpAddr>,
    busy: fn(&str) -> Response,
) -> Result<User, Response> {
    let header = headers.get("authorization").and_then(|h| h.to_str().ok());
    match authenticate(&state.store, &state.config.jwt_secret, header, client).await {
        Ok(Ok(user)) => Ok(user),
        Ok(Err(refusal)) => Err(detail(StatusCode::FORBIDDEN, refusal.detail())),
        Err(ferrobot_persistence::StoreError::Busy(message)) => Err(busy(&message)),
        Err(error) => {
            tracing::error!(%error, "authentication failed");
            Err(detail(StatusCode::INTERNAL_SERVER_ERROR, "Internal error."))
        }
    }
}

/// An answer in Nautobot's REST error shape: `{"detail": text}`.
pub(crate) fn detail(status: StatusCode, text: &str) -> Response {
    (status, Json(serde_json::json!({ "detail": text }))).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user() -> User {
        User {
            id: uuid::Uuid::new_v4(),
            username: "u".into(),
            password_hash: String::new(),
            is_superuser: false,
            is_active: true,
            write_enabled: true,
            allowed_ips: Vec::new(),
        }
    }

    fn decodes(secret: &str, token: &str) -> bool {
        decode::<Claims>(token, &DecodingKey::from_secret(secret.as_bytes()), &validation()).is_ok()
    }

    #[test]
    fn jwts_not_valid_yet_are_refused() {
        #[derive(Serialize)]
        struct Early {
            sub: String,
            exp: i64,
            iat: i64,
            nbf: i64,
        }
        let now = Utc::now().timestamp();
        let sign = |nbf: i64| {
            let claims = Early { sub: "u".into(), exp: now + 600, iat: now, nbf };
            let key = EncodingKey::from_secret(b"s");
            encode(&Header::new(Algorithm::HS256), &claims, &key).expect("encode")
        };
        assert!(decodes("s", &sign(now - 5)));
        assert!(!decodes("s", &sign(now + 300)));
        // Another algorithm, even with the right secret, is refused.
        let claims = Claims { sub: "u".into(), exp: now + 600, iat: now };
        let other =
            encode(&Header::new(Algorithm::HS512), &claims, &EncodingKey::from_secret(b"s"));
        assert!(!decodes("s", &other.expect("encode")));
    }

    #[test]
    fn jwts_expire_and_need_the_secret() {
        let (fresh, _) = issue_jwt("s", &user(), Duration::minutes(5)).expect("issue");
        assert!(decodes("s", &fresh));
        assert!(!decodes("other", &fresh));
        let (stale, _) = issue_jwt("s", &user(), Duration::seconds(-5)).expect("issue");
        assert!(!decodes("s", &stale));
    }

    #[test]
    fn passwords_and_token_keys() {
        let hash = hash_password("pw").expect("hash");
        assert!(verify_password("pw", &hash) && !verify_password("nope", &hash));
        let key = new_token_key();
        assert_eq!(key.len(), 40);
        assert!(key.chars().all(|c| c.is_ascii_hexdigit()));
        assert_ne!(token_digest(&key), key);
    }
}
