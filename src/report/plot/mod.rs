//! Plots, one file per kind, each drawn to SVG (embedded in the HTML) and
//! PNG. Shared size, palette and font live here. PNG text uses DejaVu Sans
//! compiled into the binary, so no system font is needed.

mod cdf;
mod misfire_rate;
pub mod model_check;
mod outcomes;
mod percentiles;
pub mod processes;
pub mod sweep;

use crate::results::RunResults;
use plotters::coord::Shift;
use plotters::prelude::*;
use std::path::Path;
use std::sync::Once;

pub const SIZE: (u32, u32) = (900, 480);
pub const FONT: &str = "sans-serif";
/// Pixels left free on each side of a bar.
pub const BAR_GAP: u32 = 24;

/// Okabe-Ito: distinguishable with the common colour-vision deficiencies.
pub const PALETTE: [RGBColor; 7] = [
    RGBColor(0, 114, 178),
    RGBColor(213, 94, 0),
    RGBColor(0, 158, 115),
    RGBColor(204, 121, 167),
    RGBColor(230, 159, 0),
    RGBColor(86, 180, 233),
    RGBColor(120, 120, 120),
];

pub fn colour(i: usize) -> RGBColor {
    PALETTE[i % PALETTE.len()]
}

static FONT_ONCE: Once = Once::new();

fn register_font() {
    FONT_ONCE.call_once(|| {
        let bytes: &'static [u8] = include_bytes!("../../../assets/fonts/DejaVuSans.ttf");
        for style in [FontStyle::Normal, FontStyle::Bold] {
            // The font is compiled in and known good; failure would be a build error in spirit.
            let _ = plotters::style::register_font(FONT, style, bytes);
        }
    });
}

/// A rendered plot, for the HTML page and Markdown links.
pub struct Plot {
    /// File stem: `<stem>.svg` and `<stem>.png` are in the run directory.
    pub stem: &'static str,
    pub title: String,
    pub svg: String,
}

pub type DrawResult = Result<(), Box<dyn std::error::Error>>;

/// A chart that can draw itself on any plotters backend.
pub trait Chart {
    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> DrawResult
    where
        DB::ErrorType: 'static;
}

/// Draws `chart` into `<dir>/<stem>.svg` and `.png`; returns the SVG text.
pub fn render(
    dir: &Path,
    stem: &'static str,
    title: &str,
    chart: &impl Chart,
) -> Result<Plot, PlotError> {
    register_font();
    let (svg_name, png_name) = (format!("{stem}.svg"), format!("{stem}.png"));
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, SIZE).into_drawing_area();
        drawn(root.fill(&WHITE), &svg_name)?;
        drawn(chart.draw(&root), &svg_name)?;
        drawn(root.present(), &svg_name)?;
    }
    let svg_path = dir.join(&svg_name);
    std::fs::write(&svg_path, &svg).map_err(|source| PlotError::Write {
        file: svg_path.display().to_string(),
        source,
    })?;
    let png = dir.join(&png_name);
    {
        let root = BitMapBackend::new(&png, SIZE).into_drawing_area();
        drawn(root.fill(&WHITE), &png_name)?;
        drawn(chart.draw(&root), &png_name)?;
        drawn(root.present(), &png_name)?;
    }
    Ok(Plot {
        stem,
        title: title.to_string(),
        svg,
    })
}

/// A drawing step's failure, named by the file it was drawing.
fn drawn<T, E: std::fmt::Display>(result: Result<T, E>, file: &str) -> Result<T, PlotError> {
    result.map_err(|e| PlotError::Draw {
        file: file.to_string(),
        message: e.to_string(),
    })
}

/// A plot that could not be drawn or written.
#[derive(Debug, thiserror::Error)]
pub enum PlotError {
    #[error("cannot draw `{file}`: {message}")]
    Draw { file: String, message: String },
    #[error("cannot write `{file}`: {source}")]
    Write {
        file: String,
        #[source]
        source: std::io::Error,
    },
}

/// Every plot of one run.
pub fn render_run(results: &RunResults) -> Result<Vec<Plot>, PlotError> {
    let dir = &results.dir;
    Ok(vec![
        percentiles::plot(dir, results)?,
        cdf::plot(dir, results)?,
        misfire_rate::plot(dir, results)?,
        outcomes::plot(dir, results)?,
    ])
}

/// Latency axis bounds in ms over all strategies, and whether a log axis is needed.
pub fn latency_range(results: &RunResults) -> Option<(f64, f64, bool)> {
    // Both latencies of every strategy: the death and the completion.
    let timed: Vec<_> = results
        .stats
        .iter()
        .flat_map(|s| [&s.latency_us, &s.completion_us])
        .filter(|h| !h.is_empty())
        .collect();
    let lo = timed
        .iter()
        .map(|h| h.min() as f64 / 1000.0)
        .fold(f64::INFINITY, f64::min);
    let hi = timed
        .iter()
        .map(|h| h.max() as f64 / 1000.0)
        .fold(0.0, f64::max);
    if timed.is_empty() {
        return None;
    }
    let log = hi / lo.max(1e-3) > 20.0;
    Some(if log {
        (lo * 0.8, hi * 1.25, true)
    } else {
        ((lo * 0.95).max(0.0), hi * 1.05 + 1e-3, false)
    })
}

/// A chart with one slot per strategy on x and a share (0..top) on y.
pub type StrategyChart<'a, DB> = ChartContext<
    'a,
    DB,
    plotters::coord::cartesian::Cartesian2d<
        plotters::coord::ranged1d::SegmentedCoord<plotters::coord::types::RangedCoordi32>,
        plotters::coord::types::RangedCoordf64,
    >,
>;

/// Builds a [`StrategyChart`] with its axes drawn: strategy names under the
/// slots, percentages up the side.
pub fn strategy_chart<'a, DB>(
    root: &'a DrawingArea<DB, Shift>,
    title: &str,
    names: &[String],
    top: f64,
    y_desc: &str,
) -> Result<StrategyChart<'a, DB>, Box<dyn std::error::Error>>
where
    DB: DrawingBackend,
    DB::ErrorType: 'static,
{
    let mut chart = ChartBuilder::on(root)
        .caption(title, (FONT, 22))
        .margin(15)
        .x_label_area_size(45)
        .y_label_area_size(60)
        .build_cartesian_2d((0..last_index(names.len())).into_segmented(), 0f64..top)?;
    chart
        .configure_mesh()
        .disable_x_mesh()
        .x_desc("strategy")
        .y_desc(y_desc)
        .y_label_formatter(&|y| format!("{:.0}%", y * 100.0))
        .x_label_formatter(&|v| match v {
            SegmentValue::CenterOf(i) | SegmentValue::Exact(i) => {
                names.get(*i as usize).cloned().unwrap_or_default()
            }
            SegmentValue::Last => String::new(),
        })
        .label_style((FONT, 14))
        .draw()?;
    Ok(chart)
}

/// The legend every chart draws, in the given corner.
pub fn legend<'a, DB, CT>(
    chart: &mut ChartContext<'a, DB, CT>,
    position: SeriesLabelPosition,
) -> DrawResult
where
    DB: DrawingBackend + 'a,
    DB::ErrorType: 'static,
    CT: plotters::coord::CoordTranslate,
{
    chart
        .configure_series_labels()
        .position(position)
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK.mix(0.3))
        .label_font((FONT, 14))
        .draw()?;
    Ok(())
}

/// Last index of `len` categories, for a segmented axis (plotters' discrete
/// range includes its end, so `0..len` would add an empty slot).
pub fn last_index(len: usize) -> i32 {
    len.saturating_sub(1) as i32
}

/// Writes a centred note instead of a chart when there is nothing to draw.
pub fn empty<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    title: &str,
    note: &str,
) -> DrawResult
where
    DB::ErrorType: 'static,
{
    let style =
        TextStyle::from((FONT, 20).into_font()).pos(plotters::style::text_anchor::Pos::new(
            plotters::style::text_anchor::HPos::Center,
            plotters::style::text_anchor::VPos::Center,
        ));
    root.draw_text(title, &style, (SIZE.0 as i32 / 2, 30))?;
    root.draw_text(note, &style, (SIZE.0 as i32 / 2, SIZE.1 as i32 / 2))?;
    Ok(())
}
