//! An event's attachments on the issue page, and their download through
//! the browser session (`GET /issues/{id}/events/{event_id}/attachments/{aid}`).
//!
//! The bytes came from a client, so they are always sent as a download
//! (`application/octet-stream`, `Content-Disposition: attachment`), never
//! rendered in the page's origin.

use super::common::*;
use super::session::Viewer;
use crate::routes::api::attachment_response;
use crate::state::AppState;
use axum::extract::{Path, State};
use lookout_model::errors::{AttachmentMeta, parse_event_id};
use maud::{Markup, html};

/// A byte count for people: "532 B", "12.4 KiB", "3.1 MiB".
pub fn human_size(bytes: i64) -> String {
    const KIB: i64 = 1024;
    match bytes {
        b if b < KIB => format!("{b} B"),
        b if b < KIB * KIB => format!("{:.1} KiB", b as f64 / KIB as f64),
        b => format!("{:.1} MiB", b as f64 / (KIB * KIB) as f64),
    }
}

/// The attachments section of the issue page (nothing without attachments).
pub fn section(issue_id: i64, event_id: &str, items: &[AttachmentMeta]) -> Markup {
    html! {
        @if !items.is_empty() {
            section #attachments {
                h2 { "Attachments" }
                table {
                    thead { tr { th { "File" } th.optional { "Type" } th { "Size" } } }
                    tbody {
                        @for a in items {
                            tr.attachment {
                                td { a.attachment-link download href={ "/issues/" (issue_id) "/events/" (event_id) "/attachments/" (a.id) } { (a.filename) } }
                                td.optional.muted {
                                    (a.content_type.as_deref().unwrap_or("unknown type"))
                                    @if let Some(t) = a.attachment_type.as_deref().filter(|t| *t != "event.attachment") { " · " (t) }
                                }
                                td.attachment-size { (human_size(a.size)) }
                            }
                        }
                    }
                }
            }
        }
    }
}

/// `GET /issues/{id}/events/{event_id}/attachments/{aid}`: the attachment,
/// if the viewer may read the issue and the attachment belongs to that
/// event in the issue's project.
pub async fn download(
    State(state): State<AppState>,
    viewer: Viewer,
    Path((id, event_id, aid)): Path<(i64, String, i64)>,
) -> Page {
    let (issue, _) = viewer
        .access()
        .read_issue(&state, id)
        .await
        .map_err(|e| error_page(&viewer, e))?;
    let eid = parse_event_id(&event_id).ok_or_else(|| not_found("Attachment"))?;
    let (meta, _, data) = state
        .store()
        .attachment(aid)
        .await
        .map_err(server_error)?
        .filter(|(m, project, _)| {
            *project == issue.project_id && parse_event_id(&m.event_id) == Some(eid)
        })
        .ok_or_else(|| not_found("Attachment"))?;
    Ok(attachment_response(meta, data))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_read_like_people_write_them() {
        assert_eq!(human_size(0), "0 B");
        assert_eq!(human_size(1023), "1023 B");
        assert_eq!(human_size(1536), "1.5 KiB");
        assert_eq!(human_size(3 * 1024 * 1024 + 104_858), "3.1 MiB");
    }

    #[test]
    fn file_names_are_escaped_and_links_stay_on_the_issue() {
        let a = AttachmentMeta {
            id: 7,
            event_id: "ab".repeat(16),
            filename: "<img src=x onerror=alert(1)>.txt".into(),
            content_type: Some("text/plain".into()),
            attachment_type: Some("event.attachment".into()),
            size: 12,
        };
        let html = section(3, &a.event_id, std::slice::from_ref(&a)).into_string();
        assert!(
            html.contains("&lt;img src=x onerror=alert(1)&gt;.txt"),
            "{html}"
        );
        assert!(!html.contains("<img"));
        assert!(html.contains(&format!(
            "href=\"/issues/3/events/{}/attachments/7\"",
            a.event_id
        )));
        assert!(section(3, "x", &[]).into_string().is_empty());
    }
}
