//! The stage kinds that need candle, added to `rooflaw-stdlib`'s registry.
use std::sync::Arc;

use rooflaw_engine::{Contract, Registry};
use rooflaw_stdlib::stages::{DESIGNS, hardware_io};

mod corpus;
mod cost;
mod executor;
mod measure;

pub use measure::table as measurements_table;
mod probe;
mod train;

/// What each stage kind here produces and what its inputs take.
const CONTRACTS: &[(&str, Contract)] = &[
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

/// Every stage kind rooflaw ships: `rooflaw-stdlib`'s and `train`,
/// `measure` and `probe`.
pub fn registry() -> Registry {
    let mut r = rooflaw_stdlib::registry();
    r.register(Arc::new(train::Train::new()));
    r.register(Arc::new(probe::Probe::new()));
    r.register(Arc::new(measure::Measure::new()));
    for (kind, contract) in CONTRACTS {
        r.set_contract(kind, *contract);
    }
    r
}
