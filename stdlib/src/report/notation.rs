//! Engineering notation for tick labels and tables: "10 ms", "1 T",
//! "275 TFLOP/s". Three significant digits, SI prefixes in steps of 10³.

const PREFIXES: [&str; 11] = ["p", "n", "µ", "m", "", "k", "M", "G", "T", "P", "E"];
/// Index of the empty prefix, and of the largest one.
const PREFIX_ZERO: i32 = 4;
const PREFIX_MAX: i32 = 10;

/// `v` with an SI prefix and `unit`: `si(0.01, "s")` is "10 ms",
/// `si(1e12, "")` is "1 T".
pub fn si(v: f64, unit: &str) -> String {
    if v == 0.0 || !v.is_finite() {
        let n = if v == 0.0 {
            "0".to_string()
        } else {
            format!("{v}")
        };
        return if unit.is_empty() {
            n
        } else {
            format!("{n} {unit}")
        };
    }
    // Round to three significant digits through the formatter first, so
    // 0.00999999 becomes 10 m rather than 1000 µ.
    let (mantissa, exp) = sci(v);
    let e3 = exp
        .div_euclid(3)
        .clamp(-PREFIX_ZERO, PREFIX_MAX - PREFIX_ZERO)
        * 3;
    let shift = exp - e3;
    let m = mantissa * 10f64.powi(shift);
    let decimals = (2 - shift).max(0) as usize;
    let num = trim(&format!("{m:.decimals$}"));
    let prefix = PREFIXES[(e3 / 3 + PREFIX_ZERO) as usize];
    let suffix = format!("{prefix}{unit}");
    if suffix.is_empty() {
        num
    } else {
        format!("{num} {suffix}")
    }
}

/// Plain decimal for everyday magnitudes (0.001–9999), SI beyond: suits
/// dimensionless quantities like arithmetic intensity, where "100 m" would
/// confuse.
pub fn plain(v: f64) -> String {
    let a = v.abs();
    if v == 0.0 || !(1e-3..1e4).contains(&a) {
        return si(v, "");
    }
    let (_, exp) = sci(v);
    let decimals = (2 - exp).max(0) as usize;
    trim(&format!("{v:.decimals$}"))
}

/// A size in bytes, three significant digits: in binary units (`3.12 GiB`)
/// when `binary`, as the budget wrote its limit, else decimal (`3.35 GB`).
pub fn bytes(v: f64, binary: bool) -> String {
    const BINARY: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    if !binary || v == 0.0 || !v.is_finite() {
        return si(v, "B");
    }
    let mut x = v;
    let mut unit = 0;
    // Switch at 1000, not 1024, so the number keeps three digits at most.
    while x.abs() >= 1000.0 && unit + 1 < BINARY.len() {
        x /= 1024.0;
        unit += 1;
    }
    format!("{} {}", plain(x), BINARY[unit])
}

/// A percentage to three significant digits, without the sign: `12.3`,
/// `1.4`, `0.512`.
pub fn percent(v: f64) -> String {
    plain(v.abs())
}

/// Mantissa in [1, 10) and decimal exponent after rounding to three
/// significant digits.
fn sci(v: f64) -> (f64, i32) {
    let s = format!("{v:.2e}");
    let (m, e) = s.split_once('e').unwrap_or((&s, "0"));
    (m.parse().unwrap_or(v), e.parse().unwrap_or(0))
}

fn trim(s: &str) -> String {
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        s.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn engineering_notation() {
        for (v, unit, want) in [
            (0.01, "s", "10 ms"),
            (0.1, "s", "100 ms"),
            (1.0, "s", "1 s"),
            (2.5e-6, "s", "2.5 µs"),
            (0.009_999_999, "s", "10 ms"),
            (1e12, "", "1 T"),
            (2.75e14, "FLOP/s", "275 TFLOP/s"),
            (204.8e9, "B/s", "205 GB/s"),
            (0.0, "s", "0 s"),
            (-0.02, "s", "-20 ms"),
            (1234.0, "", "1.23 k"),
        ] {
            assert_eq!(si(v, unit), want, "si({v}, {unit:?})");
        }
    }

    #[test]
    fn sizes_in_the_budgets_unit() {
        let gib = 1024.0_f64.powi(3);
        for (v, binary, want) in [
            (4.0 * gib, true, "4 GiB"),
            (3.123 * gib, true, "3.12 GiB"),
            (3.123 * gib, false, "3.35 GB"),
            (512.0 * 1024.0 * 1024.0, true, "512 MiB"),
            (1000.0 * 1024.0 * 1024.0, true, "0.977 GiB"),
            (0.0, true, "0 B"),
        ] {
            assert_eq!(bytes(v, binary), want, "bytes({v}, {binary})");
        }
    }

    #[test]
    fn plain_numbers() {
        for (v, want) in [
            (1.0, "1"),
            (0.5, "0.5"),
            (1.23456, "1.23"),
            (250.0, "250"),
            (0.001, "0.001"),
            (1e5, "100 k"),
        ] {
            assert_eq!(plain(v), want, "plain({v})");
        }
    }
}
