//! Quantities with dimensions. Values are normalised to SI base units when
//! parsed (seconds, bytes, operations, tokens), so `1000 ms` and `1 s` are the
//! same value everywhere downstream, cache keys included.
use serde::{Deserialize, Serialize};

/// Exponents of the base dimensions. `GB/s` is bytes¹·time⁻¹.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Dim {
    pub time: i8,
    pub bytes: i8,
    /// Arithmetic operations; FLOPs and integer OPs share this dimension.
    pub ops: i8,
    pub tokens: i8,
}

impl Dim {
    pub const NONE: Dim = Dim {
        time: 0,
        bytes: 0,
        ops: 0,
        tokens: 0,
    };
    pub const TIME: Dim = Dim {
        time: 1,
        ..Dim::NONE
    };
    pub const BYTES: Dim = Dim {
        bytes: 1,
        ..Dim::NONE
    };
    pub const TOKENS: Dim = Dim {
        tokens: 1,
        ..Dim::NONE
    };
    pub const BANDWIDTH: Dim = Dim {
        bytes: 1,
        time: -1,
        ..Dim::NONE
    };
    pub const COMPUTE: Dim = Dim {
        ops: 1,
        time: -1,
        ..Dim::NONE
    };
    pub const THROUGHPUT: Dim = Dim {
        tokens: 1,
        time: -1,
        ..Dim::NONE
    };

    /// What users call this dimension, for error messages.
    pub fn describe(self) -> String {
        match self {
            Dim::NONE => "a plain number".into(),
            Dim::TIME => "a time".into(),
            Dim::BYTES => "a size in bytes".into(),
            Dim::TOKENS => "a token count".into(),
            Dim::BANDWIDTH => "a bandwidth".into(),
            Dim::COMPUTE => "a compute rate".into(),
            Dim::THROUGHPUT => "a token rate".into(),
            other => format!("a quantity of dimension {}", other.symbol()),
        }
    }

    /// The word in "expected a unit of ..." messages.
    pub fn unit_noun(self) -> String {
        match self {
            Dim::TIME => "time".into(),
            Dim::BYTES => "size".into(),
            Dim::TOKENS => "tokens".into(),
            Dim::BANDWIDTH => "bandwidth".into(),
            Dim::COMPUTE => "compute".into(),
            Dim::THROUGHPUT => "token rate".into(),
            other => other.symbol(),
        }
    }

    /// Example units of this dimension, for hints.
    pub fn example_units(self) -> &'static str {
        match self {
            Dim::TIME => "`ms`, `us` or `s`",
            Dim::BYTES => "`MB`, `GB` or `GiB`",
            Dim::TOKENS => "`tokens`",
            Dim::BANDWIDTH => "`GB/s` or `GiB/s`",
            Dim::COMPUTE => "`TFLOPS` or `TOPS`",
            Dim::THROUGHPUT => "`tokens/s`",
            _ => "no unit",
        }
    }

    fn symbol(self) -> String {
        let mut parts = Vec::new();
        for (e, s) in [
            (self.ops, "op"),
            (self.bytes, "B"),
            (self.tokens, "token"),
            (self.time, "s"),
        ] {
            match e {
                0 => {}
                1 => parts.push(s.to_string()),
                e => parts.push(format!("{s}^{e}")),
            }
        }
        if parts.is_empty() {
            "1".into()
        } else {
            parts.join("·")
        }
    }
}

/// A unit the language knows: its spelling, dimension and SI factor.
#[derive(Clone, Copy, Debug)]
pub struct Unit {
    pub name: &'static str,
    pub dim: Dim,
    pub factor: f64,
}

const KB: f64 = 1e3;
const KIB: f64 = 1024.0;

/// Every unit the language accepts. Decimal prefixes are powers of 1000 and
/// binary ones (`KiB`, `GiB/s`) powers of 1024, as the datasheets use them.
pub const UNITS: &[Unit] = &[
    Unit {
        name: "s",
        dim: Dim::TIME,
        factor: 1.0,
    },
    Unit {
        name: "ms",
        dim: Dim::TIME,
        factor: 1e-3,
    },
    Unit {
        name: "us",
        dim: Dim::TIME,
        factor: 1e-6,
    },
    Unit {
        name: "µs",
        dim: Dim::TIME,
        factor: 1e-6,
    },
    Unit {
        name: "ns",
        dim: Dim::TIME,
        factor: 1e-9,
    },
    Unit {
        name: "min",
        dim: Dim::TIME,
        factor: 60.0,
    },
    Unit {
        name: "h",
        dim: Dim::TIME,
        factor: 3600.0,
    },
    Unit {
        name: "B",
        dim: Dim::BYTES,
        factor: 1.0,
    },
    Unit {
        name: "KB",
        dim: Dim::BYTES,
        factor: KB,
    },
    Unit {
        name: "MB",
        dim: Dim::BYTES,
        factor: KB * KB,
    },
    Unit {
        name: "GB",
        dim: Dim::BYTES,
        factor: KB * KB * KB,
    },
    Unit {
        name: "TB",
        dim: Dim::BYTES,
        factor: KB * KB * KB * KB,
    },
    Unit {
        name: "KiB",
        dim: Dim::BYTES,
        factor: KIB,
    },
    Unit {
        name: "MiB",
        dim: Dim::BYTES,
        factor: KIB * KIB,
    },
    Unit {
        name: "GiB",
        dim: Dim::BYTES,
        factor: KIB * KIB * KIB,
    },
    Unit {
        name: "TiB",
        dim: Dim::BYTES,
        factor: KIB * KIB * KIB * KIB,
    },
    Unit {
        name: "MB/s",
        dim: Dim::BANDWIDTH,
        factor: KB * KB,
    },
    Unit {
        name: "GB/s",
        dim: Dim::BANDWIDTH,
        factor: KB * KB * KB,
    },
    Unit {
        name: "TB/s",
        dim: Dim::BANDWIDTH,
        factor: KB * KB * KB * KB,
    },
    Unit {
        name: "MiB/s",
        dim: Dim::BANDWIDTH,
        factor: KIB * KIB,
    },
    Unit {
        name: "GiB/s",
        dim: Dim::BANDWIDTH,
        factor: KIB * KIB * KIB,
    },
    Unit {
        name: "TiB/s",
        dim: Dim::BANDWIDTH,
        factor: KIB * KIB * KIB * KIB,
    },
    Unit {
        name: "GFLOPS",
        dim: Dim::COMPUTE,
        factor: 1e9,
    },
    Unit {
        name: "TFLOPS",
        dim: Dim::COMPUTE,
        factor: 1e12,
    },
    Unit {
        name: "PFLOPS",
        dim: Dim::COMPUTE,
        factor: 1e15,
    },
    Unit {
        name: "GOPS",
        dim: Dim::COMPUTE,
        factor: 1e9,
    },
    Unit {
        name: "TOPS",
        dim: Dim::COMPUTE,
        factor: 1e12,
    },
    Unit {
        name: "POPS",
        dim: Dim::COMPUTE,
        factor: 1e15,
    },
    Unit {
        name: "tokens",
        dim: Dim::TOKENS,
        factor: 1.0,
    },
    Unit {
        name: "token",
        dim: Dim::TOKENS,
        factor: 1.0,
    },
    Unit {
        name: "tokens/s",
        dim: Dim::THROUGHPUT,
        factor: 1.0,
    },
];

pub fn unit(name: &str) -> Option<&'static Unit> {
    UNITS.iter().find(|u| u.name == name)
}

/// A number in SI base units with its dimension.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Quantity {
    pub value: f64,
    pub dim: Dim,
}

impl Quantity {
    pub fn new(value: f64, dim: Dim) -> Self {
        Self { value, dim }
    }

    pub fn plain(value: f64) -> Self {
        Self {
            value,
            dim: Dim::NONE,
        }
    }
}

/// Shown in the unit a person would pick: `100 ms`, `8 GiB`, `204.8 GB/s`.
impl std::fmt::Display for Quantity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let v = self.value;
        let pick: &[(&str, f64)] = match self.dim {
            Dim::TIME => &[("s", 1.0), ("ms", 1e-3), ("us", 1e-6), ("ns", 1e-9)],
            Dim::BYTES => {
                // Binary sizes print in binary units when they are exact.
                let gib = KIB * KIB * KIB;
                if v >= gib && (v / gib).fract() == 0.0 {
                    &[("GiB", gib)]
                } else {
                    &[
                        ("TB", 1e12),
                        ("GB", 1e9),
                        ("MB", 1e6),
                        ("KB", 1e3),
                        ("B", 1.0),
                    ]
                }
            }
            Dim::BANDWIDTH => &[("TB/s", 1e12), ("GB/s", 1e9), ("MB/s", 1e6)],
            Dim::COMPUTE => &[("PFLOPS", 1e15), ("TFLOPS", 1e12), ("GFLOPS", 1e9)],
            Dim::TOKENS => &[("tokens", 1.0)],
            Dim::THROUGHPUT => &[("tokens/s", 1.0)],
            _ => &[],
        };
        if pick.is_empty() {
            return write!(f, "{}", fmt_num(v));
        }
        let (name, factor) = pick
            .iter()
            .find(|(_, fac)| v.abs() >= *fac)
            .copied()
            .unwrap_or(pick[pick.len() - 1]);
        write!(f, "{} {name}", fmt_num(v / factor))
    }
}

/// Shortest faithful decimal with at most 6 significant digits.
pub fn fmt_num(v: f64) -> String {
    if v == 0.0 {
        return "0".into();
    }
    let s = format!("{v:.6}");
    let s = s.trim_end_matches('0').trim_end_matches('.').to_string();
    if v.abs() >= 1e15 || v.abs() < 1e-4 {
        format!("{v:e}")
    } else {
        s
    }
}
