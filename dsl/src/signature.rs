//! Stage signatures: what the lowering checks stage calls against. The DSL
//! knows no stage kinds; the stdlib registers them through [`Registry`].
use crate::units::Dim;

/// The type of a stage parameter.
#[derive(Clone, Debug, PartialEq)]
pub enum ParamType {
    /// Another stage's output.
    Stage,
    Hardware,
    Workload,
    Space,
    Budget,
    /// A `corpus` block's name.
    Corpus,
    /// A number of this dimension; a bare number is accepted for counts and tokens.
    Number(Dim),
    /// A whole number (counts, seeds).
    Integer,
    Str,
    Bool,
    /// A bare word from a fixed set: `objective: total`.
    Enum(&'static [&'static str]),
    /// A preset name of this kind, as a string (`"qwen2.5-0.5b"`), checked
    /// against [`Registry::presets`].
    Preset(PresetKind),
    /// An expression over candidate fields and named coefficients.
    Expr,
    List(Box<ParamType>),
    /// One value, or a list of them: `pareto([fp16, int8], ...)`.
    OneOrMany(Box<ParamType>),
    /// Any of these.
    Either(Vec<ParamType>),
    Map,
}

impl ParamType {
    /// How the type reads in an error message.
    pub fn describe(&self) -> String {
        match self {
            ParamType::Stage => "a stage".into(),
            ParamType::Hardware => "a hardware name".into(),
            ParamType::Workload => "a workload name".into(),
            ParamType::Space => "a space name".into(),
            ParamType::Budget => "a budget name".into(),
            ParamType::Corpus => "a corpus name".into(),
            ParamType::Number(d) => d.describe(),
            ParamType::Integer => "a whole number".into(),
            ParamType::Str => "a string".into(),
            ParamType::Bool => "`true` or `false`".into(),
            ParamType::Enum(opts) => {
                let q: Vec<String> = opts.iter().map(|o| format!("`{o}`")).collect();
                format!("one of {}", q.join(", "))
            }
            ParamType::Preset(k) => format!("a {} preset name", k.noun()),
            ParamType::Expr => "an expression".into(),
            ParamType::List(t) => format!("a list of {}", t.describe()),
            ParamType::OneOrMany(t) => format!("{} or a list of them", t.describe()),
            ParamType::Either(ts) => ts
                .iter()
                .map(ParamType::describe)
                .collect::<Vec<_>>()
                .join(" or "),
            ParamType::Map => "a map `{ key: value }`".into(),
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum PresetKind {
    Hardware,
    Model,
    Budget,
    Law,
    Workload,
    Corpus,
}

impl PresetKind {
    pub fn noun(self) -> &'static str {
        match self {
            PresetKind::Hardware => "hardware",
            PresetKind::Model => "model",
            PresetKind::Budget => "budget",
            PresetKind::Law => "law",
            PresetKind::Workload => "workload",
            PresetKind::Corpus => "corpus",
        }
    }
}

#[derive(Clone, Debug)]
pub struct Param {
    pub name: &'static str,
    pub ty: ParamType,
    pub required: bool,
    /// May be given without `name:`, in declaration order.
    pub positional: bool,
    pub doc: &'static str,
}

impl Param {
    /// What the stage works on: required, and may be given first without
    /// its name (`fit(runs, ...)`).
    pub fn input(name: &'static str, ty: ParamType, doc: &'static str) -> Param {
        Param {
            name,
            ty,
            required: true,
            positional: true,
            doc,
        }
    }

    /// A named argument the stage cannot do without (`hardware: h`).
    pub fn required(name: &'static str, ty: ParamType, doc: &'static str) -> Param {
        Param {
            required: true,
            positional: false,
            ..Param::input(name, ty, doc)
        }
    }

    /// A named argument with a default, which `doc` states.
    pub fn optional(name: &'static str, ty: ParamType, doc: &'static str) -> Param {
        Param {
            required: false,
            positional: false,
            ..Param::input(name, ty, doc)
        }
    }
}

#[derive(Clone, Debug)]
pub struct Signature {
    pub kind: &'static str,
    pub doc: &'static str,
    pub params: Vec<Param>,
}

impl Signature {
    pub fn param(&self, name: &str) -> Option<&Param> {
        self.params.iter().find(|p| p.name == name)
    }
}

/// What the lowering needs to know about the world outside the language.
pub trait Registry {
    fn signature(&self, kind: &str) -> Option<&Signature>;
    /// All stage kinds, for did-you-mean.
    fn kinds(&self) -> Vec<&'static str>;
    /// Preset names of a kind, for validation and did-you-mean.
    fn presets(&self, kind: PresetKind) -> Vec<String>;
    /// Names a space may define as architecture fields (`layers`, `width`...).
    fn space_fields(&self) -> &[&'static str];
    /// Names computed by the enumerator that `require` may use (`params`...).
    fn space_builtins(&self) -> &[&'static str];
}
