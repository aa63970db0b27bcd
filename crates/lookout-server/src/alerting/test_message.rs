//! The message a channel's "send test" action sends: an ordinary
//! notification (so every channel renders it with its real code path)
//! about one low-severity install alert that says what it is.

use lookout_alert::render::RenderContext;
use lookout_alert::{
    Alert, AlertKey, AlertState, Notification, NotificationKind, Severity, Subject,
};
use std::collections::BTreeMap;

/// The rule name every test message carries.
pub const TEST_RULE_NAME: &str = "Lookout test notification";

/// A test notification for channel `name`, and its rendering context.
pub fn build(name: &str, public_url: &str) -> (Notification, RenderContext) {
    let now = chrono::Utc::now();
    let labels: BTreeMap<String, String> = [
        ("alertname", TEST_RULE_NAME),
        ("severity", "low"),
        ("channel", name),
        ("kind", "test"),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    let annotations: BTreeMap<String, String> = [(
        "summary".to_string(),
        format!("This is a test of the channel {name:?}: if you can read it, it works."),
    )]
    .into_iter()
    .collect();
    let alert = Alert {
        key: AlertKey {
            rule_id: 0,
            fingerprint: format!("test,channel={name}"),
        },
        rule_name: TEST_RULE_NAME.into(),
        severity: Severity::Low,
        state: AlertState::Firing,
        labels,
        annotations,
        subject: Subject::Install,
        active_since: now,
        starts_at: Some(now),
        ends_at: None,
        last_seen: now,
        count: 1,
        acknowledged: None,
        resolved_by: None,
    };
    let n = Notification {
        group: format!("test/{name}"),
        id: format!("test/{name}@{}", now.timestamp_millis()),
        kind: NotificationKind::Firing,
        receivers: vec![name.to_string()],
        firing: vec![alert],
        resolved: vec![],
        severity: Severity::Low,
        rule_name: TEST_RULE_NAME.into(),
        project_id: None,
        at: now,
    };
    let ctx = RenderContext {
        public_url: public_url.to_string(),
        project_names: BTreeMap::new(),
    };
    (n, ctx)
}
