//! Small server-rendered SVG charts. The CSP allows no inline style, so
//! sizes and positions are SVG attributes and colours come from the
//! stylesheet (`svg.chart rect`, `svg.spark polyline`).

use maud::{Markup, html};

/// Counts for `n` consecutive hours starting at `first_hour`, from sparse
/// `(hour, count)` rows; hours outside the range are ignored.
pub fn fill_hours(
    rows: impl IntoIterator<Item = (i64, i64)>,
    first_hour: i64,
    n: usize,
) -> Vec<i64> {
    let mut out = vec![0; n];
    for (hour, count) in rows {
        if let Ok(i) = usize::try_from(hour - first_hour)
            && i < n
        {
            out[i] += count;
        }
    }
    out
}

/// Bar heights for `values` in a chart `height` units tall: the largest
/// value fills it, and any non-zero value stays visible (at least 1 unit).
pub fn bar_heights(values: &[i64], height: i64) -> Vec<i64> {
    let max = values.iter().copied().max().unwrap_or(0).max(1);
    values
        .iter()
        .map(|&v| if v <= 0 { 0 } else { (v * height / max).max(1) })
        .collect()
}

/// The `points` of a polyline drawing `values` left to right in a
/// `width` × `height` box (y grows downwards; zero is the bottom line).
pub fn sparkline_points(values: &[i64], width: i64, height: i64) -> String {
    let n = values.len() as i64;
    if n == 0 {
        return String::new();
    }
    let max = values.iter().copied().max().unwrap_or(0).max(1);
    let step = if n > 1 { width * 100 / (n - 1) } else { 0 };
    values
        .iter()
        .enumerate()
        .map(|(i, &v)| {
            // One decimal place, computed in integers: no float formatting.
            let x10 = i as i64 * step / 10;
            let y10 = (height * 10) - v.max(0) * (height - 1) * 10 / max;
            format!("{}.{},{}.{}", x10 / 10, x10 % 10, y10 / 10, y10 % 10)
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// A bar chart of hourly `values` (oldest first), with a tooltip per bar
/// from `label(index, value)`.
pub fn hourly_bars(
    id: &str,
    values: &[i64],
    aria: &str,
    label: impl Fn(usize, i64) -> String,
) -> Markup {
    const H: i64 = 60;
    let bar = if values.len() > 48 { 3 } else { 12 };
    let width = values.len() as i64 * bar;
    let heights = bar_heights(values, H - 2);
    html! {
        svg.chart id=(id) viewBox={ "0 0 " (width) " " (H) } preserveAspectRatio="none" role="img" aria-label=(aria) {
            line.axis x1="0" y1=(H - 1) x2=(width) y2=(H - 1) {}
            @for (i, (v, h)) in values.iter().zip(&heights).enumerate() {
                @if *h > 0 {
                    rect x=(i as i64 * bar) y=(H - 1 - h) width=(bar - 1) height=(h) { title { (label(i, *v)) } }
                }
            }
        }
    }
}

/// A small trend line of hourly counts, for a table row.
pub fn sparkline(values: &[i64]) -> Markup {
    let total: i64 = values.iter().sum();
    html! {
        svg.spark viewBox="0 0 48 16" preserveAspectRatio="none" role="img"
            aria-label={ (total) " events in the last 24 hours" } {
            polyline points=(sparkline_points(values, 48, 16)) {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hours_are_filled_with_zeros_and_clipped_to_the_range() {
        let rows = [(99, 5), (100, 1), (102, 3), (102, 1), (104, 7)];
        assert_eq!(fill_hours(rows, 100, 4), vec![1, 0, 4, 0]);
        assert_eq!(fill_hours([], 0, 3), vec![0, 0, 0]);
    }

    #[test]
    fn bars_scale_to_the_largest_and_small_values_stay_visible() {
        assert_eq!(bar_heights(&[0, 50, 100, 1], 58), vec![0, 29, 58, 1]);
        assert_eq!(bar_heights(&[0, 0], 58), vec![0, 0], "all zero: no bars");
        assert_eq!(bar_heights(&[], 58), Vec::<i64>::new());
    }

    #[test]
    fn sparkline_spans_the_box_with_zero_at_the_bottom() {
        assert_eq!(
            sparkline_points(&[0, 2, 4], 48, 16),
            "0.0,16.0 24.0,8.5 48.0,1.0"
        );
        assert_eq!(
            sparkline_points(&[0, 0], 48, 16),
            "0.0,16.0 48.0,16.0",
            "no events: a flat line at the bottom"
        );
        assert_eq!(sparkline_points(&[3], 48, 16), "0.0,1.0");
        assert_eq!(sparkline_points(&[], 48, 16), "");
    }

    #[test]
    fn charts_draw_one_bar_per_non_zero_hour() {
        let svg =
            hourly_bars("c", &[0, 3, 0, 1], "events", |i, v| format!("{i}:{v}")).into_string();
        assert_eq!(svg.matches("<rect").count(), 2);
        assert!(svg.contains("<title>1:3</title>") && svg.contains("<title>3:1</title>"));
        assert!(!svg.contains("style="), "no inline style under the CSP");
    }
}
