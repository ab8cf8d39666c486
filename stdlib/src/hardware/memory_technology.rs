//! The DRAM technology behind a chip's bandwidth figure. Runtimes reach a
//! different share of the datasheet bandwidth on each (GDDR cards come close
//! to it in decode, HBM and LPDDR parts much less), so fitted runtime
//! profiles key their memory efficiency by [`MemoryClass`].
use serde::{Deserialize, Serialize};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MemoryTechnology {
    Ddr4,
    Ddr5,
    Lpddr4,
    Lpddr4x,
    Lpddr5,
    Lpddr5x,
    Gddr6,
    Gddr6x,
    Gddr7,
    Hbm2,
    Hbm2e,
    Hbm3,
    Hbm3e,
}

/// Families of memory technology that behave alike under a runtime.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MemoryClass {
    /// DDR and LPDDR: CPUs, systems-on-chip with unified memory (Apple, Jetson, phones).
    Lpddr,
    Gddr,
    Hbm,
}

impl MemoryTechnology {
    pub const ALL: [MemoryTechnology; 13] = [
        MemoryTechnology::Ddr4,
        MemoryTechnology::Ddr5,
        MemoryTechnology::Lpddr4,
        MemoryTechnology::Lpddr4x,
        MemoryTechnology::Lpddr5,
        MemoryTechnology::Lpddr5x,
        MemoryTechnology::Gddr6,
        MemoryTechnology::Gddr6x,
        MemoryTechnology::Gddr7,
        MemoryTechnology::Hbm2,
        MemoryTechnology::Hbm2e,
        MemoryTechnology::Hbm3,
        MemoryTechnology::Hbm3e,
    ];

    pub fn name(self) -> &'static str {
        match self {
            MemoryTechnology::Ddr4 => "ddr4",
            MemoryTechnology::Ddr5 => "ddr5",
            MemoryTechnology::Lpddr4 => "lpddr4",
            MemoryTechnology::Lpddr4x => "lpddr4x",
            MemoryTechnology::Lpddr5 => "lpddr5",
            MemoryTechnology::Lpddr5x => "lpddr5x",
            MemoryTechnology::Gddr6 => "gddr6",
            MemoryTechnology::Gddr6x => "gddr6x",
            MemoryTechnology::Gddr7 => "gddr7",
            MemoryTechnology::Hbm2 => "hbm2",
            MemoryTechnology::Hbm2e => "hbm2e",
            MemoryTechnology::Hbm3 => "hbm3",
            MemoryTechnology::Hbm3e => "hbm3e",
        }
    }

    /// Case-insensitive, as datasheets write it (`LPDDR5X`, `HBM3e`).
    pub fn parse(text: &str) -> Option<MemoryTechnology> {
        let t = text.trim().to_ascii_lowercase();
        MemoryTechnology::ALL.into_iter().find(|m| m.name() == t)
    }

    pub fn class(self) -> MemoryClass {
        match self {
            MemoryTechnology::Ddr4
            | MemoryTechnology::Ddr5
            | MemoryTechnology::Lpddr4
            | MemoryTechnology::Lpddr4x
            | MemoryTechnology::Lpddr5
            | MemoryTechnology::Lpddr5x => MemoryClass::Lpddr,
            MemoryTechnology::Gddr6 | MemoryTechnology::Gddr6x | MemoryTechnology::Gddr7 => {
                MemoryClass::Gddr
            }
            MemoryTechnology::Hbm2
            | MemoryTechnology::Hbm2e
            | MemoryTechnology::Hbm3
            | MemoryTechnology::Hbm3e => MemoryClass::Hbm,
        }
    }
}

impl MemoryClass {
    pub fn name(self) -> &'static str {
        match self {
            MemoryClass::Lpddr => "lpddr",
            MemoryClass::Gddr => "gddr",
            MemoryClass::Hbm => "hbm",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_case_insensitively() {
        for m in MemoryTechnology::ALL {
            assert_eq!(MemoryTechnology::parse(&m.name().to_uppercase()), Some(m));
        }
        assert_eq!(MemoryTechnology::parse("hbm4"), None);
        assert_eq!(MemoryTechnology::Gddr6x.class(), MemoryClass::Gddr);
    }
}
