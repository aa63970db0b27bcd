//! The user's own account: password, personal API tokens, and the
//! Telegram accounts whose button presses act as this user.

use super::common::*;
use super::session::Viewer;
use super::{layout, relative_time};
use crate::auth::new_token_secret;
use crate::state::AppState;
use crate::ui::posted::Posted;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use lookout_model::{ApiToken, TokenScope};
use lookout_storage::{NewApiToken, TelegramLink};
use maud::{Markup, html};
use serde::Deserialize;

const NOTICES: &[(&str, &str)] = &[
    (
        "password-changed",
        "Password changed. Your other sessions were logged out.",
    ),
    ("token-revoked", "Token revoked."),
    ("telegram-unlinked", "Telegram account unlinked."),
];

/// What the account page shows: the user's tokens and Telegram links.
struct AccountData {
    tokens: Vec<ApiToken>,
    telegram: Vec<TelegramLink>,
}

async fn load(state: &AppState, viewer: &Viewer) -> Result<AccountData, Response> {
    let tokens = state
        .store()
        .list_api_tokens(Some(viewer.user.id))
        .await
        .map_err(server_error)?;
    let telegram = state
        .store()
        .list_telegram_links(viewer.user.id)
        .await
        .map_err(server_error)?;
    Ok(AccountData { tokens, telegram })
}

fn telegram_section(viewer: &Viewer, links: &[TelegramLink]) -> Markup {
    let csrf = &viewer.session.csrf_token;
    html! {
        section #telegram {
            h2 { "Telegram" }
            p.muted { "Link your Telegram account to act on Lookout's Telegram messages: the buttons (Acknowledge, Resolve, Silence 1 h) act as you, with your rights." }
            @if links.is_empty() {
                div.empty-state { "No Telegram account linked." }
            } @else {
                table #telegram-links {
                    thead { tr { th { "Telegram account" } th { "Id" } th { "Linked" } th { "" } } }
                    tbody {
                        @for l in links {
                            tr.telegram-link {
                                td.telegram-name { (l.display_name) }
                                td { code { (l.telegram_user_id) } }
                                td { (relative_time(l.created_at)) }
                                td {
                                    form.inline method="post" action={ "/account/telegram/" (l.telegram_user_id) "/unlink" } {
                                        input type="hidden" name="csrf_token" value=(csrf);
                                        button.secondary.unlink-telegram type="submit" { "Unlink" }
                                    }
                                }
                            }
                        }
                    }
                }
            }
            form #telegram-link-form method="post" action="/account/telegram/link" {
                input type="hidden" name="csrf_token" value=(csrf);
                button type="submit" { "Link Telegram" }
            }
        }
    }
}

fn token_rows(viewer: &Viewer, tokens: &[ApiToken]) -> Markup {
    html! {
        table #token-table {
            thead { tr { th { "Name" } th { "Scope" } th.optional { "Token" } th.optional { "Created" } th { "Last used" } th { "" } } }
            tbody {
                @for t in tokens {
                    tr.token-row {
                        td.token-name { (t.name) }
                        td.token-scope { (t.scope.as_str()) }
                        td.optional { code { (t.prefix) "…" } }
                        td.optional { (relative_time(t.created_at)) }
                        td.token-last-used {
                            @match t.last_used_at { Some(u) => { (relative_time(u)) } None => { "never" } }
                        }
                        td {
                            @match t.revoked_at {
                                Some(_) => { span.badge.ignored { "revoked" } }
                                None => {
                                    form.inline method="post" action={ "/account/tokens/" (t.id) "/revoke" } {
                                        input type="hidden" name="csrf_token" value=(viewer.session.csrf_token);
                                        button.secondary.revoke-token type="submit" { "Revoke" }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

fn account_view(viewer: &Viewer, data: &AccountData, top: Markup) -> Markup {
    let tokens = &data.tokens;
    let csrf = &viewer.session.csrf_token;
    layout(
        "Account",
        Some(viewer),
        html! {
            h1 { "Account" }
            (top)
            p { "Signed in as " strong #account-email { (viewer.user.email) } @if viewer.user.is_admin { " (administrator)" } }
            section #password {
                h2 { "Change password" }
                form #password-form method="post" action="/account/password" {
                    input type="hidden" name="csrf_token" value=(csrf);
                    div.field { label for="current" { "Current password" } input #current type="password" name="current" required autocomplete="current-password"; }
                    div.field { label for="new_password" { "New password (at least 10 characters)" } input #new_password type="password" name="password" required minlength="10" autocomplete="new-password"; }
                    div.field { label for="new_password_confirm" { "New password again" } input #new_password_confirm type="password" name="password_confirm" required minlength="10" autocomplete="new-password"; }
                    button type="submit" { "Change password" }
                }
            }
            section #tokens {
                h2 { "API tokens" }
                p.muted { "Tokens authenticate the JSON API (" code { "Authorization: Bearer …" } ") and sentry-cli (" code { "SENTRY_AUTH_TOKEN" } "). A token can do what you can do, and no more; a read token never changes anything." }
                @if tokens.is_empty() {
                    div.empty-state { "No tokens yet. Create one for a script or for sentry-cli in CI." }
                } @else { (token_rows(viewer, tokens)) }
                form #new-token .filters method="post" action="/account/tokens" {
                    input type="hidden" name="csrf_token" value=(csrf);
                    input type="text" name="name" required maxlength="100" placeholder="Name, e.g. CI releases";
                    select name="scope" aria-label="scope" {
                        option value="read" { "read" }
                        option value="read-write" { "read-write" }
                    }
                    button type="submit" { "Create token" }
                }
            }
            (telegram_section(viewer, &data.telegram))
        },
    )
}

/// `GET /account`.
pub async fn account(
    State(state): State<AppState>,
    viewer: Viewer,
    Query(done): Query<Done>,
) -> Page {
    let data = load(&state, &viewer).await?;
    Ok(html_page(
        StatusCode::OK,
        account_view(&viewer, &data, notice(done.done.as_deref(), NOTICES)),
    ))
}

/// The password form.
#[derive(Debug, Deserialize)]
pub struct PasswordForm {
    #[serde(default)]
    csrf_token: String,
    current: String,
    password: String,
    password_confirm: String,
}

/// `POST /account/password`: needs the current password; ends every other
/// session of the user.
pub async fn change_password(
    State(state): State<AppState>,
    Posted { viewer, form: f }: Posted<PasswordForm>,
) -> Response {
    let refuse = |msg: &str| error_page(&viewer, crate::ApiError::BadRequest(msg.to_string()));
    let hash = match state.store().user_password_hash(viewer.user.id).await {
        Ok(Some(h)) => h,
        Ok(None) => return refuse("your account no longer exists"),
        Err(e) => return server_error(e),
    };
    if !verify_in_background(&f.current, hash).await {
        return refuse("The current password is wrong.");
    }
    if let Some(p) = password_problem(&f.password, &f.password_confirm) {
        return refuse(p);
    }
    let new_hash = match hash_in_background(&f.password).await {
        Ok(h) => h,
        Err(r) => return r,
    };
    match state
        .store()
        .set_password(
            viewer.user.id,
            new_hash,
            Some(viewer.session.id_hash.clone()),
        )
        .await
    {
        Ok(()) => Redirect::to("/account?done=password-changed").into_response(),
        Err(e) => server_error(e),
    }
}

/// The new-token form.
#[derive(Debug, Deserialize)]
pub struct TokenForm {
    #[serde(default)]
    csrf_token: String,
    name: String,
    scope: String,
}

/// `POST /account/tokens`: creates a token and shows its secret once.
pub async fn create_token(
    State(state): State<AppState>,
    Posted { viewer, form: f }: Posted<TokenForm>,
) -> Response {
    let name = f.name.trim();
    if name.is_empty() || name.chars().count() > 100 {
        return error_page(
            &viewer,
            crate::ApiError::BadRequest("a token needs a name of 1 to 100 characters".into()),
        );
    }
    let Some(scope) = TokenScope::parse(&f.scope) else {
        return error_page(
            &viewer,
            crate::ApiError::BadRequest(format!(
                "unknown scope `{}`: use read or read-write",
                f.scope
            )),
        );
    };
    let (secret, hash) = new_token_secret();
    let created = state
        .store()
        .create_api_token(NewApiToken {
            user_id: Some(viewer.user.id),
            name: name.to_string(),
            scope,
            token_hash: hash,
            prefix: secret.chars().take(8).collect(),
        })
        .await;
    if let Err(e) = created {
        return server_error(e);
    }
    let data = match load(&state, &viewer).await {
        Ok(d) => d,
        Err(r) => return r,
    };
    // Shown in this response only (pages are `Cache-Control: no-store`);
    // storage keeps its SHA-256.
    let top = html! {
        div.card #new-token-secret role="status" {
            p { strong { "Copy your new token now." } " It is shown only once." }
            pre { code #token-secret { (secret) } }
        }
    };
    html_page(StatusCode::CREATED, account_view(&viewer, &data, top))
}

/// `POST /account/tokens/{id}/revoke`: only the owner's own tokens.
pub async fn revoke_token(
    State(state): State<AppState>,
    Path(id): Path<i64>,
    Posted { viewer, form: _ }: Posted<CsrfForm>,
) -> Response {
    match state
        .store()
        .revoke_api_token(id, Some(viewer.user.id))
        .await
    {
        Ok(true) => Redirect::to("/account?done=token-revoked").into_response(),
        Ok(false) => error_page(
            &viewer,
            crate::ApiError::NotFound(format!("you have no live token {id}")),
        ),
        Err(e) => server_error(e),
    }
}

/// `POST /account/telegram/link`: makes a one-time link code (valid ten
/// minutes, stored as its SHA-256) and shows it once with what to send
/// the bot.
pub async fn telegram_link_code(
    State(state): State<AppState>,
    Posted { viewer, .. }: Posted<CsrfForm>,
) -> Response {
    use crate::alerting::telegram::{CODE_TTL, new_link_code};
    let (code, hash) = new_link_code();
    let now = chrono::Utc::now();
    if let Err(e) = state
        .store()
        .create_telegram_link_code(viewer.user.id, hash, now + CODE_TTL, now)
        .await
    {
        return server_error(e);
    }
    let data = match load(&state, &viewer).await {
        Ok(d) => d,
        Err(r) => return r,
    };
    let bots = state.alerts().telegram_usernames();
    let polling = state.alerts().is_running();
    let top = html! {
        div.card #telegram-code-card role="status" {
            p { "Send this to Lookout's Telegram bot, from the Telegram account to link, within 10 minutes:" }
            pre { code #telegram-link-command { "/link " (code) } }
            @for b in &bots {
                p { "Or open " a.telegram-deep-link href={ "https://t.me/" (b) "?start=" (code) } { "t.me/" (b) } " and press Start." }
            }
            @if !polling {
                p.muted { "Alerting is not running, so the bot is not listening: the code works once it is." }
            } @else if bots.is_empty() {
                p.muted { "No Telegram bot has answered yet (is a Telegram channel set up?): the code works once one does." }
            }
            p.muted { "The code works once. Anyone who sends it first is linked to your account, so do not share it." }
        }
    };
    html_page(StatusCode::CREATED, account_view(&viewer, &data, top))
}

/// `POST /account/telegram/{telegram_user_id}/unlink`: only the user's
/// own links.
pub async fn telegram_unlink(
    State(state): State<AppState>,
    Path(telegram_user_id): Path<i64>,
    Posted { viewer, form: _ }: Posted<CsrfForm>,
) -> Response {
    match state
        .store()
        .delete_telegram_link(viewer.user.id, telegram_user_id)
        .await
    {
        Ok(true) => Redirect::to("/account?done=telegram-unlinked").into_response(),
        Ok(false) => error_page(
            &viewer,
            crate::ApiError::NotFound(format!(
                "no Telegram account {telegram_user_id} is linked to you"
            )),
        ),
        Err(e) => server_error(e),
    }
}

crate::ui::posted::csrf_token_field!(PasswordForm, TokenForm);
