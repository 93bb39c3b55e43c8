//! The small tokio runtime an exporter drives its transport on.
//!
//! Two tokio rules make a runtime owned by a library panic when the library
//! is used from a bot's own async code (`#[tokio::main]`): dropping a
//! `Runtime` inside an async context ("Cannot drop a runtime in a context
//! where blocking is not allowed") and calling `block_on` inside one
//! ("Cannot start a runtime from within a runtime"). [`ExportRuntime`]
//! avoids both: it is shut down with `shutdown_background` (which never
//! blocks, so it is allowed anywhere), and `block_on` moves to a scoped
//! helper thread when the caller is inside a runtime.

use std::future::Future;

/// A current-thread runtime that can be dropped and driven from anywhere.
pub(crate) struct ExportRuntime(Option<tokio::runtime::Runtime>);

impl std::fmt::Debug for ExportRuntime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ExportRuntime")
    }
}

impl ExportRuntime {
    pub fn new() -> Result<ExportRuntime, String> {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map(|rt| ExportRuntime(Some(rt)))
            .map_err(|e| format!("cannot start the export runtime: {e}"))
    }

    /// Runs `f` with this runtime as the current one (to build clients that
    /// spawn their background tasks on it).
    pub fn enter<T>(&self, f: impl FnOnce() -> T) -> T {
        match &self.0 {
            Some(rt) => {
                let _g = rt.enter();
                f()
            }
            None => f(),
        }
    }

    /// Drives `fut` to completion on this runtime, from any thread.
    pub fn block_on<F>(&self, fut: F) -> Result<F::Output, String>
    where
        F: Future + Send,
        F::Output: Send,
    {
        let Some(rt) = &self.0 else {
            return Err("the export runtime is shut down".into());
        };
        if tokio::runtime::Handle::try_current().is_err() {
            return Ok(rt.block_on(fut));
        }
        // Inside some runtime (the caller's async code): `block_on` here would
        // panic, so drive the future on a helper thread and wait for it.
        std::thread::scope(|s| {
            std::thread::Builder::new()
                .name("chatobs-otlp-export".into())
                .spawn_scoped(s, || rt.block_on(fut))
                .map_err(|e| format!("cannot start an export thread: {e}"))?
                .join()
                .map_err(|_| "the export thread panicked".to_string())
        })
    }
}

impl Drop for ExportRuntime {
    fn drop(&mut self) {
        if let Some(rt) = self.0.take() {
            // Never blocks: allowed inside an async context, unlike `drop(rt)`.
            rt.shutdown_background();
        }
    }
}
