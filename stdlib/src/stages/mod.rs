//! The stage kinds pipelines can use, registered with the engine. Each stage
//! module is thin glue: resolve arguments into canonical parameters, call the
//! science in the rest of this crate, shape the result as an artifact.
//!
//! The stages that need candle (`train`, `measure`, `probe`) live in
//! `rooflaw-neural`, which adds them to this registry; the helpers they share
//! with the stages here ([`args`], [`candidates`], [`hardware_io`],
//! [`search`]'s chosen designs and the input kinds below) are public for it.
use std::sync::Arc;

use rooflaw_dsl::PresetKind;
use rooflaw_engine::{Contract, Registry};

mod advise;
pub mod args;
mod baseline;
mod calibrate;
pub mod candidates;
mod enumerate;
mod fit;
mod fit_form;
pub mod hardware_io;
mod law;
mod model_file;
mod pareto;
mod refine;
mod reporter;

pub use reporter::headline;
mod roofline;
mod sample;
pub mod search;
mod sleep;
mod workload;

/// Preset names of each kind, for validation and did-you-mean.
fn presets(kind: PresetKind) -> Vec<String> {
    match kind {
        PresetKind::Hardware => crate::hardware::names()
            .into_iter()
            .map(String::from)
            .collect(),
        PresetKind::Model => crate::models::ids().into_iter().map(String::from).collect(),
        PresetKind::Budget => crate::budget::PRESETS
            .iter()
            .map(|p| p.name.to_string())
            .collect(),
        PresetKind::Law => crate::law::presets()
            .iter()
            .map(|p| p.name.to_string())
            .collect(),
        PresetKind::Corpus => vec!["sotu".to_string()],
        PresetKind::Workload => Vec::new(),
    }
}

/// The runs of a CSV that the `measure` stage exported (or `rooflaw measure
/// --format csv` wrote) as calibration samples, and the devices they ran on.
pub fn measured_samples(
    path: &std::path::Path,
) -> Result<(Vec<crate::calibrate::Sample>, String), String> {
    let t = fit::read_csv(path).map_err(|e| e.to_string())?;
    calibrate::samples(&t).map_err(|e| format!("{}: {e}", path.display()))
}

/// Tables with one architecture per row: what `roofline`, `sample`,
/// `train` and `measure` take.
pub const DESIGNS: &[&str] = &[
    candidates::LAZY,
    candidates::TABLE,
    roofline::KIND,
    pareto::KIND,
    search::KIND,
];
const LAW: &[&str] = &[law::KIND];
pub const HARDWARE: &[&str] = &[hardware_io::KIND];
/// Tables of runs: what `fit` and `calibrate` take.
pub const RUNS: &[&str] = &["runs", "measurements"];

/// What each stage kind produces and what its stage inputs take, so
/// `check` rejects `pareto(candidates, law)` on the argument.
const CONTRACTS: &[(&str, Contract)] = &[
    (
        "enumerate",
        Contract {
            produces: candidates::LAZY,
            takes: &[],
        },
    ),
    (
        "sample",
        Contract {
            produces: candidates::TABLE,
            takes: &[("candidates", DESIGNS)],
        },
    ),
    (
        "roofline",
        Contract {
            produces: roofline::KIND,
            takes: &[("candidates", DESIGNS), ("hardware", HARDWARE)],
        },
    ),
    (
        "law",
        Contract {
            produces: law::KIND,
            takes: &[("source", &[fit::KIND])],
        },
    ),
    (
        "pareto",
        Contract {
            produces: pareto::KIND,
            takes: &[("latency", &[roofline::KIND]), ("law", LAW)],
        },
    ),
    (
        "refine",
        Contract {
            produces: pareto::KIND,
            takes: &[("law", LAW), ("hardware", HARDWARE)],
        },
    ),
    (
        "search",
        Contract {
            produces: search::KIND,
            takes: &[("designs", &[pareto::KIND, roofline::KIND]), ("law", LAW)],
        },
    ),
    (
        "advise",
        Contract {
            produces: "advice",
            takes: &[
                ("law", LAW),
                ("best", &[search::KIND]),
                ("hardware", HARDWARE),
            ],
        },
    ),
    (
        "fit",
        Contract {
            produces: fit::KIND,
            takes: &[("runs", RUNS)],
        },
    ),
    (
        "measurements",
        Contract {
            produces: "runs",
            takes: &[],
        },
    ),
    (
        "calibrate",
        Contract {
            produces: hardware_io::KIND,
            takes: &[("measurements", RUNS), ("hardware", HARDWARE)],
        },
    ),
];

/// Every stage kind of this crate (`rooflaw_neural::registry` adds the
/// candle ones).
pub fn registry() -> Registry {
    let mut r = Registry::new(
        presets,
        crate::space::SPACE_FIELDS,
        crate::space::SPACE_BUILTINS,
    );
    r.set_reporter(Arc::new(reporter::HtmlReport));
    r.register(Arc::new(enumerate::Enumerate::new()));
    r.register(Arc::new(sample::Sample::new()));
    r.register(Arc::new(roofline::Roofline::new()));
    r.register(Arc::new(law::LawStage::new()));
    r.register(Arc::new(pareto::Pareto::new()));
    r.register(Arc::new(search::Search::new()));
    r.register(Arc::new(advise::Advise::new()));
    r.register(Arc::new(refine::Refine::new()));
    r.register(Arc::new(fit::Fit::new()));
    r.register(Arc::new(fit::Measurements::new()));
    r.register(Arc::new(calibrate::Calibrate::new()));
    for (kind, contract) in CONTRACTS {
        r.set_contract(kind, *contract);
    }
    if std::env::var_os("ROOFLAW_TEST_STAGES").is_some() {
        r.register(Arc::new(sleep::Sleep::new()));
    }
    r
}
