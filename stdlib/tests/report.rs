//! End-to-end checks of the report writer: well-formed SVG with the frontier
//! in it, a self-contained HTML page, CSV and JSON that load back, and the
//! million-candidate budget.
use std::path::{Path, PathBuf};
use std::time::Instant;

use rooflaw_stdlib::report::{
    Bound, BudgetLine, CalibrationRow, Coefficient, Compared, Figures, FitPoint, FitView, Frontier,
    FrontierPoint, HardwareInfo, Headline, LatencyBand, Marked, OpPoint, Point, ReportData,
    ReportError, SearchView, TopRow, render_figures, write_report,
};

/// Deterministic pseudo-random numbers in `[0, 1)` (`SplitMix64`), so the sample
/// is the same on every machine without a rand dependency.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> f64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        ((z ^ (z >> 31)) >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// Candidates shaped like a real sweep: latency grows with parameters,
/// loss falls as a power law of them with shape noise; int8 is faster and a
/// little worse.
fn candidates(n: usize, seed: u64) -> Vec<Point> {
    let mut rng = Rng(seed);
    (0..n)
        .map(|i| {
            let int8 = i % 2 == 1;
            let params = 10f64.powf(7.0 + 2.3 * rng.next());
            let shape = 1.0 + 0.6 * rng.next();
            let latency_s =
                params * 2.0 / 204.8e9 * shape * if int8 { 0.55 } else { 1.0 } * 1e3 / 16.0;
            let loss = 1.9
                + 420.0 / params.powf(0.34) * (1.0 + 0.25 * rng.next())
                + if int8 { 0.03 } else { 0.0 };
            Point {
                latency_s,
                loss,
                group: if int8 { "int8" } else { "fp16" }.into(),
                label: format!("d{i}"),
            }
        })
        .collect()
}

/// The exact non-dominated set per group, by sorting (the test's own
/// reference, independent of the renderer).
fn frontiers(points: &[Point]) -> Vec<Frontier> {
    ["fp16", "int8"]
        .iter()
        .map(|g| {
            let mut pts: Vec<&Point> = points.iter().filter(|p| p.group == *g).collect();
            pts.sort_by(|a, b| {
                a.latency_s
                    .total_cmp(&b.latency_s)
                    .then(a.loss.total_cmp(&b.loss))
            });
            let mut best = f64::INFINITY;
            let mut out = Vec::new();
            for p in pts {
                if p.loss < best {
                    best = p.loss;
                    // A llama.cpp-like band: 0.9–1.28 of the prediction.
                    out.push(FrontierPoint {
                        latency_s: p.latency_s,
                        loss: p.loss,
                        label: p.label.clone(),
                        band_s: Some((p.latency_s * 0.9, p.latency_s * 1.28)),
                    });
                }
            }
            Frontier {
                group: (*g).into(),
                points: out,
            }
        })
        .collect()
}

// Test data reads best as one literal.
#[allow(clippy::too_many_lines)]
fn sample(n: usize) -> ReportData {
    let candidates = candidates(n, 42);
    let frontiers = frontiers(&candidates);
    let chosen = frontiers[0].points[frontiers[0].points.len() * 2 / 3].clone();
    let mut rng = Rng(7);
    let fit_points: Vec<FitPoint> = (0..24)
        .map(|i| {
            let measured = 2.6 + 1.2 * rng.next();
            FitPoint {
                measured,
                predicted: measured + 0.05 * (rng.next() - 0.5),
                heldout: i % 4 == 0,
                label: format!("run{i}"),
            }
        })
        .collect();
    let val_points: Vec<FitPoint> = (0..16)
        .map(|i| {
            let measured = 10f64.powf(-2.5 + 2.0 * rng.next());
            FitPoint {
                measured,
                predicted: measured * (0.8 + 0.3 * rng.next()),
                heldout: i % 3 == 0,
                label: String::new(),
            }
        })
        .collect();
    let peak = 85e12;
    let bw = 204.8e9;
    let mut ops = Vec::new();
    for (phase, tokens) in [("prefill", 1024.0), ("decode", 1.0)] {
        for (name, flop_per_weight_byte, bytes) in [
            ("qkv_proj", 1.0, 3.0e6),
            ("attn_out", 1.0, 2.0e6),
            ("attention", 0.5, 4.0e6),
            ("ffn_up", 1.0, 8.0e6),
            ("ffn_gate", 1.0, 8.0e6),
            ("ffn_down", 1.0, 8.0e6),
            ("lm_head", 1.0, 64.0e6),
            ("rmsnorm", 0.002, 1.0e5),
        ] {
            let intensity: f64 = flop_per_weight_byte * tokens;
            let achieved = (bw * intensity).min(peak) * 0.7;
            let flops = intensity * bytes;
            ops.push(OpPoint {
                phase: phase.into(),
                name: name.into(),
                intensity,
                achieved_flops: achieved,
                time_s: flops / achieved,
                bound: if bw * intensity < peak {
                    Bound::Memory
                } else {
                    Bound::Compute
                },
            });
        }
    }
    let top = (0..5)
        .map(|k| {
            let p = &frontiers[0].points[frontiers[0].points.len() * 2 / 3 - k];
            TopRow {
                rank: k as u32 + 1,
                label: p.label.clone(),
                group: "fp16".into(),
                layers: 12 + k as u32 * 2,
                width: 768,
                heads: 12,
                kv_heads: 4,
                ffn_ratio: 2.5,
                experts: if k == 2 { 8 } else { 1 },
                top_k: if k == 2 { 2 } else { 1 },
                params: 1.2e8 + k as f64 * 1e7,
                prefill_s: p.latency_s * 0.7,
                decode_s: p.latency_s * 0.3,
                total_s: p.latency_s,
                memory_bytes: 2.4e8,
                loss: p.loss,
                ppl: p.loss.exp(),
                band: Some(LatencyBand {
                    prefill_s: (p.latency_s * 0.7 * 0.84, p.latency_s * 0.7 * 1.76),
                    decode_s: (p.latency_s * 0.3 * 0.9, p.latency_s * 0.3 * 1.28),
                    total_s: (
                        p.latency_s * (0.7 * 0.84 + 0.3 * 0.9),
                        p.latency_s * (0.7 * 1.76 + 0.3 * 1.28),
                    ),
                    calibrated: k != 4,
                }),
                latency_margin_s: Some(0.5 - p.latency_s),
                loss_margin: Some(p.loss - chosen.loss),
            }
        })
        .collect();
    ReportData {
        title: "rooflaw sample report".into(),
        pipeline: "pipelines/sample.pipeline".into(),
        hardware: HardwareInfo {
            name: "Jetson AGX Orin 64GB".into(),
            compute_dtype: "fp16".into(),
            peak_flops: peak,
            bandwidth: bw,
            memory: 64e9,
        },
        workload: "batch 1, 1024 prompt + 16 generated tokens, fp16 and int8".into(),
        objective: "total latency".into(),
        budgets: vec![
            BudgetLine {
                name: "autonomous driving".into(),
                latency_s: 0.1,
            },
            BudgetLine {
                name: "smart home".into(),
                latency_s: 0.5,
            },
            BudgetLine {
                name: "private serving".into(),
                latency_s: 2.0,
            },
        ],
        baselines: vec![Marked {
            label: "Qwen2.5-0.5B".into(),
            latency_s: chosen.latency_s,
            loss: chosen.loss + 0.12,
        }],
        chosen: Some(Marked {
            label: chosen.label.clone(),
            latency_s: chosen.latency_s,
            loss: chosen.loss,
        }),
        searches: vec![SearchView {
            stage: "best".into(),
            objective: "total latency".into(),
            limit: "budget `smart home` (latency.total <= 500 ms)".into(),
            headline: Some(Headline {
                design: chosen.label.clone(),
                precision: "fp16".into(),
                figures: Figures {
                    latency_s: chosen.latency_s,
                    memory_bytes: 2.4e8,
                    loss: chosen.loss,
                    ppl: chosen.loss.exp(),
                },
                baselines: vec![Compared {
                    name: "Qwen2.5-0.5B".into(),
                    figures: Figures {
                        latency_s: chosen.latency_s,
                        memory_bytes: 3e8,
                        loss: chosen.loss + 0.12,
                        ppl: (chosen.loss + 0.12).exp(),
                    },
                }],
            }),
            empty: None,
            top,
            feasible: 900,
            searched: 1000,
            searched_what: "every design".into(),
        }],
        candidates,
        frontiers,
        roofline_ops: ops,
        fits: vec![FitView {
            name: "law_fit".into(),
            points: fit_points,
            r2_train: Some(0.975),
            r2_holdout: Some(0.952),
            coefficients: vec![
                Coefficient {
                    name: "E".into(),
                    value: 1.69,
                    ci_low: Some(1.6),
                    ci_high: Some(1.75),
                },
                Coefficient {
                    name: "alpha".into(),
                    value: 0.34,
                    ci_low: None,
                    ci_high: None,
                },
            ],
        }],
        validation: Some(FitView {
            name: "cal".into(),
            points: val_points,
            r2_train: Some(0.91),
            r2_holdout: None,
            coefficients: vec![],
        }),
        calibration: vec![CalibrationRow {
            split: "held out".into(),
            phase: "decode".into(),
            n: 17,
            median_before: 48.25,
            median_after: 7.5,
            mape_before: 51.0,
            mape_after: 9.0,
            spearman_before: Some(0.91),
            spearman_after: None,
        }],
        trained: Vec::new(),
        notes: vec!["Synthetic sample data for the report tests <not a result>.".into()],
        counts: None,
        binary_sizes: false,
        advice: Vec::new(),
    }
}

fn read(p: &Path) -> String {
    std::fs::read_to_string(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

fn by_id<'a, 'i>(doc: &'a roxmltree::Document<'i>, id: &str) -> roxmltree::Node<'a, 'i> {
    doc.descendants()
        .find(|n| n.attribute("id") == Some(id))
        .unwrap_or_else(|| panic!("no element with id {id}"))
}

#[test]
fn svgs_parse_and_hold_every_frontier_point() {
    let data = sample(20_000);
    let dir = tempfile::tempdir().unwrap();
    let written = write_report(dir.path(), &data).unwrap();
    let svgs: Vec<&PathBuf> = written
        .iter()
        .filter(|p| p.extension().is_some_and(|e| e == "svg"))
        .collect();
    let names: Vec<_> = svgs
        .iter()
        .map(|p| p.file_name().unwrap().to_str().unwrap())
        .collect();
    assert_eq!(
        names,
        [
            "loss_latency.svg",
            "roofline.svg",
            "fit_loss.svg",
            "validation_latency.svg"
        ]
    );
    for p in &svgs {
        let text = read(p);
        roxmltree::Document::parse(&text).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
    }

    let text = read(&dir.path().join("loss_latency.svg"));
    let doc = roxmltree::Document::parse(&text).unwrap();
    for f in &data.frontiers {
        let g = by_id(&doc, &format!("frontier-{}", f.group));
        let circles: Vec<_> = g.children().filter(|n| n.has_tag_name("circle")).collect();
        assert_eq!(circles.len(), f.points.len(), "frontier {}", f.group);
        assert_eq!(
            g.attribute("data-points"),
            Some(f.points.len().to_string().as_str())
        );
        // Each frontier point also survives thinning in the candidate cloud,
        // at the very same pixel.
        let cloud = by_id(&doc, &format!("candidates-{}", f.group))
            .attribute("d")
            .unwrap();
        for c in circles {
            let dot = format!(
                "M{} {}h0",
                c.attribute("cx").unwrap(),
                c.attribute("cy").unwrap()
            );
            assert!(
                cloud.contains(&dot),
                "frontier point {dot} missing from the {} cloud",
                f.group
            );
        }
        let step = by_id(&doc, &format!("frontier-step-{}", f.group))
            .attribute("d")
            .unwrap();
        assert_eq!(step.matches('H').count(), f.points.len() - 1);
    }
    for id in ["baseline", "chosen"] {
        by_id(&doc, id);
    }
    let budgets = doc
        .descendants()
        .filter(|n| n.attribute("class") == Some("budget"))
        .count();
    assert_eq!(budgets, 3);

    let roof = read(&dir.path().join("roofline.svg"));
    let doc = roxmltree::Document::parse(&roof).unwrap();
    by_id(&doc, "roof");
    let marks: usize = ["ops-prefill", "ops-decode"]
        .iter()
        .map(|id| by_id(&doc, id).children().count())
        .sum();
    assert_eq!(marks, data.roofline_ops.len());
    assert!(
        roof.contains(">10 T<") && roof.contains(">100 G<"),
        "ticks in engineering notation"
    );
    assert!(roof.contains(">peak 85 TFLOP/s (fp16)<"));
}

#[test]
fn html_is_self_contained_with_svgs_and_top_table() {
    let data = sample(5_000);
    let dir = tempfile::tempdir().unwrap();
    write_report(dir.path(), &data).unwrap();
    let html = read(&dir.path().join("index.html"));
    assert_eq!(html.matches("<svg ").count(), 4, "every figure inline");
    assert!(html.contains("id=\"frontier-fp16\""));
    assert!(!html.contains("<script"));
    assert!(!html.contains("<img"));
    let external = html.replace("http://www.w3.org/2000/svg", "");
    assert!(
        !external.contains("http://") && !external.contains("https://"),
        "no external URL"
    );
    let table = &html[html.find("<table id=\"top\"").unwrap()..];
    let table = &table[..table.find("</table>").unwrap()];
    let top = &data.searches[0].top;
    assert_eq!(table.matches("<tr>").count(), top.len() + 1);
    assert!(table.contains(&format!("<td>{}</td>", top[0].label)));
    assert!(html.contains("&lt;not a result&gt;"), "notes are escaped");
    assert!(html.contains("id=\"coefficients\""));
    let table = &html[html.find("<table id=\"calibration\"").unwrap()..];
    let table = &table[..table.find("</table>").unwrap()];
    assert!(
        table.contains("<td class=\"n\">48.2%</td><td class=\"n\">7.5%</td><td class=\"n\">0.910</td><td class=\"n\">–</td>"),
        "{table}"
    );

    let md = read(&dir.path().join("summary.md"));
    assert!(
        md.contains("| held out | decode | 17 | 48.2% | 7.5% | 0.910 | – |"),
        "{md}"
    );
    assert!(md.contains("![Loss against latency](loss_latency.svg)"));
    assert!(md.contains("![Roofline of the chosen design](roofline.svg)"));
    assert!(md.contains("| 1 | d"), "top table row");
    assert!(md.contains("% lower perplexity"));
}

#[test]
fn csv_and_json_load_back() {
    let data = sample(3_000);
    let dir = tempfile::tempdir().unwrap();
    write_report(dir.path(), &data).unwrap();

    let mut r = csv::Reader::from_path(dir.path().join("candidates.csv")).unwrap();
    assert_eq!(
        r.headers().unwrap(),
        vec!["group", "label", "latency_ms", "loss"]
    );
    let rows: Vec<(String, String, f64, f64)> = r.deserialize().map(Result::unwrap).collect();
    assert_eq!(rows.len(), data.candidates.len());
    for (row, c) in rows.iter().zip(&data.candidates) {
        assert_eq!((&row.0, &row.1), (&c.group, &c.label));
        assert!((row.2 / 1e3 - c.latency_s).abs() <= 1e-15 * c.latency_s.max(1.0));
        assert_eq!(row.3.to_bits(), c.loss.to_bits(), "loss written exactly");
    }

    let mut r = csv::Reader::from_path(dir.path().join("frontier.csv")).unwrap();
    let n = r.records().count();
    assert_eq!(
        n,
        data.frontiers.iter().map(|f| f.points.len()).sum::<usize>()
    );

    let mut r = csv::Reader::from_path(dir.path().join("top.csv")).unwrap();
    let headers = r.headers().unwrap().clone();
    for col in [
        "rank",
        "params_m",
        "prefill_ms",
        "decode_ms",
        "total_ms",
        "memory_gb",
        "loss",
        "ppl",
    ] {
        assert!(
            headers.iter().any(|h| h == col),
            "top.csv lacks {col}: {headers:?}"
        );
    }
    let first = r.records().next().unwrap().unwrap();
    let memory_gb: f64 = first[headers.iter().position(|h| h == "memory_gb").unwrap()]
        .parse()
        .unwrap();
    assert!((memory_gb - 0.24).abs() < 1e-12);

    let json: serde_json::Value =
        serde_json::from_str(&read(&dir.path().join("report.json"))).unwrap();
    assert_eq!(json["candidate_count"], 3_000);
    assert_eq!(json["candidates_file"], "candidates.csv");
    assert_eq!(json["searches"][0]["top"][0]["rank"], 1);
    assert_eq!(
        json["roofline_ops"][0]["bound"], "compute",
        "prefill projection at I = 1024"
    );
    assert_eq!(
        json["roofline_ops"][8]["bound"], "memory",
        "decode projection at I = 1"
    );
    let frontier: Vec<Frontier> = serde_json::from_value(json["frontiers"].clone()).unwrap();
    // serde_json's default parser may be 1 ulp off (no float_roundtrip
    // feature); the text itself is shortest-round-trip.
    let close = |a: f64, b: f64| (a - b).abs() <= 4.0 * f64::EPSILON * a.abs();
    assert_eq!(frontier.len(), data.frontiers.len());
    for (got, want) in frontier.iter().zip(&data.frontiers) {
        assert_eq!(
            (&got.group, got.points.len()),
            (&want.group, want.points.len())
        );
        for (g, w) in got.points.iter().zip(&want.points) {
            assert!(g.label == w.label && close(g.latency_s, w.latency_s) && close(g.loss, w.loss));
        }
    }
}

#[test]
fn a_million_candidates_render_fast_and_small() {
    let data = sample(1_000_000);
    let t = Instant::now();
    let figs = render_figures(&data).unwrap();
    let elapsed = t.elapsed();
    let ll = &figs[0];
    eprintln!(
        "1,000,000 candidates: loss_latency.svg {} bytes, rendered in {elapsed:?}",
        ll.svg.len()
    );
    assert!(elapsed.as_secs_f64() < 1.0, "render took {elapsed:?}");
    assert!(ll.svg.len() < 2_000_000, "svg is {} bytes", ll.svg.len());
    assert!(ll.caption.contains("1,000,000 designs"), "{}", ll.caption);
    roxmltree::Document::parse(&ll.svg).unwrap();
}

#[test]
fn bad_numbers_are_errors_naming_the_item() {
    let mut data = sample(100);
    data.candidates[17].loss = f64::NAN;
    let err = write_report(Path::new("/nonexistent-never-written"), &data).unwrap_err();
    assert!(matches!(err, ReportError::Invalid(_)));
    assert!(
        err.to_string().contains("candidate 17 ('d17') loss"),
        "{err}"
    );

    let mut data = sample(100);
    data.roofline_ops[0].intensity = 0.0;
    let err = render_figures(&data).err().unwrap();
    assert!(
        err.to_string()
            .contains("operator 'qkv_proj' (prefill) intensity"),
        "{err}"
    );

    let mut data = sample(100);
    data.budgets[0].latency_s = -1.0;
    assert!(
        render_figures(&data)
            .err()
            .unwrap()
            .to_string()
            .contains("log axis")
    );
}

#[test]
fn empty_report_still_renders() {
    let data = ReportData {
        title: "empty".into(),
        ..ReportData::default()
    };
    let dir = tempfile::tempdir().unwrap();
    let written = write_report(dir.path(), &data).unwrap();
    assert!(written[0].ends_with("index.html"));
    // No candidates: no loss–latency plot and no empty candidate tables.
    for absent in ["loss_latency.svg", "candidates.csv", "top.csv"] {
        assert!(!dir.path().join(absent).exists(), "{absent}");
    }
    let md = read(&dir.path().join("summary.md"));
    assert!(!md.contains("Designs"), "{md}");
}

/// Writes the sample report where a person can open it:
/// `$CARGO_TARGET_DIR/report-sample/index.html` (or `target/` at the root).
#[test]
fn sample_report_for_eyes() {
    let target = std::env::var_os("CARGO_TARGET_DIR").map_or_else(
        || Path::new(env!("CARGO_MANIFEST_DIR")).join("../target"),
        PathBuf::from,
    );
    let dir = target.join("report-sample");
    let written = write_report(&dir, &sample(200_000)).unwrap();
    assert!(written.iter().all(|p| p.exists()));
}

#[test]
fn several_fits_get_a_plot_and_a_table_each() {
    let mut data = sample(200);
    let mut second = data.fits[0].clone();
    second.name = "params_fit".into();
    second.coefficients[0].name = "E2".into();
    data.fits.push(second);
    let dir = tempfile::tempdir().unwrap();
    write_report(dir.path(), &data).unwrap();
    for f in [
        "fit_loss_law_fit.svg",
        "fit_loss_params_fit.svg",
        "fit_law_fit.csv",
        "fit_params_fit.csv",
    ] {
        assert!(dir.path().join(f).exists(), "{f}");
    }
    assert!(!dir.path().join("fit_loss.svg").exists());
    let md = read(&dir.path().join("summary.md"));
    assert!(
        md.contains("## Loss law `params_fit`: predicted against measured"),
        "{md}"
    );
    assert!(md.contains("| E2 |") && md.contains("| E |"), "{md}");
    let html = read(&dir.path().join("index.html"));
    assert!(html.contains("id=\"fig-fit-law_fit\"") && html.contains("id=\"fig-fit-params_fit\""));
}

/// The answer's title and sentence state every change with its sign in words,
/// at three significant digits.
#[test]
fn the_headline_says_lower_or_higher_in_words() {
    let mut s = sample(50).searches[0].clone();
    let h = s.headline.as_mut().unwrap();
    h.figures = Figures {
        latency_s: 0.1,
        memory_bytes: 2.0 * 1024.0_f64.powi(3),
        loss: 3.0,
        ppl: 20.0,
    };
    h.baselines[0].figures = Figures {
        latency_s: 0.2,
        memory_bytes: 1024.0_f64.powi(3),
        loss: 2.9,
        ppl: 19.72,
    };
    let design = h.design.clone();
    let (title, body) = rooflaw_stdlib::report::headline_text(&s, true);
    assert_eq!(
        title,
        format!("{design} (fp16): 1.42% higher perplexity than Qwen2.5-0.5B")
    );
    assert!(
        body.contains("1.42% higher perplexity, 50% lower latency, 100% more memory"),
        "{body}"
    );
    assert!(
        body.contains("memory 2 GiB"),
        "sizes in the budget's unit: {body}"
    );
    assert!(!body.contains("-1."), "no sign next to a word: {body}");

    // A search that found nothing says so, with what the designs can reach.
    s.headline = None;
    s.empty = Some("no design meets budget `b` (latency.total <= 1 us): the fastest needs 41 ms (latency.total)".into());
    let (title, body) = rooflaw_stdlib::report::headline_text(&s, true);
    assert_eq!(title, "No design meets budget `b` (latency.total <= 1 us)");
    assert!(
        body.ends_with("the fastest needs 41 ms (latency.total)"),
        "{body}"
    );
}

/// Every search gets its section, headline and table; the first one's
/// answer leads the page.
#[test]
fn every_search_has_a_section() {
    let mut data = sample(50);
    let mut second = data.searches[0].clone();
    second.stage = "for_home".into();
    second.headline = None;
    second.top.clear();
    second.empty = Some("no design meets budget `home`: the fastest needs 41 ms".into());
    data.searches.push(second);
    let dir = tempfile::tempdir().unwrap();
    write_report(dir.path(), &data).unwrap();
    let html = read(&dir.path().join("index.html"));
    assert!(html.contains("id=\"search-best\"") && html.contains("id=\"search-for-home\""));
    assert!(
        html.contains("id=\"headline-for-home\""),
        "the second search's own headline"
    );
    assert!(html.contains("the fastest needs 41 ms"));
    let md = read(&dir.path().join("summary.md"));
    assert!(md.contains("## Top designs of `for_home`"), "{md}");
}
