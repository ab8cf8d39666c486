//! Plot 1: predicted loss against latency (log x), every candidate thinned,
//! the frontier per group as a step line, budgets, baseline and choice.
use std::fmt::Write as _;

use super::data::{FrontierPoint, ReportData};
use super::frame::{self, Axes, Swatch};
use super::notation::{plain, si};
use super::scale::{Kind, Scale};
use super::svg::{FONT, INK, Placer, Rect, Svg, colour, escape, slug};
use super::thin::{CELL_PX, Thinned, thin};

pub(crate) struct Rendered {
    pub(crate) svg: String,
    /// What the figure shows, including how candidates were thinned.
    pub(crate) caption: String,
}

pub(crate) fn render(d: &ReportData) -> Rendered {
    let a = frame::area();
    let lat = d
        .candidates
        .iter()
        .map(|c| c.latency_s)
        .chain(
            d.frontiers
                .iter()
                .flat_map(|f| f.points.iter().map(|p| p.latency_s)),
        )
        .chain(d.budgets.iter().map(|b| b.latency_s))
        .chain(d.baselines.iter().chain(&d.chosen).map(|m| m.latency_s));
    let loss = d
        .candidates
        .iter()
        .map(|c| c.loss)
        .chain(
            d.frontiers
                .iter()
                .flat_map(|f| f.points.iter().map(|p| p.loss)),
        )
        .chain(d.baselines.iter().chain(&d.chosen).map(|m| m.loss));
    let x = Scale::fit(Kind::Log, lat, a.x0, a.x1);
    let y = Scale::fit(Kind::Linear, loss, a.y1, a.y0);
    let title = format!("Predicted loss vs {} — {}", d.objective, d.hardware.name);
    let mut svg = Svg::new(frame::WIDTH, frame::HEIGHT, &title);
    let x_title = format!("{} (log scale)", capitalise(&d.objective));
    frame::draw_axes(
        &mut svg,
        &title,
        &Axes {
            x: &x,
            y: &y,
            x_title: &x_title,
            y_title: "Predicted loss (nats/token)",
            x_tick: &|v| si(v, "s"),
            y_tick: &|v| {
                format!("{v:.2}")
                    .trim_end_matches('0')
                    .trim_end_matches('.')
                    .to_string()
            },
        },
    );

    let t = thin(
        &d.candidates,
        &d.frontiers,
        &x,
        &y,
        a.x1 - a.x0,
        a.y1 - a.y0,
    );
    draw_candidates(&mut svg, d, &t, &x, &y);

    let mut placer = Placer::new(a);
    for f in &d.frontiers {
        let g = t.groups.iter().position(|h| *h == f.group).unwrap_or(0);
        draw_frontier(&mut svg, &x, &y, &f.group, &f.points, colour(g));
    }
    draw_budgets(&mut svg, d, &x, &mut placer);
    draw_marked(&mut svg, d, &x, &y, &mut placer);

    let mut legend: Vec<(Swatch, String)> = Vec::new();
    for (g, name) in t.groups.iter().enumerate() {
        if d.candidates.iter().any(|c| c.group == *name) {
            legend.push((Swatch::Dot(colour(g)), format!("{name} candidates")));
        }
        if d.frontiers.iter().any(|f| f.group == *name) {
            legend.push((Swatch::LineDot(colour(g)), format!("{name} frontier")));
        }
    }
    if !d.budgets.is_empty() {
        legend.push((
            Swatch::Line {
                colour: "#555",
                dash: true,
            },
            "latency budget".into(),
        ));
    }
    for b in &d.baselines {
        legend.push((
            Swatch::Diamond(INK),
            format!("baseline ({})", shorten(&b.label, 16)),
        ));
    }
    if let Some(c) = &d.chosen {
        legend.push((
            Swatch::Star("#E69F00"),
            format!("chosen ({})", shorten(&c.label, 18)),
        ));
    }
    frame::draw_legend(&mut svg, &legend);

    let caption = caption(d, t.kept.len());
    Rendered {
        svg: svg.finish(),
        caption,
    }
}

fn draw_candidates(svg: &mut Svg, d: &ReportData, t: &Thinned, x: &Scale, y: &Scale) {
    // Candidates: one path per group, each point a zero-length segment with
    // round caps — a dot in about 14 bytes instead of a 50-byte <circle>.
    let mut start = 0;
    for (g, name) in t.groups.iter().enumerate() {
        let end = start
            + t.kept[start..]
                .iter()
                .take_while(|&&i| t.group_of[i] == g)
                .count();
        let points = &t.kept[start..end];
        start = end;
        if points.is_empty() {
            continue;
        }
        let b = svg.buf();
        let _ = write!(
            b,
            r#"<path id="candidates-{}" class="candidates" data-points="{}" fill="none" stroke="{}" stroke-opacity="0.35" stroke-width="4" stroke-linecap="round" d=""#,
            slug(name),
            points.len(),
            colour(g)
        );
        for &i in points {
            let c = &d.candidates[i];
            let _ = write!(b, "M{:.1} {:.1}h0", x.px(c.latency_s), y.px(c.loss));
        }
        b.push_str(r#""/>"#);
    }
}

fn draw_marked(svg: &mut Svg, d: &ReportData, x: &Scale, y: &Scale, placer: &mut Placer) {
    let marked = d
        .baselines
        .iter()
        .map(|m| (m, "baseline", 0))
        .chain(d.chosen.iter().map(|m| (m, "chosen", 1)));
    for (k, (m, role, shape)) in marked.enumerate() {
        let id = if k == 0 || shape == 1 {
            role.to_string()
        } else {
            format!("{role}-{}", k + 1)
        };
        let (px, py) = frame::clamp_to_area(x.px(m.latency_s), y.px(m.loss));
        placer.block(Rect {
            x0: px - 8.0,
            y0: py - 8.0,
            x1: px + 8.0,
            y1: py + 8.0,
        });
        let marker = if shape == 0 {
            frame::diamond(px, py, 7.0, INK)
        } else {
            frame::star(px, py, 10.0, "#E69F00")
        };
        let text = format!("{role}: {}", m.label);
        let at = placer.force(px, py, &text, FONT);
        let _ = write!(
            svg.buf(),
            r#"<g id="{id}" class="marked"><title>{} — {}, loss {}</title>{marker}"#,
            escape(&text),
            si(m.latency_s, "s"),
            plain(m.loss)
        );
        svg.text(
            at.x,
            at.y,
            at.anchor,
            r##"font-weight="600" paint-order="stroke" stroke="#fff" stroke-width="3""##,
            &text,
        );
        svg.raw("</g>");
    }
}

fn caption(d: &ReportData, shown: usize) -> String {
    // The designs evaluated, not the thinned cloud the plot was handed.
    let total = d.counts.map_or(d.candidates.len(), |c| {
        usize::try_from(c.designs).unwrap_or(usize::MAX)
    });
    let thinning = if shown < total {
        format!(
            "{} designs, {} drawn: the lowest-loss one per {CELL_PX:.0}×{CELL_PX:.0} px cell \
             per group, plus every frontier point",
            group_digits(total),
            group_digits(shown)
        )
    } else {
        format!("all {} designs drawn", group_digits(total))
    };
    let frontier_sizes: Vec<String> = d
        .frontiers
        .iter()
        .map(|f| format!("{} {}", f.points.len(), f.group))
        .collect();
    let bars = d
        .frontiers
        .iter()
        .any(|f| f.points.iter().any(|p| p.band_s.is_some()));
    format!(
        "Predicted loss against {} on {} ({}); {thinning}. Frontier points: {}.{}",
        d.objective,
        d.hardware.name,
        d.workload,
        if frontier_sizes.is_empty() {
            "none".into()
        } else {
            frontier_sizes.join(", ")
        },
        if bars {
            " Bars: where each frontier design's measured latency should fall (10th–90th \
             percentile of measured / predicted in the runtime profile's cross-validation)."
        } else {
            ""
        }
    )
}

fn draw_frontier(svg: &mut Svg, x: &Scale, y: &Scale, group: &str, pts: &[FrontierPoint], c: &str) {
    let mut sorted: Vec<&FrontierPoint> = pts.iter().collect();
    sorted.sort_by(|a, b| {
        a.latency_s
            .total_cmp(&b.latency_s)
            .then(b.loss.total_cmp(&a.loss))
    });
    let id = slug(group);
    let b = svg.buf();
    // A step line: between two frontier designs, the best loss reachable is
    // the slower-but-worse one's until the next design's latency.
    let _ = write!(
        b,
        r#"<path id="frontier-step-{id}" class="frontier-step" fill="none" stroke="{c}" stroke-width="2" d=""#
    );
    for (k, p) in sorted.iter().enumerate() {
        let (px, py) = (x.px(p.latency_s), y.px(p.loss));
        if k == 0 {
            let _ = write!(b, "M{px:.1} {py:.1}");
        } else {
            let _ = write!(b, "H{px:.1}V{py:.1}");
        }
    }
    b.push_str(r#""/>"#);
    let _ = write!(
        b,
        r##"<g id="frontier-{id}" class="frontier" data-group="{}" data-points="{}" fill="{c}" stroke="#fff" stroke-width="0.8">"##,
        escape(group),
        sorted.len()
    );
    // Error bars first, under the points: where the measured latency should
    // fall (clipped to the plot).
    let a = frame::area();
    for p in sorted.iter().filter(|p| p.band_s.is_some()) {
        let (lo, hi) = p.band_s.unwrap_or_default();
        let clip = |v: f64| x.px(v).clamp(a.x0, a.x1);
        let _ = write!(
            b,
            r#"<line class="band" x1="{:.1}" x2="{:.1}" y1="{py:.1}" y2="{py:.1}" stroke="{c}" stroke-opacity="0.45" stroke-width="1.5"/>"#,
            clip(lo),
            clip(hi),
            py = y.px(p.loss)
        );
    }
    for p in sorted {
        let _ = write!(
            b,
            r#"<circle cx="{:.1}" cy="{:.1}" r="3.5"><title>{} — {}, loss {:.4}</title></circle>"#,
            x.px(p.latency_s),
            y.px(p.loss),
            escape(&p.label),
            si(p.latency_s, "s"),
            p.loss
        );
    }
    b.push_str("</g>");
}

fn draw_budgets(svg: &mut Svg, d: &ReportData, x: &Scale, placer: &mut Placer) {
    let a = frame::area();
    let mut budgets: Vec<_> = d.budgets.iter().collect();
    budgets.sort_by(|p, q| p.latency_s.total_cmp(&q.latency_s));
    let mut last_x = f64::NEG_INFINITY;
    let mut row = 0;
    for b in budgets {
        let px = x.px(b.latency_s);
        let _ = write!(
            svg.buf(),
            r##"<g class="budget" data-name="{}"><line x1="{px:.1}" y1="{:.1}" x2="{px:.1}" y2="{:.1}" stroke="#555" stroke-width="1.2" stroke-dasharray="5 3"/>"##,
            escape(&b.name),
            a.y0,
            a.y1
        );
        // Labels run down the line; neighbours closer than a text height
        // step down so they do not overprint.
        row = if px - last_x < 16.0 { row + 1 } else { 0 };
        last_x = px;
        let text = format!("{} ({})", b.name, si(b.latency_s, "s"));
        let (tx, ty) = (px - 4.0, a.y0 + 6.0 + f64::from(row) * 12.0);
        let _ = write!(
            svg.buf(),
            r##"<text x="{tx:.1}" y="{ty:.1}" text-anchor="end" font-size="11" fill="#333" transform="rotate(-90 {tx:.1} {ty:.1})">{}</text></g>"##,
            escape(&text)
        );
        let w = super::svg::text_width(&text, 11.0);
        placer.block(Rect {
            x0: tx - 12.0,
            y0: ty,
            x1: tx + 2.0,
            y1: ty + w,
        });
    }
}

fn capitalise(s: &str) -> String {
    let mut c = s.chars();
    c.next()
        .map_or_else(|| "Latency".into(), |f| f.to_uppercase().chain(c).collect())
}

pub(crate) fn shorten(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        s.to_string()
    } else {
        format!("{}…", s.chars().take(n - 1).collect::<String>())
    }
}

pub(crate) fn group_digits(n: usize) -> String {
    let s = n.to_string();
    let mut out = String::new();
    for (i, ch) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(ch);
    }
    out
}
