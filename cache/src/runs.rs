//! Records of recent runs: the keys each run used, kept as gc roots.
use std::collections::BTreeMap;
use std::fs;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::entry::unix_now;
use crate::error::IoContext;
use crate::fsutil::{unique_name, write_atomic};
use crate::{Error, Hash, Store};

/// Records kept per pipeline; older ones are pruned when a new run is recorded.
pub const MAX_RUN_RECORDS: usize = 32;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunRecord {
    pub pipeline: String,
    pub created: u64,
    pub keys: Vec<Hash>,
    /// How the run ended: `finished`, `failed` or `cancelled` (records
    /// written before runs were told apart read as `finished`).
    #[serde(default = "finished")]
    pub status: String,
}

fn finished() -> String {
    "finished".into()
}

impl Store {
    /// Records that a run of `pipeline` used `keys` (stage and item keys), and prunes that
    /// pipeline's records beyond `MAX_RUN_RECORDS`.
    pub fn record_run(&self, pipeline: &Path, keys: &[Hash]) -> Result<(), Error> {
        self.record_run_status(pipeline, keys, "finished")
    }

    /// [`Store::record_run`] for a run that ended as `status` (a cancelled
    /// or failed run's finished stages are roots too).
    pub fn record_run_status(
        &self,
        pipeline: &Path,
        keys: &[Hash],
        status: &str,
    ) -> Result<(), Error> {
        let pipeline = fs::canonicalize(pipeline).unwrap_or_else(|_| pipeline.to_path_buf());
        let record = RunRecord {
            pipeline: pipeline.display().to_string(),
            created: unix_now(),
            keys: keys.to_vec(),
            status: status.to_string(),
        };
        let dir = self.root.join("runs/records");
        // unique_name starts with pid-nanos; prefix the nanos so names sort by time.
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        let path = dir.join(format!("{nanos:024}-{}.json", unique_name("")));
        let json = serde_json::to_vec(&record).expect("a RunRecord always serialises");
        write_atomic(&self.tmp_dir(), &path, &json)?;
        for (file, _) in self
            .run_records_of(&record.pipeline)?
            .into_iter()
            .rev()
            .skip(MAX_RUN_RECORDS)
        {
            fs::remove_file(&file).ctx("remove", &file)?;
        }
        Ok(())
    }

    /// All readable run records with their files, oldest first.
    pub fn run_records(&self) -> Result<Vec<(std::path::PathBuf, RunRecord)>, Error> {
        let dir = self.root.join("runs/records");
        let mut files: Vec<_> = fs::read_dir(&dir)
            .ctx("list", &dir)?
            .filter_map(|i| i.ok().map(|i| i.path()))
            .filter(|p| p.extension().is_some_and(|e| e == "json"))
            .collect();
        files.sort();
        Ok(files
            .into_iter()
            .filter_map(|p| {
                let record = serde_json::from_slice(&fs::read(&p).ok()?).ok()?;
                Some((p, record))
            })
            .collect())
    }

    fn run_records_of(
        &self,
        pipeline: &str,
    ) -> Result<Vec<(std::path::PathBuf, RunRecord)>, Error> {
        let mut all = self.run_records()?;
        all.retain(|(_, r)| r.pipeline == pipeline);
        Ok(all)
    }

    /// The keys of the last `keep` runs of each pipeline: gc roots.
    pub fn run_roots(&self, keep: usize) -> Result<Vec<Hash>, Error> {
        let mut by_pipeline: BTreeMap<String, Vec<RunRecord>> = BTreeMap::new();
        for (_, r) in self.run_records()? {
            by_pipeline.entry(r.pipeline.clone()).or_default().push(r);
        }
        let mut roots: Vec<Hash> = by_pipeline
            .values()
            .flat_map(|runs| {
                runs.iter()
                    .rev()
                    .take(keep)
                    .flat_map(|r| r.keys.iter().copied())
            })
            .collect();
        roots.sort_unstable();
        roots.dedup();
        Ok(roots)
    }
}
