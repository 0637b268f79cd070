//! One PNG per scenario: a horizontal bar per target (median operations per second) with
//! p50/p99 latency written beside it. plotters' bitmap backend with ab_glyph: the font is
//! read from a TTF file at run time (`BENCH_FONT`, else DejaVu Sans or Liberation Sans from
//! the usual Debian paths), so no fontconfig is needed.

use std::path::Path;
use std::sync::OnceLock;

use anyhow::{Result, anyhow, bail};
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};
use plotters::style::{FontStyle, register_font};
use serde_json::Value;

const FONT_PATHS: &[&str] = &[
    "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/truetype/liberation/LiberationSans-Regular.ttf",
    "/usr/share/fonts/TTF/DejaVuSans.ttf",
];

fn font() -> Result<()> {
    static DONE: OnceLock<Result<(), String>> = OnceLock::new();
    DONE.get_or_init(|| {
        let path = std::env::var("BENCH_FONT")
            .ok()
            .into_iter()
            .chain(FONT_PATHS.iter().map(|s| (*s).to_owned()))
            .find(|p| Path::new(p).exists())
            .ok_or("no TTF font found (set BENCH_FONT)")?;
        let bytes: &'static [u8] = Box::leak(
            std::fs::read(&path)
                .map_err(|e| e.to_string())?
                .into_boxed_slice(),
        );
        register_font("sans-serif", FontStyle::Normal, bytes)
            .map_err(|_| format!("{path} is not a usable font"))
    })
    .clone()
    .map_err(|e| anyhow!(e))
}

const COLORS: &[RGBColor] = &[
    RGBColor(0x2b, 0x6c, 0xb0),
    RGBColor(0xd9, 0x82, 0x2b),
    RGBColor(0x3a, 0x9a, 0x5b),
    RGBColor(0xb0, 0x3a, 0x4a),
    RGBColor(0x7a, 0x5c, 0xa8),
    RGBColor(0x5f, 0x6b, 0x73),
];

/// Bars of median ops/s, one per load record.
pub(crate) fn bars(path: &Path, title: &str, rows: &[&Value]) -> Result<()> {
    font()?;
    let rows: Vec<(&str, f64, f64, f64)> = rows
        .iter()
        .map(|r| {
            (
                r["target"].as_str().unwrap_or("?"),
                r["rps"].as_f64().filter(|x| x.is_finite()).unwrap_or(0.0),
                r["p50_ms"].as_f64().unwrap_or(f64::NAN),
                r["p99_ms"].as_f64().unwrap_or(f64::NAN),
            )
        })
        .collect();
    if rows.is_empty() {
        bail!("nothing to plot");
    }
    let max = rows.iter().map(|r| r.1).fold(1.0, f64::max);
    let n = rows.len();
    let height = 110 + 56 * n as u32;
    let root = BitMapBackend::new(path, (1100, height)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| anyhow!("{e}"))?;
    let short: String = title.chars().take(90).collect();
    let mut chart = ChartBuilder::on(&root)
        .caption(short, ("sans-serif", 20))
        .margin(14)
        .x_label_area_size(40)
        .y_label_area_size(10)
        .build_cartesian_2d(0f64..max * 1.9, 0f64..n as f64)
        .map_err(|e| anyhow!("{e}"))?;
    chart
        .configure_mesh()
        .disable_y_mesh()
        .disable_y_axis()
        .light_line_style(WHITE)
        .y_labels(0)
        .x_labels(8)
        .x_desc("operations per second (median of rounds)")
        .x_label_formatter(&|v| format!("{v:.0}"))
        .label_style(("sans-serif", 13))
        .draw()
        .map_err(|e| anyhow!("{e}"))?;
    let label = ("sans-serif", 15)
        .into_font()
        .color(&BLACK)
        .pos(Pos::new(HPos::Left, VPos::Center));
    for (i, (target, rps, p50, p99)) in rows.iter().enumerate() {
        let y = (n - 1 - i) as f64;
        let color = COLORS[i % COLORS.len()];
        chart
            .draw_series(std::iter::once(Rectangle::new(
                [(0.0, y + 0.18), (*rps, y + 0.82)],
                color.filled(),
            )))
            .map_err(|e| anyhow!("{e}"))?;
        let text = format!("{target}: {rps:.0}/s, p50 {p50:.2} ms, p99 {p99:.2} ms");
        chart
            .draw_series(std::iter::once(Text::new(
                text,
                (rps + max * 0.015, y + 0.5),
                label.clone(),
            )))
            .map_err(|e| anyhow!("{e}"))?;
    }
    root.present().map_err(|e| anyhow!("{e}"))?;
    Ok(())
}
