//! Users and API tokens. Secrets arrive here already hashed: this crate never sees a password
//! or a token key in clear.

use chrono::{DateTime, Utc};
use sea_orm::ConnectionTrait;
use sea_query::{Alias, Expr, Query, Value};
use uuid::Uuid;

use crate::store::Store;
use crate::{StoreError, StoreResult};

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
}

fn uuid(u: Uuid) -> Value {
    Value::Uuid(Some(Box::new(u)))
}

impl Store {
    pub async fn create_user(
        &self,
        username: &str,
        password_hash: &str,
        superuser: bool,
    ) -> StoreResult<Uuid> {
        let id = Uuid::new_v4();
        let now = Utc::now();
        let mut insert = Query::insert();
        insert
            .into_table(Alias::new("auth_user"))
            .columns(
                [
                    "id",
                    "username",
                    "password",
                    "is_superuser",
                    "is_staff",
                    "is_active",
                    "first_name",
                    "last_name",
                    "email",
                    "date_joined",
                    "config_data",
                ]
                .map(Alias::new),
            )
            .values_panic([
                uuid(id).into(),
                username.into(),
                password_hash.into(),
                superuser.into(),
                superuser.into(),
                true.into(),
                "".into(),
                "".into(),
                "".into(),
                Value::ChronoDateTimeUtc(Some(Box::new(now))).into(),
                Value::Json(Some(Box::new(serde_json::json!({})))).into(),
            ]);
        let (sql, values) = insert.build_any(&*self.backend.query_builder());
        self.count();
        let _turn = self.write_turn().await?;
        self.writer_db.execute(self.statement(sql, values)).await?;
        Ok(id)
    }

    pub async fn user_by_name(&self, username: &str) -> StoreResult<Option<User>> {
        self.one_user(Expr::col(Alias::new("username")).eq(username)).await
    }

    pub async fn user_by_id(&self, id: Uuid) -> StoreResult<Option<User>> {
        self.one_user(Expr::col(Alias::new("id")).eq(uuid(id))).await
    }

    async fn one_user(&self, which: sea_query::SimpleExpr) -> StoreResult<Option<User>> {
        let mut select = Query::select();
        select
            .columns(["id", "username", "password", "is_superuser", "is_active"].map(Alias::new))
            .from(Alias::new("auth_user"))
            .and_where(which);
        let rows = self.query_rows(&select).await?;
        let Some(row) = rows.first() else { return Ok(None) };
        let get = |e: sea_orm::DbErr| StoreError::Internal(e.to_string());
        Ok(Some(User {
            id: row.try_get_by_index(0).map_err(get)?,
            username: row.try_get_by_index(1).map_err(get)?,
            password_hash: row.try_get_by_index(2).map_err(get)?,
            is_superuser: row.try_get_by_index(3).map_err(get)?,
            is_active: row.try_get_by_index(4).map_err(get)?,
            write_enabled: true,
        }))
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
        let id = Uuid::new_v4();
        let mut insert = Query::insert();
        insert
            .into_table(Alias::new("users_token"))
            .columns(
                [
                    "id",
                    "user_id",
                    "created",
                    "expires",
                    "key_digest",
                    "write_enabled",
                    "description",
                ]
                .map(Alias::new),
            )
            .values_panic([
                uuid(id).into(),
                uuid(user).into(),
                Value::ChronoDateTimeUtc(Some(Box::new(Utc::now()))).into(),
                Value::ChronoDateTimeUtc(expires.map(Box::new)).into(),
                key_digest.into(),
                write_enabled.into(),
                description.into(),
            ]);
        let (sql, values) = insert.build_any(&*self.backend.query_builder());
        self.count();
        let _turn = self.write_turn().await?;
        self.writer_db.execute(self.statement(sql, values)).await?;
        Ok(id)
    }

    /// The active user owning an unexpired token with this key digest.
    pub async fn user_by_token(&self, key_digest: &str) -> StoreResult<Option<User>> {
        let mut select = Query::select();
        select
            .columns(["user_id", "expires", "write_enabled"].map(Alias::new))
            .from(Alias::new("users_token"))
            .and_where(Expr::col(Alias::new("key_digest")).eq(key_digest));
        let rows = self.query_rows(&select).await?;
        let Some(row) = rows.first() else { return Ok(None) };
        let get = |e: sea_orm::DbErr| StoreError::Internal(e.to_string());
        let user: Uuid = row.try_get_by_index(0).map_err(get)?;
        let expires: Option<DateTime<Utc>> = row.try_get_by_index(1).map_err(get)?;
        let write_enabled: bool = row.try_get_by_index(2).map_err(get)?;
        if expires.is_some_and(|e| e <= Utc::now()) {
            return Ok(None);
        }
        let user = self.user_by_id(user).await?.filter(|u| u.is_active);
        Ok(user.map(|u| User { write_enabled, ..u }))
    }
}
