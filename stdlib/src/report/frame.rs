//! The parts every chart shares: plot area, grid, ticks, axis titles and a
//! legend to the right of the plot.
use std::fmt::Write as _;

use super::scale::Scale;
use super::svg::{GRID, INK, Rect, Svg, escape};

pub(crate) const WIDTH: f64 = 900.0;
pub(crate) const HEIGHT: f64 = 540.0;
const LEFT: f64 = 72.0;
const RIGHT: f64 = 200.0;
const TOP: f64 = 44.0;
const BOTTOM: f64 = 56.0;

/// The plot area in pixels.
pub(crate) fn area() -> Rect {
    Rect {
        x0: LEFT,
        y0: TOP,
        x1: WIDTH - RIGHT,
        y1: HEIGHT - BOTTOM,
    }
}

/// How a legend entry is drawn.
pub(crate) enum Swatch<'a> {
    Dot(&'a str),
    Ring(&'a str),
    Line { colour: &'a str, dash: bool },
    LineDot(&'a str),
    Square(&'a str),
    Diamond(&'a str),
    Star(&'a str),
}

pub(crate) struct Axes<'a> {
    pub(crate) x: &'a Scale,
    pub(crate) y: &'a Scale,
    pub(crate) x_title: &'a str,
    pub(crate) y_title: &'a str,
    pub(crate) x_tick: &'a dyn Fn(f64) -> String,
    pub(crate) y_tick: &'a dyn Fn(f64) -> String,
}

/// Title, grid, ticks and axis titles; the caller draws the data on top.
pub(crate) fn draw_axes(svg: &mut Svg, title: &str, axes: &Axes) {
    let a = area();
    svg.text(
        a.x0,
        26.0,
        "start",
        r#"font-size="15" font-weight="600""#,
        title,
    );
    svg.raw(r#"<g class="grid">"#);
    for t in axes.x.ticks() {
        let x = axes.x.px(t);
        svg.line(x, a.y0, x, a.y1, &format!(r#"stroke="{GRID}""#));
    }
    for t in axes.y.ticks() {
        let y = axes.y.px(t);
        svg.line(a.x0, y, a.x1, y, &format!(r#"stroke="{GRID}""#));
    }
    svg.raw("</g>");
    let _ = write!(
        svg.buf(),
        r#"<rect class="plot-area" x="{:.1}" y="{:.1}" width="{:.1}" height="{:.1}" fill="none" stroke="{INK}"/>"#,
        a.x0,
        a.y0,
        a.x1 - a.x0,
        a.y1 - a.y0
    );
    svg.raw(r#"<g class="ticks" font-size="11">"#);
    // Ticks too close to the previous one lose their label, never overlap it.
    let mut last = f64::NEG_INFINITY;
    for t in axes.x.ticks() {
        let x = axes.x.px(t);
        svg.line(x, a.y1, x, a.y1 + 5.0, &format!(r#"stroke="{INK}""#));
        let label = (axes.x_tick)(t);
        let half = super::svg::text_width(&label, 11.0) / 2.0;
        if x - half > last + 4.0 {
            svg.text(x, a.y1 + 18.0, "middle", "", &label);
            last = x + half;
        }
    }
    let mut last = f64::INFINITY;
    for t in axes.y.ticks() {
        let y = axes.y.px(t);
        svg.line(a.x0 - 5.0, y, a.x0, y, &format!(r#"stroke="{INK}""#));
        if y + 6.0 < last - 4.0 {
            svg.text(a.x0 - 8.0, y + 4.0, "end", "", &(axes.y_tick)(t));
            last = y - 6.0;
        }
    }
    svg.raw("</g>");
    svg.text(
        f64::midpoint(a.x0, a.x1),
        HEIGHT - 14.0,
        "middle",
        r#"font-size="13""#,
        axes.x_title,
    );
    let (cx, cy) = (18.0, f64::midpoint(a.y0, a.y1));
    let _ = write!(
        svg.buf(),
        r#"<text x="{cx}" y="{cy:.1}" text-anchor="middle" font-size="13" transform="rotate(-90 {cx} {cy:.1})">{}</text>"#,
        escape(axes.y_title)
    );
}

/// Draws the legend right of the plot; returns nothing because it lives
/// outside the plot area where no label goes.
pub(crate) fn draw_legend(svg: &mut Svg, entries: &[(Swatch, String)]) {
    let a = area();
    let x = a.x1 + 16.0;
    let mut y = a.y0 + 8.0;
    svg.raw(r#"<g class="legend">"#);
    for (swatch, text) in entries {
        let (sx, sy) = (x + 10.0, y);
        let b = svg.buf();
        let _ = match swatch {
            Swatch::Dot(c) => write!(
                b,
                r#"<circle cx="{sx}" cy="{sy}" r="3.5" fill="{c}" fill-opacity="0.5"/>"#
            ),
            Swatch::Ring(c) => write!(
                b,
                r##"<circle cx="{sx}" cy="{sy}" r="4" fill="#fff" stroke="{c}" stroke-width="1.6"/>"##
            ),
            Swatch::Line { colour, dash } => write!(
                b,
                r#"<line x1="{}" y1="{sy}" x2="{}" y2="{sy}" stroke="{colour}" stroke-width="1.6"{}/>"#,
                sx - 10.0,
                sx + 10.0,
                if *dash {
                    r#" stroke-dasharray="5 3""#
                } else {
                    ""
                }
            ),
            Swatch::LineDot(c) => write!(
                b,
                r##"<line x1="{}" y1="{sy}" x2="{}" y2="{sy}" stroke="{c}" stroke-width="2"/><circle cx="{sx}" cy="{sy}" r="3.5" fill="{c}" stroke="#fff"/>"##,
                sx - 10.0,
                sx + 10.0
            ),
            Swatch::Square(c) => write!(
                b,
                r#"<rect x="{}" y="{}" width="9" height="9" fill="{c}"/>"#,
                sx - 4.5,
                sy - 4.5
            ),
            Swatch::Diamond(c) => write!(b, "{}", diamond(sx, sy, 6.0, c)),
            Swatch::Star(c) => write!(b, "{}", star(sx, sy, 8.0, c)),
        };
        svg.text(x + 26.0, y + 4.0, "start", "", text);
        y += 20.0;
    }
    svg.raw("</g>");
}

pub(crate) fn diamond(x: f64, y: f64, r: f64, colour: &str) -> String {
    format!(
        r##"<path d="M{x:.1} {:.1}L{:.1} {y:.1}L{x:.1} {:.1}L{:.1} {y:.1}Z" fill="{colour}" stroke="#fff" stroke-width="1"/>"##,
        y - r,
        x + r,
        y + r,
        x - r
    )
}

pub(crate) fn star(x: f64, y: f64, r: f64, colour: &str) -> String {
    let mut d = String::new();
    for k in 0..10 {
        let rad = if k % 2 == 0 { r } else { r * 0.45 };
        let ang = std::f64::consts::PI * (f64::from(k) / 5.0 - 0.5);
        let _ = write!(
            d,
            "{}{:.1} {:.1}",
            if k == 0 { 'M' } else { 'L' },
            x + rad * ang.cos(),
            y + rad * ang.sin()
        );
    }
    format!(r##"<path d="{d}Z" fill="{colour}" stroke="#fff" stroke-width="1"/>"##)
}

/// Clamps a pixel into the plot area, so a marker outside the domain sits on
/// the border instead of off the chart.
pub(crate) fn clamp_to_area(x: f64, y: f64) -> (f64, f64) {
    let a = area();
    (x.clamp(a.x0, a.x1), y.clamp(a.y0, a.y1))
}
