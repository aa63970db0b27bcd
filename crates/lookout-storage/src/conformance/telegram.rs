//! Conformance checks for Telegram linking (issue #6): one-time codes
//! (hashed, expiring, single-use) and the links they make.

use crate::{NewUser, Store};
use chrono::{DateTime, Duration, Utc};
use lookout_model::User;

/// Runs the Telegram checks.
pub async fn run_all(store: &dyn Store) {
    a_code_links_once_and_expires(store).await;
    links_list_unlink_and_follow_the_user(store).await;
}

fn t0() -> DateTime<Utc> {
    DateTime::from_timestamp_millis(Utc::now().timestamp_millis()).unwrap()
}

async fn user(store: &dyn Store, email: &str) -> User {
    store
        .create_user(NewUser {
            email: email.into(),
            password_hash: "$argon2id$v=19$test".into(),
            is_admin: false,
        })
        .await
        .expect("create user")
}

async fn a_code_links_once_and_expires(store: &dyn Store) {
    let ann = user(store, "tg-ann@example.com").await;
    let now = t0();
    let later = now + Duration::minutes(10);
    store
        .create_telegram_link_code(ann.id, "hash-ann-1".into(), later, now)
        .await
        .unwrap();
    assert!(
        store
            .create_telegram_link_code(ann.id, "hash-past".into(), now, now)
            .await
            .is_err(),
        "a code must expire in the future"
    );
    let linked = store
        .consume_telegram_link_code("hash-ann-1".into(), 1001, "@ann".into(), now)
        .await
        .unwrap();
    assert_eq!(linked.map(|u| u.id), Some(ann.id));
    assert_eq!(
        store
            .telegram_linked_user(1001)
            .await
            .unwrap()
            .map(|u| u.id),
        Some(ann.id)
    );
    // Single use.
    assert!(
        store
            .consume_telegram_link_code("hash-ann-1".into(), 1002, "@eve".into(), now)
            .await
            .unwrap()
            .is_none()
    );
    assert!(store.telegram_linked_user(1002).await.unwrap().is_none());
    // Expired: refused, and gone afterwards.
    store
        .create_telegram_link_code(ann.id, "hash-ann-2".into(), later, now)
        .await
        .unwrap();
    let too_late = later + Duration::seconds(1);
    assert!(
        store
            .consume_telegram_link_code("hash-ann-2".into(), 1003, "x".into(), too_late)
            .await
            .unwrap()
            .is_none()
    );
    assert!(
        store
            .consume_telegram_link_code("hash-ann-2".into(), 1003, "x".into(), now)
            .await
            .unwrap()
            .is_none(),
        "a presented code is gone even when it had expired"
    );
    // Only the newest few codes of a user stay valid.
    for i in 0..5 {
        store
            .create_telegram_link_code(
                ann.id,
                format!("hash-ann-many-{i}"),
                later,
                now + Duration::milliseconds(i),
            )
            .await
            .unwrap();
    }
    assert!(
        store
            .consume_telegram_link_code("hash-ann-many-0".into(), 1004, "x".into(), now)
            .await
            .unwrap()
            .is_none()
    );
    assert!(
        store
            .consume_telegram_link_code("hash-ann-many-4".into(), 1004, "x".into(), now)
            .await
            .unwrap()
            .is_some()
    );
}

async fn links_list_unlink_and_follow_the_user(store: &dyn Store) {
    let bob = user(store, "tg-bob@example.com").await;
    let cy = user(store, "tg-cy@example.com").await;
    let now = t0();
    let exp = now + Duration::minutes(10);
    for (i, tg) in [(1, 2001), (2, 2002)] {
        store
            .create_telegram_link_code(bob.id, format!("hash-bob-{i}"), exp, now)
            .await
            .unwrap();
        store
            .consume_telegram_link_code(format!("hash-bob-{i}"), tg, format!("@bob{i}"), now)
            .await
            .unwrap()
            .unwrap();
    }
    let links = store.list_telegram_links(bob.id).await.unwrap();
    assert_eq!(
        links
            .iter()
            .map(|l| (l.telegram_user_id, l.display_name.as_str()))
            .collect::<Vec<_>>(),
        vec![(2001, "@bob1"), (2002, "@bob2")]
    );
    // A Telegram account links to one user: linking it again moves it.
    store
        .create_telegram_link_code(cy.id, "hash-cy".into(), exp, now)
        .await
        .unwrap();
    store
        .consume_telegram_link_code("hash-cy".into(), 2002, "@bob2".into(), now)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(store.list_telegram_links(bob.id).await.unwrap().len(), 1);
    assert_eq!(
        store
            .telegram_linked_user(2002)
            .await
            .unwrap()
            .map(|u| u.id),
        Some(cy.id)
    );
    // Unlinking is the owner's only.
    assert!(!store.delete_telegram_link(cy.id, 2001).await.unwrap());
    assert!(store.delete_telegram_link(bob.id, 2001).await.unwrap());
    assert!(store.telegram_linked_user(2001).await.unwrap().is_none());
    // Deleting a user removes their links.
    assert!(store.delete_user(cy.id).await.unwrap());
    assert!(store.telegram_linked_user(2002).await.unwrap().is_none());
}
