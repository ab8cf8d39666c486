//! The human-facing report of a `report ... to "dir"` declaration: the
//! reported stages' outputs turned into [`ReportData`] for the renderer.
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rooflaw_dsl::spec::Spec;
use rooflaw_engine::{Artifact, Reporter, Table};
use serde_json::Value;

use super::candidates::{self, label};
use super::{fit, hardware_io, pareto, search};
use crate::budget::{Budget, Objective};
use crate::hardware::Hardware;
use crate::report::{
    AdviceRow, Bound, CalibrationRow, Coefficient, Compared, Counts, Figures, FitPoint, FitView,
    Frontier, FrontierPoint, HardwareInfo, Headline, LatencyBand, Marked, OpPoint, Point,
    ReportData, SearchView, TopRow, TrainedRow, write_report,
};
use crate::workload::Workload;

pub(crate) struct HtmlReport;

fn objective_name(o: Objective) -> &'static str {
    match o {
        Objective::Prefill => "prefill latency",
        Objective::Decode => "decode latency",
        Objective::Total => "total latency",
        Objective::PerToken => "time per output token",
        Objective::Memory => "memory",
    }
}

fn meta<T: serde::de::DeserializeOwned>(t: &Table, key: &str) -> Option<T> {
    t.meta
        .get(key)
        .and_then(|v| serde_json::from_value(v.clone()).ok())
}

fn fill_frontier(data: &mut ReportData, t: &Table, objective: Objective) {
    let col = pareto::column(objective);
    let scale = if objective == Objective::Memory {
        1.0
    } else {
        1e-3
    };
    let (Some(lat), Some(loss)) = (t.f64s(col), t.f64s("loss")) else {
        return;
    };
    let groups = t
        .strs("precision")
        .map_or_else(|| vec![String::new(); t.rows()], <[String]>::to_vec);
    let context = band_context(t);
    let mut fronts: BTreeMap<String, Vec<FrontierPoint>> = BTreeMap::new();
    for i in 0..t.rows() {
        let l = candidates::arch_at(t, i)
            .map(|a| label(&a))
            .unwrap_or_default();
        fronts
            .entry(groups[i].clone())
            .or_default()
            .push(FrontierPoint {
                latency_s: lat[i] * scale,
                loss: loss[i],
                label: l,
                band_s: context
                    .as_ref()
                    .and_then(|(hw, wls)| ranges_at(t, i, hw, wls, &groups[i]))
                    .and_then(|r| objective_band(&r, objective)),
            });
    }
    data.frontiers = fronts
        .into_iter()
        .map(|(group, points)| Frontier { group, points })
        .collect();
    if let Some(cloud) = t.meta.get("cloud") {
        let xs = cloud["latency_ms"].as_array().cloned().unwrap_or_default();
        let ys = cloud["loss"].as_array().cloned().unwrap_or_default();
        let gs = cloud["group"].as_array().cloned().unwrap_or_default();
        data.candidates = xs
            .iter()
            .zip(&ys)
            .zip(&gs)
            .filter_map(|((x, y), g)| {
                Some(Point {
                    latency_s: x.as_f64()? * scale,
                    loss: y.as_f64()?,
                    group: g.as_str()?.to_string(),
                    label: String::new(),
                })
            })
            .collect();
        if let Some(designs) = cloud["total"].as_u64() {
            // Every architecture is evaluated once per workload precision.
            let precisions = t
                .meta
                .get("workloads")
                .and_then(Value::as_array)
                .map_or(1, |w| w.len().max(1) as u64);
            data.counts = Some(Counts {
                architectures: designs / precisions,
                precisions,
                designs,
            });
        }
    }
    if let Some(n) = t
        .meta
        .get("refused_by_law")
        .and_then(Value::as_u64)
        .filter(|n| *n > 0)
    {
        data.notes.push(format!(
            "{n} designs lie outside the law's validated range and were left out ({}).",
            t.meta
                .get("refusal_example")
                .and_then(Value::as_str)
                .unwrap_or("")
        ));
    }
}

/// The hardware and workloads a latency table was predicted for.
fn band_context(t: &Table) -> Option<(Hardware, Vec<Workload>)> {
    Some((meta(t, "hardware")?, meta(t, "workloads")?))
}

/// The error bands of row `i`'s latencies, from the runtime of the
/// workload in its precision `group`.
fn ranges_at(
    t: &Table,
    i: usize,
    hw: &Hardware,
    wls: &[Workload],
    group: &str,
) -> Option<crate::runtime::Ranges> {
    let wl = wls
        .iter()
        .find(|w| w.precision.label() == group)
        .or_else(|| wls.first())?;
    let f = |c: &str| t.column(c).map(|col| col.f64_at(i) / 1e3);
    let rt = &wl.runtime;
    Some(crate::runtime::Ranges::of(
        rt.coverage(hw, crate::runtime::BandPhase::Prefill),
        rt.coverage(hw, crate::runtime::BandPhase::Decode),
        f("prefill_ms")?,
        f("decode_ms")?,
        f("decode_ms_per_token")?,
    ))
}

/// The band of the latency `objective` measures; none for memory.
fn objective_band(r: &crate::runtime::Ranges, objective: Objective) -> Option<(f64, f64)> {
    match objective {
        Objective::Prefill => Some(r.prefill_s),
        Objective::Decode => Some(r.decode_s),
        Objective::Total => Some(r.total_s),
        Objective::PerToken => Some(r.decode_per_token_s),
        Objective::Memory => None,
    }
}

fn fill_context(data: &mut ReportData, t: &Table) -> Option<(Hardware, Vec<Workload>)> {
    let hw: Hardware = meta(t, "hardware")?;
    let wls: Vec<Workload> = meta(t, "workloads").unwrap_or_default();
    let first = wls.first()?;
    let (dtype, peak) = hw
        .peak_for(first.precision.compute())
        .unwrap_or((first.precision.compute(), f64::NAN));
    data.hardware = HardwareInfo {
        name: hw.name.clone(),
        compute_dtype: dtype.name().to_string(),
        peak_flops: peak,
        bandwidth: hw.bandwidth,
        memory: hw.memory,
    };
    let precisions: Vec<String> = wls.iter().map(|w| w.precision.label()).collect();
    data.workload = format!(
        "batch {}, {} prompt + {} generated tokens, {}",
        first.batch,
        first.prompt,
        first.generate,
        precisions.join(" / ")
    );
    Some((hw, wls))
}

/// "budget `snappy` (latency.total <= 1.5 s, memory <= 4 GiB)", or what a
/// search without a budget held its designs to.
fn limit_text(t: &Table, budget: Option<&Budget>) -> String {
    if let Some(b) = budget {
        let mut limits: Vec<String> = b.limits.iter().map(ToString::to_string).collect();
        if let Some(c) = b.confidence {
            limits.push(confidence_text(c, b.spread.as_ref()));
        }
        return format!("budget `{}` ({})", b.name, limits.join(", "));
    }
    match t.meta.get("limit") {
        Some(l) if l["kind"] == "baseline" => {
            format!(
                "the latency of {}",
                l["name"]
                    .as_str()
                    .unwrap_or("the baseline")
                    .trim_start_matches("as fast as ")
            )
        }
        _ => "no budget".into(),
    }
}

/// "latency at 90% confidence: up to ×1.18 prefill, ×1.27 decode".
fn confidence_text(c: f64, spread: Option<&crate::budget::Spread>) -> String {
    let pct = format!("{}%", crate::report::plain(c * 100.0));
    match spread {
        Some(s) => format!(
            "latency at {pct} confidence: up to ×{:.2} prefill, ×{:.2} decode{}",
            s.prefill.slow,
            s.decode.slow,
            if s.calibrated {
                ""
            } else {
                ", uncalibrated: the widest band"
            }
        ),
        None => format!("latency at {pct} confidence"),
    }
}

/// Why a search found nothing, from how close its designs came to each
/// limit: "no design meets budget `snappy`: the fastest needs 41 ms".
fn empty_text(t: &Table, limit: &str, binary: bool) -> String {
    let closest: Vec<Option<crate::budget::Check>> = meta(t, "closest").unwrap_or_default();
    let needs: Vec<String> = closest
        .iter()
        .flatten()
        .filter(|c| !c.holds)
        .map(|c| {
            let who = match (c.limit.metric.dim(), c.limit.op) {
                (d, _) if d == rooflaw_dsl::Dim::TIME => "the fastest",
                (d, _) if d == rooflaw_dsl::Dim::BYTES => "the smallest",
                (_, rooflaw_dsl::spec::CmpOp::Gt | rooflaw_dsl::spec::CmpOp::Ge) => "the largest",
                _ => "the closest",
            };
            let value = if c.limit.metric.dim() == rooflaw_dsl::Dim::BYTES {
                crate::report::bytes(c.value, binary)
            } else if c.limit.metric.dim() == rooflaw_dsl::Dim::TIME {
                crate::report::si(c.value, "s")
            } else {
                crate::report::plain(c.value)
            };
            format!("{who} needs {value} ({})", c.limit.metric.name())
        })
        .collect();
    if t.meta.get("searched").and_then(Value::as_u64) == Some(0) {
        return format!("no design to search within {limit}");
    }
    if needs.is_empty() {
        // Each limit alone is met by some design, but none meets all.
        format!("no design meets {limit}: each limit alone is met, never all at once")
    } else {
        format!("no design meets {limit}: {}", needs.join("; "))
    }
}

fn fill_search(data: &mut ReportData, stage: &str, t: &Table, objective: Objective) -> SearchView {
    let col = pareto::column(objective);
    let groups = t
        .strs("precision")
        .map(<[String]>::to_vec)
        .unwrap_or_default();
    let best_loss = t.f64s("loss").and_then(|l| l.first().copied());
    let budget: Option<Budget> = meta(t, "budget");
    let latency_limit = budget.as_ref().and_then(|b| {
        b.limits
            .iter()
            .find(|l| l.metric == objective.metric())
            .map(|l| l.bound)
    });
    let context = band_context(t);
    let mut top = Vec::new();
    for i in 0..t.rows() {
        let Ok(a) = candidates::arch_at(t, i) else {
            continue;
        };
        let f = |c: &str| t.column(c).map_or(f64::NAN, |col| col.f64_at(i));
        let lat = f(col) / 1e3;
        top.push(TopRow {
            rank: f("rank") as u32,
            label: label(&a),
            group: groups.get(i).cloned().unwrap_or_default(),
            layers: a.layers,
            width: a.width,
            heads: a.heads,
            kv_heads: a.kv_heads,
            ffn_ratio: a.ffn_ratio(),
            experts: a.experts,
            top_k: a.top_k,
            params: f("params"),
            prefill_s: f("prefill_ms") / 1e3,
            decode_s: f("decode_ms") / 1e3,
            total_s: f("total_ms") / 1e3,
            memory_bytes: f("memory_bytes"),
            loss: f("loss"),
            ppl: f("perplexity"),
            band: context.as_ref().and_then(|(hw, wls)| {
                let g = groups.get(i).map_or("", String::as_str);
                ranges_at(t, i, hw, wls, g).map(|r| LatencyBand {
                    prefill_s: r.prefill_s,
                    decode_s: r.decode_s,
                    total_s: r.total_s,
                    calibrated: r.calibrated(),
                })
            }),
            latency_margin_s: latency_limit.map(|b| b - lat),
            loss_margin: best_loss.map(|b| f("loss") - b),
        });
    }
    let limit = limit_text(t, budget.as_ref());
    let headlines: Vec<Value> = meta(t, "headline").unwrap_or_default();
    let g = |h: &Value, k: &str| h[k].as_f64().unwrap_or(f64::NAN);
    let figures = |h: &Value, who: &str| Figures {
        latency_s: g(h, &format!("{who}_latency_ms")) / 1e3,
        memory_bytes: g(h, &format!("{who}_memory_bytes")),
        loss: g(h, &format!("{who}_loss")),
        ppl: g(h, &format!("{who}_perplexity")),
    };
    // The answer is the top row; each headline compares it with a baseline.
    let headline = top.first().map(|first| Headline {
        design: first.label.clone(),
        precision: first.group.clone(),
        figures: Figures {
            latency_s: t.f64s(col).map_or(f64::NAN, |l| l[0] / 1e3),
            memory_bytes: first.memory_bytes,
            loss: first.loss,
            ppl: first.ppl,
        },
        baselines: headlines
            .iter()
            .map(|h| Compared {
                name: h["baseline"].as_str().unwrap_or("baseline").to_string(),
                figures: figures(h, "baseline"),
            })
            .collect(),
    });
    SearchView {
        stage: stage.to_string(),
        objective: objective_name(objective).into(),
        empty: headline
            .is_none()
            .then(|| empty_text(t, &limit, data.binary_sizes)),
        limit,
        headline,
        top,
        searched_what: if t.meta.contains_key("frontier_sizes") {
            "the loss–latency frontier".into()
        } else {
            "every design".into()
        },
        feasible: t.meta.get("feasible").and_then(Value::as_u64).unwrap_or(0),
        searched: t.meta.get("searched").and_then(Value::as_u64).unwrap_or(0),
    }
}

/// The plots single out the lead search's answer and its baselines, and
/// draw its budget's latency limit.
fn mark_answer(data: &mut ReportData, view: &SearchView, t: &Table, objective: Objective) {
    if let Some(h) = &view.headline {
        data.chosen = Some(Marked {
            label: if h.precision.is_empty() {
                h.design.clone()
            } else {
                format!("{} ({})", h.design, h.precision)
            },
            latency_s: h.figures.latency_s,
            loss: h.figures.loss,
        });
        data.baselines = h
            .baselines
            .iter()
            .map(|b| Marked {
                label: b.name.clone(),
                latency_s: b.figures.latency_s,
                loss: b.figures.loss,
            })
            .collect();
    }
    if let Some(b) = meta::<Budget>(t, "budget") {
        for l in b.limits.iter().filter(|l| l.metric == objective.metric()) {
            data.budgets.push(crate::report::BudgetLine {
                name: format!(
                    "{} ({} {})",
                    b.name,
                    l.op.symbol(),
                    rooflaw_dsl::Quantity::new(l.bound, l.metric.dim())
                ),
                latency_s: l.bound,
            });
        }
    }
}

/// The loss–latency plot has a log axis: designs whose latency on the
/// objective is zero (decode with one generated token: the prefill makes
/// it) cannot be drawn. They stay in the tables and the data files; the
/// plot leaves them out and a note says how many.
fn leave_out_unplottable(data: &mut ReportData) {
    let drawable = |s: f64| s.is_finite() && s > 0.0;
    let before =
        data.candidates.len() + data.frontiers.iter().map(|f| f.points.len()).sum::<usize>();
    data.candidates.retain(|p| drawable(p.latency_s));
    for f in &mut data.frontiers {
        f.points.retain(|p| drawable(p.latency_s));
    }
    data.frontiers.retain(|f| !f.points.is_empty());
    let after =
        data.candidates.len() + data.frontiers.iter().map(|f| f.points.len()).sum::<usize>();
    data.baselines.retain(|m| drawable(m.latency_s));
    if data.chosen.as_ref().is_some_and(|m| !drawable(m.latency_s)) {
        data.chosen = None;
    }
    data.budgets.retain(|b| drawable(b.latency_s));
    if after < before {
        data.notes.push(format!(
            "{} plotted points have a {} of 0 s and are left out of the loss–latency plot, \
             whose axis is logarithmic (with one generated token, the prefill produces it and \
             decode takes no time); the tables and data files keep them.",
            before - after,
            data.objective
        ));
    }
}

/// Sizes in the unit the (first) budget writes its memory limit in: binary
/// (GiB) when the limit is a whole number of them.
fn binary_sizes(searches: &[(&str, &Arc<Artifact>)]) -> bool {
    searches
        .iter()
        .filter_map(|(_, a)| a.as_table())
        .filter_map(|t| meta::<Budget>(t, "budget"))
        .flat_map(|b| b.limits)
        .find(|l| l.metric == crate::budget::Metric::Memory)
        .is_some_and(|l| {
            let gib = 1024.0_f64.powi(3);
            l.bound >= gib && (l.bound / gib).fract() == 0.0
        })
}

/// The roofline chart shows the answer (the table's first row), in its
/// precision, under the peak of that precision's compute type.
fn answer_roofline(
    data: &mut ReportData,
    t: &Table,
    h: &Headline,
    hw: &Hardware,
    wls: &[Workload],
) {
    let wl = wls
        .iter()
        .find(|w| w.precision.label() == h.precision)
        .or_else(|| wls.first());
    if let (Ok(arch), Some(wl)) = (candidates::arch_at(t, 0), wl) {
        fill_ops(data, &arch, hw, wl);
        if let Some((dtype, peak)) = hw.peak_for(wl.precision.compute()) {
            data.hardware.compute_dtype = dtype.name().to_string();
            data.hardware.peak_flops = peak;
        }
    }
}

/// An `advise` output as table rows: per width, the optimum that applies
/// under each constraint, and the enumerated best beside them.
fn fill_advice(data: &mut ReportData, stage: &str, v: &Value) {
    let row = |width: f64, constraint: &str, regime: &str, o: &Value| {
        let r = &o["rounded"];
        let u = |k: &str| {
            r[k].as_u64()
                .and_then(|x| u32::try_from(x).ok())
                .unwrap_or(0)
        };
        AdviceRow {
            stage: stage.to_string(),
            width,
            constraint: constraint.into(),
            regime: regime.replace('_', " "),
            layers: u("layers"),
            ffn_ratio: r["ffn_ratio"].as_f64().unwrap_or(f64::NAN),
            heads: u("heads"),
            kv_heads: u("kv_heads"),
            experts: u("experts"),
            top_k: u("top_k"),
            loss: r["loss"].as_f64().unwrap_or(f64::NAN),
            weight_bytes: o["memory"].as_f64(),
        }
    };
    for w in v["widths"].as_array().into_iter().flatten() {
        let width = w["width"].as_f64().unwrap_or(f64::NAN);
        let a = &w["advice"];
        if !a.is_object() {
            data.notes.push(format!(
                "`{stage}` at width {}: {}",
                crate::report::plain(width),
                w["error"].as_str().unwrap_or("no advice")
            ));
            continue;
        }
        for phase in ["prefill", "decode"] {
            let p = &a[phase];
            if !p.is_object() {
                continue;
            }
            let applies = p["applies"].as_str().unwrap_or("");
            let which = if applies.ends_with("latency") {
                "latency"
            } else if applies == "memory" {
                "memory"
            } else {
                "dual"
            };
            if p[which].is_object() {
                data.advice.push(row(width, phase, applies, &p[which]));
            }
        }
        data.advice
            .push(row(width, "memory", "memory", &a["memory"]));
    }
    let best = &v["enumerated_best"];
    if let Ok(arch) = serde_json::from_value::<crate::Architecture>(best["arch"].clone()) {
        data.advice.push(AdviceRow {
            stage: stage.to_string(),
            width: f64::from(arch.width),
            constraint: "searched".into(),
            regime: label(&arch),
            layers: arch.layers,
            ffn_ratio: arch.ffn_ratio(),
            heads: arch.heads,
            kv_heads: arch.kv_heads,
            experts: arch.experts,
            top_k: arch.top_k,
            loss: best["loss"].as_f64().unwrap_or(f64::NAN),
            weight_bytes: None,
        });
    }
}

fn fill_ops(data: &mut ReportData, arch: &crate::Architecture, hw: &Hardware, wl: &Workload) {
    let Ok(b) = crate::roofline::breakdown(arch, hw, wl) else {
        return;
    };
    for (phase, rows) in [("prefill", &b.prefill), ("decode", &b.decode)] {
        for r in rows {
            let bytes = r.weight_bytes + r.activation_bytes + r.kv_read_bytes + r.kv_write_bytes;
            let secs = r.time;
            if r.flops <= 0.0 || bytes <= 0.0 || secs <= 0.0 {
                continue;
            }
            data.roofline_ops.push(OpPoint {
                phase: phase.into(),
                name: r.name.to_string(),
                intensity: r.flops / bytes,
                achieved_flops: r.flops / secs,
                time_s: secs,
                bound: match r.bound {
                    crate::roofline::Bound::Compute => Bound::Compute,
                    crate::roofline::Bound::Memory => Bound::Memory,
                },
            });
        }
    }
}

fn fill_fit(data: &mut ReportData, name: &str, v: &Value) {
    let measured = v["measured"].as_array().cloned().unwrap_or_default();
    let predicted = v["predicted"].as_array().cloned().unwrap_or_default();
    let intervals: Vec<(f64, f64)> =
        serde_json::from_value(v["intervals"].clone()).unwrap_or_default();
    let heldout: Vec<usize> = serde_json::from_value(v["heldout"].clone()).unwrap_or_default();
    data.fits.push(FitView {
        name: name.to_string(),
        points: measured
            .iter()
            .zip(&predicted)
            .enumerate()
            .filter_map(|(i, (m, p))| {
                Some(FitPoint {
                    measured: m.as_f64()?,
                    predicted: p.as_f64()?,
                    heldout: heldout.contains(&i),
                    label: String::new(),
                })
            })
            .collect(),
        r2_train: v["train"]["r2"].as_f64(),
        r2_holdout: v["holdout"]["r2"].as_f64(),
        coefficients: v["coefficients"]
            .as_array()
            .into_iter()
            .flatten()
            .enumerate()
            .map(|(i, c)| Coefficient {
                name: c["name"].as_str().unwrap_or("").into(),
                value: c["value"].as_f64().unwrap_or(f64::NAN),
                ci_low: intervals.get(i).map(|x| x.0),
                ci_high: intervals.get(i).map(|x| x.1),
            })
            .collect(),
    });
}

/// A calibrate output: the calibrated predictions against the measurements
/// (held-out points hollow), the fitted figures, and the before/after errors
/// per split and phase.
fn fill_calibration(data: &mut ReportData, hw: &Value, c: &Value) {
    let points = c["points"].as_array().cloned().unwrap_or_default();
    let after = |k: &str| c["after"][k].as_f64().unwrap_or(f64::NAN);
    let before = |k: &str| c["before"][k].as_f64().unwrap_or(f64::NAN);
    let coefficient = |name: &str, v: f64| Coefficient {
        name: name.into(),
        value: v,
        ci_low: None,
        ci_high: None,
    };
    data.validation = Some(FitView {
        name: String::new(),
        points: points
            .iter()
            .filter_map(|p| {
                Some(FitPoint {
                    measured: p["measured"].as_f64()?,
                    predicted: p["after"].as_f64()?,
                    heldout: p["heldout"].as_bool()?,
                    label: format!("{} ({})", p["label"].as_str()?, p["phase"].as_str()?),
                })
            })
            .collect(),
        r2_train: None,
        r2_holdout: None,
        coefficients: vec![
            coefficient("efficiency_compute", after("efficiency_compute")),
            coefficient("efficiency_memory", after("efficiency_memory")),
            coefficient("efficiency_vector", after("efficiency_vector")),
            coefficient("launch (µs)", after("launch") * 1e6),
        ],
    });
    for (split, key) in [("held out", "on_heldout"), ("calibration", "on_train")] {
        let side = &c[key];
        if !side.is_object() {
            continue;
        }
        for (phase, pk) in [
            ("prefill", "prefill"),
            ("decode", "decode"),
            ("both", "overall"),
        ] {
            let (b, a) = (&side["before"][pk], &side["after"][pk]);
            let f = |v: &Value| v.as_f64().unwrap_or(f64::NAN);
            data.calibration.push(CalibrationRow {
                split: split.into(),
                phase: phase.into(),
                n: b["n"].as_u64().unwrap_or(0) as usize,
                median_before: f(&b["median_ape"]),
                median_after: f(&a["median_ape"]),
                mape_before: f(&b["mape"]),
                mape_after: f(&a["mape"]),
                spearman_before: b["spearman"].as_f64(),
                spearman_after: a["spearman"].as_f64(),
            });
        }
    }
    data.notes.push(format!(
        "Calibrated on {} of {} measured runs ({}; seed {}): efficiency compute {:.3} → {:.3}, memory {:.3} → {:.3}, element-wise {:.3} → {:.3}, launch {:.2} → {:.2} µs.",
        c["train"].as_array().map_or(0, Vec::len),
        c["samples"].as_u64().unwrap_or(0),
        c["device"].as_str().filter(|d| !d.is_empty()).unwrap_or("device not recorded"),
        c["seed"].as_u64().unwrap_or(0),
        before("efficiency_compute"),
        after("efficiency_compute"),
        before("efficiency_memory"),
        after("efficiency_memory"),
        before("efficiency_vector"),
        after("efficiency_vector"),
        before("launch") * 1e6,
        after("launch") * 1e6,
    ));
    if data.hardware.name.is_empty()
        && let Ok(h) = serde_json::from_value::<Hardware>(hw.clone())
    {
        let (dtype, peak) = c["compute_dtype"]
            .as_str()
            .and_then(crate::precision::Dtype::parse)
            .and_then(|d| h.peak_for(d))
            .map_or((String::new(), f64::NAN), |(d, p)| {
                (d.name().to_string(), p)
            });
        data.hardware = HardwareInfo {
            name: format!("{} (calibrated)", h.name),
            compute_dtype: dtype,
            peak_flops: peak,
            bandwidth: h.bandwidth,
            memory: h.memory,
        };
        if let Some(w) = c["workload"].as_str() {
            data.workload = w.to_string();
        }
    }
}

/// The runs of `train(search)`: a table with a `role` per design.
fn fill_trained(data: &mut ReportData, t: &Table) -> Result<(), String> {
    let Some(roles) = t.strs("role") else {
        return Ok(());
    };
    let f = |c: &str, i: usize| t.column(c).map_or(f64::NAN, |col| col.f64_at(i));
    for (i, role) in roles.iter().enumerate() {
        let arch = candidates::arch_at(t, i).map_err(|e| e.to_string())?;
        data.trained.push(TrainedRow {
            role: role.clone(),
            design: label(&arch),
            params: f("trained_params", i),
            tokens: f("tokens", i),
            predicted_latency_s: f("predicted_latency_ms", i) / 1e3,
            measured_latency_s: None,
            predicted_loss: f("predicted_loss", i),
            predicted_ppl: f("predicted_ppl", i),
            val_loss: f("val_loss", i),
            val_ppl: f("val_ppl", i),
        });
    }
    Ok(())
}

/// Measured latency (prefill + decode) of the trained designs, from a
/// reported `measure` table of the same designs (`measure(search)`).
fn fill_measured_latency(data: &mut ReportData, t: &Table) -> Result<(), String> {
    let (Some(prefill), Some(decode)) = (t.f64s("prefill_ms"), t.f64s("decode_ms")) else {
        return Ok(());
    };
    for i in 0..t.rows() {
        let design = label(&candidates::arch_at(t, i).map_err(|e| e.to_string())?);
        for row in data.trained.iter_mut().filter(|r| r.design == design) {
            row.measured_latency_s
                .get_or_insert((prefill[i] + decode[i]) / 1e3);
        }
    }
    Ok(())
}

impl Reporter for HtmlReport {
    fn write(
        &self,
        dir: &Path,
        spec: &Spec,
        outputs: &BTreeMap<String, Arc<Artifact>>,
        reported: &[String],
    ) -> Result<Vec<PathBuf>, String> {
        match report_data(spec, outputs, reported)? {
            Some(data) => write_report(dir, &data).map_err(|e| e.to_string()),
            None => Ok(Vec::new()),
        }
    }
}

/// The answer of a `report` declaration in words, as its page leads with it:
/// a title and the sentences behind it (see [`crate::report::headline_text`]);
/// `None` when it reports no search.
pub fn headline(
    spec: &Spec,
    outputs: &BTreeMap<String, Arc<Artifact>>,
    reported: &[String],
) -> Result<Option<(String, String)>, String> {
    let Some(data) = report_data(spec, outputs, reported)? else {
        return Ok(None);
    };
    let lead = data
        .searches
        .iter()
        .find(|s| s.headline.is_some())
        .or_else(|| data.searches.first());
    Ok(lead.map(|s| crate::report::headline_text(s, data.binary_sizes)))
}

/// What the page shows, from the reported stages' outputs; `None` when
/// nothing reported has a page.
fn report_data(
    spec: &Spec,
    outputs: &BTreeMap<String, Arc<Artifact>>,
    reported: &[String],
) -> Result<Option<ReportData>, String> {
    let of_kind = |kind: &str| {
        reported
            .iter()
            .filter_map(|n| {
                outputs
                    .get(n)
                    .filter(|a| a.kind == kind)
                    .map(|a| (n.as_str(), a))
            })
            .collect::<Vec<_>>()
    };
    let searches = of_kind(search::KIND);
    let frontiers = of_kind(pareto::KIND);
    let fits = of_kind(fit::KIND);
    let calibrations: Vec<&Value> = of_kind(hardware_io::KIND)
        .into_iter()
        .filter_map(|(_, a)| a.as_json())
        .filter(|v| v["extra"]["calibration"].is_object())
        .collect();
    let advice = of_kind("advice");
    if searches.is_empty()
        && frontiers.is_empty()
        && fits.is_empty()
        && calibrations.is_empty()
        && advice.is_empty()
    {
        return Ok(None);
    }
    let mut data = ReportData {
        title: format!("rooflaw: {}", spec.sources.get(rooflaw_dsl::FileId(0)).name),
        pipeline: spec.sources.get(rooflaw_dsl::FileId(0)).name.clone(),
        ..ReportData::default()
    };
    data.binary_sizes = binary_sizes(&searches);
    // The first search with an answer leads, and decides the objective;
    // its frontier is the one with the same objective.
    let search_tables: Vec<(&str, &Table)> = searches
        .iter()
        .filter_map(|(n, a)| a.as_table().map(|t| (*n, t)))
        .collect();
    let lead = (search_tables.iter().find(|(_, t)| t.rows() > 0))
        .or(search_tables.first())
        .copied();
    let objective: Objective = lead
        .and_then(|(_, t)| meta(t, "objective"))
        .or_else(|| {
            frontiers
                .first()
                .and_then(|(_, a)| a.as_table())
                .and_then(|t| meta(t, "objective"))
        })
        .unwrap_or(Objective::Total);
    data.objective = objective_name(objective).into();
    let frontier_t = frontiers
        .iter()
        .filter_map(|(_, a)| a.as_table())
        .find(|t| meta::<Objective>(t, "objective") == Some(objective))
        .or_else(|| frontiers.first().and_then(|(_, a)| a.as_table()));
    let context = frontier_t
        .or(lead.map(|(_, t)| t))
        .and_then(|t| fill_context(&mut data, t));
    if let Some(t) = frontier_t {
        fill_frontier(&mut data, t, objective);
    }
    for &(name, t) in &search_tables {
        let own: Objective = meta(t, "objective").unwrap_or(objective);
        let view = fill_search(&mut data, name, t, own);
        if lead.is_some_and(|(n, _)| n == name) {
            mark_answer(&mut data, &view, t, own);
            if let (Some((hw, wls)), Some(h)) = (&context, &view.headline) {
                answer_roofline(&mut data, t, h, hw, wls);
            }
        }
        data.searches.push(view);
    }
    for (name, v) in advice.iter().filter_map(|(n, a)| Some((*n, a.as_json()?))) {
        fill_advice(&mut data, name, v);
    }
    // Every reported fit, named by its stage (`report law_fit, params_fit`).
    for (name, v) in fits.iter().filter_map(|(n, a)| Some((*n, a.as_json()?))) {
        fill_fit(&mut data, name, v);
    }
    if let Some(v) = calibrations.first() {
        fill_calibration(&mut data, &v["hardware"], &v["extra"]["calibration"]);
    }
    // Training runs are kind `runs` and timings `measurements` (those
    // stages are behind a feature, so their constants are not named here).
    for (kind, fill) in [
        (
            "runs",
            fill_trained as fn(&mut ReportData, &Table) -> Result<(), String>,
        ),
        ("measurements", fill_measured_latency),
    ] {
        for t in of_kind(kind).iter().filter_map(|(_, a)| a.as_table()) {
            fill(&mut data, t)?;
        }
    }
    leave_out_unplottable(&mut data);
    Ok(Some(data))
}
