//! A temporary directory removed on drop (no dependency needed for so little).

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};

/// A fresh directory under the system temporary directory, removed with its files on drop.
pub(crate) struct TempDir(PathBuf);

impl TempDir {
    /// Creates a directory unique to this process and call.
    pub(crate) fn new() -> Self {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let path =
            std::env::temp_dir().join(format!("gatehouse-sqlite-test-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir_all(&path).expect("create temporary directory");
        Self(path)
    }

    /// The database file inside it.
    pub(crate) fn db(&self) -> PathBuf {
        self.0.join("gatehouse.db")
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
