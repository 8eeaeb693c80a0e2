//! Museums (tenants) and their API keys, kept as one small JSON file per
//! museum under `admin.data_dir/<museum>/museum.json`.
//!
//! Keys are shown once, when created, and stored only as their sha256: a
//! key is 256 random bits, so a fast hash is as good as a slow one here and
//! checking it costs nothing. A key names its museum (`mk.<museum>.<secret>`),
//! so finding the museum behind a key reads one file. Files are replaced by
//! rename, so a reader never sees half a file.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use chrono::Utc;
use rand::RngCore;
use recognizer::bundle::{LangText, valid_museum_id};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct KeyEntry {
    /// Public handle: the first 12 hex digits of the key's sha256.
    pub id: String,
    pub sha256: String,
    pub created_at: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct MuseumProfile {
    pub id: String,
    pub name: LangText,
    /// The language visitors get when they ask for none, or for one the
    /// collection lacks (before `zh`, then `en`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default_lang: Option<String>,
    pub created_at: String,
    #[serde(default)]
    pub keys: Vec<KeyEntry>,
}

/// Who an admin request comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Principal {
    Operator,
    Museum(String),
}

#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    #[error("`{0}` is not a valid museum id (1-64 ASCII letters, digits, '-' or '_')")]
    InvalidId(String),
    #[error("museum `{0}` exists already")]
    Exists(String),
    #[error("no museum `{0}`")]
    NotFound(String),
    #[error("registry I/O: {0}")]
    Io(#[from] std::io::Error),
    #[error("registry file {0} is corrupt: {1}")]
    Corrupt(PathBuf, String),
}

/// Ids no museum may take: `_all` counts unscoped recognitions in the
/// analytics, `tmp` is where uploads are staged under the data folder.
pub const RESERVED: &[&str] = &[crate::admin::analytics::ALL, "tmp"];

#[derive(Debug)]
pub struct Registry {
    dir: PathBuf,
    /// Serialises read-modify-write of profiles within this process.
    write: Mutex<()>,
    /// Profiles as last read, with the file's (modified time, length) then:
    /// a request costs a `stat`, not a read and a parse, and a change made
    /// by another server process (a key revoked) is seen at once.
    cache: Mutex<HashMap<String, (FileStamp, Arc<MuseumProfile>)>>,
}

type FileStamp = (std::time::SystemTime, u64);

fn sha256(s: &str) -> String {
    recognizer::sha256_bytes(s.as_bytes())
}

/// Equality that takes as long whatever the first differing byte.
fn same(a: &str, b: &str) -> bool {
    a.len() == b.len() && a.bytes().zip(b.bytes()).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

impl Registry {
    pub fn new(dir: PathBuf) -> Self {
        Self { dir, write: Mutex::new(()), cache: Mutex::default() }
    }

    pub fn museum_dir(&self, id: &str) -> PathBuf {
        self.dir.join(id)
    }

    fn profile_path(&self, id: &str) -> PathBuf {
        self.museum_dir(id).join("museum.json")
    }

    pub fn museum(&self, id: &str) -> Result<Option<MuseumProfile>, RegistryError> {
        Ok(self.profile(id)?.map(|p| (*p).clone()))
    }

    /// A museum's profile, from the cache while its file is unchanged.
    pub fn profile(&self, id: &str) -> Result<Option<Arc<MuseumProfile>>, RegistryError> {
        if !valid_museum_id(id) {
            return Ok(None);
        }
        let path = self.profile_path(id);
        let stamp = match std::fs::metadata(&path) {
            Ok(m) => (m.modified()?, m.len()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                self.cache.lock().unwrap_or_else(|p| p.into_inner()).remove(id);
                return Ok(None);
            }
            Err(e) => return Err(e.into()),
        };
        if let Some((at, p)) = self.cache.lock().unwrap_or_else(|p| p.into_inner()).get(id)
            && *at == stamp
        {
            return Ok(Some(p.clone()));
        }
        let bytes = match std::fs::read(&path) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(e.into()),
        };
        let profile: Arc<MuseumProfile> =
            Arc::new(serde_json::from_slice(&bytes).map_err(|e| RegistryError::Corrupt(path, e.to_string()))?);
        self.cache.lock().unwrap_or_else(|p| p.into_inner()).insert(id.to_owned(), (stamp, profile.clone()));
        Ok(Some(profile))
    }

    pub fn list(&self) -> Result<Vec<MuseumProfile>, RegistryError> {
        let mut out = Vec::new();
        let entries = match std::fs::read_dir(&self.dir) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(out),
            Err(e) => return Err(e.into()),
        };
        for entry in entries {
            let name = entry?.file_name().to_string_lossy().into_owned();
            if let Some(p) = self.museum(&name)? {
                out.push(p);
            }
        }
        out.sort_by(|a, b| a.id.cmp(&b.id));
        Ok(out)
    }

    /// Creates a museum with its first key; returns the profile and the key.
    pub fn create(
        &self,
        id: &str,
        name: LangText,
        default_lang: Option<String>,
    ) -> Result<(MuseumProfile, String), RegistryError> {
        if !valid_museum_id(id) || RESERVED.contains(&id) {
            return Err(RegistryError::InvalidId(id.to_owned()));
        }
        let _guard = self.write.lock().unwrap_or_else(|p| p.into_inner());
        if self.museum(id)?.is_some() {
            return Err(RegistryError::Exists(id.to_owned()));
        }
        let mut profile = MuseumProfile {
            id: id.to_owned(),
            name,
            default_lang,
            created_at: Utc::now().to_rfc3339(),
            keys: Vec::new(),
        };
        let key = new_key(&mut profile, Some("initial".into()));
        self.save(&profile)?;
        Ok((profile, key))
    }

    /// Adds a key to a museum; returns its entry and the key (shown once).
    pub fn add_key(&self, id: &str, label: Option<String>) -> Result<(KeyEntry, String), RegistryError> {
        let _guard = self.write.lock().unwrap_or_else(|p| p.into_inner());
        let mut profile = self.museum(id)?.ok_or_else(|| RegistryError::NotFound(id.to_owned()))?;
        let key = new_key(&mut profile, label);
        self.save(&profile)?;
        let entry = profile.keys.last().cloned().ok_or_else(|| RegistryError::NotFound(id.to_owned()))?;
        Ok((entry, key))
    }

    /// Revokes a key by its id; `false` if the museum has no such key.
    pub fn revoke_key(&self, id: &str, key_id: &str) -> Result<bool, RegistryError> {
        let _guard = self.write.lock().unwrap_or_else(|p| p.into_inner());
        let mut profile = self.museum(id)?.ok_or_else(|| RegistryError::NotFound(id.to_owned()))?;
        let before = profile.keys.len();
        profile.keys.retain(|k| k.id != key_id);
        if profile.keys.len() == before {
            return Ok(false);
        }
        self.save(&profile)?;
        Ok(true)
    }

    /// The principal behind a bearer key, if any.
    pub fn authenticate(&self, key: &str, operator_key: &str) -> Option<Principal> {
        if !operator_key.is_empty() && same(&sha256(key), &sha256(operator_key)) {
            return Some(Principal::Operator);
        }
        let museum = key.strip_prefix("mk.")?.split_once('.')?.0;
        let profile = self.profile(museum).ok()??;
        let hash = sha256(key);
        profile.keys.iter().any(|k| same(&k.sha256, &hash)).then(|| Principal::Museum(museum.to_owned()))
    }

    /// How the versions' history names the holder of `key` (a key of
    /// `museum`): `key <id>`, with its label when it has one. Never the key.
    pub fn describe_key(&self, museum: &str, key: &str) -> String {
        let id = sha256(key)[..12].to_owned();
        let label = self.profile(museum).ok().flatten().and_then(|p| p.keys.iter().find(|k| k.id == id)?.label.clone());
        match label {
            Some(label) => format!("key {id} ({label})"),
            None => format!("key {id}"),
        }
    }

    fn save(&self, profile: &MuseumProfile) -> Result<(), RegistryError> {
        let dir = self.museum_dir(&profile.id);
        std::fs::create_dir_all(&dir)?;
        write_atomic(&self.profile_path(&profile.id), &serde_json::to_vec_pretty(profile).unwrap_or_default())?;
        self.cache.lock().unwrap_or_else(|p| p.into_inner()).remove(&profile.id);
        Ok(())
    }
}

fn new_key(profile: &mut MuseumProfile, label: Option<String>) -> String {
    let mut secret = [0u8; 32];
    rand::rng().fill_bytes(&mut secret);
    let key = format!("mk.{}.{}", profile.id, hex::encode(secret));
    let hash = sha256(&key);
    profile.keys.push(KeyEntry { id: hash[..12].to_owned(), sha256: hash, created_at: Utc::now().to_rfc3339(), label });
    key
}

/// Writes `bytes` to `path` through a temporary file in the same folder and
/// a rename (as the builder's bundle store replaces `CURRENT`).
/// Writes `path` whole or not at all (temp file, sync, rename).
pub(crate) fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let mut tmp = tempfile::NamedTempFile::new_in(path.parent().unwrap_or(Path::new(".")))?;
    tmp.write_all(bytes)?;
    tmp.as_file().sync_all()?;
    tmp.persist(path).map(|_| ()).map_err(|e| e.error)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_hashed_at_rest_scoped_and_revocable() {
        let dir = tempfile::tempdir().unwrap();
        let r = Registry::new(dir.path().to_owned());
        let (_, key) = r.create("m1", [("en".to_owned(), "One".to_owned())].into(), None).unwrap();
        let (_, other) = r.create("m2", LangText::new(), None).unwrap();
        assert!(matches!(r.create("m1", LangText::new(), None), Err(RegistryError::Exists(_))));
        assert!(matches!(r.create("../x", LangText::new(), None), Err(RegistryError::InvalidId(_))));
        assert!(matches!(r.create("_all", LangText::new(), None), Err(RegistryError::InvalidId(_))));
        assert!(matches!(r.create("tmp", LangText::new(), None), Err(RegistryError::InvalidId(_))));
        let stored = std::fs::read_to_string(dir.path().join("m1/museum.json")).unwrap();
        assert!(!stored.contains(&key[8..]), "the key itself is never stored");
        assert_eq!(r.authenticate(&key, "op"), Some(Principal::Museum("m1".into())));
        assert_eq!(r.authenticate(&other, "op"), Some(Principal::Museum("m2".into())));
        assert_eq!(r.authenticate("op", "op"), Some(Principal::Operator));
        assert_eq!(r.authenticate("", ""), None, "no operator key configured: nothing is the operator");
        // A key naming another museum does not pass for it.
        let forged = key.replacen("mk.m1.", "mk.m2.", 1);
        assert_eq!(r.authenticate(&forged, "op"), None);
        let (entry, second) = r.add_key("m1", None).unwrap();
        assert!(r.revoke_key("m1", &entry.id).unwrap());
        assert_eq!(r.authenticate(&second, "op"), None);
        assert_eq!(r.authenticate(&key, "op"), Some(Principal::Museum("m1".into())));
        assert_eq!(r.list().unwrap().len(), 2);
    }
}
