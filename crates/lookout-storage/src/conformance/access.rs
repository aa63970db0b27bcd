//! Conformance checks for accounts and access: memberships, the last
//! administrator, passwords and sessions, invitations, tokens, and project
//! administration.

use super::{ingest_one, new_event, new_project};
use crate::{NewApiToken, NewInvitation, NewUser, StorageError, Store};
use chrono::{Duration, Utc};
use lookout_model::{ProjectRole, TokenScope, User, WebSession};

/// Runs the access checks.
pub async fn run_all(store: &dyn Store) {
    memberships_grant_roles_per_project(store).await;
    the_last_administrator_stays(store).await;
    a_new_password_ends_other_sessions(store).await;
    invitations_are_used_once_and_expire(store).await;
    tokens_are_listed_and_revoked_by_their_owner(store).await;
    projects_rename_rotate_keys_and_delete_everything(store).await;
    events_are_looked_up_within_their_project(store).await;
}

async fn user(store: &dyn Store, email: &str, is_admin: bool) -> User {
    store
        .create_user(NewUser {
            email: email.into(),
            password_hash: "$argon2id$v=19$test".into(),
            is_admin,
        })
        .await
        .expect("create user")
}

async fn memberships_grant_roles_per_project(store: &dyn Store) {
    let a = new_project(store, "access a").await;
    let b = new_project(store, "access b").await;
    let u = user(store, "member@access.example", false).await;
    assert_eq!(store.project_role(a, u.id).await.unwrap(), None);
    store
        .set_project_role(a, u.id, Some(ProjectRole::Member))
        .await
        .unwrap();
    assert_eq!(
        store.project_role(a, u.id).await.unwrap(),
        Some(ProjectRole::Member)
    );
    assert_eq!(
        store.project_role(b, u.id).await.unwrap(),
        None,
        "membership of one project grants nothing in another"
    );
    store
        .set_project_role(a, u.id, Some(ProjectRole::Viewer))
        .await
        .unwrap();
    assert_eq!(
        store.project_role(a, u.id).await.unwrap(),
        Some(ProjectRole::Viewer),
        "setting a role again replaces it"
    );
    let mine = store.user_memberships(u.id).await.unwrap();
    assert_eq!(mine.len(), 1);
    assert_eq!((mine[0].project_id, mine[0].role), (a, ProjectRole::Viewer));
    let members = store.project_members(a).await.unwrap();
    assert_eq!(members.len(), 1);
    assert_eq!(members[0].email, "member@access.example");
    assert!(store.project_members(b).await.unwrap().is_empty());
    assert!(matches!(
        store
            .set_project_role(a, i64::MAX, Some(ProjectRole::Member))
            .await,
        Err(StorageError::NotFound(_))
    ));
    store.set_project_role(a, u.id, None).await.unwrap();
    assert_eq!(store.project_role(a, u.id).await.unwrap(), None);
    assert!(store.user_memberships(u.id).await.unwrap().is_empty());
}

async fn the_last_administrator_stays(store: &dyn Store) {
    let keep = user(store, "last-admin@access.example", true).await;
    let others: Vec<User> = store
        .list_users()
        .await
        .unwrap()
        .into_iter()
        .filter(|u| u.is_admin && u.id != keep.id)
        .collect();
    for o in &others {
        store.set_user_admin(o.id, false).await.unwrap();
    }
    assert!(matches!(
        store.set_user_admin(keep.id, false).await,
        Err(StorageError::Conflict(_))
    ));
    assert!(matches!(
        store.delete_user(keep.id).await,
        Err(StorageError::Conflict(_))
    ));
    assert!(store.get_user(keep.id).await.unwrap().unwrap().is_admin);
    // With a second administrator, either may go.
    let second = user(store, "second-admin@access.example", true).await;
    assert!(!store.set_user_admin(keep.id, false).await.unwrap().is_admin);
    assert!(matches!(
        store.delete_user(second.id).await,
        Err(StorageError::Conflict(_))
    ));
    assert!(store.set_user_admin(keep.id, true).await.unwrap().is_admin);
    assert!(store.delete_user(second.id).await.unwrap());
    assert!(!store.delete_user(second.id).await.unwrap());
    assert_eq!(store.get_user(second.id).await.unwrap(), None);
    for o in &others {
        store.set_user_admin(o.id, true).await.unwrap();
    }
}

async fn a_new_password_ends_other_sessions(store: &dyn Store) {
    let u = user(store, "password@access.example", false).await;
    let now = Utc::now();
    for h in ["1", "2"] {
        store
            .create_session(WebSession {
                id_hash: h.repeat(64),
                user_id: u.id,
                csrf_token: "c".into(),
                expires_at: now + Duration::hours(1),
            })
            .await
            .unwrap();
    }
    store
        .set_password(u.id, "$argon2id$new".into(), Some("1".repeat(64)))
        .await
        .unwrap();
    assert_eq!(
        store.user_password_hash(u.id).await.unwrap().as_deref(),
        Some("$argon2id$new")
    );
    assert!(
        store
            .find_session(&"1".repeat(64), now)
            .await
            .unwrap()
            .is_some(),
        "the session that changed the password stays"
    );
    assert!(
        store
            .find_session(&"2".repeat(64), now)
            .await
            .unwrap()
            .is_none(),
        "every other session ends"
    );
    assert!(matches!(
        store.set_password(i64::MAX, "x".into(), None).await,
        Err(StorageError::NotFound(_))
    ));
}

fn invitation(email: &str, hash: &str, projects: Vec<(i64, ProjectRole)>) -> NewInvitation {
    NewInvitation {
        email: email.into(),
        is_admin: false,
        projects,
        invited_by: None,
        token_hash: hash.repeat(64),
        expires_at: Utc::now() + Duration::days(7),
    }
}

async fn invitations_are_used_once_and_expire(store: &dyn Store) {
    let p = new_project(store, "access invitations").await;
    let now = Utc::now();
    let inv = store
        .create_invitation(invitation(
            "invitee@access.example",
            "a",
            vec![(p, ProjectRole::Member)],
        ))
        .await
        .unwrap();
    assert_eq!(inv.projects, vec![(p, ProjectRole::Member)]);
    assert!(
        store
            .pending_invitations(now)
            .await
            .unwrap()
            .iter()
            .any(|i| i.id == inv.id)
    );
    // Inviting the same address again replaces the first link.
    let again = store
        .create_invitation(invitation(
            "invitee@access.example",
            "b",
            vec![(p, ProjectRole::Viewer)],
        ))
        .await
        .unwrap();
    assert!(
        store
            .find_invitation(&"a".repeat(64), now)
            .await
            .unwrap()
            .is_none(),
        "a replaced invitation no longer works"
    );
    assert_eq!(
        store
            .find_invitation(&"b".repeat(64), now)
            .await
            .unwrap()
            .map(|i| i.id),
        Some(again.id)
    );
    assert!(
        store
            .find_invitation(&"b".repeat(64), again.expires_at + Duration::seconds(1))
            .await
            .unwrap()
            .is_none(),
        "an expired invitation is not found"
    );
    assert!(matches!(
        store
            .accept_invitation(
                &"b".repeat(64),
                "x".into(),
                again.expires_at + Duration::seconds(1)
            )
            .await,
        Err(StorageError::NotFound(_))
    ));
    let u = store
        .accept_invitation(&"b".repeat(64), "$argon2id$h".into(), now)
        .await
        .unwrap();
    assert_eq!(u.email, "invitee@access.example");
    assert!(!u.is_admin);
    assert_eq!(
        store.project_role(p, u.id).await.unwrap(),
        Some(ProjectRole::Viewer),
        "accepting joins the invited projects"
    );
    assert!(
        matches!(
            store
                .accept_invitation(&"b".repeat(64), "x".into(), now)
                .await,
            Err(StorageError::NotFound(_))
        ),
        "an invitation works once"
    );
    assert!(
        !store
            .pending_invitations(now)
            .await
            .unwrap()
            .iter()
            .any(|i| i.email == "invitee@access.example")
    );
    assert!(matches!(
        store
            .create_invitation(invitation("INVITEE@access.example", "c", vec![]))
            .await,
        Err(StorageError::Conflict(_))
    ));
    let r = store
        .create_invitation(invitation("revoked@access.example", "d", vec![]))
        .await
        .unwrap();
    assert!(store.revoke_invitation(r.id).await.unwrap());
    assert!(!store.revoke_invitation(r.id).await.unwrap());
    assert!(
        store
            .find_invitation(&"d".repeat(64), now)
            .await
            .unwrap()
            .is_none()
    );
    assert!(matches!(
        store
            .create_invitation(invitation(
                "ghost@access.example",
                "e",
                vec![(i64::MAX, ProjectRole::Member)]
            ))
            .await,
        Err(StorageError::NotFound(_))
    ));
}

async fn tokens_are_listed_and_revoked_by_their_owner(store: &dyn Store) {
    let owner = user(store, "token-owner@access.example", false).await;
    let other = user(store, "token-other@access.example", false).await;
    let t = store
        .create_api_token(NewApiToken {
            user_id: Some(owner.id),
            name: "ci".into(),
            scope: TokenScope::Read,
            token_hash: "f".repeat(64),
            prefix: "lkt_ffff".into(),
        })
        .await
        .unwrap();
    let listed = store.list_api_tokens(Some(owner.id)).await.unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].name, "ci");
    assert!(
        store
            .list_api_tokens(Some(other.id))
            .await
            .unwrap()
            .is_empty()
    );
    assert!(
        !store.revoke_api_token(t.id, Some(other.id)).await.unwrap(),
        "nobody revokes someone else's token"
    );
    assert!(
        !store.revoke_api_token(t.id, None).await.unwrap(),
        "a user's token is not install-wide"
    );
    assert!(
        store
            .authenticate_api_token(&"f".repeat(64), Utc::now())
            .await
            .unwrap()
            .is_some()
    );
    assert!(store.revoke_api_token(t.id, Some(owner.id)).await.unwrap());
    assert!(
        store
            .authenticate_api_token(&"f".repeat(64), Utc::now())
            .await
            .unwrap()
            .is_none(),
        "a revoked token authenticates nothing"
    );
    let listed = store.list_api_tokens(Some(owner.id)).await.unwrap();
    assert!(listed[0].revoked_at.is_some(), "revoked tokens stay listed");
}

async fn projects_rename_rotate_keys_and_delete_everything(store: &dyn Store) {
    let p = new_project(store, "access admin").await;
    let before = store.get_project(p).await.unwrap().unwrap();
    let renamed = store.rename_project(p, "  Renamed  ").await.unwrap();
    assert_eq!(renamed.name, "Renamed");
    assert_eq!(renamed.slug, before.slug, "renaming keeps the slug");
    assert!(matches!(
        store.rename_project(p, "   ").await,
        Err(StorageError::Conflict(_))
    ));
    assert!(matches!(
        store.rename_project(i64::MAX, "x").await,
        Err(StorageError::NotFound(_))
    ));

    let k2 = store.create_project_key(p, "Backend").await.unwrap();
    assert_eq!(k2.label, "Backend");
    assert_eq!(store.project_keys(p).await.unwrap().len(), 2);
    let other = new_project(store, "access admin other").await;
    assert_eq!(
        store.revoke_project_key(other, k2.id).await.unwrap(),
        None,
        "a key is revoked only through its own project"
    );
    let revoked = store.revoke_project_key(p, k2.id).await.unwrap().unwrap();
    assert!(revoked.revoked_at.is_some());
    let again = store.revoke_project_key(p, k2.id).await.unwrap().unwrap();
    assert_eq!(
        again.revoked_at, revoked.revoked_at,
        "revoking is idempotent"
    );
    assert!(matches!(
        store.create_project_key(i64::MAX, "x").await,
        Err(StorageError::NotFound(_))
    ));

    let u = user(store, "deleted-project@access.example", false).await;
    store
        .set_project_role(p, u.id, Some(ProjectRole::Member))
        .await
        .unwrap();
    let e = new_event("delete me", super::T0);
    let eid = e.event_id;
    let r = ingest_one(store, p, super::T0, e).await;
    assert!(store.delete_project(p).await.unwrap());
    assert!(!store.delete_project(p).await.unwrap());
    assert_eq!(store.get_project(p).await.unwrap(), None);
    assert_eq!(store.get_issue(r.issue_id).await.unwrap(), None);
    assert!(store.get_event(p, eid).await.unwrap().is_none());
    assert!(store.project_keys(p).await.unwrap().is_empty());
    assert!(
        store
            .find_project_key(&k2.public_key)
            .await
            .unwrap()
            .is_none()
    );
    assert!(store.user_memberships(u.id).await.unwrap().is_empty());
    assert!(
        store.get_project(other).await.unwrap().is_some(),
        "other projects stay"
    );
}

async fn events_are_looked_up_within_their_project(store: &dyn Store) {
    let a = new_project(store, "access events a").await;
    let b = new_project(store, "access events b").await;
    let ea = new_event("in a", super::T0);
    let mut eb = new_event("in b", super::T0);
    eb.event_id = ea.event_id;
    let id = ea.event_id;
    ingest_one(store, a, super::T0, ea).await;
    ingest_one(store, b, super::T0, eb).await;
    let got_a = store.get_event(a, id).await.unwrap().unwrap();
    let got_b = store.get_event(b, id).await.unwrap().unwrap();
    assert_eq!(got_a.summary.project_id, a);
    assert_eq!(got_b.summary.project_id, b);
    assert!(got_a.summary.title.ends_with("in a"));
    assert!(got_b.summary.title.ends_with("in b"));
    let c = new_project(store, "access events c").await;
    assert!(store.get_event(c, id).await.unwrap().is_none());
}
