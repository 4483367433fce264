//! The report as one self-contained HTML page: charts drawn by plotters as
//! inline SVG, the gallery's patches as inline PNGs.

use std::collections::HashMap;
use std::fmt::Write as _;

use base64::{engine::general_purpose::STANDARD, Engine};
use percept_api::count;
use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use super::Report;

/// Tableau's ten, then ten darker ones: a report has up to a dozen or so
/// metrics, and every one gets its own colour.
const PALETTE: [RGBColor; 20] = [
    RGBColor(0x1f, 0x77, 0xb4),
    RGBColor(0xff, 0x7f, 0x0e),
    RGBColor(0x2c, 0xa0, 0x2c),
    RGBColor(0xd6, 0x27, 0x28),
    RGBColor(0x94, 0x67, 0xbd),
    RGBColor(0x8c, 0x56, 0x4b),
    RGBColor(0xe3, 0x77, 0xc2),
    RGBColor(0x7f, 0x7f, 0x7f),
    RGBColor(0xbc, 0xbd, 0x22),
    RGBColor(0x17, 0xbe, 0xcf),
    RGBColor(0x39, 0x3b, 0x79),
    RGBColor(0x63, 0x79, 0x39),
    RGBColor(0x8c, 0x6d, 0x31),
    RGBColor(0x84, 0x3c, 0x39),
    RGBColor(0x7b, 0x41, 0x73),
    RGBColor(0x0b, 0x5d, 0x55),
    RGBColor(0xa6, 0x3d, 0x00),
    RGBColor(0x52, 0x52, 0x52),
    RGBColor(0x6b, 0x8e, 0x23),
    RGBColor(0xb0, 0x30, 0x60),
];

/// The human ceiling's dashed line (a colour no series takes).
const CEILING_COLOR: RGBColor = RGBColor(0x22, 0x22, 0x22);

/// The `i`-th series' colour: the palette's, then hues a golden angle apart.
pub(super) fn series_color(i: usize) -> RGBColor {
    if let Some(color) = PALETTE.get(i) {
        return *color;
    }
    let hue = ((i - PALETTE.len()) as f64 * 137.507_764) % 360.0;
    // HSL with saturation 0.6 and lightness 0.4, to RGB.
    let (s, l) = (0.6, 0.4);
    let c = (1.0 - (2.0 * l - 1.0f64).abs()) * s;
    let x = c * (1.0 - ((hue / 60.0) % 2.0 - 1.0).abs());
    let (r, g, b) = match (hue / 60.0) as u32 {
        0 => (c, x, 0.0),
        1 => (x, c, 0.0),
        2 => (0.0, c, x),
        3 => (0.0, x, c),
        4 => (x, 0.0, c),
        _ => (c, 0.0, x),
    };
    let level = |v: f64| ((v + l - c / 2.0) * 255.0).round() as u8;
    RGBColor(level(r), level(g), level(b))
}

/// The HTML page for `report`, with the gallery's (reference, p0, p1) PNGs.
pub fn render_html(
    report: &Report,
    gallery: &HashMap<i64, [Vec<u8>; 3]>,
) -> anyhow::Result<String> {
    let mut page = String::new();
    let names: Vec<String> = report.experiments.iter().map(|e| escape(&e.name)).collect();
    write!(
        page,
        r#"<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Agreement report: {title}</title><style>{STYLE}</style></head><body><main>
<h1>How well do metrics agree with people?</h1>
<p class="lead">{title}.</p>"#,
        title = names.join(", "),
    )?;
    if report.counts.triplets > 0 || report.counts.pairs == 0 {
        write!(
            page,
            "<p class=\"lead\">2AFC: {} with {} from {} ({} and their {} left out){}.</p>",
            count(report.counts.triplets, "triplet", "triplets"),
            count(report.counts.judgments, "judgment", "judgments"),
            count(report.counts.workers, "worker", "workers"),
            count(
                report.counts.excluded_workers,
                "flagged worker",
                "flagged workers"
            ),
            count(report.counts.excluded_judgments, "judgment", "judgments"),
            match report.counts.imported_judgments {
                0 => String::new(),
                n => format!(
                    ", plus {} imported with the triplets",
                    count(n, "judgment", "judgments")
                ),
            },
        )?;
    }
    if report.counts.pairs > 0 {
        write!(
            page,
            "<p class=\"lead\">JND: {} with {}.</p>",
            count(report.counts.pairs, "pair", "pairs"),
            count(
                report.counts.jnd_judgments,
                "valid judgment",
                "valid judgments"
            ),
        )?;
    }
    write!(page, "<p>{}</p>", report.resample.statement())?;
    if let Some(rankings) = &report.method_ranking {
        page.push_str(&super::ranking::html_section(rankings)?);
    }
    if report.metrics.is_empty() && report.jnd.is_empty() {
        page.push_str(
            "<p>No metric has scored these stimuli yet: run <code>percept score</code>.</p>",
        );
    }
    if !report.metrics.is_empty() {
        page.push_str("<h2>2AFC score</h2><p>The share of people each metric sides with, per triplet, averaged (the official BAPPS score); bars are 95% bootstrap intervals; the dashed line is the human ceiling, how often two people agree.</p>");
        page.push_str(&two_afc_chart(report)?);
        page.push_str(&score_table(report));
        if report.metrics.iter().any(|m| m.per_category.len() > 1) {
            page.push_str("<h2>By category</h2>");
            page.push_str(&category_chart(report)?);
        }
        page.push_str(&comparison_table(report));
        page.push_str(&trained_metrics_html(report));
        if report
            .by_distortion
            .iter()
            .any(|row| !row.per_type.is_empty())
        {
            page.push_str("<h2>By distortion type</h2><p>Which distortions fool which metric: each metric's 2AFC score on the triplets whose p0 or p1 pipeline has the distortion (a triplet counts for every type in either pipeline). Darker is more agreement with people; hover a cell for its 95% bootstrap interval and count.</p>");
            page.push_str(&distortion_heat_map(report));
        }
        if let Some(first) = report.disagreements.first() {
            write!(page, "<h2>{} against the people</h2><p>Each dot is a triplet: how much closer the metric finds p0 than p1 (d1 − d0), against the share of people who found p1 closer. Agreement runs from top left to bottom right.</p>", escape(&first.metric))?;
            page.push_str(&preference_chart(report, &first.metric)?);
            page.push_str(&gallery_html(report, gallery));
        }
    }
    if let Some(versus) = &report.versus {
        page.push_str(&versus_html(versus, gallery));
    }
    if !report.jnd.is_empty() {
        page.push_str("<h2>JND mAP</h2><p>Pairs ranked by each metric's distance, closest first, against the share of people who saw no difference: the official BAPPS average precision, with 95% bootstrap intervals.</p>");
        page.push_str(&jnd_table(report));
        page.push_str(&precision_recall_chart(report)?);
    }
    if let Some(across) = &report.across_tasks {
        page.push_str(&across_tasks_html(across)?);
    }
    page.push_str("</main></body></html>");
    Ok(page)
}

/// The metric-against-metric section: where the two pick different sides,
/// whom people side with, and the clearest cases.
fn versus_html(versus: &super::Versus, gallery: &HashMap<i64, [Vec<u8>; 3]>) -> String {
    let (a, b) = (escape(&versus.a), escape(&versus.b));
    let e = versus.people_side_with_a;
    let mut html = format!(
        "<h2>{a} against {b}</h2><p>Of the {both} judged triplets both scored, {a} and {b} find different \
         sides closer on {n}. There, people side with {a} {value:.1}% of the time (95% bootstrap interval \
         {lo:.1}–{hi:.1}%) and with {b} the rest. The clearest cases (reference in the middle, p0 left, p1 right):</p>\
         <div class=\"gallery\">",
        both = versus.both_scored,
        n = versus.disagreeing,
        value = 100.0 * e.value,
        lo = 100.0 * e.low,
        hi = 100.0 * e.high,
    );
    for case in &versus.strongest {
        let Some([reference, p0, p1]) = gallery.get(&case.triplet_id) else {
            continue;
        };
        let img = |png: &[u8], alt: &str| {
            format!(
                "<img alt=\"{alt}\" src=\"data:image/png;base64,{}\">",
                STANDARD.encode(png)
            )
        };
        let closer = |(d0, d1): (f64, f64)| if d0 < d1 { "p0" } else { "p1" };
        let _ = write!(
            html,
            "<figure>{}{}{}<figcaption>triplet {}: {a} finds {} closer, {b} {}; {} of {} people chose p1: they side with {}</figcaption></figure>",
            img(p0, "p0"),
            img(reference, "reference"),
            img(p1, "p1"),
            case.triplet_id,
            closer(case.a_distances),
            closer(case.b_distances),
            (case.human_p1_share * case.judgments).round(),
            case.judgments,
            escape(&case.people_side_with),
        );
    }
    html.push_str("</div>");
    html
}

/// The metrics × distortion types table of 2AFC scores, each cell shaded
/// from the lowest score in the table (white) to the highest (dark blue).
fn distortion_heat_map(report: &Report) -> String {
    let mut types: Vec<&str> = Vec::new();
    for row in &report.by_distortion {
        for cell in &row.per_type {
            if !types.contains(&cell.distortion.as_str()) {
                types.push(&cell.distortion);
            }
        }
    }
    let values = report
        .by_distortion
        .iter()
        .flat_map(|row| row.per_type.iter().map(|cell| cell.two_afc.value));
    let (low, high) = values.fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| {
        (lo.min(v), hi.max(v))
    });
    let mut html = String::from("<div class=\"heat\"><table><tr><th>metric</th>");
    for distortion in &types {
        let _ = write!(html, "<th><span>{}</span></th>", escape(distortion));
    }
    html.push_str("</tr>");
    for row in &report.by_distortion {
        let _ = write!(html, "<tr><td>{}</td>", escape(&row.metric));
        for distortion in &types {
            match row
                .per_type
                .iter()
                .find(|cell| cell.distortion == *distortion)
            {
                None => html.push_str("<td></td>"),
                Some(cell) => {
                    let e = cell.two_afc;
                    let share = if high > low {
                        (e.value - low) / (high - low)
                    } else {
                        1.0
                    };
                    let lightness = 96.0 - 56.0 * share;
                    let text = if lightness < 62.0 { "white" } else { "#1d1d1f" };
                    let _ = write!(
                        html,
                        "<td style=\"background:hsl(210,65%,{lightness:.0}%);color:{text}\" \
                         title=\"{metric} on {distortion}: {value:.3} [{lo:.3}, {hi:.3}], {n} triplets\">{value:.2}</td>",
                        metric = escape(&row.metric),
                        distortion = escape(distortion),
                        value = e.value,
                        lo = e.low,
                        hi = e.high,
                        n = cell.triplets,
                    );
                }
            }
        }
        html.push_str("</tr>");
    }
    html.push_str("</table></div>");
    html
}

const STYLE: &str = "body{font-family:system-ui,sans-serif;color:#1d1d1f;background:#fafafa;margin:0}\
main{max-width:60rem;margin:2rem auto;padding:0 1rem}.lead{font-size:1.1rem}\
table{border-collapse:collapse;margin:1rem 0}td,th{padding:.3rem .7rem;border-bottom:1px solid #ddd;text-align:right}\
th:first-child,td:first-child{text-align:left}svg{max-width:100%;height:auto}\
.gallery{display:grid;grid-template-columns:repeat(auto-fill,minmax(14rem,1fr));gap:1rem}\
.gallery figure{margin:0;background:white;padding:.5rem;border:1px solid #ddd}\
.gallery img{width:64px;height:64px;image-rendering:pixelated;margin:2px}\
.gallery figcaption{font-size:.85rem}\
.heat{overflow-x:auto}.heat td{text-align:center;font-size:.8rem;padding:.3rem .4rem;border:1px solid #fff}\
.heat th span{writing-mode:vertical-rl;transform:rotate(180deg);font-weight:normal;font-size:.8rem}";

/// What each trained metric learned from, with a warning in words when it
/// was trained on triplets of this report.
fn trained_metrics_html(report: &Report) -> String {
    let mut html = String::new();
    for note in &report.trained_metrics {
        let _ = write!(
            html,
            "<p><b>{}</b> was trained here ({} on {}) on {} triplets of experiments {:?}, validated on {}.",
            escape(&note.metric),
            escape(&note.mode),
            escape(&note.net),
            note.training_triplets,
            note.training_experiment_ids,
            if note.validation_experiment_ids.is_empty() {
                "a held-out share of them".to_owned()
            } else {
                format!("experiments {:?}", note.validation_experiment_ids)
            },
        );
        if note.overlapping_triplets > 0 {
            let _ = write!(
                html,
                " <b>Warning:</b> {} of this report's triplets are among those it was trained on; \
                 its score on them is not evidence of how well it agrees with people.",
                note.overlapping_triplets
            );
        }
        html.push_str("</p>");
    }
    html
}

pub(super) fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// An SVG chart of `size` pixels on white, drawn by `draw`.
pub(super) fn svg_chart(
    size: (u32, u32),
    draw: impl FnOnce(&DrawingArea<SVGBackend<'_>, Shift>) -> anyhow::Result<()>,
) -> anyhow::Result<String> {
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, size).into_drawing_area();
        root.fill(&WHITE).map_err(chart_error)?;
        draw(&root)?;
        root.present().map_err(chart_error)?;
    }
    Ok(svg)
}

/// The series' labels in a framed box at `position`.
fn draw_legend<'a, X: Ranged, Y: Ranged>(
    chart: &mut ChartContext<'a, SVGBackend<'a>, Cartesian2d<X, Y>>,
    position: SeriesLabelPosition,
) -> anyhow::Result<()> {
    chart
        .configure_series_labels()
        .position(position)
        .background_style(WHITE.mix(0.9))
        .border_style(BLACK)
        .draw()
        .map_err(chart_error)
}

pub(super) fn chart_error(error: impl std::fmt::Display) -> anyhow::Error {
    anyhow::anyhow!("drawing a chart: {error}")
}

fn percent(value: f64) -> String {
    format!("{:.1}%", 100.0 * value)
}

/// A training run's curve: mean loss and training/validation 2AFC per
/// finished epoch (the dashboard shows it; `total_epochs` fixes the x axis
/// while training goes on).
pub fn training_curve_svg(
    epochs: &[app::api::training::EpochPoint],
    total_epochs: usize,
) -> anyhow::Result<String> {
    svg_chart((640, 300), |root| {
        let top = epochs
            .iter()
            .map(|e| e.loss)
            .filter(|loss| loss.is_finite())
            .fold(1.0, f64::max);
        let mut chart = ChartBuilder::on(root)
            .margin(12)
            .x_label_area_size(36)
            .y_label_area_size(48)
            .build_cartesian_2d(0.5..total_epochs.max(1) as f64 + 0.5, 0.0..top * 1.02)
            .map_err(chart_error)?;
        chart
            .configure_mesh()
            .x_desc("epoch")
            .y_desc("loss (BCE); 2AFC score")
            .x_labels(total_epochs.clamp(1, 10))
            .x_label_formatter(&|x| format!("{x:.0}"))
            .draw()
            .map_err(chart_error)?;
        type Series<'a> = (&'a str, RGBColor, Vec<(f64, f64)>);
        let series: [Series; 3] = [
            (
                "loss",
                series_color(3),
                epochs.iter().map(|e| (e.epoch as f64, e.loss)).collect(),
            ),
            (
                "training 2AFC",
                series_color(0),
                epochs
                    .iter()
                    .map(|e| (e.epoch as f64, e.train_2afc))
                    .collect(),
            ),
            (
                "validation 2AFC",
                series_color(2),
                epochs
                    .iter()
                    .filter_map(|e| Some((e.epoch as f64, e.validation_2afc?)))
                    .collect(),
            ),
        ];
        for (label, color, points) in series {
            if points.is_empty() {
                continue;
            }
            chart
                .draw_series(LineSeries::new(points.clone(), color.stroke_width(2)))
                .map_err(chart_error)?
                .label(label)
                .legend(move |(x, y)| {
                    PathElement::new([(x, y), (x + 20, y)], color.stroke_width(2))
                });
            chart
                .draw_series(
                    points
                        .into_iter()
                        .map(|p| Circle::new(p, 3, color.filled())),
                )
                .map_err(chart_error)?;
        }
        draw_legend(&mut chart, SeriesLabelPosition::LowerRight)?;
        Ok(())
    })
}

/// Bars of each metric's 2AFC score with its interval, and the human ceiling.
///
/// The x axis is continuous, one unit per metric, `0..n`, with the names
/// drawn under the bars' centres: plotters' segmented axis over `0..n` has
/// n + 1 slots (its range includes `n`), which left an empty slot at the
/// right, and over a one-value range it maps to the middle. The ceiling is
/// drawn dash by dash in pixels from the axis's start to its end, the last
/// dash cut to fit (plotters' dashed series drops an unfinished last dash,
/// which left the line short of the last bar).
fn two_afc_chart(report: &Report) -> anyhow::Result<String> {
    let metrics = &report.metrics;
    let slots = metrics.len().max(1) as f64;
    svg_chart((860, 380), |root| {
        let lowest = metrics.iter().map(|m| m.two_afc.low).fold(0.5, f64::min);
        let bottom = (lowest - 0.02).max(0.0);
        let mut chart = ChartBuilder::on(root)
            .margin(16)
            .x_label_area_size(40)
            .y_label_area_size(56)
            .build_cartesian_2d(0.0..slots, bottom..1.0)
            .map_err(chart_error)?;
        chart
            .configure_mesh()
            .disable_x_mesh()
            .x_labels(0)
            .y_desc("2AFC score")
            .y_label_formatter(&|y| percent(*y))
            .draw()
            .map_err(chart_error)?;
        let label_style =
            TextStyle::from(("sans-serif", 13).into_font()).pos(Pos::new(HPos::Center, VPos::Top));
        chart
            .draw_series(metrics.iter().enumerate().map(|(i, m)| {
                EmptyElement::at((i as f64 + 0.5, bottom))
                    + Text::new(m.metric.clone(), (0, 8), label_style.clone())
            }))
            .map_err(chart_error)?;
        chart
            .draw_series(metrics.iter().enumerate().map(|(i, m)| {
                let mut bar = Rectangle::new(
                    [(i as f64, bottom), (i as f64 + 1.0, m.two_afc.value)],
                    series_color(i).mix(0.8).filled(),
                );
                bar.set_margin(0, 0, 14, 14);
                bar
            }))
            .map_err(chart_error)?;
        chart
            .draw_series(metrics.iter().enumerate().map(|(i, m)| {
                ErrorBar::new_vertical(
                    i as f64 + 0.5,
                    m.two_afc.low,
                    m.two_afc.value,
                    m.two_afc.high,
                    BLACK.stroke_width(2),
                    12,
                )
            }))
            .map_err(chart_error)?;
        if let Some(ceiling) = report.human_ceiling {
            let (start, y) = chart.backend_coord(&(0.0, ceiling.value));
            let (end, _) = chart.backend_coord(&(slots, ceiling.value));
            for from in (start..end).step_by(14) {
                root.draw(&PathElement::new(
                    [(from, y), ((from + 8).min(end), y)],
                    CEILING_COLOR.stroke_width(2),
                ))
                .map_err(chart_error)?;
            }
            chart
                .draw_series(std::iter::empty::<PathElement<(f64, f64)>>())
                .map_err(chart_error)?
                .label(format!("human ceiling {}", percent(ceiling.value)))
                .legend(|(x, y)| {
                    PathElement::new([(x, y), (x + 20, y)], CEILING_COLOR.stroke_width(2))
                });
            draw_legend(&mut chart, SeriesLabelPosition::LowerRight)?;
        }
        Ok(())
    })
}

/// Per category, each metric's 2AFC score with its interval.
fn category_chart(report: &Report) -> anyhow::Result<String> {
    let mut categories: Vec<&str> = report
        .metrics
        .iter()
        .flat_map(|m| m.per_category.iter().map(|c| c.category.as_str()))
        .collect();
    categories.sort();
    categories.dedup();
    let metrics = &report.metrics;
    let slots = metrics.len() + 1;
    svg_chart((860, 380), |root| {
        let mut chart = ChartBuilder::on(root)
            .margin(16)
            .x_label_area_size(40)
            .y_label_area_size(56)
            .build_cartesian_2d(0.0..(categories.len() * slots) as f64, 0.0..1.0)
            .map_err(chart_error)?;
        chart
            .configure_mesh()
            .disable_x_mesh()
            .x_labels(categories.len() * slots)
            .x_label_formatter(&|x| {
                let slot = *x as usize;
                if slot % slots == metrics.len() / 2 {
                    categories
                        .get(slot / slots)
                        .map(|c| c.to_string())
                        .unwrap_or_default()
                } else {
                    String::new()
                }
            })
            .y_desc("2AFC score")
            .y_label_formatter(&|y| percent(*y))
            .draw()
            .map_err(chart_error)?;
        for (m, metric) in metrics.iter().enumerate() {
            let color = series_color(m);
            let bars: Vec<(f64, &super::CategoryAgreement)> = metric
                .per_category
                .iter()
                .filter_map(|c| {
                    let k = categories.iter().position(|name| *name == c.category)?;
                    Some(((k * slots + m) as f64, c))
                })
                .collect();
            chart
                .draw_series(bars.iter().map(|(x, c)| {
                    Rectangle::new(
                        [(x + 0.1, 0.0), (x + 0.9, c.two_afc.value)],
                        color.mix(0.8).filled(),
                    )
                }))
                .map_err(chart_error)?
                .label(metric.metric.clone())
                .legend(move |(x, y)| {
                    Rectangle::new([(x, y - 5), (x + 12, y + 5)], color.filled())
                });
            chart
                .draw_series(bars.iter().map(|(x, c)| {
                    ErrorBar::new_vertical(
                        x + 0.5,
                        c.two_afc.low,
                        c.two_afc.value,
                        c.two_afc.high,
                        BLACK.stroke_width(1),
                        6,
                    )
                }))
                .map_err(chart_error)?;
        }
        draw_legend(&mut chart, SeriesLabelPosition::LowerRight)?;
        Ok(())
    })
}

/// The metric's d1 − d0 against the share of people preferring p1.
fn preference_chart(report: &Report, metric: &str) -> anyhow::Result<String> {
    let points = &report.preference_points;
    let extent = points
        .iter()
        .map(|(x, _)| x.abs())
        .filter(|x| x.is_finite())
        .fold(1e-6, f64::max);
    svg_chart((860, 420), |root| {
        let mut chart = ChartBuilder::on(root)
            .margin(16)
            .x_label_area_size(44)
            .y_label_area_size(56)
            .build_cartesian_2d(-extent * 1.05..extent * 1.05, -0.02..1.02)
            .map_err(chart_error)?;
        chart
            .configure_mesh()
            .x_desc(format!("{metric}: d1 − d0 (positive: p0 closer)"))
            .y_desc("share of people preferring p1")
            .y_label_formatter(&|y| percent(*y))
            .draw()
            .map_err(chart_error)?;
        chart
            .draw_series(
                points
                    .iter()
                    .filter(|(x, _)| x.is_finite())
                    .map(|&(x, y)| Circle::new((x, y), 3, series_color(0).mix(0.5).filled())),
            )
            .map_err(chart_error)?;
        Ok(())
    })
}

/// The across-tasks section: each metric's 2AFC score against its JND mAP
/// (the paper's Figure 5), with the correlations.
fn across_tasks_html(across: &super::AcrossTasks) -> anyhow::Result<String> {
    let correlation = |name: &str, value: Option<f64>| match value {
        Some(r) => format!("{name} = {r:.2}"),
        None => format!("{name}: needs three metrics with spread"),
    };
    let mut html = format!(
        "<h2>Across tasks</h2><p>Each metric's 2AFC score against its JND mAP, with their 95% \
         intervals (the LPIPS paper's Figure 5): a metric that agrees with people on which \
         distortion is smaller should also rank what people cannot tell apart. Over the {} \
         metrics scored on both: Pearson's {}, Spearman's {}.</p>",
        across.points.len(),
        correlation("r", across.pearson),
        correlation("ρ", across.spearman),
    );
    html.push_str(&across_tasks_chart(across)?);
    Ok(html)
}

fn across_tasks_chart(across: &super::AcrossTasks) -> anyhow::Result<String> {
    let points = &across.points;
    let span = |values: &mut dyn Iterator<Item = f64>| {
        let (low, high) = values.fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| {
            (lo.min(v), hi.max(v))
        });
        let pad = ((high - low) * 0.1).max(0.01);
        (low - pad).max(0.0)..(high + pad).min(1.0)
    };
    let x_range = span(&mut points.iter().flat_map(|p| [p.two_afc.low, p.two_afc.high]));
    let y_range = span(&mut points.iter().flat_map(|p| [p.jnd_map.low, p.jnd_map.high]));
    svg_chart((860, 460), |root| {
        let mut chart = ChartBuilder::on(root)
            .margin(16)
            .x_label_area_size(44)
            .y_label_area_size(56)
            .build_cartesian_2d(x_range, y_range)
            .map_err(chart_error)?;
        chart
            .configure_mesh()
            .x_desc("2AFC score")
            .y_desc("JND mAP")
            .x_label_formatter(&|x| percent(*x))
            .y_label_formatter(&|y| percent(*y))
            .draw()
            .map_err(chart_error)?;
        for (i, point) in points.iter().enumerate() {
            let color = series_color(i);
            let (x, y) = (point.two_afc, point.jnd_map);
            chart
                .draw_series([
                    PathElement::new(
                        [(x.low, y.value), (x.high, y.value)],
                        color.mix(0.6).stroke_width(1),
                    ),
                    PathElement::new(
                        [(x.value, y.low), (x.value, y.high)],
                        color.mix(0.6).stroke_width(1),
                    ),
                ])
                .map_err(chart_error)?;
            chart
                .draw_series([Circle::new((x.value, y.value), 5, color.filled())])
                .map_err(chart_error)?
                .label(point.metric.clone())
                .legend(move |(x, y)| Circle::new((x + 6, y), 5, color.filled()));
        }
        draw_legend(&mut chart, SeriesLabelPosition::UpperLeft)?;
        Ok(())
    })
}

/// Each metric's precision–recall curve for "same".
fn precision_recall_chart(report: &Report) -> anyhow::Result<String> {
    svg_chart((860, 420), |root| {
        let mut chart = ChartBuilder::on(root)
            .margin(16)
            .x_label_area_size(44)
            .y_label_area_size(56)
            .build_cartesian_2d(0.0..1.0, 0.0..1.02)
            .map_err(chart_error)?;
        chart
            .configure_mesh()
            .x_desc("recall of \"same\"")
            .y_desc("precision")
            .draw()
            .map_err(chart_error)?;
        for (m, metric) in report.jnd.iter().enumerate() {
            let color = series_color(m);
            let points = metric
                .curve
                .recall
                .iter()
                .copied()
                .zip(metric.curve.precision.iter().copied());
            chart
                .draw_series(LineSeries::new(points, color.stroke_width(2)))
                .map_err(chart_error)?
                .label(format!(
                    "{} (mAP {})",
                    metric.metric,
                    percent(metric.map.value)
                ))
                .legend(move |(x, y)| {
                    PathElement::new([(x, y), (x + 20, y)], color.stroke_width(2))
                });
        }
        draw_legend(&mut chart, SeriesLabelPosition::LowerLeft)?;
        Ok(())
    })
}

fn jnd_table(report: &Report) -> String {
    let mut table = String::from("<table><tr><th>metric</th><th>category</th><th>pairs</th><th>mAP</th><th>95% interval</th></tr>");
    for metric in &report.jnd {
        let mut row = |category: &str, pairs: usize, map: &super::Estimate| {
            let _ = write!(
                table,
                "<tr><td>{}</td><td>{}</td><td>{pairs}</td><td>{}</td><td>{} – {}</td></tr>",
                escape(&metric.metric),
                escape(category),
                percent(map.value),
                percent(map.low),
                percent(map.high)
            );
        };
        row("all", metric.pairs, &metric.map);
        if metric.per_category.len() > 1 {
            for category in &metric.per_category {
                row(&category.category, category.pairs, &category.map);
            }
        }
    }
    table.push_str("</table>");
    table
}

fn score_table(report: &Report) -> String {
    let mut table = String::from(
        "<table><tr><th>metric</th><th>triplets</th><th>2AFC score</th><th>95% interval</th></tr>",
    );
    for m in &report.metrics {
        let _ = write!(
            table,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{} – {}</td></tr>",
            escape(&m.metric),
            m.triplets,
            percent(m.two_afc.value),
            percent(m.two_afc.low),
            percent(m.two_afc.high)
        );
    }
    if let Some(h) = report.human_ceiling {
        let _ = write!(
            table,
            "<tr><td><em>human ceiling</em></td><td></td><td>{}</td><td>{} – {}</td></tr>",
            percent(h.value),
            percent(h.low),
            percent(h.high)
        );
    }
    table.push_str("</table>");
    table
}

/// A p-value as papers write it: three decimals, or "< 0.001" below that
/// (a bootstrap p-value of 0 only says it is smaller than the resampling
/// can tell).
pub(super) fn p_value_text(p: f64) -> String {
    if p < 0.001 {
        "< 0.001".into()
    } else {
        format!("{p:.3}")
    }
}

fn comparison_table(report: &Report) -> String {
    if report.comparisons.is_empty() {
        return String::new();
    }
    let mut table = String::from("<h2>Which differences are real?</h2><p>Paired bootstrap over the triplets both metrics scored.</p><table><tr><th>comparison</th><th>difference</th><th>95% interval</th><th>p</th><th></th></tr>");
    for c in &report.comparisons {
        let _ = write!(
            table,
            "<tr><td>{} − {}</td><td>{:+.1} pts</td><td>{:+.1} – {:+.1}</td><td>{}</td><td>{}</td></tr>",
            escape(&c.a),
            escape(&c.b),
            100.0 * c.difference.value,
            100.0 * c.difference.low,
            100.0 * c.difference.high,
            p_value_text(c.p_value),
            if c.significant { "significant" } else { "not significant" }
        );
    }
    table.push_str("</table>");
    table
}

fn gallery_html(report: &Report, gallery: &HashMap<i64, [Vec<u8>; 3]>) -> String {
    let mut html = String::from("<h2>Where they disagree most</h2><p>Reference in the middle, p0 left, p1 right.</p><div class=\"gallery\">");
    for d in &report.disagreements {
        let Some([reference, p0, p1]) = gallery.get(&d.triplet_id) else {
            continue;
        };
        let img = |png: &[u8], alt: &str| {
            format!(
                "<img alt=\"{alt}\" src=\"data:image/png;base64,{}\">",
                STANDARD.encode(png)
            )
        };
        let _ = write!(
            html,
            "<figure>{}{}{}<figcaption>triplet {}: {} finds {} closer (d0 {:.3}, d1 {:.3}); {} of {} people chose p1</figcaption></figure>",
            img(p0, "p0"),
            img(reference, "reference"),
            img(p1, "p1"),
            d.triplet_id,
            escape(&d.metric),
            if d.d0 < d.d1 { "p0" } else { "p1" },
            d.d0,
            d.d1,
            (d.human_p1_share * d.judgments).round(),
            d.judgments
        );
    }
    html.push_str("</div>");
    html
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::reports::agreement::Estimate;
    use crate::reports::{AcrossTasks, Counts, MetricAgreement, Resample, TaskPoint};

    fn estimate(value: f64) -> Estimate {
        Estimate {
            value,
            low: value - 0.03,
            high: value + 0.03,
        }
    }

    fn report_with(metrics: usize) -> Report {
        Report {
            experiments: Vec::new(),
            counts: Counts::default(),
            resample: Resample::Triplets,
            human_ceiling: Some(estimate(0.8)),
            metrics: (0..metrics)
                .map(|i| MetricAgreement {
                    metric: format!("metric-{i}"),
                    triplets: 100,
                    two_afc: estimate(0.75 - 0.01 * i as f64),
                    per_category: Vec::new(),
                })
                .collect(),
            comparisons: Vec::new(),
            jnd: Vec::new(),
            disagreements: Vec::new(),
            preference_points: Vec::new(),
            trained_metrics: Vec::new(),
            by_distortion: Vec::new(),
            versus: None,
            across_tasks: None,
            method_ranking: None,
        }
    }

    /// The value of attribute `name` in an SVG element's text.
    fn attribute<'a>(element: &'a str, name: &str) -> Option<&'a str> {
        let start = element.find(&format!(" {name}=\""))? + name.len() + 3;
        let end = start + element[start..].find('"')?;
        Some(&element[start..end])
    }

    /// The attributes of every `<tag …/>` element, each with a leading space.
    fn elements(svg: &str, tag: &str) -> Vec<String> {
        svg.split(&format!("<{tag} "))
            .skip(1)
            .map(|rest| format!(" {}", &rest[..rest.find("/>").unwrap_or(rest.len())]))
            .collect()
    }

    /// Issue 16's defects of the 2AFC chart, on 1, 7 and 14 metrics: every
    /// bar has its own colour (the seventh repeated the first), the human
    /// ceiling's line runs past the last bar (it stopped short of it), and
    /// the bars fill the axis (an empty slot sat at its right).
    #[test]
    fn the_two_afc_chart_gives_each_bar_a_colour_and_the_ceiling_spans_them_all() {
        for count in [1, 7, 14] {
            let svg = two_afc_chart(&report_with(count)).unwrap();
            let mut bars: Vec<(f64, f64, String)> = elements(&svg, "rect")
                .iter()
                .filter(|rect| attribute(rect, "opacity") == Some("0.8"))
                .map(|rect| {
                    let x: f64 = attribute(rect, "x").unwrap().parse().unwrap();
                    let width: f64 = attribute(rect, "width").unwrap().parse().unwrap();
                    (x, x + width, attribute(rect, "fill").unwrap().to_owned())
                })
                .collect();
            bars.sort_by(|a, b| a.0.total_cmp(&b.0));
            assert_eq!(bars.len(), count, "{svg}");
            let mut colours: Vec<&str> = bars.iter().map(|(_, _, fill)| fill.as_str()).collect();
            colours.sort();
            colours.dedup();
            assert_eq!(colours.len(), count, "a colour repeats: {bars:?}");

            // The ceiling's dashes: the most common y among its colour's lines.
            let ceiling = format!(
                "#{:02X}{:02X}{:02X}",
                CEILING_COLOR.0, CEILING_COLOR.1, CEILING_COLOR.2
            );
            let dashes: Vec<(f64, f64, f64)> = elements(&svg, "polyline")
                .iter()
                .filter(|line| attribute(line, "stroke") == Some(ceiling.as_str()))
                .map(|line| {
                    let points: Vec<(f64, f64)> = attribute(line, "points")
                        .unwrap()
                        .split_whitespace()
                        .map(|p| {
                            let (x, y) = p.split_once(',').unwrap();
                            (x.parse().unwrap(), y.parse().unwrap())
                        })
                        .collect();
                    (points[0].0, points[1].0, points[0].1)
                })
                .collect();
            let y = dashes
                .iter()
                .map(|d| d.2)
                .max_by_key(|y| dashes.iter().filter(|d| d.2 == *y).count())
                .unwrap();
            let line: Vec<&(f64, f64, f64)> = dashes.iter().filter(|d| d.2 == y).collect();
            let start = line.iter().map(|d| d.0).fold(f64::INFINITY, f64::min);
            let end = line.iter().map(|d| d.1).fold(f64::NEG_INFINITY, f64::max);
            let (first, last) = (&bars[0], &bars[count - 1]);
            assert!(
                start <= first.0 && end >= last.1,
                "ceiling {start}..{end}, bars {bars:?}"
            );
            // No empty slot: the space right of the last bar is the bar's own
            // margin, as left of the first.
            let (left_gap, right_gap) = (first.0 - start, end - last.1);
            assert!(
                (left_gap - right_gap).abs() <= 2.0,
                "{count} bars: {left_gap} px left of the first, {right_gap} px right of the last"
            );
        }
        assert_ne!(series_color(20), series_color(21));
    }

    #[test]
    fn the_report_states_its_resampling_and_draws_the_tasks_against_each_other() {
        let mut report = report_with(3);
        report.resample = Resample::Workers;
        report.across_tasks = Some(AcrossTasks {
            points: (0..3)
                .map(|i| TaskPoint {
                    metric: format!("metric-{i}"),
                    two_afc: estimate(0.7 + 0.01 * i as f64),
                    jnd_map: estimate(0.5 + 0.02 * i as f64),
                })
                .collect(),
            pearson: Some(1.0),
            spearman: Some(1.0),
        });
        let html = render_html(&report, &HashMap::new()).unwrap();
        assert!(html.contains("resamples of the workers"), "{html}");
        assert!(
            html.contains("Across tasks") && html.contains("Pearson's r = 1.00"),
            "{html}"
        );
        let scatter = &html[html.find("Across tasks").unwrap()..];
        assert!(
            scatter.contains("\nJND mAP\n</text>"),
            "the scatter's axis: {scatter}"
        );
        // A point and a legend mark per metric.
        assert_eq!(scatter.matches("<circle").count(), 6, "{scatter}");
    }

    #[test]
    fn p_values_below_a_thousandth_read_as_less_than_it() {
        assert_eq!(p_value_text(0.0), "< 0.001");
        assert_eq!(p_value_text(0.000_9), "< 0.001");
        assert_eq!(p_value_text(0.001), "0.001");
        assert_eq!(p_value_text(0.042_4), "0.042");
    }
}
