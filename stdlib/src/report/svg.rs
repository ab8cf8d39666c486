//! A minimal SVG writer. Hand-rolled rather than plotters: the tests and the
//! HTML need ids and classes on elements (`frontier-fp16`), a million
//! candidates must collapse into one compact `<path>`, and text is emitted as
//! plain `<text>` that the viewer lays out, so no font files are read.
use std::fmt::Write as _;

/// Okabe–Ito, distinguishable under the common colour-vision deficiencies.
pub(crate) const PALETTE: [&str; 7] = [
    "#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000",
];
pub(crate) const INK: &str = "#222";
pub(crate) const GRID: &str = "#e4e4e4";
pub(crate) const FONT: f64 = 12.0;

pub(crate) fn colour(i: usize) -> &'static str {
    PALETTE[i % PALETTE.len()]
}

pub(crate) fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            // XML 1.0 forbids most control characters even as references.
            c if (c as u32) < 0x20 && !matches!(c, '\t' | '\n' | '\r') => out.push(' '),
            c => out.push(c),
        }
    }
    out
}

/// An id fragment from free text: `fp16` stays, `W4 A16` becomes `w4-a16`.
pub(crate) fn slug(s: &str) -> String {
    let mut out = String::new();
    for c in s.chars() {
        if c.is_ascii_alphanumeric() {
            out.push(c.to_ascii_lowercase());
        } else if !out.ends_with('-') {
            out.push('-');
        }
    }
    let out = out.trim_matches('-').to_string();
    if out.is_empty() { "group".into() } else { out }
}

/// Rough advance width of `text` at `size` px in a sans-serif face; used only
/// to keep labels apart, so erring wide is fine.
pub(crate) fn text_width(text: &str, size: f64) -> f64 {
    text.chars().count() as f64 * size * 0.58
}

pub(crate) struct Svg {
    buf: String,
}

impl Svg {
    pub(crate) fn new(width: f64, height: f64, title: &str) -> Self {
        let mut buf = String::with_capacity(16 * 1024);
        let _ = write!(
            buf,
            r##"<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" viewBox="0 0 {width} {height}" font-family="system-ui, -apple-system, 'Segoe UI', Helvetica, Arial, sans-serif" font-size="{FONT}" role="img"><title>{}</title><rect width="100%" height="100%" fill="#fff"/>"##,
            escape(title)
        );
        Self { buf }
    }

    /// Appends raw markup the caller has already escaped.
    pub(crate) fn raw(&mut self, s: &str) {
        self.buf.push_str(s);
    }

    pub(crate) fn buf(&mut self) -> &mut String {
        &mut self.buf
    }

    pub(crate) fn line(&mut self, x1: f64, y1: f64, x2: f64, y2: f64, style: &str) {
        let _ = write!(
            self.buf,
            r#"<line x1="{x1:.1}" y1="{y1:.1}" x2="{x2:.1}" y2="{y2:.1}" {style}/>"#
        );
    }

    /// Text anchored at (x, y baseline); `anchor` is start, middle or end.
    pub(crate) fn text(&mut self, x: f64, y: f64, anchor: &str, attrs: &str, text: &str) {
        let _ = write!(
            self.buf,
            r#"<text x="{x:.1}" y="{y:.1}" text-anchor="{anchor}" {attrs}>{}</text>"#,
            escape(text)
        );
    }

    pub(crate) fn finish(mut self) -> String {
        self.buf.push_str("</svg>\n");
        self.buf
    }
}

#[derive(Clone, Copy, Debug)]
pub(crate) struct Rect {
    pub(crate) x0: f64,
    pub(crate) y0: f64,
    pub(crate) x1: f64,
    pub(crate) y1: f64,
}

impl Rect {
    pub(crate) fn overlaps(&self, o: &Rect) -> bool {
        self.x0 < o.x1 && o.x0 < self.x1 && self.y0 < o.y1 && o.y0 < self.y1
    }

    pub(crate) fn inside(&self, o: &Rect) -> bool {
        self.x0 >= o.x0 && self.x1 <= o.x1 && self.y0 >= o.y0 && self.y1 <= o.y1
    }
}

/// Greedy label placement: each label tries a few positions around its
/// anchor and takes the first that overlaps nothing placed before it.
pub(crate) struct Placer {
    taken: Vec<Rect>,
    bounds: Rect,
}

pub(crate) struct Placed {
    pub(crate) x: f64,
    pub(crate) y: f64,
    pub(crate) anchor: &'static str,
}

impl Placer {
    pub(crate) fn new(bounds: Rect) -> Self {
        Self {
            taken: Vec::new(),
            bounds,
        }
    }

    /// Marks an area (a marker, a legend) that labels must avoid.
    pub(crate) fn block(&mut self, r: Rect) {
        self.taken.push(r);
    }

    /// Where to put `text` next to the point (x, y), or `None` when every
    /// position collides (optional labels are then dropped; required ones
    /// use [`Placer::force`]).
    pub(crate) fn place(&mut self, x: f64, y: f64, text: &str, size: f64) -> Option<Placed> {
        let w = text_width(text, size);
        let gap = 7.0;
        let options: [(f64, f64, &'static str); 6] = [
            (x + gap, y - gap, "start"),
            (x + gap, y + gap + size * 0.8, "start"),
            (x - gap, y - gap, "end"),
            (x - gap, y + gap + size * 0.8, "end"),
            (x, y - gap - 4.0, "middle"),
            (x, y + gap + size + 2.0, "middle"),
        ];
        for (tx, ty, anchor) in options {
            let x0 = match anchor {
                "start" => tx,
                "end" => tx - w,
                _ => tx - w / 2.0,
            };
            let r = Rect {
                x0,
                y0: ty - size * 0.85,
                x1: x0 + w,
                y1: ty + size * 0.25,
            };
            if r.inside(&self.bounds) && !self.taken.iter().any(|t| t.overlaps(&r)) {
                self.taken.push(r);
                return Some(Placed {
                    x: tx,
                    y: ty,
                    anchor,
                });
            }
        }
        None
    }

    pub(crate) fn force(&mut self, x: f64, y: f64, text: &str, size: f64) -> Placed {
        self.place(x, y, text, size).unwrap_or(Placed {
            x: x + 7.0,
            y: y - 7.0,
            anchor: "start",
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_markup_and_control_characters() {
        assert_eq!(
            escape(r#"a<b & "c" 'd'>"#),
            "a&lt;b &amp; &quot;c&quot; &#39;d&#39;&gt;"
        );
        assert_eq!(escape("x\u{1}y"), "x y");
    }

    #[test]
    fn slugs_are_id_safe() {
        assert_eq!(slug("fp16"), "fp16");
        assert_eq!(slug("W4 A16/kv8"), "w4-a16-kv8");
        assert_eq!(slug("!!"), "group");
    }

    #[test]
    fn placer_avoids_collisions_and_bounds() {
        let bounds = Rect {
            x0: 0.0,
            y0: 0.0,
            x1: 200.0,
            y1: 200.0,
        };
        let mut p = Placer::new(bounds);
        let a = p.place(100.0, 100.0, "label", 12.0).unwrap();
        let b = p.place(100.0, 100.0, "label", 12.0).unwrap();
        assert!((a.x, a.y, a.anchor) != (b.x, b.y, b.anchor));
        // Near the right edge a start-anchored label would leave the box.
        let c = p.place(195.0, 20.0, "long label text", 12.0).unwrap();
        assert_eq!(c.anchor, "end");
    }
}
