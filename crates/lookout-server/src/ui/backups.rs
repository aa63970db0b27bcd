//! The backups page (administrators): list with verification state,
//! verify, download, and create now. The work is the same as the
//! `/api/v1/backups` handlers (`routes::backups`).

use super::common::*;
use super::session::Viewer;
use super::{layout, relative_time};
use crate::routes::backups::{create_now, file_response, listed, verify_now};
use crate::state::AppState;
use crate::ui::posted::Posted;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use maud::html;

const NOTICES: &[(&str, &str)] = &[("created", "Backup created.")];

/// Human size, e.g. `12.3 MB`.
pub fn human_bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KB", "MB", "GB", "TB"];
    let mut v = n as f64;
    let mut u = 0;
    while v >= 1000.0 && u < UNITS.len() - 1 {
        v /= 1000.0;
        u += 1;
    }
    if u == 0 {
        format!("{n} B")
    } else {
        format!("{v:.1} {}", UNITS[u])
    }
}

/// `GET /admin/backups`.
pub async fn page(State(state): State<AppState>, viewer: Viewer, Query(done): Query<Done>) -> Page {
    let err = |e| error_page(&viewer, e);
    viewer.access().require_admin().map_err(err)?;
    let items = listed(&state).await.map_err(err)?;
    let status = state.ops().backup_status();
    // Measured now (it reads the page map: about a second per GB), and
    // kept for /metrics.
    let usage = state.store().storage_usage().await.map_err(server_error)?;
    state.ops().set_storage_usage(usage.clone());
    let projects = state.store().list_projects().await.map_err(server_error)?;
    let disk_total = state.store().disk_usage();
    let csrf = &viewer.session.csrf_token;
    let copies = copy_targets(state.config());
    let body = html! {
        h1 { "Backups" }
        (notice(done.done.as_deref(), NOTICES))
        p.muted {
            "Scheduled backups, retention and restore are described in the operations guide. Restore with "
            code { "lookout backup restore NAME --into DIR" } " while the server is stopped."
        }
        @if !copies.is_empty() {
            p #backup-copies { "Each backup is also copied to " (copies.join(" and ")) "." }
        }
        @if let Some(e) = &status.last_error { p.error #backup-last-error { "The last backup failed: " (e) } }
        form #create-backup .filters method="post" action="/admin/backups" {
            input type="hidden" name="csrf_token" value=(csrf);
            button type="submit" { "Back up now" }
        }
        @if items.is_empty() {
            div.empty-state { "No backups yet. Press “Back up now”, or wait for the scheduled one." }
        } @else {
            table #backup-table {
                thead { tr { th { "Name" } th { "Taken" } th { "Size" } th.optional { "Schema" } th.optional { "How" } th { "Verified" } th { "" } } }
                tbody {
                    @for l in &items {
                        @let m = &l.manifest;
                        tr.backup-row {
                            td.backup-name { (m.name) }
                            td { (relative_time(m.created_at)) }
                            td { (human_bytes(m.size())) }
                            td.optional { (m.schema_version) }
                            td.optional { (format!("{:?}", m.trigger).to_lowercase()) }
                            td.backup-state { span .badge .(match l.state() { "verified" => "resolved", "failed" => "regression", _ => "ignored" }) { (l.state()) } }
                            td {
                                form.inline method="post" action={ "/admin/backups/" (m.name) "/verify" } {
                                    input type="hidden" name="csrf_token" value=(csrf);
                                    button.secondary.verify-backup type="submit" { "Verify" }
                                }
                                " "
                                a.download-backup href={ "/admin/backups/" (m.name) "/download" } { "Download" }
                            }
                        }
                    }
                }
            }
        }
        section #storage-usage {
            h2 { "Disk usage" }
            p { "The database files take " strong #disk-total { (human_bytes(disk_total)) } ". By signal and by project (also in " code { "/metrics" } " as " code { "lookout_storage_bytes" } " and " code { "lookout_project_storage_bytes" } "):" }
            div.panels {
                div.panel {
                    h3 { "By signal" }
                    table #usage-by-signal { tbody {
                        @for (signal, bytes) in usage.by_signal.iter().filter(|(_, b)| *b > 0) {
                            tr { td { (signal) } td { (human_bytes(*bytes)) } }
                        }
                    } }
                }
                div.panel {
                    h3 { "By project (events and attachments)" }
                    table #usage-by-project { tbody {
                        @for (pid, bytes) in &usage.by_project {
                            tr {
                                td { (projects.iter().find(|p| p.id == *pid).map(|p| p.name.as_str()).unwrap_or("(deleted)")) }
                                td { (human_bytes(*bytes)) }
                            }
                        }
                    } }
                }
            }
        }
    };
    Ok(html_page(
        StatusCode::OK,
        layout("Backups", Some(&viewer), body),
    ))
}

/// `POST /admin/backups`: back up now.
pub async fn create(
    State(state): State<AppState>,
    Posted { viewer, form: _ }: Posted<CsrfForm>,
) -> Response {
    if let Err(e) = viewer.access().require_admin() {
        return error_page(&viewer, e);
    }
    match create_now(&state).await {
        Ok(_) => Redirect::to("/admin/backups?done=created").into_response(),
        Err(e) => error_page(&viewer, e),
    }
}

/// `POST /admin/backups/{name}/verify`: the report.
pub async fn verify(
    State(state): State<AppState>,
    Path(name): Path<String>,
    Posted { viewer, form: _ }: Posted<CsrfForm>,
) -> Response {
    if let Err(e) = viewer.access().require_admin() {
        return error_page(&viewer, e);
    }
    let r = match verify_now(&state, &name).await {
        Ok(r) => r,
        Err(e) => return error_page(&viewer, e),
    };
    let body = html! {
        h1 { "Backup " (name) }
        @if r.ok() && !r.content_checked {
            p #verify-intact .notice { "Intact: every hash matches. The backup is encrypted and the server has no key for it (backup.identity_file or backup.passphrase_file), so its content was not checked." }
        } @else if r.ok() {
            p #verify-ok .notice { "Verified: every hash matches and SQLite's integrity check passed." }
        } @else {
            div #verify-problems .card {
                p.error { "Verification failed:" }
                ul { @for p in &r.problems { li { (p) } } }
            }
        }
        @if !r.tables.is_empty() {
            h2 { "Rows per table" }
            table #verify-tables { tbody { @for (t, n) in &r.tables { tr { td { (t) } td { (n) } } } } }
        }
        p { a href="/admin/backups" { "← Backups" } }
    };
    html_page(
        StatusCode::OK,
        layout("Backup verified", Some(&viewer), body),
    )
}

/// `GET /admin/backups/{name}/download`.
pub async fn download(
    State(state): State<AppState>,
    viewer: Viewer,
    Path(name): Path<String>,
) -> Response {
    if let Err(e) = viewer.access().require_admin() {
        return error_page(&viewer, e);
    }
    match file_response(&state, &name).await {
        Ok(r) => r,
        Err(e) => error_page(&viewer, e),
    }
}

/// Where backups are copied, for the page: the second directory and the
/// bucket (`s3://bucket/prefix`), without credentials.
fn copy_targets(cfg: &lookout_config::Config) -> Vec<String> {
    let mut out = Vec::new();
    if !cfg.backup.copy_to.as_os_str().is_empty() {
        out.push(cfg.backup.copy_to.display().to_string());
    }
    let s3 = &cfg.backup.s3;
    if s3.enabled() {
        out.push(lookout_backup::s3::label(&s3.bucket, &s3.prefix));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::human_bytes;

    #[test]
    fn sizes_read_like_a_person_would_say_them() {
        assert_eq!(human_bytes(999), "999 B");
        assert_eq!(human_bytes(1_500), "1.5 KB");
        assert_eq!(human_bytes(259_000_000), "259.0 MB");
    }
}
