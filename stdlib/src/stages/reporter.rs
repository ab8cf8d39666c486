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
    Bound, CalibrationRow, Coefficient, FitPoint, FitView, Frontier, FrontierPoint, HardwareInfo,
    Headline, Marked, OpPoint, Point, ReportData, TopRow, TrainedRow, write_report,
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
        if let Some(total) = cloud["total"].as_u64() {
            data.notes.push(format!(
                "{total} designs evaluated; the plot shows {} of them (one per cell of a 240×120 grid) and every frontier point.",
                data.candidates.len()
            ));
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

fn fill_search(data: &mut ReportData, t: &Table, objective: Objective) {
    let col = pareto::column(objective);
    let groups = t
        .strs("precision")
        .map(<[String]>::to_vec)
        .unwrap_or_default();
    let best_loss = t.f64s("loss").and_then(|l| l.first().copied());
    let budget: Option<Budget> = meta(t, "budget");
    let limit = budget.as_ref().and_then(|b| {
        b.limits
            .iter()
            .find(|l| l.metric == objective.metric())
            .map(|l| l.bound)
    });
    for i in 0..t.rows() {
        let Ok(a) = candidates::arch_at(t, i) else {
            continue;
        };
        let f = |c: &str| t.column(c).map_or(f64::NAN, |col| col.f64_at(i));
        let lat = f(col) / 1e3;
        data.top.push(TopRow {
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
            latency_margin_s: limit.map(|b| b - lat),
            loss_margin: best_loss.map(|b| f("loss") - b),
        });
    }
    if let Some(b) = &budget {
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
    let headlines: Vec<Value> = meta(t, "headline").unwrap_or_default();
    if let Some(h) = headlines.first() {
        let best: Option<crate::Architecture> = serde_json::from_value(h["best"].clone()).ok();
        let best_label = best.as_ref().map(label).unwrap_or_default();
        let base = h["baseline"].as_str().unwrap_or("baseline").to_string();
        let g = |k: &str| h[k].as_f64().unwrap_or(f64::NAN);
        data.baseline = Some(Marked {
            label: base.clone(),
            latency_s: g("baseline_latency_ms") / 1e3,
            loss: g("baseline_loss"),
        });
        data.chosen = Some(Marked {
            label: best_label.clone(),
            latency_s: g("best_latency_ms") / 1e3,
            loss: g("best_loss"),
        });
        data.headline = Some(Headline {
            baseline: base,
            best: best_label,
            latency_s: g("baseline_latency_ms") / 1e3,
            loss_base: g("baseline_loss"),
            loss_best: g("best_loss"),
            ppl_base: g("baseline_perplexity"),
            ppl_best: g("best_perplexity"),
            ppl_reduction_pct: g("perplexity_reduction_pct"),
        });
        for h in headlines.iter().skip(1) {
            data.notes.push(format!(
                "At {} ({}): best {:.3} vs baseline {:.3} loss, perplexity −{:.1}%.",
                h["precision"].as_str().unwrap_or(""),
                rooflaw_dsl::Quantity::new(
                    h["baseline_latency_ms"].as_f64().unwrap_or(0.0) / 1e3,
                    rooflaw_dsl::Dim::TIME
                ),
                h["best_loss"].as_f64().unwrap_or(f64::NAN),
                h["baseline_loss"].as_f64().unwrap_or(f64::NAN),
                h["perplexity_reduction_pct"].as_f64().unwrap_or(f64::NAN),
            ));
        }
    } else if let Some(top) = data.top.first() {
        data.chosen = Some(Marked {
            label: top.label.clone(),
            latency_s: t.f64s(col).map_or(f64::NAN, |l| l[0] / 1e3),
            loss: top.loss,
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
        let of_kind = |kind: &str| {
            reported
                .iter()
                .filter_map(|n| outputs.get(n).filter(|a| a.kind == kind))
                .collect::<Vec<_>>()
        };
        let searches = of_kind(search::KIND);
        let frontiers = of_kind(pareto::KIND);
        let fits = of_kind(fit::KIND);
        let calibrations: Vec<&Value> = of_kind(hardware_io::KIND)
            .into_iter()
            .filter_map(|a| a.as_json())
            .filter(|v| v["extra"]["calibration"].is_object())
            .collect();
        if searches.is_empty() && frontiers.is_empty() && fits.is_empty() && calibrations.is_empty()
        {
            return Ok(Vec::new());
        }
        let mut data = ReportData {
            title: format!("rooflaw: {}", spec.sources.get(rooflaw_dsl::FileId(0)).name),
            pipeline: spec.sources.get(rooflaw_dsl::FileId(0)).name.clone(),
            ..ReportData::default()
        };
        // The search with a headline decides the objective; its frontier is
        // the one with the same objective.
        let search_t = searches
            .iter()
            .filter_map(|a| a.as_table())
            .find(|t| {
                t.meta
                    .get("headline")
                    .and_then(Value::as_array)
                    .is_some_and(|h| !h.is_empty())
            })
            .or_else(|| searches.first().and_then(|a| a.as_table()));
        let objective: Objective = search_t
            .and_then(|t| meta(t, "objective"))
            .or_else(|| {
                frontiers
                    .first()
                    .and_then(|a| a.as_table())
                    .and_then(|t| meta(t, "objective"))
            })
            .unwrap_or(Objective::Total);
        data.objective = objective_name(objective).into();
        let frontier_t = frontiers
            .iter()
            .filter_map(|a| a.as_table())
            .find(|t| meta::<Objective>(t, "objective") == Some(objective))
            .or_else(|| frontiers.first().and_then(|a| a.as_table()));
        let context = frontier_t
            .or(search_t)
            .and_then(|t| fill_context(&mut data, t));
        if let Some(t) = frontier_t {
            fill_frontier(&mut data, t, objective);
        }
        if let Some(t) = search_t {
            fill_search(&mut data, t, objective);
        }
        if let Some((hw, wls)) = &context {
            let chosen = search_t
                .and_then(|t| meta::<Vec<Value>>(t, "headline"))
                .and_then(|h| {
                    h.first()
                        .and_then(|h| serde_json::from_value(h["best"].clone()).ok())
                })
                .or_else(|| search_t.and_then(|t| candidates::arch_at(t, 0).ok()));
            if let (Some(arch), Some(wl)) = (chosen, wls.first()) {
                fill_ops(&mut data, &arch, hw, wl);
            }
        }
        // Every reported fit, named by its stage (`report law_fit, params_fit`).
        for name in reported {
            if let Some(v) = outputs
                .get(name)
                .filter(|a| a.kind == fit::KIND)
                .and_then(|a| a.as_json())
            {
                fill_fit(&mut data, name, v);
            }
        }
        if let Some(v) = calibrations.first() {
            fill_calibration(&mut data, &v["hardware"], &v["extra"]["calibration"]);
        }
        // Training runs are kind `runs` and timings `measurements` (those
        // stages are behind a feature, so their constants are not named here).
        for t in of_kind("runs").iter().filter_map(|a| a.as_table()) {
            fill_trained(&mut data, t)?;
        }
        for t in of_kind("measurements").iter().filter_map(|a| a.as_table()) {
            fill_measured_latency(&mut data, t)?;
        }
        let _ = search::KIND;
        write_report(dir, &data).map_err(|e| e.to_string())
    }
}
