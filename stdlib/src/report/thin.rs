//! Thinning a million candidates to what a reader can see: one point per
//! small pixel cell per group (the lowest-loss one, so the lower envelope
//! survives), plus every candidate that is on a frontier.
use std::collections::HashSet;

use super::data::{Frontier, Point};
use super::scale::Scale;

/// Side of a binning cell in pixels: about one dot diameter, so thinning is
/// invisible at the chart's size.
pub(crate) const CELL_PX: f64 = 3.0;

pub(crate) struct Thinned {
    /// Indices into the candidates, grouped by group order then index.
    pub(crate) kept: Vec<usize>,
    /// Group index of each candidate in `groups`.
    pub(crate) group_of: Vec<usize>,
    pub(crate) groups: Vec<String>,
}

/// Group names in first-seen order: frontiers first (their order is the
/// author's), then any group only candidates have.
pub(crate) fn group_order(candidates: &[Point], frontiers: &[Frontier]) -> Vec<String> {
    let mut groups: Vec<String> = Vec::new();
    for g in frontiers
        .iter()
        .map(|f| &f.group)
        .chain(candidates.iter().map(|c| &c.group))
    {
        // Few groups: a linear scan beats hashing a million strings.
        if !groups.iter().any(|h| h == g) {
            groups.push(g.clone());
        }
    }
    groups
}

pub(crate) fn thin(
    candidates: &[Point],
    frontiers: &[Frontier],
    x: &Scale,
    y: &Scale,
    width_px: f64,
    height_px: f64,
) -> Thinned {
    let groups = group_order(candidates, frontiers);
    let mut last = 0usize;
    let group_of: Vec<usize> = candidates
        .iter()
        .map(|c| {
            if groups[last] != c.group {
                last = groups.iter().position(|g| *g == c.group).unwrap_or(0);
            }
            last
        })
        .collect();
    let on_frontier: HashSet<(usize, u64, u64)> = frontiers
        .iter()
        .flat_map(|f| {
            let g = groups.iter().position(|h| *h == f.group).unwrap_or(0);
            f.points
                .iter()
                .map(move |p| (g, p.latency_s.to_bits(), p.loss.to_bits()))
        })
        .collect();
    let cols = (width_px / CELL_PX).ceil().max(1.0) as usize;
    let rows = (height_px / CELL_PX).ceil().max(1.0) as usize;
    let (x0, y0) = (x.px(x.lo).min(x.px(x.hi)), y.px(y.lo).min(y.px(y.hi)));
    let mut best = vec![u32::MAX; groups.len() * cols * rows];
    let mut kept = Vec::new();
    for (i, c) in candidates.iter().enumerate() {
        let g = group_of[i];
        if on_frontier.contains(&(g, c.latency_s.to_bits(), c.loss.to_bits())) {
            kept.push(i);
            continue;
        }
        let cx = (((x.px(c.latency_s) - x0) / CELL_PX) as usize).min(cols - 1);
        let cy = (((y.px(c.loss) - y0) / CELL_PX) as usize).min(rows - 1);
        let slot = &mut best[(g * rows + cy) * cols + cx];
        // Ties keep the first index, so output does not depend on anything
        // but input order.
        if *slot == u32::MAX || c.loss < candidates[*slot as usize].loss {
            *slot = i as u32;
        }
    }
    kept.extend(
        best.into_iter()
            .filter(|&s| s != u32::MAX)
            .map(|s| s as usize),
    );
    kept.sort_unstable_by_key(|&i| (group_of[i], i));
    kept.dedup();
    Thinned {
        kept,
        group_of,
        groups,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::data::FrontierPoint;
    use crate::report::scale::Kind;

    #[test]
    fn keeps_every_frontier_point_and_thins_the_rest() {
        // 200 × 200 candidates crowd one corner; three of them are the
        // frontier and must survive even where a lower-loss point shares
        // their cell.
        let mut candidates = Vec::new();
        for i in 0..200 {
            for j in 0..200 {
                let latency_s = 1e-3 * (1.0 + f64::from(i) * 1e-4);
                let loss = 3.0 + f64::from(j) * 1e-5;
                candidates.push(Point {
                    latency_s,
                    loss,
                    group: "fp16".into(),
                    label: String::new(),
                });
            }
        }
        candidates.push(Point {
            latency_s: 1.0,
            loss: 2.0,
            group: "fp16".into(),
            label: String::new(),
        });
        let picks = [5usize * 200 + 7, 150 * 200 + 1, 40_000];
        let frontier = Frontier {
            group: "fp16".into(),
            points: picks
                .iter()
                .map(|&i| FrontierPoint {
                    latency_s: candidates[i].latency_s,
                    loss: candidates[i].loss,
                    label: String::new(),
                    band_s: None,
                })
                .collect(),
        };
        let x = Scale::fit(
            Kind::Log,
            candidates.iter().map(|c| c.latency_s),
            0.0,
            600.0,
        );
        let y = Scale::fit(Kind::Linear, candidates.iter().map(|c| c.loss), 400.0, 0.0);
        let t = thin(
            &candidates,
            std::slice::from_ref(&frontier),
            &x,
            &y,
            600.0,
            400.0,
        );
        for i in picks {
            assert!(t.kept.contains(&i), "frontier candidate {i} dropped");
        }
        assert!(
            t.kept.len() < 1000,
            "kept {} of {}",
            t.kept.len(),
            candidates.len()
        );
        assert!(
            t.kept.windows(2).all(|w| w[0] < w[1]),
            "kept indices sorted and unique"
        );
    }

    #[test]
    fn groups_are_binned_separately() {
        let p = |g: &str| Point {
            latency_s: 0.01,
            loss: 3.0,
            group: g.into(),
            label: String::new(),
        };
        let candidates = vec![p("fp16"), p("int8"), p("fp16")];
        let x = Scale::fit(Kind::Log, [0.01], 0.0, 100.0);
        let y = Scale::fit(Kind::Linear, [3.0], 100.0, 0.0);
        let t = thin(&candidates, &[], &x, &y, 100.0, 100.0);
        assert_eq!(t.kept, vec![0, 1]);
        assert_eq!(t.groups, vec!["fp16".to_string(), "int8".to_string()]);
    }
}
