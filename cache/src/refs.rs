//! Named pointers to keys ("last key of stage S of pipeline P"), so the engine can diff the
//! previous manifest of a stage against the new one.
use std::fmt::Write as _;
use std::fs;
use std::io::ErrorKind;
use std::path::PathBuf;

use crate::error::IoContext;
use crate::fsutil::write_atomic;
use crate::{Error, Hash, Store};

impl Store {
    fn ref_path(&self, name: &str) -> Result<PathBuf, Error> {
        if name.is_empty() || name.chars().any(char::is_control) {
            return Err(Error::InvalidRefName(name.to_owned()));
        }
        Ok(self.root.join("refs").join(encode_ref(name)))
    }

    pub fn set_ref(&self, name: &str, key: &Hash) -> Result<(), Error> {
        // A cached rerun sets every ref to what it already holds; skipping
        // those writes saves two syncs per stage.
        if self.get_ref(name)? == Some(*key) {
            return Ok(());
        }
        let path = self.ref_path(name)?;
        write_atomic(&self.tmp_dir(), &path, key.to_hex().as_bytes())
    }

    /// The key last set under `name`; `None` if never set or if the file is damaged.
    pub fn get_ref(&self, name: &str) -> Result<Option<Hash>, Error> {
        let path = self.ref_path(name)?;
        match fs::read_to_string(&path) {
            Ok(s) => Ok(s.trim().parse().ok()),
            Err(e) if e.kind() == ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e).ctx("read", &path),
        }
    }

    pub(crate) fn remove_ref(&self, name: &str) -> Result<(), Error> {
        let path = self.ref_path(name)?;
        match fs::remove_file(&path) {
            Err(e) if e.kind() != ErrorKind::NotFound => Err(e).ctx("remove", &path),
            _ => Ok(()),
        }
    }

    /// All refs as (name, key), sorted by name.
    pub fn refs(&self) -> Result<Vec<(String, Hash)>, Error> {
        let dir = self.root.join("refs");
        let mut out = Vec::new();
        for item in fs::read_dir(&dir).ctx("list", &dir)? {
            let item = item.ctx("list", &dir)?;
            let Some(name) = item.file_name().to_str().and_then(decode_ref) else {
                continue;
            };
            if let Ok(Some(key)) = self.get_ref(&name) {
                out.push((name, key));
            }
        }
        out.sort();
        Ok(out)
    }
}

/// Percent-encodes everything but `[A-Za-z0-9_-]`, so any name is one safe file name and
/// distinct names never collide.
fn encode_ref(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    for b in name.bytes() {
        if b.is_ascii_alphanumeric() || b == b'_' || b == b'-' {
            out.push(char::from(b));
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
    out
}

fn decode_ref(file: &str) -> Option<String> {
    let bytes = file.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = file.get(i + 1..i + 3)?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ref_names_round_trip() {
        for name in ["pipelines/a.rl#train", "..", "x y/é", "plain"] {
            let enc = encode_ref(name);
            assert!(
                enc.chars()
                    .all(|c| c.is_ascii_alphanumeric() || "%_-".contains(c)),
                "{enc}"
            );
            assert_eq!(decode_ref(&enc).as_deref(), Some(name));
        }
    }
}
