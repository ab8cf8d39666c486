//! The engine against small, real stages defined here: a `value` stage that
//! emits its parameter, a `sum` stage over its inputs, and a `squares` map
//! stage with one cached item per number.
use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use rooflaw_cache::Store;
use rooflaw_dsl::spec::{Arg, ArgValue, RefKind, Spec, Stage};
use rooflaw_dsl::{
    Code, Diagnostic, Dim, Param, ParamType, PresetKind, Quantity, Signature, Span, Spanned,
};
use rooflaw_engine::reason::quantity;
use rooflaw_engine::{
    Action, Artifact, Bars, Column, Inputs, MapStage, Options, Reason, Registry, RunCtx, Session,
    StageError, StageKind, Table,
};
use serde_json::{Value, json};

struct ValueKind(Signature);
impl StageKind for ValueKind {
    fn signature(&self) -> &Signature {
        &self.0
    }
    fn version(&self) -> u32 {
        1
    }
    fn resolve(&self, stage: &Stage, _: &Spec) -> Result<Value, Vec<Diagnostic>> {
        match stage.arg("x").map(|a| &a.value.node) {
            Some(ArgValue::Quantity(q)) => Ok(json!({ "x": quantity(*q) })),
            _ => Err(vec![Diagnostic::error(
                Code::InvalidValue,
                "x must be a number",
            )]),
        }
    }
    fn run(&self, _: &RunCtx, params: &Value, _: &Inputs) -> Result<Artifact, StageError> {
        let x = params["x"]["si"].as_f64().unwrap();
        // Rounded so that small edits can produce an identical output (early cutoff).
        Ok(Artifact::table(
            "value",
            Table::new().with("x", Column::F64(vec![x.round()])),
        ))
    }
}

struct SumKind(Signature);
impl StageKind for SumKind {
    fn signature(&self) -> &Signature {
        &self.0
    }
    fn version(&self) -> u32 {
        1
    }
    fn resolve(&self, _: &Stage, _: &Spec) -> Result<Value, Vec<Diagnostic>> {
        Ok(json!({}))
    }
    fn run(&self, _: &RunCtx, _: &Value, inputs: &Inputs) -> Result<Artifact, StageError> {
        let s: f64 = inputs
            .all("of")
            .iter()
            .map(|(_, a)| a.as_table().unwrap().f64s("x").unwrap()[0])
            .sum();
        Ok(Artifact::table(
            "value",
            Table::new().with("x", Column::F64(vec![s])),
        ))
    }
}

struct SquaresKind(Signature);
impl StageKind for SquaresKind {
    fn signature(&self) -> &Signature {
        &self.0
    }
    fn version(&self) -> u32 {
        1
    }
    fn resolve(&self, stage: &Stage, _: &Spec) -> Result<Value, Vec<Diagnostic>> {
        match stage.arg("n").map(|a| &a.value.node) {
            Some(ArgValue::Quantity(q)) => Ok(json!({ "n": q.value })),
            _ => Err(vec![]),
        }
    }
    fn run(&self, _: &RunCtx, _: &Value, _: &Inputs) -> Result<Artifact, StageError> {
        unreachable!("map stage")
    }
    fn as_map(&self) -> Option<&dyn MapStage> {
        Some(self)
    }
}
impl MapStage for SquaresKind {
    fn items(&self, params: &Value, _: &Inputs) -> Result<Vec<Value>, StageError> {
        Ok((0..params["n"].as_f64().unwrap() as i64)
            .map(|i| json!({ "i": i }))
            .collect())
    }
    fn run_item(&self, _: &RunCtx, item: &Value) -> Result<Artifact, StageError> {
        let i = item["i"].as_f64().unwrap();
        Ok(Artifact::json("square", json!(i * i)))
    }
    fn combine(
        &self,
        _: &Value,
        _: &Inputs,
        _: &[Value],
        results: &[Arc<Artifact>],
    ) -> Result<Artifact, StageError> {
        let v: Vec<f64> = results
            .iter()
            .map(|a| a.as_json().unwrap().as_f64().unwrap())
            .collect();
        Ok(Artifact::table(
            "squares",
            Table::new().with("x", Column::F64(v)),
        ))
    }
}

fn param(name: &'static str, ty: ParamType) -> Param {
    Param {
        name,
        ty,
        required: true,
        positional: true,
        doc: "",
    }
}

fn registry() -> Registry {
    let mut r = Registry::new(|_: PresetKind| vec![], &[], &[]);
    r.register(Arc::new(ValueKind(Signature {
        kind: "value",
        doc: "",
        params: vec![param("x", ParamType::Number(Dim::TIME))],
    })));
    r.register(Arc::new(SumKind(Signature {
        kind: "sum",
        doc: "",
        params: vec![param(
            "of",
            ParamType::OneOrMany(Box::new(ParamType::Stage)),
        )],
    })));
    r.register(Arc::new(SquaresKind(Signature {
        kind: "squares",
        doc: "",
        params: vec![param("n", ParamType::Integer)],
    })));
    r
}

fn sp<T>(node: T) -> Spanned<T> {
    Spanned::new(node, Span::default())
}

fn stage(name: &str, kind: &str, args: Vec<(&str, ArgValue)>) -> Stage {
    Stage {
        name: sp(name.into()),
        kind: sp(kind.into()),
        args: args
            .into_iter()
            .map(|(p, v)| Arg {
                param: p.into(),
                value: sp(v),
            })
            .collect(),
        span: Span::default(),
    }
}

fn refs(names: &[&str]) -> ArgValue {
    ArgValue::List(
        names
            .iter()
            .map(|n| sp(ArgValue::Ref(RefKind::Stage, sp((*n).to_string()))))
            .collect(),
    )
}

/// a, b: values (in ms); total = sum(a, b); other = sum(b); sq = squares(n).
fn spec(a_ms: f64, b_ms: f64, n: f64) -> Spec {
    let ms = |v: f64| ArgValue::Quantity(Quantity::new(v / 1000.0 * 1000.0, Dim::TIME));
    Spec {
        stages: vec![
            stage("a", "value", vec![("x", ms(a_ms))]),
            stage("b", "value", vec![("x", ms(b_ms))]),
            stage("total", "sum", vec![("of", refs(&["a", "b"]))]),
            stage("other", "sum", vec![("of", refs(&["b"]))]),
            stage(
                "sq",
                "squares",
                vec![("n", ArgValue::Quantity(Quantity::plain(n)))],
            ),
        ],
        ..Spec::default()
    }
}

struct Fixture {
    _dir: tempfile::TempDir,
    store: Store,
    pipeline: std::path::PathBuf,
    registry: Registry,
}

impl Fixture {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let pipeline = dir.path().join("p.pipeline");
        std::fs::write(&pipeline, "").unwrap();
        let store = Store::open(&dir.path().join(".rooflaw")).unwrap();
        Fixture {
            _dir: dir,
            store,
            pipeline,
            registry: registry(),
        }
    }

    fn plan(&self, spec: &Spec, opts: &Options) -> Vec<(String, Action, Vec<Reason>)> {
        let s = Session::new(spec, &self.registry, &self.store, &self.pipeline).unwrap();
        s.plan(opts)
            .into_iter()
            .map(|e| (e.stage, e.action, e.reasons))
            .collect()
    }

    fn run(&self, spec: &Spec, opts: &Options) -> Vec<(String, Action)> {
        self.outcomes(spec, opts)
            .into_iter()
            .map(|o| (o.stage, o.action))
            .collect()
    }

    fn outcomes(&self, spec: &Spec, opts: &Options) -> Vec<rooflaw_engine::Outcome> {
        let s = Session::new(spec, &self.registry, &self.store, &self.pipeline).unwrap();
        let cancel = Arc::new(AtomicBool::new(false));
        s.run(opts, &Bars::new(false), &cancel).unwrap()
    }
}

fn actions(plan: &[(String, Action, Vec<Reason>)]) -> Vec<(&str, Action)> {
    plan.iter().map(|(s, a, _)| (s.as_str(), *a)).collect()
}

#[test]
fn fresh_cache_runs_everything_then_nothing() {
    let f = Fixture::new();
    let p = f.plan(&spec(1.0, 2.0, 3.0), &Options::default());
    assert!(p.iter().all(|(_, a, r)| {
        *a == Action::Run
            && r.iter()
                .any(|r| matches!(r, Reason::NeverRun | Reason::UpstreamWillRerun { .. }))
    }));
    f.run(&spec(1.0, 2.0, 3.0), &Options::default());
    let p = f.plan(&spec(1.0, 2.0, 3.0), &Options::default());
    assert!(p.iter().all(|(_, a, _)| *a == Action::Cached), "{p:?}");
}

#[test]
fn a_parameter_edit_reruns_only_downstream_with_the_change_named() {
    let f = Fixture::new();
    f.run(&spec(1.0, 2.0, 3.0), &Options::default());
    let p = f.plan(&spec(5.0, 2.0, 3.0), &Options::default());
    assert_eq!(
        actions(&p),
        vec![
            ("a", Action::Run),
            ("b", Action::Cached),
            ("total", Action::Run),
            ("other", Action::Cached),
            ("sq", Action::Cached)
        ]
    );
    let Reason::ParamChanged { changes } = &p[0].2[0] else {
        panic!("{:?}", p[0].2)
    };
    assert_eq!(changes[0].path, "x");
    assert_eq!(changes[0].old.as_deref(), Some("1 s"));
    assert_eq!(changes[0].new.as_deref(), Some("5 s"));
    assert!(matches!(&p[2].2[0], Reason::UpstreamWillRerun { stages } if stages == &["a"]));
    // Reverting makes everything cached again.
    f.run(&spec(5.0, 2.0, 3.0), &Options::default());
    let p = f.plan(&spec(1.0, 2.0, 3.0), &Options::default());
    assert!(p.iter().all(|(_, a, _)| *a == Action::Cached), "{p:?}");
}

#[test]
fn identical_output_cuts_off_the_cascade() {
    let f = Fixture::new();
    f.run(&spec(1000.0, 2.0, 3.0), &Options::default());
    // 1000 ms → 1000.2 ms: `a` reruns but rounds to the same output, so
    // `total` (which reads it) is cached and never runs.
    let ran = f.run(&spec(1000.2, 2.0, 3.0), &Options::default());
    assert_eq!(ran.iter().find(|(s, _)| s == "a").unwrap().1, Action::Run);
    assert_eq!(
        ran.iter().find(|(s, _)| s == "total").unwrap().1,
        Action::Cached
    );
}

#[test]
fn map_items_are_cached_one_by_one() {
    let f = Fixture::new();
    f.run(&spec(1.0, 2.0, 3.0), &Options::default());
    let out = f.outcomes(&spec(1.0, 2.0, 5.0), &Options::default());
    let sq = out.iter().find(|o| o.stage == "sq").unwrap();
    assert_eq!(
        (sq.items_run, sq.items_cached),
        (2, 3),
        "only the two new items run"
    );
}

#[test]
fn forcing_and_until() {
    let f = Fixture::new();
    f.run(&spec(1.0, 2.0, 3.0), &Options::default());
    let opts = Options {
        force: ["b".to_string()].into(),
        ..Options::default()
    };
    let p = f.plan(&spec(1.0, 2.0, 3.0), &opts);
    assert_eq!(p[1].2, vec![Reason::Forced]);
    assert_eq!(p[3].1, Action::Run);
    let opts = Options {
        until: Some("other".into()),
        force_all: true,
        ..Options::default()
    };
    let p = f.plan(&spec(1.0, 2.0, 3.0), &opts);
    assert_eq!(
        actions(&p),
        vec![
            ("a", Action::Skip),
            ("b", Action::Run),
            ("total", Action::Skip),
            ("other", Action::Run),
            ("sq", Action::Skip)
        ]
    );
}

#[test]
fn a_corrupt_output_is_detected_and_recomputed() {
    let f = Fixture::new();
    let s = spec(1.0, 2.0, 3.0);
    f.run(&s, &Options::default());
    // Corrupt every object on disk.
    for entry in walk(&f.store.root().join("objects")) {
        let mut bytes = std::fs::read(&entry).unwrap();
        bytes[0] ^= 0xff;
        std::fs::write(&entry, bytes).unwrap();
    }
    let p = f.plan(&s, &Options::default());
    assert!(
        p.iter()
            .any(|(_, _, r)| r.iter().any(|r| matches!(r, Reason::OutputMissing { .. }))),
        "{p:?}"
    );
    let ran = f.run(&s, &Options::default());
    assert!(ran.iter().any(|(_, a)| *a == Action::Run));
    let p = f.plan(&s, &Options::default());
    assert!(p.iter().all(|(_, a, _)| *a == Action::Cached), "{p:?}");
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out
}

#[test]
fn gc_keeps_the_items_of_a_cached_map_stage() {
    let mut f = Fixture::new();
    f.run(&spec(1.0, 2.0, 3.0), &Options::default());
    // A second, fully cached run is the only root kept below.
    assert!(
        f.run(&spec(1.0, 2.0, 3.0), &Options::default())
            .iter()
            .all(|(_, a)| *a == Action::Cached)
    );
    let roots = f.store.run_roots(1).unwrap();
    let report = f.store.gc(&roots, false).unwrap();
    let _ = report;
    // Growing the map stage reuses the three items that survived gc.
    let out = f.outcomes(&spec(1.0, 2.0, 4.0), &Options::default());
    let sq = out.iter().find(|o| o.stage == "sq").unwrap();
    assert_eq!((sq.items_run, sq.items_cached), (1, 3));
}

/// When each stage run or map item started and ended, and whether it was
/// exclusive.
type Log = Arc<std::sync::Mutex<Vec<(String, bool, std::time::Instant, std::time::Instant)>>>;

/// `busy` (shared) and `timed` (exclusive, a map stage of two items): each
/// run or item sleeps and records its interval.
struct Recorder {
    sig: Signature,
    exclusive: bool,
    log: Log,
}

impl Recorder {
    fn work(&self, what: String) {
        let start = std::time::Instant::now();
        std::thread::sleep(std::time::Duration::from_millis(30));
        self.log
            .lock()
            .unwrap()
            .push((what, self.exclusive, start, std::time::Instant::now()));
    }
}

impl StageKind for Recorder {
    fn signature(&self) -> &Signature {
        &self.sig
    }
    fn version(&self) -> u32 {
        1
    }
    fn resolve(&self, stage: &Stage, _: &Spec) -> Result<Value, Vec<Diagnostic>> {
        // Distinct keys, so no stage or item reuses another's output.
        Ok(json!({ "name": stage.name.node }))
    }
    fn exclusive(&self) -> bool {
        self.exclusive
    }
    fn run(&self, ctx: &RunCtx, _: &Value, _: &Inputs) -> Result<Artifact, StageError> {
        self.work(ctx.stage.clone());
        Ok(Artifact::json("done", json!(ctx.stage)))
    }
    fn as_map(&self) -> Option<&dyn MapStage> {
        if self.exclusive { Some(self) } else { None }
    }
}

impl MapStage for Recorder {
    fn items(&self, params: &Value, _: &Inputs) -> Result<Vec<Value>, StageError> {
        Ok(vec![json!([params["name"], 0]), json!([params["name"], 1])])
    }
    fn run_item(&self, ctx: &RunCtx, item: &Value) -> Result<Artifact, StageError> {
        self.work(format!("{}[{item}]", ctx.stage));
        Ok(Artifact::json("done", item.clone()))
    }
    fn combine(
        &self,
        _: &Value,
        _: &Inputs,
        items: &[Value],
        _: &[Arc<Artifact>],
    ) -> Result<Artifact, StageError> {
        Ok(Artifact::json("done", json!(items)))
    }
}

#[test]
fn exclusive_stages_and_their_items_run_alone() {
    let log: Log = Arc::default();
    let mut r = Registry::new(|_: PresetKind| vec![], &[], &[]);
    for (kind, exclusive) in [("busy", false), ("timed", true)] {
        r.register(Arc::new(Recorder {
            sig: Signature {
                kind,
                doc: "",
                params: vec![],
            },
            exclusive,
            log: log.clone(),
        }));
    }
    // One wave: nothing depends on anything.
    let spec = Spec {
        stages: vec![
            stage("t1", "timed", vec![]),
            stage("b1", "busy", vec![]),
            stage("b2", "busy", vec![]),
            stage("t2", "timed", vec![]),
            stage("b3", "busy", vec![]),
        ],
        ..Spec::default()
    };
    let f = Fixture::new();
    let s = Session::new(&spec, &r, &f.store, &f.pipeline).unwrap();
    let out = s
        .run(
            &Options::default(),
            &Bars::new(false),
            &Arc::new(AtomicBool::new(false)),
        )
        .unwrap();
    assert_eq!(out.len(), 5);
    let log = log.lock().unwrap();
    assert_eq!(log.len(), 3 + 2 * 2, "{log:?}");
    for (name, exclusive, start, end) in log.iter() {
        if !exclusive {
            continue;
        }
        for (other, _, s2, e2) in log.iter() {
            let overlap = other != name && s2 < end && start < e2;
            assert!(!overlap, "{name} overlapped {other}");
        }
    }
}

/// An exclusive map stage whose items are the numbers in `items` when the
/// session resolves it; it records the items of each `run_items` call.
struct Batcher {
    sig: Signature,
    items: std::sync::Mutex<Vec<i64>>,
    batches: std::sync::Mutex<Vec<Vec<i64>>>,
}

impl StageKind for Batcher {
    fn signature(&self) -> &Signature {
        &self.sig
    }
    fn version(&self) -> u32 {
        1
    }
    fn resolve(&self, _: &Stage, _: &Spec) -> Result<Value, Vec<Diagnostic>> {
        Ok(json!({ "items": *self.items.lock().unwrap() }))
    }
    fn exclusive(&self) -> bool {
        true
    }
    fn run(&self, _: &RunCtx, _: &Value, _: &Inputs) -> Result<Artifact, StageError> {
        Err(StageError::new("runs item by item"))
    }
    fn as_map(&self) -> Option<&dyn MapStage> {
        Some(self)
    }
}

impl MapStage for Batcher {
    fn items(&self, params: &Value, _: &Inputs) -> Result<Vec<Value>, StageError> {
        Ok(params["items"].as_array().unwrap().clone())
    }
    fn run_item(&self, _: &RunCtx, _: &Value) -> Result<Artifact, StageError> {
        Err(StageError::new("items run together"))
    }
    fn run_items(&self, items: &[(&RunCtx, &Value)]) -> Vec<Result<Artifact, StageError>> {
        let batch: Vec<i64> = items.iter().map(|(_, v)| v.as_i64().unwrap()).collect();
        self.batches.lock().unwrap().push(batch.clone());
        batch
            .iter()
            .map(|i| Ok(Artifact::json("square", json!(i * i))))
            .collect()
    }
    fn combine(
        &self,
        _: &Value,
        _: &Inputs,
        _: &[Value],
        results: &[Arc<Artifact>],
    ) -> Result<Artifact, StageError> {
        let all: Vec<Value> = results
            .iter()
            .map(|a| a.as_json().unwrap().clone())
            .collect();
        Ok(Artifact::json("squares", json!(all)))
    }
}

#[test]
fn an_exclusive_map_stage_gets_its_uncached_items_in_one_call() {
    let batcher = Arc::new(Batcher {
        sig: Signature {
            kind: "batch",
            doc: "",
            params: vec![],
        },
        items: std::sync::Mutex::new(vec![1, 2, 3]),
        batches: std::sync::Mutex::default(),
    });
    let mut r = Registry::new(|_: PresetKind| vec![], &[], &[]);
    r.register(batcher.clone());
    let spec = Spec {
        stages: vec![stage("b", "batch", vec![])],
        ..Spec::default()
    };
    let f = Fixture::new();
    let run = || {
        let s = Session::new(&spec, &r, &f.store, &f.pipeline).unwrap();
        s.run(
            &Options::default(),
            &Bars::new(false),
            &Arc::new(AtomicBool::new(false)),
        )
        .unwrap()
    };
    run();
    *batcher.items.lock().unwrap() = vec![4, 1, 5, 3];
    let out = run();
    assert_eq!((out[0].items_run, out[0].items_cached), (2, 2));
    // Everything new in one call, in item order; cached items not at all.
    assert_eq!(
        *batcher.batches.lock().unwrap(),
        vec![vec![1, 2, 3], vec![4, 5]]
    );
    let bytes = f
        .store
        .get(&out[0].output.parse().unwrap())
        .unwrap()
        .unwrap();
    let squares = Artifact::decode(&bytes).unwrap();
    assert_eq!(squares.as_json().unwrap(), &json!([16, 1, 25, 9]));
}

/// `gate` waits (up to a deadline, so a broken scheduler fails instead of
/// hanging) until `open` has run; `open` depends on `first`.
struct Gate {
    sig: Signature,
    open: Arc<AtomicBool>,
    /// `wait`, `open` or `fail`.
    mode: &'static str,
}

impl StageKind for Gate {
    fn signature(&self) -> &Signature {
        &self.sig
    }
    fn version(&self) -> u32 {
        1
    }
    fn resolve(&self, stage: &Stage, _: &Spec) -> Result<Value, Vec<Diagnostic>> {
        Ok(json!({ "name": stage.name.node }))
    }
    fn run(&self, ctx: &RunCtx, _: &Value, _: &Inputs) -> Result<Artifact, StageError> {
        use std::sync::atomic::Ordering;
        match self.mode {
            "open" => {
                self.open.store(true, Ordering::SeqCst);
                return Ok(Artifact::json("done", json!(ctx.stage)));
            }
            "fail" => return Err(StageError::new("boom")),
            _ => {}
        }
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        while !self.open.load(Ordering::SeqCst) {
            if ctx.cancelled() {
                return Err(StageError::new("cancelled"));
            }
            if std::time::Instant::now() > deadline {
                return Err(StageError::new("never released"));
            }
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        Ok(Artifact::json("done", json!(ctx.stage)))
    }
}

fn gate_registry(open: &Arc<AtomicBool>) -> Registry {
    let mut r = registry();
    for mode in ["wait", "open", "fail"] {
        r.register(Arc::new(Gate {
            sig: Signature {
                kind: mode,
                doc: "",
                params: vec![Param {
                    name: "after",
                    ty: ParamType::Stage,
                    required: false,
                    positional: true,
                    doc: "",
                }],
            },
            open: open.clone(),
            mode,
        }));
    }
    r
}

fn after(upstream: &str) -> (&'static str, ArgValue) {
    (
        "after",
        ArgValue::Ref(RefKind::Stage, sp(upstream.to_string())),
    )
}

fn value_a() -> Stage {
    stage(
        "a",
        "value",
        vec![("x", ArgValue::Quantity(Quantity::new(1.0, Dim::TIME)))],
    )
}

/// Run `spec` once with the gate stages registered.
fn run_gated(
    spec: &Spec,
    r: &Registry,
) -> Result<Vec<rooflaw_engine::Outcome>, rooflaw_engine::RunFailure> {
    let f = Fixture::new();
    Session::new(spec, r, &f.store, &f.pipeline).unwrap().run(
        &Options::default(),
        &Bars::new(false),
        &Arc::new(AtomicBool::new(false)),
    )
}

#[test]
fn a_stage_starts_when_its_inputs_are_ready_not_when_its_wave_is() {
    let open = Arc::new(AtomicBool::new(false));
    let r = gate_registry(&open);
    // `slow` shares the first wave with `a`; `release` is in the second.
    let spec = Spec {
        stages: vec![
            stage("slow", "wait", vec![]),
            value_a(),
            stage("release", "open", vec![after("a")]),
        ],
        ..Spec::default()
    };
    assert_eq!(run_gated(&spec, &r).unwrap().len(), 3);
}

#[test]
fn a_failed_stage_is_named_with_what_finished() {
    let open = Arc::new(AtomicBool::new(false));
    let r = gate_registry(&open);
    let span = Span::new(rooflaw_dsl::FileId(0), 10, 20);
    let mut bad = stage("bad", "fail", vec![after("a")]);
    bad.span = span;
    let spec = Spec {
        stages: vec![value_a(), bad, stage("later", "open", vec![after("bad")])],
        ..Spec::default()
    };
    let failure = run_gated(&spec, &r).unwrap_err();
    let d = failure.diagnostic();
    assert_eq!(d.message, "stage `bad` failed: boom");
    assert_eq!(d.labels[0].span, span);
    assert_eq!(d.help.as_deref(), Some("finished (kept in the cache): `a`"));
    assert!(
        !open.load(std::sync::atomic::Ordering::SeqCst),
        "`later` must not start"
    );
}

#[test]
fn cancelling_stops_the_run_and_keeps_what_finished() {
    let open = Arc::new(AtomicBool::new(false));
    let r = gate_registry(&open);
    let spec = Spec {
        stages: vec![value_a(), stage("slow", "wait", vec![after("a")])],
        ..Spec::default()
    };
    let f = Fixture::new();
    let s = Session::new(&spec, &r, &f.store, &f.pipeline).unwrap();
    let cancel = Arc::new(AtomicBool::new(false));
    let failure = std::thread::scope(|scope| {
        let run = scope.spawn(|| s.run(&Options::default(), &Bars::new(false), &cancel));
        // Cancel once `a` is committed and `slow` is waiting.
        while s.plan(&Options::default())[0].action != Action::Cached {
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        cancel.store(true, std::sync::atomic::Ordering::SeqCst);
        run.join().unwrap().unwrap_err()
    });
    assert!(failure.cancelled(), "{failure}");
    let finished: Vec<&str> = failure.finished.iter().map(|o| o.stage.as_str()).collect();
    assert_eq!(finished, ["a"]);
    assert!(failure.diagnostic().help.unwrap().contains("`a`"));
    let p: Vec<(String, Action)> = Session::new(&spec, &r, &f.store, &f.pipeline)
        .unwrap()
        .plan(&Options::default())
        .into_iter()
        .map(|e| (e.stage, e.action))
        .collect();
    assert_eq!(
        p,
        [("a".into(), Action::Cached), ("slow".into(), Action::Run)]
    );
}
