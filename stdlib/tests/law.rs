//! Loss-law presets against the values worked in paper.md §3, range
//! refusal, and custom forms.
use rooflaw_dsl::span::{Span, Spanned};
use rooflaw_dsl::spec::{BinOp, Expr};
use rooflaw_stdlib::Architecture;
use rooflaw_stdlib::law::{self, CoefSpec, CustomForm, Form, Law, LawError, Var, Vars};

fn qwen25_05b() -> Architecture {
    // l 24, d 896, 14 query heads of 64, 2 KV heads (d_m 128), FFN 4864.
    Architecture::dense(24, 896, 14, 2, 4864)
}

#[test]
fn sun2026_reproduces_the_qwen_shape_and_its_terms() {
    let law = law::preset("sun2026").unwrap();
    let a = qwen25_05b();
    let loss = law.predict(&a, None).unwrap();
    assert!((loss - 3.48).abs() < 0.005, "{loss}");
    // paper.md §3: depth 0.056, sparsity 0.219, capacity 0.513, KV 0.157, + 2.53.
    let terms = law.terms(&Vars::of(&a, None)).unwrap();
    let expect = [
        ("depth", 0.056),
        ("sparsity", 0.219),
        ("capacity", 0.513),
        ("kv", 0.157),
        ("irreducible", 2.53),
    ];
    for ((name, v), (ename, ev)) in terms.iter().zip(expect) {
        assert_eq!(*name, ename);
        assert!((v - ev).abs() < 0.0015, "{name}: {v} vs {ev}");
    }
    assert!((law.perplexity(&a, None).unwrap() - loss.exp()).abs() < 1e-12);
}

#[test]
fn sun2026_moe_example() {
    // 12 layers, d 2048, E 16 / K 1, r 1 (ffn 2048 per expert), d_m 256: ≈ 3.18.
    let mut a = Architecture::dense(12, 2048, 16, 2, 2048);
    a.head_dim = 128;
    a.experts = 16;
    a.top_k = 1;
    let loss = law::preset("sun2026").unwrap().predict(&a, None).unwrap();
    assert!((loss - 3.18).abs() < 0.005, "{loss}");
}

#[test]
fn out_of_range_is_refused_with_field_value_and_range() {
    let law = law::preset("sun2026").unwrap();
    let deep = Architecture::dense(48, 1024, 16, 4, 4096);
    let err = law.predict(&deep, None).unwrap_err();
    assert!(
        matches!(err, LawError::OutOfRange { var: "layers", .. }),
        "{err:?}"
    );
    let msg = err.to_string();
    assert!(
        msg.contains("layers")
            && msg.contains("48")
            && msg.contains("[4, 32]")
            && msg.contains("extrapolate"),
        "{msg}"
    );
    let ok = law.with_extrapolate(true).predict(&deep, None).unwrap();
    assert!(ok.is_finite() && ok > 2.53);
}

#[test]
fn chinchilla_presets_need_tokens_and_match_hand_values() {
    let law = law::preset("hoffmann2022").unwrap();
    let a = Architecture::dense(24, 2048, 16, 16, 8192);
    let err = law.predict(&a, None).unwrap_err();
    assert!(err.to_string().contains("tokens"), "{err}");
    let n = a.params_total() as f64;
    let d = 20.0 * n;
    let hand = 1.69 + 406.4 / n.powf(0.34) + 410.7 / d.powf(0.28);
    assert!((law.predict(&a, Some(d)).unwrap() - hand).abs() < 1e-12);
    // Chinchilla itself: 70B params, 1.4T tokens, is outside Hoffmann's fitted span.
    let v = Vars::new()
        .with(Var::Params, 70e9)
        .with(Var::Tokens, 1.4e12);
    assert!(matches!(
        law.predict_vars(&v),
        Err(LawError::OutOfRange { var: "params", .. })
    ));
    let e = law::preset("besiroglu2024")
        .unwrap()
        .with_extrapolate(true)
        .predict_vars(&v)
        .unwrap();
    let hand = 1.8172 + 482.01 / 70e9f64.powf(0.3478) + 2085.43 / 1.4e12f64.powf(0.3658);
    assert!((e - hand).abs() < 1e-12);
}

#[test]
fn presets_are_listed_and_unknown_names_are_none() {
    let names: Vec<_> = law::presets().iter().map(|p| p.name).collect();
    assert_eq!(names, ["sun2026", "hoffmann2022", "besiroglu2024"]);
    for n in names {
        assert_eq!(law::preset(n).unwrap().name, n);
    }
    assert!(law::preset("kaplan2020").is_none());
}

fn sp(e: Expr) -> Spanned<Expr> {
    Spanned::new(e, Span::default())
}
fn var(n: &str) -> Spanned<Expr> {
    sp(Expr::Var(n.into()))
}
fn bin(a: Spanned<Expr>, op: BinOp, b: Spanned<Expr>) -> Spanned<Expr> {
    sp(Expr::Bin(Box::new(a), op, Box::new(b)))
}

/// e + a / params^alpha + b / tokens^beta, written as a custom form.
fn chinchilla_expr() -> Spanned<Expr> {
    let t1 = bin(
        var("a"),
        BinOp::Div,
        bin(var("params"), BinOp::Pow, var("alpha")),
    );
    let t2 = bin(
        var("b"),
        BinOp::Div,
        bin(var("tokens"), BinOp::Pow, var("beta")),
    );
    bin(bin(var("e"), BinOp::Add, t1), BinOp::Add, t2)
}

pub fn chinchilla_coefs() -> Vec<CoefSpec> {
    vec![
        CoefSpec::new("e", 0.0, 10.0),
        CoefSpec::new("a", 1.0, 1e5),
        CoefSpec::new("b", 1.0, 1e5),
        CoefSpec::new("alpha", 0.0, 2.0),
        CoefSpec::new("beta", 0.0, 2.0),
    ]
}

#[test]
fn custom_form_evaluates_like_the_builtin() {
    let form = Form::Custom(CustomForm::new(chinchilla_expr(), chinchilla_coefs()).unwrap());
    assert_eq!(form.vars(), [Var::Params, Var::Tokens]);
    let custom = Law::new("mine", form, vec![1.69, 406.4, 410.7, 0.34, 0.28]).unwrap();
    let builtin = law::preset("hoffmann2022").unwrap().with_extrapolate(true);
    let a = Architecture::dense(12, 768, 12, 12, 3072);
    let (c, b) = (
        custom.predict(&a, Some(1e9)).unwrap(),
        builtin.predict(&a, Some(1e9)).unwrap(),
    );
    assert!((c - b).abs() < 1e-12, "{c} vs {b}");
    // Round-trips through JSON (the cache stores laws).
    let back: Law = serde_json::from_str(&serde_json::to_string(&custom).unwrap()).unwrap();
    assert_eq!(back, custom);
}

#[test]
fn custom_form_errors_name_the_problem() {
    let bad_name = bin(var("e"), BinOp::Add, var("depth"));
    let err = CustomForm::new(bad_name, vec![CoefSpec::new("e", 0.0, 5.0)]).unwrap_err();
    assert!(err.to_string().contains("`depth` is neither"), "{err}");
    let unused = CustomForm::new(
        var("e"),
        vec![CoefSpec::new("e", 0.0, 5.0), CoefSpec::new("k", 0.0, 1.0)],
    );
    assert!(
        unused
            .unwrap_err()
            .to_string()
            .contains("`k` does not appear")
    );
    let shadow = CustomForm::new(var("width"), vec![CoefSpec::new("width", 0.0, 5.0)]);
    assert!(
        shadow
            .unwrap_err()
            .to_string()
            .contains("name of a law variable")
    );
    let cmp = bin(
        var("e"),
        BinOp::Cmp(rooflaw_dsl::spec::CmpOp::Lt),
        var("layers"),
    );
    assert!(CustomForm::new(cmp, vec![CoefSpec::new("e", 0.0, 5.0)]).is_err());
    let wrong_count = Law::new("x", Form::Chinchilla, vec![1.0]).unwrap_err();
    assert!(
        wrong_count.to_string().contains("5 coefficients"),
        "{wrong_count}"
    );
}

#[test]
fn sun2026_predict_is_cheap() {
    // Not a benchmark, a guard: the search calls this millions of times.
    let law = law::preset("sun2026").unwrap();
    let a = qwen25_05b();
    let n = 200_000;
    let t = std::time::Instant::now();
    let mut s = 0.0;
    for i in 0..n {
        let mut b = a.clone();
        b.layers = 4 + (i % 28) as u32;
        s += law.predict(std::hint::black_box(&b), None).unwrap();
    }
    let per = t.elapsed().as_secs_f64() / f64::from(n);
    assert!(s > 0.0);
    eprintln!(
        "sun2026 predict: {:.0} ns per call (clone included)",
        per * 1e9
    );
    assert!(per < 1e-6, "{:.0} ns per prediction", per * 1e9);
}
