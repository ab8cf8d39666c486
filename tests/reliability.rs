//! Running a pipeline someone else wrote: it stays inside its project (a
//! decoy directory beside it is hashed before and after every attack), no
//! command panics when its output goes nowhere, concurrent runs of one
//! pipeline agree, and a run killed at any point leaves a cache that
//! verifies and a rerun that produces the same bytes.
//!
//! Larger counts (20 concurrent rounds, 30 kills) run with
//! `cargo test --release --test reliability -- --ignored`.
mod common;

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use common::{command, rooflaw_in};

const QUICKSTART: &str = include_str!("../pipelines/quickstart.pipeline");

/// A project `p/` with the quickstart as `q.pipeline`, and a decoy
/// directory beside it that nothing may touch.
struct World {
    dir: tempfile::TempDir,
}

impl World {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let w = World { dir };
        fs::create_dir_all(w.project()).unwrap();
        fs::write(w.project().join("q.pipeline"), QUICKSTART).unwrap();
        let decoy = w.decoy();
        fs::create_dir_all(decoy.join("data")).unwrap();
        fs::write(decoy.join("bashrc"), "export PATH=/precious\n").unwrap();
        fs::write(
            decoy.join("shadow"),
            "root:$6$SECRETHASH:19000:0:99999:7:::\n",
        )
        .unwrap();
        fs::write(decoy.join("data/x.csv"), "a,b\n1,2\n").unwrap();
        fs::write(decoy.join("hw.yaml"), "id: SECRETYAML\n").unwrap();
        w
    }
    fn project(&self) -> PathBuf {
        self.dir.path().join("p")
    }
    fn decoy(&self) -> PathBuf {
        self.dir.path().join("decoy")
    }
    fn write(&self, rel: &str, text: &str) {
        let p = self.project().join(rel);
        fs::create_dir_all(p.parent().unwrap()).unwrap();
        fs::write(p, text).unwrap();
    }
    fn run(&self, args: &[&str]) -> Output {
        rooflaw_in(&self.project(), args)
    }
}

/// Every name, type and byte under `dir`, links not followed.
fn fingerprint(dir: &Path) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in fs::read_dir(&d).unwrap().flatten() {
            let p = e.path();
            let rel = p.strip_prefix(dir).unwrap().to_string_lossy().into_owned();
            let meta = fs::symlink_metadata(&p).unwrap();
            let what = if meta.is_symlink() {
                format!("link {}", fs::read_link(&p).unwrap().display())
            } else if meta.is_dir() {
                stack.push(p);
                "dir".into()
            } else {
                format!("file {:?}", fs::read(&p).unwrap())
            };
            out.insert(rel, what);
        }
    }
    out
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

fn assert_no_panic(out: &Output, what: &str) {
    let t = text(out);
    assert_ne!(out.status.code(), Some(101), "{what} panicked:\n{t}");
    assert!(!t.contains("panicked"), "{what} panicked:\n{t}");
}

/// `check --format json` of a pipeline: its diagnostics.
fn check_json(w: &World, file: &str) -> Vec<serde_json::Value> {
    let out = w.run(&["check", "--format", "json", file]);
    assert_no_panic(&out, file);
    serde_json::from_slice(&out.stdout).unwrap_or_else(|_| panic!("json: {}", text(&out)))
}

#[cfg(unix)]
#[test]
fn nothing_outside_the_project_is_read_or_written() {
    use std::os::unix::fs::symlink;
    let w = World::new();
    let decoy = w.decoy();
    let before = fingerprint(&decoy);
    let abs = decoy.to_string_lossy().into_owned();

    // Paths that lead out: each a located error at check time that quotes
    // nothing of the file it names.
    symlink(decoy.join("hw.yaml"), w.project().join("hw.yaml")).unwrap();
    symlink(&decoy, w.project().join("elsewhere")).unwrap();
    let escapes = [
        format!("use \"{abs}/shadow\"\n"),
        "use \"../decoy/shadow\"\n".to_string(),
        "stage m = measurements(\"../../../../../../../etc/shadow\")\nreport m to \"out2\"\n"
            .to_string(),
        format!("stage m = measurements(\"{abs}/data/x.csv\")\n"),
        "stage m = measurements(\"elsewhere/data/x.csv\")\n".to_string(),
        "hardware h from \"hw.yaml\" {}\nstage r = roofline(hardware: h)\n".to_string(),
        format!("{QUICKSTART}\nreport best to \"{abs}/out\"\n"),
        format!("{QUICKSTART}\nreport best to \"../../x\"\n"),
        format!("{QUICKSTART}\nreport best to \"elsewhere/out\"\n"),
    ];
    for (i, src) in escapes.iter().enumerate() {
        let name = format!("escape{i}.pipeline");
        w.write(&name, src);
        let diags = check_json(&w, &name);
        let errors: Vec<_> = diags.iter().filter(|d| d["severity"] == "error").collect();
        assert!(!errors.is_empty(), "{src}: accepted");
        assert!(
            errors.iter().any(|d| d["line"].is_number()),
            "{src}: no located error: {diags:?}"
        );
        let all = serde_json::to_string(&diags).unwrap();
        assert!(!all.contains("SECRET"), "{src}: quotes the file: {all}");
        let human = w.run(&["check", &name]);
        assert!(!text(&human).contains("SECRET"), "{}", text(&human));
        let run = w.run(&["run", "-q", &name]);
        assert_ne!(run.status.code(), Some(0), "{src}: ran");
        assert!(!text(&run).contains("SECRET"), "{}", text(&run));
    }

    // Links planted in the report directory: a temporary name pointing at
    // a file outside, and `data/` pointing at a directory outside with a
    // list that claims its files.
    let report = w.project().join("out/quickstart");
    fs::create_dir_all(report.join("data")).unwrap();
    symlink(decoy.join("bashrc"), report.join("data/best.csv.tmp")).unwrap();
    symlink(decoy.join("bashrc"), report.join("index.html.tmp")).unwrap();
    let out = w.run(&["run", "-q", "q.pipeline"]);
    assert!(out.status.success(), "{}", text(&out));
    fs::remove_dir_all(&report).unwrap();
    fs::create_dir_all(&report).unwrap();
    symlink(decoy.join("data"), report.join("data")).unwrap();
    fs::write(report.join(".rooflaw-report"), "data/x.csv\nindex.html\n").unwrap();
    let out = w.run(&["run", "-q", "--force", "best", "q.pipeline"]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(report.join("data/best.csv").is_file());

    assert_eq!(fingerprint(&decoy), before, "the decoy directory changed");

    // Allowed explicitly, a report may go outside.
    w.write(
        "wide.pipeline",
        &format!("{QUICKSTART}\nreport best to \"../wide\"\n"),
    );
    let out = w.run(&["run", "-q", "--allow-outside-root", "wide.pipeline"]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(w.dir.path().join("wide/data/best.csv").is_file());
}

/// Every subcommand, its stdout (or stderr) closed or a pipe whose reader
/// has gone: no panic, ever.
#[cfg(unix)]
#[test]
fn closed_output_never_panics() {
    let w = World::new();
    w.write(
        "errs.pipeline",
        "stage x = bogus(\nstage y = law(\"nope\")\n",
    );
    w.write("runs.csv", "layers,width,ffn_ratio,rho,kv_dim,loss\n4,512,4,1,64,3.9\n8,512,4,1,64,3.7\n8,1024,4,1,64,3.5\n16,1024,4,1,64,3.3\n16,2048,4,1,64,3.1\n24,2048,4,1,64,3.0\n24,4096,4,1,64,2.9\n32,4096,4,1,64,2.8\n");
    let out = w.run(&["run", "-q", "q.pipeline"]);
    assert!(out.status.success(), "{}", text(&out));
    let commands: &[&[&str]] = &[
        &["--help"],
        &["--version"],
        &["check", "q.pipeline"],
        &["check", "--format", "json", "errs.pipeline"],
        &["check", "--summary", "q.pipeline"],
        &["run", "q.pipeline"],
        &["run", "-q", "q.pipeline"],
        &["plan", "q.pipeline"],
        &["plan", "--format", "json", "q.pipeline"],
        &["explain", "q.pipeline", "best"],
        &["graph", "q.pipeline"],
        &["graph", "--format", "mermaid", "q.pipeline"],
        &["cache", "ls"],
        &["cache", "verify"],
        &["cache", "gc", "--dry-run"],
        &[
            "roofline",
            "--model",
            "qwen2.5-0.5b",
            "--hardware",
            "jetson-orin-nano-8gb",
            "--ops",
        ],
        &["presets", "hardware"],
        &["presets", "models"],
        &["presets", "hardware", "jetson-orin-nano-8gb"],
        &[
            "fit",
            "--form",
            "sun2026",
            "--starts",
            "2",
            "--bootstrap",
            "0",
            "runs.csv",
        ],
        &["run", "errs.pipeline"],
    ];
    let mut cases = 0;
    for args in commands {
        for how in ["closed stdout", "closed stderr", "broken pipe"] {
            let mut c = Command::new("sh");
            let redirect = match how {
                "closed stdout" => ">&-",
                "closed stderr" => "2>&-",
                _ => "",
            };
            c.arg("-c")
                .arg(format!("exec \"$0\" \"$@\" {redirect}"))
                .arg(env!("CARGO_BIN_EXE_rooflaw"))
                .args(*args)
                .current_dir(w.project())
                .env_remove("ROOFLAW_CACHE")
                .stdin(Stdio::null());
            let out = if how == "broken pipe" {
                c.stdout(Stdio::piped()).stderr(Stdio::piped());
                let mut child = c.spawn().unwrap();
                drop(child.stdout.take());
                child.wait_with_output().unwrap()
            } else {
                c.output().unwrap()
            };
            assert_no_panic(&out, &format!("{args:?} with {how}"));
            cases += 1;
        }
    }
    assert_eq!(cases, commands.len() * 3);
}

/// The report and data files of a run, by name.
fn outputs(report: &Path) -> BTreeMap<String, Vec<u8>> {
    fingerprint(report)
        .into_iter()
        .filter(|(k, _)| {
            Path::new(k)
                .extension()
                .is_some_and(|e| e == "csv" || e == "json")
        })
        .map(|(k, v)| (k, v.into_bytes()))
        .collect()
}

fn concurrent_rounds(rounds: usize) {
    let w = World::new();
    let cache = w.dir.path().join("cache");
    let cache = cache.to_string_lossy().into_owned();
    let report = w.project().join("out/quickstart");
    let mut reference = None;
    for round in 0..rounds {
        let children: Vec<_> = (0..4)
            .map(|_| {
                command(&w.project())
                    .args(["run", "-q", "--cache", &cache, "q.pipeline"])
                    .stdout(Stdio::piped())
                    .stderr(Stdio::piped())
                    .spawn()
                    .unwrap()
            })
            .collect();
        for c in children {
            let out = c.wait_with_output().unwrap();
            assert!(out.status.success(), "round {round}: {}", text(&out));
        }
        let now = outputs(&report);
        assert!(now.keys().any(|k| k == "data/best.json"), "{now:?}");
        match &reference {
            None => reference = Some(now),
            Some(r) => assert_eq!(&now, r, "round {round} differs"),
        }
        let leftovers: Vec<_> = fs::read_dir(report.parent().unwrap())
            .unwrap()
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| n != "quickstart")
            .collect();
        assert!(leftovers.is_empty(), "staging left behind: {leftovers:?}");
    }
}

#[test]
fn four_concurrent_runs_agree() {
    concurrent_rounds(3);
}

#[test]
#[ignore = "long: 20 rounds"]
fn four_concurrent_runs_agree_20_rounds() {
    concurrent_rounds(20);
}

fn kills(n: u64) {
    let w = World::new();
    let report = w.project().join("out/quickstart");
    let reference = {
        let out = w.run(&["run", "-q", "q.pipeline"]);
        assert!(out.status.success(), "{}", text(&out));
        let r = outputs(&report);
        fs::remove_dir_all(w.project().join(".rooflaw")).unwrap();
        r
    };
    for i in 0..n {
        let mut child = command(&w.project())
            .args(["run", "-q", "--force-all", "q.pipeline"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        // Spread over a run's life: startup, stages, the report.
        std::thread::sleep(std::time::Duration::from_millis(37 * ((i * 7919) % 23)));
        let _ = child.kill();
        let _ = child.wait();
        if !w.project().join(".rooflaw").exists() {
            continue; // killed before it opened the cache
        }
        let verify = w.run(&["cache", "verify"]);
        assert_no_panic(&verify, "verify");
        assert!(verify.status.success(), "kill {i}: {}", text(&verify));
    }
    let out = w.run(&["run", "-q", "q.pipeline"]);
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(outputs(&report), reference);
    let stray: Vec<_> = fingerprint(w.project().join("out").as_path())
        .into_keys()
        .filter(|k| {
            Path::new(k).extension().is_some_and(|e| e == "tmp")
                || k.contains("rooflaw-new")
                || k.contains("rooflaw-old")
        })
        .collect();
    assert!(stray.is_empty(), "{stray:?}");
}

#[test]
fn killed_runs_leave_a_cache_that_verifies_and_reruns_identically() {
    kills(4);
}

#[test]
#[ignore = "long: 30 kills"]
fn thirty_kills() {
    kills(30);
}

/// A cache with a directory where an object should be, and one where an
/// entry should be: `verify --repair` moves them aside and the next run
/// recomputes; a read-only cache still lists, plans and runs `--no-cache`.
#[cfg(unix)]
#[test]
fn the_cache_heals_and_reads_when_read_only() {
    use std::os::unix::fs::PermissionsExt;
    let w = World::new();
    let out = w.run(&["run", "-q", "q.pipeline"]);
    assert!(out.status.success(), "{}", text(&out));
    let cache = w.project().join(".rooflaw");
    let objects = cache.join("objects");
    let sub = fs::read_dir(&objects)
        .unwrap()
        .flatten()
        .next()
        .unwrap()
        .path();
    let object = fs::read_dir(&sub).unwrap().flatten().next().unwrap().path();
    fs::remove_file(&object).unwrap();
    fs::create_dir(&object).unwrap();
    let entry = fs::read_dir(cache.join("entries"))
        .unwrap()
        .flatten()
        .next()
        .unwrap()
        .path();
    fs::remove_file(&entry).unwrap();
    fs::create_dir(&entry).unwrap();
    let verify = w.run(&["cache", "verify"]);
    assert_eq!(verify.status.code(), Some(1), "{}", text(&verify));
    let repair = w.run(&["cache", "verify", "--repair"]);
    assert_no_panic(&repair, "repair");
    assert!(text(&repair).contains("repaired"), "{}", text(&repair));
    let out = w.run(&["run", "-q", "q.pipeline"]);
    assert!(out.status.success(), "{}", text(&out));
    let verify = w.run(&["cache", "verify"]);
    assert!(verify.status.success(), "{}", text(&verify));

    // Read-only (as another user would see it; root ignores modes).
    let is_root = Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| o.stdout.starts_with(b"0\n"));
    if is_root {
        return;
    }
    let mut dirs = vec![cache.clone()];
    let mut all = Vec::new();
    while let Some(d) = dirs.pop() {
        for e in fs::read_dir(&d).unwrap().flatten() {
            if e.file_type().unwrap().is_dir() {
                dirs.push(e.path());
            }
            all.push(e.path());
        }
        all.push(d);
    }
    let set = |mode: u32| {
        for p in &all {
            let m = if p.is_dir() { mode | 0o111 } else { mode };
            fs::set_permissions(p, fs::Permissions::from_mode(m)).unwrap();
        }
    };
    set(0o444);
    let ls = w.run(&["cache", "ls"]);
    let plan = w.run(&["plan", "q.pipeline"]);
    let run = w.run(&["run", "-q", "--no-cache", "q.pipeline"]);
    set(0o644);
    assert!(ls.status.success(), "{}", text(&ls));
    assert!(plan.status.success(), "{}", text(&plan));
    assert!(run.status.success(), "{}", text(&run));
}

/// `--locked` from another directory: the lock names its pipeline by file
/// name, not by the path typed.
#[test]
fn locked_works_from_another_directory() {
    let w = World::new();
    let out = w.run(&["run", "-q", "q.pipeline"]);
    assert!(out.status.success(), "{}", text(&out));
    let out = rooflaw_in(w.dir.path(), &["run", "-q", "--locked", "p/q.pipeline"]);
    assert!(out.status.success(), "{}", text(&out));
}

/// Inputs that used to hang, eat memory or pass silently.
#[cfg(unix)]
#[test]
fn bounded_inputs_fail_fast_and_located() {
    let w = World::new();
    let cases: &[(&str, &str)] = &[
        ("zero.pipeline", "use \"/dev/zero\"\n"),
        (
            "big-range.pipeline",
            &QUICKSTART.replace(
                "layers           = [4, 8 .. 24 step 4]",
                "layers = 1 .. 1e18",
            ),
        ),
        ("tiny.pipeline", "budget b { latency.total <= 1e-400 s }\n"),
        (
            "huge-space.pipeline",
            &QUICKSTART.replace("vocab            = 32000", "vocab = 1000 .. 9000000 step 1"),
        ),
    ];
    for (name, src) in cases {
        w.write(name, src);
        let diags = check_json(&w, name);
        assert!(
            diags
                .iter()
                .any(|d| d["severity"] == "error" && d["line"].is_number()),
            "{name}: {diags:?}"
        );
    }
    // Special files as the pipeline itself are refused at once.
    let out = w.run(&["check", "/dev/zero"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let out = w.run(&["run", "-j", "100000", "q.pipeline"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    // A byte order mark is fine; invalid UTF-8 names its line.
    w.write("bom.pipeline", &format!("\u{feff}{QUICKSTART}"));
    assert!(w.run(&["check", "bom.pipeline"]).status.success());
    fs::write(
        w.project().join("bad.pipeline"),
        b"# ok\n# ok\nstage \xff\n",
    )
    .unwrap();
    let diags = check_json(&w, "bad.pipeline");
    assert!(
        serde_json::to_string(&diags).unwrap().contains("line 3"),
        "{diags:?}"
    );
    // A terminal escape in a pipeline reaches the terminal escaped.
    w.write("esc.pipeline", "stage x = law(\"\u{1b}[31mred\")\n");
    let out = w.run(&["check", "esc.pipeline"]);
    assert!(!text(&out).contains('\u{1b}'), "{:?}", text(&out));
    // A diagnostic on a line past column 65,535 renders.
    w.write(
        "long.pipeline",
        &format!("stage x = law(\"{}\") oops\n", "a".repeat(70_000)),
    );
    let out = w.run(&["check", "long.pipeline"]);
    assert_no_panic(&out, "long line");
    assert_eq!(out.status.code(), Some(1));
}
