//! Budgets: constraints on a design's latency, memory and size, checked
//! with signed margins.
//!
//! Presets come from the paper's Table 2. Its embodied-AI row says "decode
//! < 20 ms"; we read that as the time per generated token
//! (`latency.per_token`), because the row's rationale is real-time
//! interaction — a control loop that must emit each step within 20 ms — and
//! because with the paper's 16-token workload a 20 ms bound on the whole
//! decode phase would be a 1.25 ms per-token bound, far below what the
//! paper's own Orin frontiers reach. Write `latency.decode < 20 ms` in a
//! budget block for the other reading.
use rooflaw_dsl::diagnostic::did_you_mean;
use rooflaw_dsl::schema::BUDGET_METRICS;
use rooflaw_dsl::spec::{self, CmpOp};
use rooflaw_dsl::{Code, Diagnostic, Dim, Quantity};
use serde::{Deserialize, Serialize};

use crate::hardware::Hardware;
use crate::runtime::{BandPhase, Runtime};

/// A metric a budget can constrain (the language's `BUDGET_METRICS`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Metric {
    Prefill,
    Ttft,
    Decode,
    PerToken,
    Total,
    Memory,
    Params,
    ParamsActive,
    Throughput,
}

impl Metric {
    pub const ALL: [Metric; 9] = [
        Metric::Prefill,
        Metric::Ttft,
        Metric::Decode,
        Metric::PerToken,
        Metric::Total,
        Metric::Memory,
        Metric::Params,
        Metric::ParamsActive,
        Metric::Throughput,
    ];

    /// The name used in the language, e.g. `latency.total`.
    pub fn name(self) -> &'static str {
        BUDGET_METRICS[self as usize].0
    }

    pub fn dim(self) -> Dim {
        BUDGET_METRICS[self as usize].1
    }

    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|m| m.name() == name)
    }

    /// A time, or a rate derived from one: what a prediction's error band
    /// widens.
    pub fn is_latency(self) -> bool {
        !matches!(self, Metric::Memory | Metric::Params | Metric::ParamsActive)
    }
}

/// What a Pareto frontier or a headline comparison measures latency by.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Objective {
    Prefill,
    Decode,
    Total,
    PerToken,
    Memory,
}

impl Objective {
    pub const NAMES: &[&str] = &["prefill", "decode", "total", "per_token", "memory"];

    pub fn from_name(s: &str) -> Option<Self> {
        Some(match s {
            "prefill" => Self::Prefill,
            "decode" => Self::Decode,
            "total" => Self::Total,
            "per_token" => Self::PerToken,
            "memory" => Self::Memory,
            _ => return None,
        })
    }

    pub fn metric(self) -> Metric {
        match self {
            Self::Prefill => Metric::Prefill,
            Self::Decode => Metric::Decode,
            Self::Total => Metric::Total,
            Self::PerToken => Metric::PerToken,
            Self::Memory => Metric::Memory,
        }
    }
}

/// A design's measured or predicted figures, in SI units (seconds, bytes,
/// tokens/s). The caller fills it from the roofline summary and the
/// architecture's parameter counts.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Metrics {
    pub prefill_s: f64,
    /// Time to first token.
    pub ttft_s: f64,
    /// The whole decode phase.
    pub decode_s: f64,
    pub per_token_s: f64,
    pub total_s: f64,
    pub memory_bytes: f64,
    pub params: f64,
    pub params_active: f64,
    /// Generated tokens per second.
    pub throughput: f64,
}

impl Metrics {
    /// The figures of one roofline evaluation.
    pub fn from_summary(s: &crate::roofline::Summary) -> Self {
        Self {
            prefill_s: s.prefill,
            ttft_s: s.ttft,
            decode_s: s.decode,
            per_token_s: s.decode_per_token,
            total_s: s.total,
            memory_bytes: s.memory_bytes,
            params: s.params_total as f64,
            params_active: s.params_active as f64,
            throughput: s.tokens_per_s,
        }
    }

    pub fn get(&self, m: Metric) -> f64 {
        match m {
            Metric::Prefill => self.prefill_s,
            Metric::Ttft => self.ttft_s,
            Metric::Decode => self.decode_s,
            Metric::PerToken => self.per_token_s,
            Metric::Total => self.total_s,
            Metric::Memory => self.memory_bytes,
            Metric::Params => self.params,
            Metric::ParamsActive => self.params_active,
            Metric::Throughput => self.throughput,
        }
    }

    pub fn objective(&self, o: Objective) -> f64 {
        self.get(o.metric())
    }
}

/// How far real latency may lie from a prediction at a budget's
/// confidence `c`: per phase, the cross-validated measured / predicted
/// ratio at the `c` quantile of the runtime's band (`slow`) and at the
/// `1 − c` quantile (`fast`).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Spread {
    pub prefill: Sides,
    pub decode: Sides,
    /// Both phases' bands were cross-validated for this runtime on this
    /// memory class (otherwise they are the widest band of any profile).
    pub calibrated: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Sides {
    pub fast: f64,
    pub slow: f64,
}

impl Spread {
    /// `runtime` on `hw` at `confidence` (in (0, 1)).
    pub fn new(runtime: &Runtime, hw: &Hardware, confidence: f64) -> Spread {
        let phase = |p: BandPhase| {
            let c = runtime.coverage(hw, p);
            let b = c.band();
            (
                Sides {
                    fast: b.quantile(1.0 - confidence),
                    slow: b.quantile(confidence),
                },
                c.is_calibrated(),
            )
        };
        let (prefill, pc) = phase(BandPhase::Prefill);
        let (decode, dc) = phase(BandPhase::Decode);
        Spread {
            prefill,
            decode,
            calibrated: pc && dc,
        }
    }

    /// The figures at one end of their bands: each phase's time scaled by
    /// its ratio, and what derives from them. The total adds the phases'
    /// ends — the whole band's end if one device's prefill and decode err
    /// alike, which the calibration set shows they mostly do; a little wide
    /// otherwise.
    pub fn apply(&self, m: &Metrics, slow: bool) -> Metrics {
        let pick = |s: Sides| if slow { s.slow } else { s.fast };
        let (p, d) = (pick(self.prefill), pick(self.decode));
        let prefill_s = m.prefill_s * p;
        let decode_s = m.decode_s * d;
        let total_s = prefill_s + decode_s + (m.total_s - m.prefill_s - m.decode_s);
        Metrics {
            prefill_s,
            // A prompt-less workload's first token is a decode step.
            ttft_s: prefill_s + (m.ttft_s - m.prefill_s) * d,
            decode_s,
            per_token_s: m.per_token_s * d,
            total_s,
            throughput: m.throughput * m.total_s / total_s,
            ..*m
        }
    }
}

/// One bound: `metric op bound`.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Limit {
    pub metric: Metric,
    pub op: CmpOp,
    /// SI units.
    pub bound: f64,
}

impl Limit {
    /// Whether a slower design is the one that risks breaking this limit:
    /// an upper bound on a time, a lower bound on a rate.
    fn fears_slow(&self) -> bool {
        matches!(self.op, CmpOp::Lt | CmpOp::Le) != (self.metric == Metric::Throughput)
    }

    /// Signed slack: positive when satisfied, by how much; negative when
    /// violated. For `==` it is 0 when it holds and −|value − bound| when not;
    /// for `!=` |value − bound| (0 means violated).
    pub fn margin(&self, value: f64) -> f64 {
        match self.op {
            CmpOp::Lt | CmpOp::Le => self.bound - value,
            CmpOp::Gt | CmpOp::Ge => value - self.bound,
            CmpOp::Eq => -(value - self.bound).abs(),
            CmpOp::Ne => (value - self.bound).abs(),
        }
    }
}

impl std::fmt::Display for Limit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let q = Quantity::new(self.bound, self.metric.dim());
        write!(f, "{} {} {q}", self.metric.name(), self.op.symbol())
    }
}

/// How one limit fared for one design.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Check {
    pub limit: Limit,
    /// The figure held to the limit: the prediction, or under a confident
    /// budget the end of its band that risks the limit.
    pub value: f64,
    pub holds: bool,
    /// Signed slack in the metric's unit (see [`Limit::margin`]).
    pub margin: f64,
    /// `margin / |bound|` (0 when the bound is 0).
    pub relative: f64,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Feasibility {
    pub feasible: bool,
    /// One per limit, in the budget's order.
    pub checks: Vec<Check>,
}

impl Feasibility {
    pub fn violations(&self) -> impl Iterator<Item = &Check> {
        self.checks.iter().filter(|c| !c.holds)
    }
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Budget {
    pub name: String,
    pub limits: Vec<Limit>,
    /// `confidence = 0.9`: the latency limits must hold for that share of
    /// real runs, so each latency is checked at that quantile of its
    /// prediction's cross-validated band (the `1 − c` quantile for a lower
    /// bound), not at the prediction. Memory and parameter limits are exact.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub confidence: Option<f64>,
    /// The band ends `confidence` picks for the runtime and hardware the
    /// designs were predicted for ([`Budget::under`]). A confident budget
    /// checked without them holds designs to their predictions.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub spread: Option<Spread>,
}

/// A named budget from the paper's Table 2.
pub struct Preset {
    pub name: &'static str,
    pub application: &'static str,
    pub limits: &'static [Limit],
    /// Where the number comes from and how we read it.
    pub source: &'static str,
}

pub const PRESETS: &[Preset] = &[
    Preset {
        name: "embodied-ai",
        application: "Embodied AI: real-time interaction",
        limits: &[Limit {
            metric: Metric::PerToken,
            op: CmpOp::Lt,
            bound: 0.020,
        }],
        source: "arXiv 2602.10377 Table 2 (\"< 20 ms (decode)\"), read as per generated token",
    },
    Preset {
        name: "smart-home",
        application: "Smart home: conversational response",
        limits: &[Limit {
            metric: Metric::Total,
            op: CmpOp::Lt,
            bound: 0.5,
        }],
        source: "arXiv 2602.10377 Table 2 (\"< 500 ms (total)\")",
    },
    Preset {
        name: "autonomous-driving",
        application: "Autonomous driving: safety-critical decisions",
        limits: &[Limit {
            metric: Metric::Total,
            op: CmpOp::Lt,
            bound: 0.1,
        }],
        source: "arXiv 2602.10377 Table 2 (\"< 100 ms (total)\")",
    },
    Preset {
        name: "private-serving",
        application: "Private serving: quality-focused, on-device",
        limits: &[Limit {
            metric: Metric::Total,
            op: CmpOp::Lt,
            bound: 2.0,
        }],
        source: "arXiv 2602.10377 Table 2 (\"< 2 s (total)\")",
    },
];

pub fn preset(name: &str) -> Option<&'static Preset> {
    PRESETS.iter().find(|p| p.name == name)
}

impl Budget {
    pub fn from_preset(p: &Preset) -> Self {
        Self {
            name: p.name.to_string(),
            limits: p.limits.to_vec(),
            ..Self::default()
        }
    }

    /// This budget for designs predicted with `runtime` on `hw`: a
    /// confident budget takes its band ends from their profile.
    #[must_use]
    pub fn under(&self, runtime: &Runtime, hw: &Hardware) -> Budget {
        Budget {
            spread: self.confidence.map(|c| Spread::new(runtime, hw, c)),
            ..self.clone()
        }
    }

    /// The figure `l` is checked against.
    fn value(&self, l: &Limit, m: &Metrics) -> f64 {
        match self.spread {
            Some(s) if l.metric.is_latency() => s.apply(m, l.fears_slow()).get(l.metric),
            _ => m.get(l.metric),
        }
    }

    /// Resolve a budget block: the preset's limits, then the block's own.
    /// A block constraint on a metric the preset also bounds replaces the
    /// preset's limits on that metric, so `from "smart-home" { latency.total
    /// < 800 ms }` relaxes the preset rather than being silently shadowed by
    /// its tighter bound.
    pub fn from_spec(b: &spec::Budget) -> Result<Self, Vec<Diagnostic>> {
        let mut diags = Vec::new();
        let mut limits = Vec::new();
        if let Some(p) = &b.preset {
            if let Some(pr) = preset(&p.node) {
                limits.extend_from_slice(pr.limits);
            } else {
                {
                    let mut d = Diagnostic::error(
                        Code::UnknownPreset,
                        format!("unknown budget preset `{}`", p.node),
                    )
                    .at(p.span, "no such budget preset");
                    d = match did_you_mean(&p.node, PRESETS.iter().map(|p| p.name)) {
                        Some(s) => d.help(format!("did you mean `{s}`?")),
                        None => d.help(format!(
                            "budget presets: {}",
                            PRESETS
                                .iter()
                                .map(|p| p.name)
                                .collect::<Vec<_>>()
                                .join(", ")
                        )),
                    };
                    diags.push(d);
                }
            }
        }
        let mut own = Vec::new();
        for c in &b.constraints {
            let Some(metric) = Metric::from_name(&c.metric.node) else {
                let mut d = Diagnostic::error(
                    Code::UnknownMetric,
                    format!("unknown budget metric `{}`", c.metric.node),
                )
                .at(c.metric.span, "not a budget metric");
                if let Some(s) = did_you_mean(&c.metric.node, Metric::ALL.map(Metric::name)) {
                    d = d.help(format!("did you mean `{s}`?"));
                }
                diags.push(d);
                continue;
            };
            if c.bound.node.dim != metric.dim() {
                diags.push(
                    Diagnostic::error(
                        Code::Dimension,
                        format!(
                            "`{}` is {}, but the bound is {}",
                            metric.name(),
                            metric.dim().describe(),
                            c.bound.node.dim.describe()
                        ),
                    )
                    .at(c.bound.span, "wrong dimension")
                    .help(format!("use {}", metric.dim().example_units())),
                );
                continue;
            }
            if !c.bound.node.value.is_finite() {
                diags.push(
                    Diagnostic::error(Code::Bound, "a budget bound must be a finite number")
                        .at(c.bound.span, ""),
                );
                continue;
            }
            own.push(Limit {
                metric,
                op: c.op,
                bound: c.bound.node.value,
            });
        }
        limits.retain(|l: &Limit| !own.iter().any(|o| o.metric == l.metric));
        limits.extend(own);
        if let Some(c) = &b.confidence {
            confident(b, c, &limits, &mut diags);
        }
        if !diags.is_empty() {
            return Err(diags);
        }
        Ok(Self {
            name: b.name.node.clone(),
            limits,
            confidence: b.confidence.as_ref().map(|c| c.node),
            spread: None,
        })
    }

    /// Check every limit; an unknown (NaN) value never satisfies one.
    pub fn check(&self, m: &Metrics) -> Feasibility {
        let checks: Vec<Check> = self
            .limits
            .iter()
            .map(|l| {
                let value = self.value(l, m);
                let margin = l.margin(value);
                Check {
                    limit: *l,
                    value,
                    holds: !value.is_nan() && l.op.holds(value, l.bound),
                    margin,
                    relative: if l.bound == 0.0 {
                        0.0
                    } else {
                        margin / l.bound.abs()
                    },
                }
            })
            .collect();
        Feasibility {
            feasible: checks.iter().all(|c| c.holds),
            checks,
        }
    }

    /// Cheaper than [`Budget::check`] when only the verdict is needed.
    pub fn admits(&self, m: &Metrics) -> bool {
        self.limits.iter().all(|l| {
            let v = self.value(l, m);
            !v.is_nan() && l.op.holds(v, l.bound)
        })
    }
}

/// A confidence needs a latency limit to act on, bounded from one side.
fn confident(
    b: &spec::Budget,
    c: &rooflaw_dsl::Spanned<f64>,
    limits: &[Limit],
    diags: &mut Vec<Diagnostic>,
) {
    if !limits.iter().any(|l| l.metric.is_latency()) {
        diags.push(
            Diagnostic::error(
                Code::Misplaced,
                format!(
                    "budget `{}` has a confidence but no latency limit for it to hold",
                    b.name.node
                ),
            )
            .at(c.span, "applies to latency limits only")
            .help("memory and parameter counts are exact; add a latency limit such as `latency.total <= 100 ms`, or drop `confidence`"),
        );
    }
    for con in &b.constraints {
        let latency = Metric::from_name(&con.metric.node).is_some_and(Metric::is_latency);
        if latency && matches!(con.op, CmpOp::Eq | CmpOp::Ne) {
            diags.push(
                Diagnostic::error(
                    Code::Misplaced,
                    format!(
                        "a confident budget bounds `{}` from one side, not with `{}`",
                        con.metric.node,
                        con.op.symbol()
                    ),
                )
                .at(con.span, "no band end to hold")
                .also(c.span, "confidence set here")
                .help("write `<=` or `>=`"),
            );
        }
    }
}
