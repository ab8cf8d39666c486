//! Plot 2: the chosen design's operators on the hardware's roofline,
//! log-log arithmetic intensity against achieved FLOP/s.
use std::fmt::Write as _;

use super::data::{HardwareInfo, ReportData};
use super::frame::{self, Axes, Swatch};
use super::notation::{plain, si};
use super::scale::{Kind, Scale};
use super::svg::{INK, Placer, Rect, Svg, colour, escape, slug};

/// Labelled operators per phase: enough to name what dominates, few enough
/// to stay readable.
const LABELS_PER_PHASE: usize = 4;

pub(crate) fn render(d: &ReportData) -> String {
    let a = frame::area();
    let hw = &d.hardware;
    let ridge = hw.peak_flops / hw.bandwidth;
    let x = Scale::fit(
        Kind::Log,
        d.roofline_ops.iter().map(|o| o.intensity).chain([ridge]),
        a.x0,
        a.x1,
    );
    let y = Scale::fit(
        Kind::Log,
        d.roofline_ops
            .iter()
            .map(|o| o.achieved_flops)
            .chain([hw.peak_flops, (hw.bandwidth * x.lo).min(hw.peak_flops)]),
        a.y1,
        a.y0,
    );
    let title = format!("Roofline — chosen design's operators on {}", hw.name);
    let mut svg = Svg::new(frame::WIDTH, frame::HEIGHT, &title);
    frame::draw_axes(
        &mut svg,
        &title,
        &Axes {
            x: &x,
            y: &y,
            x_title: "Arithmetic intensity (FLOP/byte, log scale)",
            y_title: "Achieved FLOP/s (log scale)",
            x_tick: &plain,
            y_tick: &|v| si(v, ""),
        },
    );

    let mut placer = Placer::new(a);
    draw_roof(&mut svg, hw, &x, &y, &mut placer);

    let mut phases: Vec<&str> = Vec::new();
    for o in &d.roofline_ops {
        if !phases.contains(&o.phase.as_str()) {
            phases.push(&o.phase);
        }
    }
    draw_ops(&mut svg, d, &phases, &x, &y, &mut placer);

    let mut legend: Vec<(Swatch, String)> = phases
        .iter()
        .enumerate()
        .map(|(k, p)| (Swatch::Dot(colour(k)), (*p).to_string()))
        .collect();
    legend.push((Swatch::Dot(INK), "memory-bound".into()));
    legend.push((Swatch::Square(INK), "compute-bound".into()));
    legend.push((
        Swatch::Line {
            colour: INK,
            dash: false,
        },
        "roof min(peak, BW·I)".into(),
    ));
    frame::draw_legend(&mut svg, &legend);
    svg.finish()
}

/// The roof min(peak, BW·I), its two labels and the ridge point.
fn draw_roof(svg: &mut Svg, hw: &HardwareInfo, x: &Scale, y: &Scale, placer: &mut Placer) {
    let a = frame::area();
    let ridge = hw.peak_flops / hw.bandwidth;
    // The roof: bandwidth-bound slope up to the ridge, then flat at peak.
    let (x_lo, x_hi) = (x.lo, x.hi);
    let roof = [
        (x_lo, hw.bandwidth * x_lo),
        (ridge, hw.peak_flops),
        (x_hi, hw.peak_flops),
    ];
    let mut dpath = String::new();
    for (k, (i, f)) in roof.iter().enumerate() {
        let (px, py) = (x.px(*i), y.px(f.min(hw.peak_flops)));
        let _ = write!(dpath, "{}{px:.1} {py:.1}", if k == 0 { 'M' } else { 'L' });
    }
    let _ = write!(
        svg.buf(),
        r#"<path id="roof" class="roof" d="{dpath}" fill="none" stroke="{INK}" stroke-width="2.2"/>"#
    );
    let peak_text = format!(
        "peak {} ({})",
        si(hw.peak_flops, "FLOP/s"),
        hw.compute_dtype
    );
    let py = y.px(hw.peak_flops);
    svg.text(a.x1 - 6.0, py - 6.0, "end", r#"font-size="11""#, &peak_text);
    let w = super::svg::text_width(&peak_text, 11.0);
    placer.block(Rect {
        x0: a.x1 - 6.0 - w,
        y0: py - 17.0,
        x1: a.x1,
        y1: py,
    });
    let bw_text = format!("{} DRAM", si(hw.bandwidth, "B/s"));
    // Put the bandwidth label on the slope a third of the way to the ridge.
    let li = 10f64.powf(x_lo.log10() + (ridge.log10() - x_lo.log10()) * 0.35);
    let (bx, by) = (x.px(li), y.px(hw.bandwidth * li));
    let angle = -((y.px(hw.bandwidth * ridge) - y.px(hw.bandwidth * li))
        / (x.px(ridge) - x.px(li)))
    .atan()
    .to_degrees();
    if bx > a.x0 && by < a.y1 {
        let _ = write!(
            svg.buf(),
            r#"<text x="{bx:.1}" y="{:.1}" font-size="11" transform="rotate({:.1} {bx:.1} {:.1})">{}</text>"#,
            by - 6.0,
            -angle,
            by - 6.0,
            escape(&bw_text)
        );
    }
    let rx = x.px(ridge);
    svg.line(
        rx,
        py,
        rx,
        a.y1,
        r##"stroke="#999" stroke-dasharray="2 3""##,
    );
    svg.text(
        rx + 4.0,
        a.y1 - 6.0,
        "start",
        r##"font-size="11" fill="#555""##,
        &format!("ridge {} FLOP/B", plain(ridge)),
    );
}

/// Operators as markers per phase, then labels for the largest time
/// contributors, placed after every marker so no label covers one.
fn draw_ops(
    svg: &mut Svg,
    d: &ReportData,
    phases: &[&str],
    x: &Scale,
    y: &Scale,
    placer: &mut Placer,
) {
    for (k, phase) in phases.iter().enumerate() {
        let c = colour(k);
        let _ = write!(
            svg.buf(),
            r##"<g id="ops-{}" class="ops" data-phase="{}" fill="{c}" stroke="#fff" stroke-width="0.8">"##,
            slug(phase),
            escape(phase)
        );
        for o in d.roofline_ops.iter().filter(|o| o.phase == *phase) {
            let (px, py) = (x.px(o.intensity), y.px(o.achieved_flops));
            placer.block(Rect {
                x0: px - 5.0,
                y0: py - 5.0,
                x1: px + 5.0,
                y1: py + 5.0,
            });
            let shape = match o.bound {
                super::data::Bound::Memory => format!(r#"<circle cx="{px:.1}" cy="{py:.1}" r="5""#),
                super::data::Bound::Compute => {
                    format!(
                        r#"<rect x="{:.1}" y="{:.1}" width="9" height="9""#,
                        px - 4.5,
                        py - 4.5
                    )
                }
            };
            let _ = write!(
                svg.buf(),
                "{shape}><title>{} ({}): {} FLOP/B, {}, {}, {}-bound</title>{}",
                escape(&o.name),
                escape(phase),
                plain(o.intensity),
                si(o.achieved_flops, "FLOP/s"),
                si(o.time_s, "s"),
                o.bound.name(),
                if matches!(o.bound, super::data::Bound::Memory) {
                    "</circle>"
                } else {
                    "</rect>"
                }
            );
        }
        svg.raw("</g>");
    }
    // Labels after every marker is blocked, biggest contributors first.
    for phase in phases {
        let mut ops: Vec<_> = d
            .roofline_ops
            .iter()
            .filter(|o| o.phase == *phase)
            .collect();
        ops.sort_by(|p, q| q.time_s.total_cmp(&p.time_s));
        for o in ops.into_iter().take(LABELS_PER_PHASE) {
            let (px, py) = (x.px(o.intensity), y.px(o.achieved_flops));
            let text = format!("{} {}", o.name, si(o.time_s, "s"));
            if let Some(at) = placer.place(px, py, &text, 11.0) {
                svg.text(
                    at.x,
                    at.y,
                    at.anchor,
                    r#"font-size="11" class="op-label""#,
                    &text,
                );
            }
        }
    }
}
