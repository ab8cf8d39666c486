//! Space enumeration: order, dedup, tuple bindings, requires, drops, chunks.
use rooflaw_dsl::Span;
use rooflaw_dsl::span::Spanned;
use rooflaw_dsl::spec::{BinOp, CmpOp, Expr, Space, SpaceField};
use rooflaw_stdlib::space::{CompiledSpace, SPACE_BUILTINS, SPACE_FIELDS};

fn sp<T>(node: T) -> Spanned<T> {
    Spanned::new(node, Span::default())
}
fn num(v: f64) -> Spanned<Expr> {
    sp(Expr::Num(v))
}
fn var(s: &str) -> Spanned<Expr> {
    sp(Expr::Var(s.into()))
}
fn list(items: Vec<Spanned<Expr>>) -> Spanned<Expr> {
    sp(Expr::List(items))
}
fn nums(vs: &[f64]) -> Spanned<Expr> {
    list(vs.iter().map(|v| num(*v)).collect())
}
fn bin(a: Spanned<Expr>, op: BinOp, b: Spanned<Expr>) -> Spanned<Expr> {
    sp(Expr::Bin(Box::new(a), op, Box::new(b)))
}
fn range(a: f64, b: f64, step: f64) -> Spanned<Expr> {
    sp(Expr::Range {
        start: Box::new(num(a)),
        end: Box::new(num(b)),
        step: Some(Box::new(num(step))),
    })
}
fn tuple(vs: &[f64]) -> Spanned<Expr> {
    sp(Expr::Tuple(vs.iter().map(|v| num(*v)).collect()))
}
fn field(name: &str, value: Spanned<Expr>) -> SpaceField {
    SpaceField {
        names: vec![sp(name.into())],
        value,
        helper: false,
    }
}
fn helper(name: &str, value: Spanned<Expr>) -> SpaceField {
    SpaceField {
        names: vec![sp(name.into())],
        value,
        helper: true,
    }
}
fn space(fields: Vec<SpaceField>, requires: Vec<Spanned<Expr>>) -> Space {
    Space {
        name: sp("s".into()),
        fields,
        requires,
        span: Span::default(),
    }
}

#[test]
fn odometer_order_last_field_fastest() {
    let s = space(
        vec![
            field("layers", nums(&[2.0, 4.0])),
            field("width", nums(&[128.0, 256.0])),
        ],
        vec![],
    );
    let c = CompiledSpace::compile(&s).unwrap();
    let got: Vec<(u32, u32)> = c.iter().map(|c| (c.arch.layers, c.arch.width)).collect();
    assert_eq!(got, vec![(2, 128), (2, 256), (4, 128), (4, 256)]);
    assert_eq!(c.upper_bound(), Some(4));
}

#[test]
fn defaults_follow_the_documented_mapping() {
    // width 1024 → 16 heads of 64, no GQA, r = 4 → ffn 4096, dense, qk_norm, gated.
    let s = space(
        vec![field("layers", num(12.0)), field("width", num(1024.0))],
        vec![],
    );
    let c = CompiledSpace::compile(&s).unwrap();
    let a = c.iter().next().unwrap().arch;
    assert_eq!((a.heads, a.kv_heads, a.head_dim, a.ffn), (16, 16, 64, 4096));
    assert_eq!((a.experts, a.top_k, a.vocab), (1, 1, 32_000));
    assert!(a.qk_norm && a.gated && !a.tied_embeddings);
}

#[test]
fn ffn_ratio_is_total_activated_expansion() {
    // r = 1 with top-2 of 8 experts: each expert's intermediate is d/2.
    let s = space(
        vec![
            field("layers", num(4.0)),
            field("width", num(1024.0)),
            SpaceField {
                names: vec![sp("experts".into()), sp("top_k".into())],
                value: list(vec![tuple(&[8.0, 2.0])]),
                helper: false,
            },
            field("ffn", num(1.0)),
        ],
        vec![],
    );
    let a = CompiledSpace::compile(&s)
        .unwrap()
        .iter()
        .next()
        .unwrap()
        .arch;
    assert_eq!((a.experts, a.top_k, a.ffn), (8, 2, 512));
    assert!((a.ffn_ratio() - 1.0).abs() < 1e-12);
}

#[test]
fn list_elements_see_earlier_fields_and_duplicates_go() {
    // width 256 → heads 4: [1, 2, 4, 8, heads] = {1, 2, 4, 8}; 8 ∤ 4 is dropped.
    let s = space(
        vec![
            field("layers", num(2.0)),
            field("width", num(256.0)),
            field("heads", num(4.0)),
            field(
                "kv_heads",
                list(vec![num(1.0), num(2.0), num(4.0), num(8.0), var("heads")]),
            ),
        ],
        vec![],
    );
    let c = CompiledSpace::compile(&s).unwrap();
    let mut e = c.iter();
    let kv: Vec<u32> = e.by_ref().map(|c| c.arch.kv_heads).collect();
    assert_eq!(kv, vec![1, 2, 4]);
    assert_eq!(
        e.drops().invalid.get("kv_heads does not divide heads"),
        Some(&1)
    );
}

#[test]
fn ranges_helpers_and_requires() {
    // let h = width // 64; heads = h; require params_non_embedding < bound.
    let s = space(
        vec![
            field("layers", range(2.0, 8.0, 2.0)),
            field("width", nums(&[256.0, 512.0])),
            helper("h", bin(var("width"), BinOp::FloorDiv, num(64.0))),
            field("heads", var("h")),
        ],
        vec![bin(
            var("params_non_embedding"),
            BinOp::Cmp(CmpOp::Lt),
            num(10e6),
        )],
    );
    let c = CompiledSpace::compile(&s).unwrap();
    let all: Vec<_> = c.iter().collect();
    // Per layer, width 256: 12·256² + 2·256 ≈ 0.79M; width 512: ≈ 3.15M.
    // Under 10M: every 256 (4 depths) and 512 at depths 2 only.
    assert!(
        all.iter()
            .all(|c| c.arch.params_non_embedding() < 10_000_000)
    );
    assert_eq!(all.len(), 5);
    assert_eq!(c.names(), ["layers", "width", "h", "heads"]);
    let (n, drops) = c.count();
    assert_eq!((n, drops.total_required()), (5, 3));
}

#[test]
fn division_by_zero_and_fractions_drop_not_panic() {
    let s = space(
        vec![
            field("layers", nums(&[0.0, 1.0, 2.0])),
            field("width", bin(num(256.0), BinOp::Div, var("layers"))),
        ],
        vec![],
    );
    let c = CompiledSpace::compile(&s).unwrap();
    let mut e = c.iter();
    let widths: Vec<u32> = e.by_ref().map(|c| c.arch.width).collect();
    assert_eq!(widths, vec![256, 128]);
    assert_eq!(
        e.drops()
            .invalid
            .get("evaluating `width` hit division by zero"),
        Some(&1)
    );
    // 256 / 3 is not whole: dropped, counted.
    let s = space(
        vec![
            field("layers", num(3.0)),
            field("width", bin(num(256.0), BinOp::Div, var("layers"))),
        ],
        vec![],
    );
    let c = CompiledSpace::compile(&s).unwrap();
    let mut e = c.iter();
    assert_eq!(e.by_ref().count(), 0);
    assert_eq!(e.drops().total_invalid(), 1);
}

#[test]
fn top_k_over_experts_and_non_dividing_heads_are_dropped() {
    let s = space(
        vec![
            field("layers", num(2.0)),
            field("width", nums(&[256.0, 320.0])),
            field("heads", nums(&[4.0, 6.0])),
            field("experts", nums(&[1.0, 4.0])),
            field("top_k", nums(&[1.0, 2.0])),
        ],
        vec![],
    );
    let c = CompiledSpace::compile(&s).unwrap();
    let mut e = c.iter();
    let n = e.by_ref().count();
    // 2 widths × 2 heads × (1,1) (4,1) (4,2); heads 6 never divides 256 or 320.
    assert_eq!(n, 2 * 3);
    let d = e.drops();
    assert_eq!(d.invalid.get("heads does not divide width"), Some(&8));
    assert_eq!(d.invalid.get("top_k exceeds experts"), Some(&2));
}

#[test]
fn chunks_concatenate_to_the_whole_stream() {
    let s = space(
        vec![
            field("layers", range(1.0, 13.0, 1.0)),
            field("width", nums(&[128.0, 192.0, 256.0])),
            field("kv_heads", nums(&[1.0, 2.0])),
        ],
        vec![],
    );
    let c = CompiledSpace::compile(&s).unwrap();
    let whole: Vec<_> = c.iter().collect();
    for n in [1, 2, 5, 13, 40] {
        let parts: Vec<_> = c.chunks(n).into_iter().flatten().collect();
        assert_eq!(parts, whole, "{n} chunks");
    }
    assert_eq!(c.count().0, whole.len() as u64);
    let (widths, _) = c.par_map(|c| Some(c.arch.width));
    assert_eq!(
        widths,
        whole.iter().map(|c| c.arch.width).collect::<Vec<_>>()
    );
}

#[test]
fn compile_errors_are_diagnostics() {
    // Unknown name, not-a-field, builtin outside require, tuple size mismatch, missing width.
    let s = space(
        vec![
            field("layers", var("widht")),
            field("layerz", num(1.0)),
            field("heads", var("params")),
            field("kv_heads", list(vec![tuple(&[1.0, 2.0])])),
        ],
        vec![],
    );
    let errs = CompiledSpace::compile(&s).unwrap_err();
    let msgs: Vec<&str> = errs.iter().map(|d| d.message.as_str()).collect();
    assert!(msgs.contains(&"unknown name `widht`"), "{msgs:?}");
    assert!(
        msgs.contains(&"`layerz` is not an architecture field"),
        "{msgs:?}"
    );
    assert!(
        msgs.contains(&"`params` is only available in `require`"),
        "{msgs:?}"
    );
    assert!(
        msgs.contains(&"1 name(s) bound to alternatives of 2 value(s)"),
        "{msgs:?}"
    );
    assert!(msgs.contains(&"space `s` does not set `width`"), "{msgs:?}");
    assert!(
        errs.iter()
            .find(|d| d.message == "`layerz` is not an architecture field")
            .unwrap()
            .help
            .as_deref()
            .unwrap()
            .contains("layers")
    );
}

#[test]
fn published_name_lists() {
    assert!(SPACE_FIELDS.contains(&"ffn_size") && SPACE_FIELDS.contains(&"qk_norm"));
    assert_eq!(SPACE_BUILTINS.len(), 7);
}

#[test]
fn nearest_and_neighbours_stay_in_the_space() {
    let s = space(
        vec![
            field("layers", nums(&[4.0, 8.0, 12.0])),
            field("width", nums(&[256.0, 512.0, 768.0])),
        ],
        vec![],
    );
    let c = CompiledSpace::compile(&s).unwrap();
    let n = c.nearest(&[9.0, 300.0]).unwrap();
    assert_eq!((n.arch.layers, n.arch.width), (8, 256));
    let mut nb: Vec<(u32, u32)> = c
        .neighbours(&n)
        .iter()
        .map(|c| (c.arch.layers, c.arch.width))
        .collect();
    nb.sort_unstable();
    assert_eq!(nb, vec![(4, 256), (8, 512), (12, 256)]);
}

#[test]
fn ten_million_candidates_stream_in_constant_memory() {
    // 100 × 100 × 100 × 10 = 10M raw combinations; counted without storing.
    let s = space(
        vec![
            field("layers", range(1.0, 100.0, 1.0)),
            field("width", range(64.0, 6400.0, 64.0)),
            field("vocab", range(1000.0, 100_000.0, 1000.0)),
            field("tied", nums(&[0.0, 1.0])),
            field("gated", nums(&[0.0, 1.0])),
            field("qk_norm", nums(&[0.0, 1.0])),
        ],
        vec![bin(var("params"), BinOp::Cmp(CmpOp::Ge), num(0.0))],
    );
    let c = CompiledSpace::compile(&s).unwrap();
    assert_eq!(c.upper_bound(), Some(8_000_000));
    let (n, d) = c.count();
    assert_eq!(n, 8_000_000);
    assert_eq!(d.total_invalid() + d.total_required(), 0);
}

#[test]
fn long_ranges_dedup_in_linear_time() {
    // [0 .. 199999, 0 .. 199999]: 400k alternatives, half repeated.
    let s = space(
        vec![
            field("layers", num(1.0)),
            field("width", num(64.0)),
            field(
                "vocab",
                list(vec![range(1.0, 200_000.0, 1.0), range(1.0, 200_000.0, 1.0)]),
            ),
        ],
        vec![],
    );
    let c = CompiledSpace::compile(&s).unwrap();
    assert_eq!(c.upper_bound(), Some(200_000));
    assert_eq!(c.iter().count(), 200_000);
}

mod against_nested_loops {
    use super::*;
    use proptest::prelude::*;

    /// The enumerator against a straightforward nested loop applying the
    /// documented rules (`heads` default width/64, `head_dim` width/heads,
    /// `kv_heads` divides `heads`, `top_k` ≤ `experts`) and one `require`.
    fn reference(
        layers: &[f64],
        widths: &[f64],
        kvs: &[f64],
        experts: &[f64],
        top_ks: &[f64],
        max_params: f64,
    ) -> Vec<(u32, u32, u32, u32, u32)> {
        let uniq = |v: &[f64]| {
            let mut out: Vec<f64> = Vec::new();
            for x in v {
                if !out.contains(x) {
                    out.push(*x);
                }
            }
            out
        };
        let mut out = Vec::new();
        for &l in &uniq(layers) {
            for &w in &uniq(widths) {
                for &kv in &uniq(kvs) {
                    for &e in &uniq(experts) {
                        for &k in &uniq(top_ks) {
                            let heads = w / 64.0;
                            if heads.fract() != 0.0 || heads < 1.0 {
                                continue;
                            }
                            if !(heads as u32).is_multiple_of(kv as u32) || k > e {
                                continue;
                            }
                            let mut a = rooflaw_stdlib::Architecture::dense(
                                l as u32,
                                w as u32,
                                heads as u32,
                                kv as u32,
                                0,
                            );
                            a.experts = e as u32;
                            a.top_k = k as u32;
                            a.ffn = (4.0 * w / k).round() as u32;
                            a.qk_norm = true;
                            if a.params_total() as f64 > max_params {
                                continue;
                            }
                            out.push((l as u32, w as u32, kv as u32, e as u32, k as u32));
                        }
                    }
                }
            }
        }
        out
    }

    fn small(max: u32) -> impl Strategy<Value = Vec<f64>> {
        prop::collection::vec((1..=max).prop_map(f64::from), 1..5)
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(128))]
        #[test]
        fn same_candidates_same_order(
            layers in small(6),
            widths in prop::collection::vec((1u32..8).prop_map(|k| f64::from(k * 32)), 1..5),
            kvs in small(4),
            experts in small(4),
            top_ks in small(3),
            max_params in 1e6..2e8f64,
        ) {
            let s = space(
                vec![
                    field("layers", nums(&layers)),
                    field("width", nums(&widths)),
                    field("kv_heads", nums(&kvs)),
                    field("experts", nums(&experts)),
                    field("top_k", nums(&top_ks)),
                ],
                vec![bin(var("params"), BinOp::Cmp(CmpOp::Le), num(max_params))],
            );
            let c = CompiledSpace::compile(&s).unwrap();
            let got: Vec<_> = c
                .iter()
                .map(|c| (c.arch.layers, c.arch.width, c.arch.kv_heads, c.arch.experts, c.arch.top_k))
                .collect();
            prop_assert_eq!(got, reference(&layers, &widths, &kvs, &experts, &top_ks, max_params));
        }
    }
}

/// A `require` sees the fields a space leaves at their defaults, with the
/// values the model is built with: here `heads` is `width / 64`, so only
/// width 768 has 12 heads, and `vocab` is the default 32,000.
#[test]
fn require_sees_default_fields() {
    let s = space(
        vec![
            field("layers", nums(&[2.0])),
            field("width", nums(&[768.0, 1024.0])),
            field("kv_heads", nums(&[1.0, 3.0, 4.0])),
        ],
        vec![
            bin(var("heads"), BinOp::Cmp(CmpOp::Eq), num(12.0)),
            bin(var("heads"), BinOp::Rem, var("kv_heads")),
            bin(var("vocab"), BinOp::Cmp(CmpOp::Eq), num(32_000.0)),
        ],
    );
    // `heads % kv_heads == 0`, with `heads` at its default.
    let s = Space {
        requires: vec![
            s.requires[0].clone(),
            bin(s.requires[1].clone(), BinOp::Cmp(CmpOp::Eq), num(0.0)),
            s.requires[2].clone(),
        ],
        ..s
    };
    let c = CompiledSpace::compile(&s).unwrap();
    let got: Vec<(u32, u32, u32)> = c
        .iter()
        .map(|c| (c.arch.width, c.arch.heads, c.arch.kv_heads))
        .collect();
    assert_eq!(got, [(768, 12, 1), (768, 12, 3), (768, 12, 4)]);
}

/// A field left at its default cannot feed another field (its value is only
/// known once the candidate is built): the error says to set it.
#[test]
fn a_default_field_cannot_feed_another_field() {
    let s = space(
        vec![
            field("layers", nums(&[2.0])),
            field("width", nums(&[768.0])),
            field("kv_heads", list(vec![num(1.0), var("heads")])),
        ],
        vec![],
    );
    let err = CompiledSpace::compile(&s).unwrap_err();
    let text = format!("{err:?}");
    assert!(text.contains("`heads` is not set in this space"), "{text}");
    assert!(!text.contains("let heads"), "{text}");
}
