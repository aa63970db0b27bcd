//! Admin subcommands: `migrate`, `config check`, `project`, `user`, `token`.
//! They open the same data dir as a running server safely: SQLite's locking
//! serialises their writes with the server's.

use crate::cli::{ConfigAction, MigrateAction, ProjectAction, TokenAction, UserAction};
use crate::exit::Exit;
use lookout_config::Config;
use lookout_model::TokenScope;
use lookout_server::auth;
use lookout_storage::{NewApiToken, NewProject, NewUser};
use serde_json::json;
use std::io::BufRead;

/// Minimum password length accepted for new users.
pub const MIN_PASSWORD_LEN: usize = 10;

fn print_json(v: &serde_json::Value) {
    println!("{}", serde_json::to_string_pretty(v).unwrap_or_default());
}

/// `lookout config check`.
pub fn config(cfg: &Config, action: ConfigAction) -> Result<(), Exit> {
    match action {
        ConfigAction::Check => {
            println!("# configuration is valid; effective settings (secrets redacted):");
            print!("{}", cfg.to_redacted_toml());
            Ok(())
        }
    }
}

/// `lookout migrate …`.
pub async fn migrate(cfg: &Config, action: MigrateAction) -> Result<(), Exit> {
    let store = super::open_store(cfg, false).await?;
    let result = async {
        match action {
            MigrateAction::Status { json } => {
                let st = store.migration_status().await?;
                if json {
                    print_json(&serde_json::to_value(&st).unwrap_or_default());
                } else {
                    println!("current version: {}", st.current);
                    println!("latest version:  {}", st.latest);
                    if st.pending.is_empty() {
                        println!("up to date");
                    } else {
                        println!("pending: {:?}", st.pending);
                    }
                }
            }
            MigrateAction::Up { to } => {
                let applied = store.migrate_up(to).await?;
                if applied.is_empty() {
                    println!("nothing to apply");
                }
                for v in applied {
                    println!("applied {v}");
                }
            }
            MigrateAction::Down { to } => {
                for v in store.migrate_down(to).await? {
                    println!("reverted {v}");
                }
            }
            MigrateAction::History { json } => {
                let hist = store.migration_history().await?;
                if json {
                    print_json(&serde_json::to_value(&hist).unwrap_or_default());
                } else {
                    for m in hist {
                        println!(
                            "{:>4}  {:<24}  {}",
                            m.version,
                            m.name,
                            m.applied_at.to_rfc3339()
                        );
                    }
                }
            }
        }
        Ok::<(), Exit>(())
    }
    .await;
    store.close().await?;
    result
}

/// `lookout project …`.
pub async fn project(cfg: &Config, action: ProjectAction) -> Result<(), Exit> {
    let store = super::open_store(cfg, true).await?;
    let public_url = cfg.public_url();
    let result = async {
        match action {
            ProjectAction::Create { name, json } => {
                if name.trim().is_empty() {
                    return Err(Exit::Usage("--name must not be empty".into()));
                }
                let (p, key) = store.create_project(NewProject { name }).await?;
                let dsn = key.dsn(&public_url);
                if json {
                    print_json(&json!({"id": p.id, "slug": p.slug, "name": p.name, "dsn": dsn}));
                } else {
                    println!("{dsn}");
                }
            }
            ProjectAction::List { json } => {
                let mut rows = Vec::new();
                for p in store.list_projects().await? {
                    let keys = store.project_keys(p.id).await?;
                    let dsn = keys
                        .iter()
                        .find(|k| k.revoked_at.is_none())
                        .map(|k| k.dsn(&public_url));
                    rows.push(json!({"id": p.id, "slug": p.slug, "name": p.name, "dsn": dsn}));
                }
                if json {
                    print_json(&serde_json::Value::Array(rows));
                } else if rows.is_empty() {
                    println!(
                        "no projects yet: create one with `lookout project create --name NAME`"
                    );
                } else {
                    for r in rows {
                        println!(
                            "{:>4}  {:<24}  {}",
                            r["id"],
                            r["slug"].as_str().unwrap_or(""),
                            r["dsn"].as_str().unwrap_or("(no active key)")
                        );
                    }
                }
            }
        }
        Ok(())
    }
    .await;
    store.close().await?;
    result
}

/// `lookout user …`.
pub async fn user(cfg: &Config, action: UserAction) -> Result<(), Exit> {
    let UserAction::Create {
        email,
        admin,
        password_stdin: _,
    } = action;
    let email = email.trim().to_string();
    if !email.contains('@') || email.len() > 254 {
        return Err(Exit::Usage(format!("`{email}` is not an e-mail address")));
    }
    let mut password = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut password)
        .map_err(|e| Exit::Failure(format!("cannot read the password from stdin: {e}")))?;
    let password = password.trim_end_matches(['\n', '\r']);
    if password.chars().count() < MIN_PASSWORD_LEN {
        return Err(Exit::Usage(format!(
            "the password must have at least {MIN_PASSWORD_LEN} characters"
        )));
    }
    let hash = auth::hash_password(password)
        .map_err(|e| Exit::Failure(format!("cannot hash the password: {e}")))?;
    let store = super::open_store(cfg, true).await?;
    let result = store
        .create_user(NewUser {
            email,
            password_hash: hash,
            is_admin: admin,
        })
        .await;
    store.close().await?;
    let u = result?;
    println!(
        "created user {} (id {}{})",
        u.email,
        u.id,
        if u.is_admin { ", admin" } else { "" }
    );
    Ok(())
}

/// `lookout token …`.
pub async fn token(cfg: &Config, action: TokenAction) -> Result<(), Exit> {
    let TokenAction::Create {
        name,
        scope,
        user,
        json,
    } = action;
    let scope = TokenScope::parse(&scope).ok_or_else(|| {
        Exit::Usage(format!(
            "--scope must be `read` or `read-write`, not `{scope}`"
        ))
    })?;
    let store = super::open_store(cfg, true).await?;
    let result = async {
        let user_id = match &user {
            Some(email) => Some(
                store
                    .find_user_by_email(email)
                    .await?
                    .ok_or_else(|| Exit::Usage(format!("no user with e-mail {email}")))?
                    .0
                    .id,
            ),
            None => None,
        };
        let (secret, hash) = auth::new_token_secret();
        let t = store
            .create_api_token(NewApiToken {
                user_id,
                name,
                scope,
                token_hash: hash,
                prefix: secret[..12].to_string(),
            })
            .await?;
        if json {
            print_json(
                &json!({"id": t.id, "name": t.name, "scope": t.scope.as_str(), "token": secret}),
            );
        } else {
            println!("{secret}");
        }
        Ok(())
    }
    .await;
    store.close().await?;
    result
}
