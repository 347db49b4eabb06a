//! Panic containment for every call site of a supervised actor (handlers, lifecycle hooks, timers).
//!
//! [`catch`] runs a closure under `catch_unwind` and turns a panic into a [`PanicReport`] carrying the
//! panic message and its source location. A process-wide panic hook, installed once and chained to the
//! host's own hook, records the location for panics raised inside [`catch`] and keeps them off stderr
//! (they are reported through `tracing` and supervision events instead); panics anywhere else go to the
//! host's hook unchanged.

use std::any::Any;
use std::cell::{Cell, RefCell};
use std::fmt;
use std::panic::{self, AssertUnwindSafe};
use std::sync::Once;

thread_local! {
    /// How many [`catch`] frames are active on this thread.
    static DEPTH: Cell<u32> = const { Cell::new(0) };
    /// Location of the last panic raised inside a [`catch`] frame on this thread.
    static LOCATION: RefCell<Option<String>> = const { RefCell::new(None) };
}

static HOOK: Once = Once::new();

/// What a contained panic said and where it was raised.
///
/// # Examples
///
/// ```
/// use watchkeeper_actors::panic::catch;
///
/// let report = catch(|| -> u32 { panic!("index is corrupt") }).unwrap_err();
/// assert_eq!(report.message, "index is corrupt");
/// assert!(report.to_string().starts_with("index is corrupt (at "));
/// ```
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct PanicReport {
    /// The panic message (`panic!` payload); a fixed text when the payload is not a string.
    pub message: String,
    /// `file:line:column` of the panic, when the hook saw it.
    pub location: Option<String>,
}

impl fmt::Display for PanicReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.location {
            Some(loc) => write!(f, "{} (at {loc})", self.message),
            None => f.write_str(&self.message),
        }
    }
}

fn install_hook() {
    HOOK.call_once(|| {
        let previous = panic::take_hook();
        panic::set_hook(Box::new(move |info| {
            if DEPTH.with(Cell::get) > 0 {
                let location = info
                    .location()
                    .map(|l| format!("{}:{}:{}", l.file(), l.line(), l.column()));
                LOCATION.with(|slot| *slot.borrow_mut() = location);
            } else {
                previous(info);
            }
        }));
    });
}

/// The message of a panic payload.
pub fn payload_message(payload: &(dyn Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&'static str>() {
        (*s).to_owned()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "panic with a non-string payload".to_owned()
    }
}

/// Runs `f`, containing any panic it raises.
pub fn catch<R>(f: impl FnOnce() -> R) -> Result<R, PanicReport> {
    install_hook();
    DEPTH.with(|d| d.set(d.get() + 1));
    let result = panic::catch_unwind(AssertUnwindSafe(f));
    DEPTH.with(|d| d.set(d.get() - 1));
    result.map_err(|payload| {
        let message = payload_message(payload.as_ref());
        // Dropping a payload can itself panic; contain that too.
        let _ = panic::catch_unwind(AssertUnwindSafe(move || drop(payload)));
        PanicReport {
            message,
            location: LOCATION.with(|slot| slot.borrow_mut().take()),
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reports_message_and_location() {
        let report = catch(|| -> u32 { panic!("boom {}", 7) }).unwrap_err();
        assert_eq!(report.message, "boom 7");
        let loc = report.location.expect("hook records the location");
        assert!(loc.contains("panic.rs"), "{loc}");
    }

    #[test]
    fn passes_values_through() {
        assert_eq!(catch(|| 41 + 1), Ok(42));
    }

    #[test]
    fn nested_catch_keeps_outer_frame_active() {
        let outer = catch(|| {
            let inner = catch(|| panic!("inner"));
            assert!(inner.is_err());
            panic!("outer")
        });
        assert_eq!(outer.unwrap_err().message, "outer");
    }
}
