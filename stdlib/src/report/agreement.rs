//! Plots 3 and 4: predicted against measured (loss from a fit, latency from
//! validation runs), with the y = x line and train/held-out split.
use std::fmt::Write as _;

use super::data::FitView;
use super::frame::{self, Axes, Swatch};
use super::notation::si;
use super::scale::{Kind, Scale};
use super::svg::{Svg, colour, escape};

pub(crate) struct Quantity<'a> {
    pub(crate) title: &'a str,
    /// Axis name without "measured"/"predicted", e.g. "loss (nats/token)".
    pub(crate) axis: &'a str,
    pub(crate) kind: Kind,
    pub(crate) unit: &'a str,
}

pub(crate) fn render(view: &FitView, q: &Quantity) -> String {
    let a = frame::area();
    let all = view.points.iter().flat_map(|p| [p.measured, p.predicted]);
    // One domain for both axes so y = x is the diagonal.
    let probe = Scale::fit(q.kind, all, 0.0, 1.0);
    let x = Scale::fit(q.kind, [probe.lo, probe.hi], a.x0, a.x1);
    let y = Scale::fit(q.kind, [probe.lo, probe.hi], a.y1, a.y0);
    let mut svg = Svg::new(frame::WIDTH, frame::HEIGHT, q.title);
    let unit = q.unit;
    let tick = move |v: f64| {
        if unit.is_empty() {
            format!("{v:.3}")
                .trim_end_matches('0')
                .trim_end_matches('.')
                .to_string()
        } else {
            si(v, unit)
        }
    };
    let scale_note = if q.kind == Kind::Log {
        ", log scale"
    } else {
        ""
    };
    frame::draw_axes(
        &mut svg,
        q.title,
        &Axes {
            x: &x,
            y: &y,
            x_title: &format!("Measured {}{scale_note}", q.axis),
            y_title: &format!("Predicted {}{scale_note}", q.axis),
            x_tick: &tick,
            y_tick: &tick,
        },
    );
    let (lo, hi) = (x.lo.max(y.lo), x.hi.min(y.hi));
    svg.line(
        x.px(lo),
        y.px(lo),
        x.px(hi),
        y.px(hi),
        r##"id="identity" stroke="#777" stroke-width="1.2" stroke-dasharray="6 4""##,
    );
    for (held, id, c) in [(false, "train", colour(0)), (true, "heldout", colour(1))] {
        let pts: Vec<_> = view.points.iter().filter(|p| p.heldout == held).collect();
        let _ = write!(
            svg.buf(),
            r#"<g id="points-{id}" class="agreement" data-points="{}">"#,
            pts.len()
        );
        for p in pts {
            let (px, py) = (x.px(p.measured), y.px(p.predicted));
            let style = if held {
                format!(r##"fill="#fff" stroke="{c}" stroke-width="1.8""##)
            } else {
                format!(r##"fill="{c}" fill-opacity="0.8" stroke="#fff" stroke-width="0.8""##)
            };
            let _ = write!(
                svg.buf(),
                r#"<circle cx="{px:.1}" cy="{py:.1}" r="4.5" {style}><title>{}measured {}, predicted {}</title></circle>"#,
                if p.label.is_empty() {
                    String::new()
                } else {
                    format!("{}: ", escape(&p.label))
                },
                tick(p.measured),
                tick(p.predicted)
            );
        }
        svg.raw("</g>");
    }
    let r2 = |r: Option<f64>| r.map_or(String::new(), |v| format!(", R² {v:.3}"));
    let n_train = view.points.iter().filter(|p| !p.heldout).count();
    let n_held = view.points.len() - n_train;
    let legend = [
        (
            Swatch::Dot(colour(0)),
            format!("train ({n_train}){}", r2(view.r2_train)),
        ),
        (
            Swatch::Ring(colour(1)),
            format!("held out ({n_held}){}", r2(view.r2_holdout)),
        ),
        (
            Swatch::Line {
                colour: "#777",
                dash: true,
            },
            "y = x".into(),
        ),
    ];
    frame::draw_legend(&mut svg, &legend);
    svg.finish()
}
