//! SVG charts of latency percentiles against load, for `bench render`.
//!
//! Both axes are logarithmic: throughput spans orders of magnitude between
//! brokers, and so do percentiles between p50 and p99.9. Each broker has a
//! colour; each percentile a line style (thin p50, thick p99, dashed p99.9).

use std::path::Path;

use plotters::coord::combinators::IntoLogRange;
use plotters::prelude::*;

/// One line: a broker's percentile at each load step.
pub struct Series {
    pub broker: String,
    pub percentile: Percentile,
    /// (messages per second, latency in ms), sorted by load.
    pub points: Vec<(f64, f64)>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Percentile {
    P50,
    P99,
    P999,
}

impl Percentile {
    pub fn name(self) -> &'static str {
        match self {
            Percentile::P50 => "p50",
            Percentile::P99 => "p99",
            Percentile::P999 => "p99.9",
        }
    }
}

fn colour(broker: &str) -> RGBColor {
    match broker {
        "herald" => RGBColor(31, 119, 180),
        "rabbitmq" => RGBColor(230, 110, 20),
        "echo" => RGBColor(120, 120, 120),
        _ => RGBColor(60, 160, 60),
    }
}

/// Writes an SVG chart of `series` to `path`.
pub fn latency_chart(path: &Path, title: &str, series: &[Series]) -> Result<(), String> {
    let points = series.iter().flat_map(|line| line.points.iter());
    let (mut x_low, mut x_high, mut y_low, mut y_high) = (f64::MAX, 0f64, f64::MAX, 0f64);
    for &(x, y) in points {
        x_low = x_low.min(x);
        x_high = x_high.max(x);
        y_low = y_low.min(y);
        y_high = y_high.max(y);
    }
    if x_high <= 0.0 || y_high <= 0.0 {
        return Err(format!("no points to draw for {title}"));
    }
    let x_range = (x_low.max(1.0) / 1.5)..(x_high * 1.5);
    let y_range = (y_low.max(0.001) / 1.5)..(y_high * 1.5);
    let root = SVGBackend::new(path, (900, 560)).into_drawing_area();
    let failed = |error: &dyn std::fmt::Display| format!("cannot draw {}: {error}", path.display());
    root.fill(&WHITE).map_err(|e| failed(&e))?;
    let mut chart = ChartBuilder::on(&root)
        .caption(title, ("sans-serif", 20))
        .margin(15)
        .x_label_area_size(45)
        .y_label_area_size(65)
        .build_cartesian_2d(x_range.log_scale(), y_range.log_scale())
        .map_err(|e| failed(&e))?;
    chart
        .configure_mesh()
        .x_desc("offered rate per second")
        .y_desc("latency (ms)")
        .x_label_formatter(&|x| format!("{x:.0}"))
        .y_label_formatter(&|y| format!("{y}"))
        .draw()
        .map_err(|e| failed(&e))?;
    for line in series {
        let colour = colour(&line.broker);
        let label = format!("{} {}", line.broker, line.percentile.name());
        let points = line.points.clone();
        let drawn = match line.percentile {
            Percentile::P50 => chart.draw_series(LineSeries::new(points, colour.stroke_width(1))),
            Percentile::P99 => chart.draw_series(LineSeries::new(points, colour.stroke_width(3))),
            Percentile::P999 => {
                chart.draw_series(DashedLineSeries::new(points, 6, 4, colour.stroke_width(2)))
            }
        }
        .map_err(|e| failed(&e))?;
        let width = match line.percentile {
            Percentile::P50 => 1,
            Percentile::P99 => 3,
            Percentile::P999 => 2,
        };
        drawn.label(label).legend(move |(x, y)| {
            PathElement::new(vec![(x, y), (x + 20, y)], colour.stroke_width(width))
        });
        chart
            .draw_series(
                line.points
                    .iter()
                    .map(|&(x, y)| Circle::new((x, y), 2, colour.filled())),
            )
            .map_err(|e| failed(&e))?;
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperLeft)
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .draw()
        .map_err(|e| failed(&e))?;
    root.present().map_err(|e| failed(&e))?;
    Ok(())
}
