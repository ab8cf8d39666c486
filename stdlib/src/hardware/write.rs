//! Writing a hardware description back in the schema [`super::from_yaml`]
//! reads, with each value's provenance, so probed and calibrated machines
//! are files users can read, edit and share like the presets.
use rooflaw_dsl::units::Quantity;
use yaml_serde::{Mapping, Value};

use super::{FieldKind, HardwarePreset, Source};

/// The YAML text of `p`; `from_yaml(&to_yaml(p))` gives `p` back (values
/// are printed with enough digits to round-trip within 1e-6 relative).
pub fn to_yaml(p: &HardwarePreset) -> String {
    yaml_serde::to_string(&document(p)).unwrap_or_default()
}

/// The same document as [`to_yaml`] as JSON, which YAML readers (and so
/// [`super::load`]) also accept.
pub fn to_json(p: &HardwarePreset) -> serde_json::Value {
    serde_json::to_value(document(p)).unwrap_or_default()
}

fn document(p: &HardwarePreset) -> Value {
    let hw = &p.hardware;
    let src = &p.sources;
    let mut top = Mapping::new();
    top.insert("id".into(), hw.id.clone().into());
    top.insert("name".into(), hw.name.clone().into());
    let mut peak = Mapping::new();
    for (d, v) in &hw.peak {
        peak.insert(d.name().into(), field(*v, FieldKind::Peak, src.peak.get(d)));
    }
    top.insert("peak".into(), Value::Mapping(peak));
    top.insert(
        "bandwidth".into(),
        field(hw.bandwidth, FieldKind::Bandwidth, src.bandwidth.as_ref()),
    );
    top.insert(
        "memory".into(),
        field(hw.memory, FieldKind::Memory, src.memory.as_ref()),
    );
    let mut eff = Mapping::new();
    eff.insert(
        "compute".into(),
        field(
            hw.efficiency_compute,
            FieldKind::Efficiency,
            src.efficiency_compute.as_ref(),
        ),
    );
    eff.insert(
        "memory".into(),
        field(
            hw.efficiency_memory,
            FieldKind::Efficiency,
            src.efficiency_memory.as_ref(),
        ),
    );
    if let Some(v) = hw.efficiency_vector {
        eff.insert(
            "vector".into(),
            field(v, FieldKind::Efficiency, src.efficiency_vector.as_ref()),
        );
    }
    top.insert("efficiency".into(), Value::Mapping(eff));
    top.insert(
        "launch".into(),
        field(hw.launch, FieldKind::Launch, src.launch.as_ref()),
    );
    if let Some(m) = hw.memory_technology {
        let name = Value::from(m.name());
        let value = match &src.memory_technology {
            Some(s) => sourced(name, s),
            None => name,
        };
        top.insert("memory_technology".into(), value);
    }
    Value::Mapping(top)
}

/// A value as a quantity string (`"204.8 GB/s"`), or with its source as a
/// mapping when it has one.
fn field(v: f64, kind: FieldKind, source: Option<&Source>) -> Value {
    let text = if kind == FieldKind::Efficiency {
        Value::from(round_sig(v))
    } else {
        Value::from(Quantity::new(round_sig(v), kind.dim()).to_string())
    };
    let Some(s) = source else {
        return text;
    };
    sourced(text, s)
}

/// `value` with its provenance, as a mapping.
fn sourced(value: Value, s: &Source) -> Value {
    let mut m = Mapping::new();
    m.insert("value".into(), value);
    m.insert("source".into(), s.source.clone().into());
    if s.derived {
        m.insert("derived".into(), true.into());
    }
    if let Some(n) = &s.note {
        m.insert("note".into(), n.clone().into());
    }
    Value::Mapping(m)
}

/// Seven significant digits: what a measurement can claim, and few enough
/// that the file reads well.
fn round_sig(v: f64) -> f64 {
    if v == 0.0 || !v.is_finite() {
        return v;
    }
    let digits = 7 - 1 - v.abs().log10().floor() as i32;
    let f = 10f64.powi(digits);
    (v * f).round() / f
}

#[cfg(test)]
mod tests {
    use super::super::{from_yaml, presets};
    use super::*;

    #[test]
    fn every_preset_round_trips() {
        for p in presets() {
            let text = to_yaml(&p);
            let back =
                from_yaml(&text).unwrap_or_else(|e| panic!("{}: {e}\n{text}", p.hardware.id));
            let (a, b) = (&p.hardware, &back.hardware);
            let close = |x: f64, y: f64| (x - y).abs() <= 1e-6 * x.abs().max(y.abs());
            assert_eq!(a.id, b.id);
            assert_eq!(a.name, b.name);
            assert_eq!(
                a.peak.keys().collect::<Vec<_>>(),
                b.peak.keys().collect::<Vec<_>>()
            );
            for (d, v) in &a.peak {
                assert!(
                    close(*v, b.peak[d]),
                    "{} peak {d:?}: {v} vs {}",
                    a.id,
                    b.peak[d]
                );
            }
            for (x, y) in [
                (a.bandwidth, b.bandwidth),
                (a.memory, b.memory),
                (a.efficiency_compute, b.efficiency_compute),
                (a.efficiency_memory, b.efficiency_memory),
                (a.launch, b.launch),
                (a.vector_efficiency(), b.vector_efficiency()),
            ] {
                assert!(close(x, y), "{}: {x} vs {y}\n{text}", a.id);
            }
            assert_eq!(p.sources, back.sources, "{}", a.id);
            let json = serde_json::to_string(&to_json(&p)).unwrap();
            assert_eq!(from_yaml(&json).unwrap(), back, "{}: JSON", a.id);
        }
    }

    #[test]
    #[allow(clippy::float_cmp)] // parsed and returned unchanged
    fn element_wise_efficiency_is_optional_and_round_trips() {
        let base = "id: t\npeak: {fp32: 1 TFLOPS}\nbandwidth: 10 GB/s\nmemory: 1 GB\n";
        let plain = from_yaml(base).unwrap();
        assert_eq!(plain.hardware.efficiency_vector, None);
        assert!(!to_yaml(&plain).contains("vector"));
        let text = format!(
            "{base}efficiency: {{memory: 0.5, vector: {{value: 0.25, source: probe, derived: true}}}}\n"
        );
        let p = from_yaml(&text).unwrap();
        assert_eq!(p.hardware.efficiency_vector, Some(0.25));
        assert_eq!(p.hardware.vector_efficiency(), 0.25);
        assert_eq!(
            plain.hardware.vector_efficiency(),
            plain.hardware.efficiency_memory
        );
        assert!(
            p.sources
                .efficiency_vector
                .as_ref()
                .is_some_and(|s| s.derived)
        );
        let back = from_yaml(&to_yaml(&p)).unwrap();
        assert_eq!(back.hardware.efficiency_vector, Some(0.25));
        assert_eq!(back.sources, p.sources);
        let bad = from_yaml(&format!("{base}efficiency: {{vector: 1.5}}\n")).unwrap_err();
        assert!(bad.to_string().contains("efficiency.vector"), "{bad}");
    }
}
