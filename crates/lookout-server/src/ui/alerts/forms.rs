//! Form pieces the alerting pages share: a field with its error next to
//! it, the raw pairs of a form (repeated checkboxes), and list parsing.

pub use crate::ui::posted::Pairs;
use maud::{Markup, html};

/// Problems with a submitted form: (field name, message).
pub type FieldErrors = Vec<(String, String)>;

/// The kinds (of a `(kind, label, fields)` table) that show `field`, as
/// the space-separated list the form's script reads.
pub fn kinds_with(kinds: &[(&str, &str, &[&str])], field: &str) -> String {
    kinds
        .iter()
        .filter(|(_, _, fs)| fs.contains(&field))
        .map(|(k, _, _)| *k)
        .collect::<Vec<_>>()
        .join(" ")
}

/// The messages about one field.
pub fn errors_for<'a>(errs: &'a FieldErrors, field: &str) -> Vec<&'a str> {
    errs.iter()
        .filter(|(f, _)| f == field)
        .map(|(_, m)| m.as_str())
        .collect()
}

/// The field's error messages, marked for tests and screen readers.
pub fn field_errors(errs: &FieldErrors, field: &str) -> Markup {
    html! {
        @for m in errors_for(errs, field) {
            span.error.field-error data-field=(field) { (m) }
        }
    }
}

/// A one-line text input with its label, hint and errors. `kinds`, when
/// not empty, names the condition kinds the field belongs to (app.js
/// hides the others).
pub fn text_field(
    name: &str,
    label: &str,
    value: &str,
    hint: &str,
    errs: &FieldErrors,
    kinds: &str,
    disabled: bool,
) -> Markup {
    let invalid = !errors_for(errs, name).is_empty();
    html! {
        div.field data-kinds=[(!kinds.is_empty()).then_some(kinds)] {
            label for={ "f-" (name) } { (label) }
            input id={ "f-" (name) } type="text" name=(name) value=(value) disabled[disabled] aria-invalid=[invalid.then_some("true")];
            @if !hint.is_empty() { span.muted { (hint) } }
            (field_errors(errs, name))
        }
    }
}

/// A textarea with its label, hint and errors.
pub fn textarea_field(
    name: &str,
    label: &str,
    value: &str,
    hint: &str,
    errs: &FieldErrors,
    disabled: bool,
) -> Markup {
    let invalid = !errors_for(errs, name).is_empty();
    html! {
        div.field {
            label for={ "f-" (name) } { (label) }
            textarea id={ "f-" (name) } name=(name) rows="3" disabled[disabled] aria-invalid=[invalid.then_some("true")] { (value) }
            @if !hint.is_empty() { span.muted { (hint) } }
            (field_errors(errs, name))
        }
    }
}

/// The form's problems as a list above it.
pub fn error_summary(what: &str, errs: &FieldErrors) -> Markup {
    html! {
        @if !errs.is_empty() {
            div.error #form-errors role="alert" {
                p { (what) " was not saved:" }
                ul { @for (f, m) in errs { li { code { (f) } ": " (m) } } }
            }
        }
    }
}

/// Non-empty trimmed lines.
pub fn lines(s: &str) -> impl Iterator<Item = &str> {
    s.lines().map(str::trim).filter(|l| !l.is_empty())
}

/// Items separated by commas or new lines.
pub fn items(s: &str) -> Vec<String> {
    s.split([',', '\n'])
        .map(str::trim)
        .filter(|x| !x.is_empty())
        .map(String::from)
        .collect()
}

/// `name=value` lines into a map; `field` names the errors.
pub fn key_values(
    s: &str,
    field: &str,
    errs: &mut FieldErrors,
) -> std::collections::BTreeMap<String, String> {
    let mut out = std::collections::BTreeMap::new();
    for line in lines(s) {
        match line.split_once('=') {
            Some((k, v)) if !k.trim().is_empty() => {
                out.insert(k.trim().to_string(), v.trim().to_string());
            }
            _ => errs.push((field.into(), format!("`{line}` is not `name=value`"))),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_values_name_the_bad_line() {
        let mut errs = FieldErrors::new();
        let m = key_values("team = bots\nnonsense\n\n", "labels", &mut errs);
        assert_eq!(m.get("team").map(String::as_str), Some("bots"));
        assert_eq!(
            errs,
            vec![(
                "labels".to_string(),
                "`nonsense` is not `name=value`".to_string()
            )]
        );
    }

    #[test]
    fn items_split_on_commas_and_lines() {
        assert_eq!(
            items("prod, staging\n dev ,"),
            vec!["prod", "staging", "dev"]
        );
    }
}
