//! Users and API tokens. Secrets arrive here already hashed: this crate never sees a password
//! or a token key in clear.

use chrono::{DateTime, Utc};
use ferrobot_domain::permission;
use sea_query::{Alias, Expr, Query, Value};
use uuid::Uuid;

use crate::cell::{Cell, ColType};
use crate::store::Store;
use crate::StoreResult;

#[derive(Debug, Clone)]
pub struct User {
    pub id: Uuid,
    pub username: String,
    pub password_hash: String,
    pub is_superuser: bool,
    pub is_active: bool,
    /// Whether the credential it came with may write (a token's `write_enabled`; a password or
    /// a JWT always may).
    pub write_enabled: bool,
    /// The networks the token it came with may be used from (`allowed_ips`); empty: any.
    pub allowed_ips: Vec<String>,
}

fn uuid(u: Uuid) -> Value {
    Value::Uuid(Some(Box::new(u)))
}

impl Store {
    /// Makes a user through the write path (change-logged as any object; the command line's
    /// `ferrobot` actor writes it). `password_hash` is already an argon2 hash.
    pub async fn create_user(
        &self,
        username: &str,
        password_hash: &str,
        superuser: bool,
    ) -> StoreResult<Uuid> {
        let input = serde_json::json!({
            "username": username,
            "password": password_hash,
            "is_superuser": superuser,
            "is_staff": superuser,
            "is_active": true,
        });
        self.create_account(permission::ACCOUNT, input).await
    }

    pub async fn user_by_name(&self, username: &str) -> StoreResult<Option<User>> {
        self.one_user(Expr::col((Alias::new("u"), Alias::new("username"))).eq(username)).await
    }

    pub async fn user_by_id(&self, id: Uuid) -> StoreResult<Option<User>> {
        self.one_user(Expr::col((Alias::new("u"), Alias::new("id"))).eq(uuid(id))).await
    }

    async fn one_user(&self, which: sea_query::SimpleExpr) -> StoreResult<Option<User>> {
        let mut select = Query::select();
        select
            .columns(USER_COLUMNS.map(|c| (Alias::new("u"), Alias::new(c))))
            .from_as(Alias::new("auth_user"), Alias::new("u"))
            .and_where(which);
        let rows = self.fetch(&select, &USER_TYPES).await?;
        Ok((!rows.is_empty()).then(|| user_of(rows.row(0), true)))
    }

    /// Stores a token by the digest of its key; the key itself is never stored.
    pub async fn create_token(
        &self,
        user: Uuid,
        key_digest: &str,
        expires: Option<DateTime<Utc>>,
        description: &str,
    ) -> StoreResult<Uuid> {
        self.create_token_with(user, key_digest, expires, description, true).await
    }

    /// [`Store::create_token`], read-only when `write_enabled` is false (Nautobot's flag).
    pub async fn create_token_with(
        &self,
        user: Uuid,
        key_digest: &str,
        expires: Option<DateTime<Utc>>,
        description: &str,
        write_enabled: bool,
    ) -> StoreResult<Uuid> {
        let input = serde_json::json!({
            "user": user.to_string(),
            "key_digest": key_digest,
            "expires": expires.map(|e| e.to_rfc3339()),
            "write_enabled": write_enabled,
            "description": description,
        });
        self.create_account(TOKEN, input).await
    }

    /// One object of an account model, written by the command line's own actor.
    async fn create_account(&self, label: &str, input: serde_json::Value) -> StoreResult<Uuid> {
        let catalogue = self.catalogue().clone();
        let model = catalogue
            .by_label(label)
            .ok_or_else(|| crate::StoreError::Internal(format!("the catalogue has no {label}")))?;
        let actor = crate::write::Actor { user_id: None, user_name: "ferrobot".into() };
        let options = crate::write::WriteOptions::new(actor, "orm", "ferrobot");
        let mut writer = self.writer(options).await?;
        let Some(input) = input.as_object() else {
            return Err(crate::StoreError::Internal("an account input is an object".into()));
        };
        let created = writer.create(model, input).await;
        match created {
            Ok(id) => {
                writer.commit().await?;
                Ok(id)
            }
            Err(e) => {
                writer.rollback().await?;
                Err(e)
            }
        }
    }

    /// The active user owning an unexpired token with this key digest: one statement, the
    /// token joined to its user (every authenticated request asks).
    pub async fn user_by_token(&self, key_digest: &str) -> StoreResult<Option<User>> {
        let (t, u) = (Alias::new("t"), Alias::new("u"));
        let mut select = Query::select();
        select
            .columns(USER_COLUMNS.map(|c| (u.clone(), Alias::new(c))))
            .columns(
                ["expires", "write_enabled", "allowed_ips"].map(|c| (t.clone(), Alias::new(c))),
            )
            .from_as(Alias::new("users_token"), t.clone())
            .join_as(
                sea_query::JoinType::InnerJoin,
                Alias::new("auth_user"),
                u.clone(),
                Expr::col((u.clone(), Alias::new("id"))).equals((t.clone(), Alias::new("user_id"))),
            )
            .and_where(Expr::col((t, Alias::new("key_digest"))).eq(key_digest));
        let mut types = USER_TYPES.to_vec();
        types.extend([ColType::DateTime, ColType::Bool, ColType::Json]);
        let rows = self.fetch(&select, &types).await?;
        if rows.is_empty() {
            return Ok(None);
        }
        let row = rows.row(0);
        let n = USER_COLUMNS.len();
        if matches!(&row[n], Cell::DateTime(e) if *e <= Utc::now()) {
            return Ok(None);
        }
        let write_enabled = matches!(row[n + 1], Cell::Bool(true));
        let mut user = user_of(row, write_enabled);
        if let Cell::Json(list) = &row[n + 2] {
            user.allowed_ips = list
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|v| v.as_str().map(str::to_owned))
                .collect();
        }
        Ok(Some(user).filter(|u| u.is_active))
    }
}

/// The token model: a key's digest, its user, its expiry.
const TOKEN: &str = "users.token";

/// A user's columns, as [`user_of`] reads them.
const USER_COLUMNS: [&str; 5] = ["id", "username", "password", "is_superuser", "is_active"];
const USER_TYPES: [ColType; 5] =
    [ColType::Uuid, ColType::Text, ColType::Text, ColType::Bool, ColType::Bool];

fn user_of(row: &[Cell], write_enabled: bool) -> User {
    let text = |c: &Cell| c.as_str().unwrap_or_default().to_owned();
    User {
        id: row[0].as_uuid().unwrap_or_default(),
        username: text(&row[1]),
        password_hash: text(&row[2]),
        is_superuser: matches!(row[3], Cell::Bool(true)),
        is_active: matches!(row[4], Cell::Bool(true)),
        write_enabled,
        allowed_ips: Vec::new(),
    }
}
