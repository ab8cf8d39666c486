//! The stage kinds pipelines can use, registered with the engine. Each stage
//! module is thin glue: resolve arguments into canonical parameters, call the
//! science in the rest of this crate, shape the result as an artifact.
use std::sync::Arc;

use rooflaw_dsl::PresetKind;
use rooflaw_engine::{Contract, Registry};

mod advise;
mod args;
mod baseline;
mod calibrate;
pub(crate) mod candidates;
#[cfg(feature = "train")]
mod corpus;
#[cfg(feature = "train")]
mod cost;
mod enumerate;
#[cfg(feature = "train")]
mod executor;
mod fit;
mod fit_form;
mod hardware_io;
mod law;
#[cfg(feature = "train")]
mod measure;
mod model_file;
mod pareto;
#[cfg(feature = "train")]
mod probe;
mod refine;
mod reporter;

pub use reporter::headline;
mod roofline;
mod sample;
mod search;
mod sleep;
#[cfg(feature = "train")]
mod train;
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
const DESIGNS: &[&str] = &[
    candidates::LAZY,
    candidates::TABLE,
    roofline::KIND,
    pareto::KIND,
    search::KIND,
];
const LAW: &[&str] = &[law::KIND];
const HARDWARE: &[&str] = &[hardware_io::KIND];
const RUNS: &[&str] = &["runs", "measurements"];

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
    (
        "train",
        Contract {
            produces: "runs",
            takes: &[("candidates", DESIGNS)],
        },
    ),
    (
        "probe",
        Contract {
            produces: hardware_io::KIND,
            takes: &[],
        },
    ),
    (
        "measure",
        Contract {
            produces: "measurements",
            takes: &[("candidates", DESIGNS)],
        },
    ),
];

/// Every stage kind rooflaw ships.
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
    #[cfg(feature = "train")]
    r.register(Arc::new(train::Train::new()));
    #[cfg(feature = "train")]
    r.register(Arc::new(probe::Probe::new()));
    #[cfg(feature = "train")]
    r.register(Arc::new(measure::Measure::new()));
    for (kind, contract) in CONTRACTS {
        r.set_contract(kind, *contract);
    }
    if std::env::var_os("ROOFLAW_TEST_STAGES").is_some() {
        r.register(Arc::new(sleep::Sleep::new()));
    }
    r
}
