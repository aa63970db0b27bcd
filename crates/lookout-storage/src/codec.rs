//! Payload compression: zstd, with a dictionary trained per project from
//! its own events.
//!
//! Events of one project share most of their structure (SDK block, keys,
//! module paths, context lines), so a 32 KiB dictionary trained on a sample
//! of them shrinks a typical 5 KB Python event from ~2.3 KB (plain zstd) to
//! a few hundred bytes. Each stored payload records the dictionary id it
//! was compressed with (0 = none); dictionaries are never deleted while
//! payloads use them.
//!
//! Compression happens on the request path (many threads), never on the
//! single writer thread.

use crate::{Result, StorageError};
use parking_lot::RwLock;
use std::collections::HashMap;
use std::sync::Arc;

/// zstd level for payloads: fast, and the dictionary does the heavy lifting.
pub const LEVEL: i32 = 3;

/// Size of trained dictionaries.
pub const DICT_SIZE: usize = 32 * 1024;

/// Events a project stores before its first dictionary is trained.
pub const TRAIN_AFTER_EVENTS: u64 = 300;

/// Events without a dictionary after which a project's dictionary is
/// retrained once more (its first sample may have been unrepresentative).
pub const RETRAIN_AFTER_EVENTS: u64 = 20_000;

/// A trained dictionary, ready for both directions.
pub struct Dict {
    /// Its id in storage.
    pub id: i64,
    /// Hash of the bytes: ids are per database, and one process may open
    /// several (tests do), so caches key on both.
    fingerprint: u64,
    bytes: Vec<u8>,
    decoder: zstd::dict::DecoderDictionary<'static>,
}

impl std::fmt::Debug for Dict {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Dict").field("id", &self.id).finish()
    }
}

impl Dict {
    /// Prepares dictionary `bytes` stored under `id`.
    pub fn new(id: i64, bytes: &[u8]) -> Self {
        use std::hash::{Hash, Hasher};
        let mut h = std::collections::hash_map::DefaultHasher::new();
        bytes.hash(&mut h);
        Dict {
            id,
            fingerprint: h.finish(),
            bytes: bytes.to_vec(),
            decoder: zstd::dict::DecoderDictionary::copy(bytes),
        }
    }
}

thread_local! {
    /// A compression context per thread and dictionary, reused across calls:
    /// creating a zstd context costs more than compressing a small event.
    static COMPRESSOR: std::cell::RefCell<Option<((i64, u64), zstd::bulk::Compressor<'static>)>> =
        const { std::cell::RefCell::new(None) };
}

/// Encoder dictionaries by id, kept for the life of the process so that
/// thread-local contexts can refer to them. There is one per trained
/// dictionary (a handful per project over its lifetime), so this stays small.
fn static_encoder(d: &Dict) -> &'static zstd::dict::EncoderDictionary<'static> {
    type Encoders =
        parking_lot::Mutex<HashMap<(i64, u64), &'static zstd::dict::EncoderDictionary<'static>>>;
    static ENCODERS: std::sync::OnceLock<Encoders> = std::sync::OnceLock::new();
    let mut m = ENCODERS.get_or_init(Default::default).lock();
    m.entry((d.id, d.fingerprint)).or_insert_with(|| {
        Box::leak(Box::new(zstd::dict::EncoderDictionary::copy(
            &d.bytes, LEVEL,
        )))
    })
}

/// Compresses `data` with `dict` (or plain zstd when `None`). Returns the
/// dictionary id used and the bytes.
pub fn compress(data: &[u8], dict: Option<&Dict>) -> Result<(i64, Vec<u8>)> {
    let map = |e: std::io::Error| StorageError::Backend(format!("compression failed: {e}"));
    let id = dict.map_or(0, |d| d.id);
    let key = dict.map_or((0, 0), |d| (d.id, d.fingerprint));
    COMPRESSOR.with(|cell| {
        let mut slot = cell.borrow_mut();
        if slot.as_ref().is_none_or(|(cur, _)| *cur != key) {
            let c = match dict {
                None => zstd::bulk::Compressor::new(LEVEL).map_err(map)?,
                Some(d) => zstd::bulk::Compressor::with_prepared_dictionary(static_encoder(d))
                    .map_err(map)?,
            };
            *slot = Some((key, c));
        }
        let Some((_, c)) = slot.as_mut() else {
            unreachable!("the slot was filled above")
        };
        Ok((id, c.compress(data).map_err(map)?))
    })
}

/// Largest payload accepted back from decompression (events are capped at
/// 1 MiB on ingest; transactions may be larger).
pub const MAX_DECOMPRESSED: usize = 64 * 1024 * 1024;

/// The output size to reserve: the frame header's content size (our
/// frames always carry it), never more than [`MAX_DECOMPRESSED`].
fn output_capacity(data: &[u8]) -> usize {
    match zstd::zstd_safe::get_frame_content_size(data) {
        Ok(Some(n)) => (n as usize).min(MAX_DECOMPRESSED),
        _ => MAX_DECOMPRESSED,
    }
}

/// Decompresses a payload compressed with `dict` (or none).
pub fn decompress(data: &[u8], dict: Option<&Dict>) -> Result<Vec<u8>> {
    let map = |e: std::io::Error| StorageError::Backend(format!("stored payload is damaged: {e}"));
    let capacity = output_capacity(data);
    match dict {
        None => zstd::bulk::decompress(data, capacity).map_err(map),
        Some(d) => {
            let mut dec =
                zstd::bulk::Decompressor::with_prepared_dictionary(&d.decoder).map_err(map)?;
            dec.decompress(data, capacity).map_err(map)
        }
    }
}

/// Trains a dictionary from sample payloads (uncompressed).
pub fn train(samples: &[Vec<u8>]) -> Result<Vec<u8>> {
    zstd::dict::from_samples(samples, DICT_SIZE)
        .map_err(|e| StorageError::Backend(format!("dictionary training failed: {e}")))
}

/// Loaded dictionaries by id, plus each project's current one.
#[derive(Debug, Default)]
pub struct DictCache {
    by_id: RwLock<HashMap<i64, Arc<Dict>>>,
    current: RwLock<HashMap<i64, Option<Arc<Dict>>>>,
}

impl DictCache {
    /// A dictionary by id, if loaded.
    pub fn get(&self, id: i64) -> Option<Arc<Dict>> {
        self.by_id.read().get(&id).cloned()
    }
    /// Adds a loaded dictionary.
    pub fn insert(&self, d: Arc<Dict>) {
        self.by_id.write().insert(d.id, d);
    }
    /// The project's current dictionary: `Some(None)` = known to have none.
    pub fn current(&self, project_id: i64) -> Option<Option<Arc<Dict>>> {
        self.current.read().get(&project_id).cloned()
    }
    /// Records the project's current dictionary.
    pub fn set_current(&self, project_id: i64, d: Option<Arc<Dict>>) {
        if let Some(d) = &d {
            self.insert(d.clone());
        }
        self.current.write().insert(project_id, d);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(i: usize) -> Vec<u8> {
        format!(
            r#"{{"event_id":"{i:032x}","level":"error","platform":"python","exception":{{"values":[{{"type":"KeyError","value":"'missing-{i}'","module":null,"stacktrace":{{"frames":[{{"filename":"shopbot/handlers.py","function":"load_order","module":"shopbot.handlers","lineno":{},"context_line":"    return items[order_id]","in_app":true}}]}}}}]}},"sdk":{{"name":"sentry.python","version":"2.75.0"}},"user":{{"id":"{}"}}}}"#,
            i % 97,
            i % 13
        )
        .into_bytes()
    }

    #[test]
    fn round_trip_without_and_with_a_trained_dictionary() {
        let samples: Vec<Vec<u8>> = (0..400).map(sample).collect();
        let (id, plain) = compress(&samples[0], None).unwrap();
        assert_eq!(id, 0);
        assert_eq!(decompress(&plain, None).unwrap(), samples[0]);
        let dict = Dict::new(7, &train(&samples).unwrap());
        let (id, small) = compress(&samples[5], Some(&dict)).unwrap();
        assert_eq!(id, 7);
        assert!(
            small.len() < plain.len(),
            "{} !< {}",
            small.len(),
            plain.len()
        );
        assert_eq!(decompress(&small, Some(&dict)).unwrap(), samples[5]);
        assert!(decompress(&small, None).is_err(), "needs its dictionary");
        assert!(decompress(b"garbage", None).is_err());
        // The output buffer is sized from the frame header, not the cap.
        assert!(decompress(&plain, None).unwrap().capacity() < 64 * 1024);
    }
}
