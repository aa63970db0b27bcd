//! The conformance suite: behaviour every [`Store`] backend must show.
//!
//! A backend's tests call [`run_all`] on a fresh, migrated store. The
//! SQLite backend runs it in its unit tests; the PostgreSQL backend will run
//! it when a test database URL is set. Each check panics with a message
//! naming the rule that was broken.

use crate::{NewApiToken, NewProject, NewUser, StorageError, Store};
use chrono::Utc;
use lookout_model::TokenScope;

/// Runs every check against `store`, which must be freshly migrated and
/// empty.
pub async fn run_all(store: &dyn Store) {
    migrations_are_current(store).await;
    probe_write_succeeds(store).await;
    projects_get_unique_slugs_and_a_key(store).await;
    users_are_unique_case_insensitively(store).await;
    tokens_authenticate_by_hash_only(store).await;
}

async fn migrations_are_current(store: &dyn Store) {
    let st = store.migration_status().await.expect("migration_status");
    assert_eq!(st.current, st.latest, "a fresh store is fully migrated");
    assert!(st.pending.is_empty());
    let hist = store.migration_history().await.expect("history");
    assert_eq!(
        hist.last().map(|m| m.version),
        Some(st.latest),
        "history lists the latest version"
    );
}

async fn probe_write_succeeds(store: &dyn Store) {
    store.probe_write().await.expect("probe_write");
    store
        .probe_write()
        .await
        .expect("probe_write is repeatable");
}

async fn projects_get_unique_slugs_and_a_key(store: &dyn Store) {
    let (a, ka) = store
        .create_project(NewProject {
            name: "Shop Bot".into(),
        })
        .await
        .expect("create project");
    let (b, _) = store
        .create_project(NewProject {
            name: "shop bot".into(),
        })
        .await
        .expect("create second project");
    assert_eq!(a.slug, "shop-bot");
    assert_eq!(b.slug, "shop-bot-2", "slugs are made unique");
    assert_eq!(ka.project_id, a.id);
    assert_eq!(ka.public_key.len(), 32);
    assert!(ka.public_key.chars().all(|c| c.is_ascii_hexdigit()));
    let found = store
        .find_project_key(&ka.public_key)
        .await
        .unwrap()
        .expect("key found");
    assert_eq!(found, ka);
    assert!(store.find_project_key("nope").await.unwrap().is_none());
    let keys = store.project_keys(a.id).await.unwrap();
    assert_eq!(keys, vec![ka]);
    let listed = store.list_projects().await.unwrap();
    assert!(listed.iter().any(|p| p.id == a.id) && listed.iter().any(|p| p.id == b.id));
    assert_eq!(store.get_project(a.id).await.unwrap(), Some(a));
    assert_eq!(store.get_project(-1).await.unwrap(), None);
    assert!(
        store
            .create_project(NewProject { name: "  ".into() })
            .await
            .is_err(),
        "blank names are refused"
    );
}

async fn users_are_unique_case_insensitively(store: &dyn Store) {
    let u = store
        .create_user(NewUser {
            email: "Ada@example.com".into(),
            password_hash: "$argon2id$fake".into(),
            is_admin: true,
        })
        .await
        .expect("create user");
    assert!(u.is_admin);
    let dup = store
        .create_user(NewUser {
            email: "ada@EXAMPLE.com".into(),
            password_hash: "x".into(),
            is_admin: false,
        })
        .await;
    assert!(
        matches!(dup, Err(StorageError::Conflict(_))),
        "duplicate e-mail is a Conflict, got {dup:?}"
    );
    let (found, hash) = store
        .find_user_by_email("ada@example.com")
        .await
        .unwrap()
        .expect("found by e-mail regardless of case");
    assert_eq!(found.id, u.id);
    assert_eq!(hash, "$argon2id$fake");
}

async fn tokens_authenticate_by_hash_only(store: &dyn Store) {
    let t = store
        .create_api_token(NewApiToken {
            user_id: None,
            name: "ci".into(),
            scope: TokenScope::ReadWrite,
            token_hash: "a".repeat(64),
            prefix: "lkt_abcd".into(),
        })
        .await
        .expect("create token");
    assert_eq!(t.scope, TokenScope::ReadWrite);
    let now = Utc::now();
    let ok = store
        .authenticate_api_token(&"a".repeat(64), now)
        .await
        .unwrap();
    assert_eq!(ok.map(|x| x.id), Some(t.id));
    let bad = store
        .authenticate_api_token(&"b".repeat(64), now)
        .await
        .unwrap();
    assert!(bad.is_none(), "an unknown hash authenticates nothing");
}
