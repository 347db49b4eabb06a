//! [`SpanLayer`]: a `tracing_subscriber::Layer` that records the host's spans as operations.

use std::sync::Arc;
use std::time::{Duration, Instant};

use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::layer::Context;
use tracing_subscriber::registry::{LookupSpan, SpanRef};
use tracing_subscriber::Layer;

use super::{InstrumentationConfig, SpanTime, Target};
use crate::tree::ActorTree;

/// A `tracing_subscriber::Layer` over a runtime's monitors, from
/// [`Runtime::tracing_layer`](crate::Runtime::tracing_layer): each span that names a monitor is
/// recorded, when it closes, as one operation of its kind; a span in which an event of level ERROR
/// happened (in it or in a span inside it that names no monitor) also counts as an error of that
/// kind.
///
/// A span names its monitor with a `monitor` field, or by its name's entry in
/// `instrumentation.monitors`; other spans are left alone. Its kind is its `kind` field, else its
/// name. Its duration is the time it was entered (`span_time: busy`, the default: an async task's
/// polls, not its waits; while entered on several threads or within itself, counted once) or from
/// creation to close (`wall`). A `trace_id` field makes the operation its bucket's exemplar in
/// OpenMetrics scrapes. The fields count as they are when the span closes: a span may declare
/// them empty and record them later.
///
/// ```no_run
/// use tracing_subscriber::layer::SubscriberExt;
/// let rt = watchkeeper::Runtime::start(watchkeeper::Config::default()).unwrap();
/// let subscriber = tracing_subscriber::registry().with(rt.tracing_layer());
/// tracing::subscriber::set_global_default(subscriber).unwrap();
/// let span = tracing::info_span!("query", monitor = "search");
/// span.in_scope(|| { /* answer the query */ });
/// ```
pub struct SpanLayer {
    tree: Arc<ActorTree>,
    config: Arc<InstrumentationConfig>,
    /// Tells this layer's timings from another's in the same span: a subscriber may carry the
    /// layers of several runtimes.
    id: u64,
}

impl Clone for SpanLayer {
    /// Another layer over the same runtime, with timings of its own.
    fn clone(&self) -> Self {
        SpanLayer::with_config(self.tree.clone(), self.config.clone())
    }
}

impl std::fmt::Debug for SpanLayer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SpanLayer")
            .field("span_time", &self.config.span_time)
            .finish()
    }
}

/// What the layers keep in a recorded span's extensions: one timing per layer that records it.
#[derive(Default)]
struct Timings(Vec<Timing>);

impl Timings {
    /// Applies `f` to `layer`'s timing of `span`, if that layer records it.
    fn with<S, R>(span: &SpanRef<'_, S>, layer: u64, f: impl FnOnce(&mut Timing) -> R) -> Option<R>
    where
        S: for<'a> LookupSpan<'a>,
    {
        let mut extensions = span.extensions_mut();
        let timings = extensions.get_mut::<Timings>()?;
        timings.0.iter_mut().find(|t| t.layer == layer).map(f)
    }

    /// Takes `layer`'s timing of `span` out, as the span closes.
    fn take<S>(span: &SpanRef<'_, S>, layer: u64) -> Option<Timing>
    where
        S: for<'a> LookupSpan<'a>,
    {
        let mut extensions = span.extensions_mut();
        let timings = extensions.get_mut::<Timings>()?;
        let at = timings.0.iter().position(|t| t.layer == layer)?;
        Some(timings.0.swap_remove(at))
    }
}

/// One layer's timing of a span. Its monitor and kind are found as it closes, so fields recorded
/// after its creation (`Span::record`) count.
struct Timing {
    layer: u64,
    /// The span's name, its kind without a kind field.
    name: &'static str,
    monitor: Option<String>,
    kind: Option<String>,
    /// The span's `trace_id` field, kept as the operation's exemplar.
    trace_id: Option<String>,
    /// When it was created, for `span_time: wall` only (busy time needs no clock reading here).
    created: Option<Instant>,
    /// Since when it has been entered, while it is (on any thread, or within itself).
    entered: Option<Instant>,
    /// How many entries are open: busy time is the time at least one was.
    depth: u32,
    busy: Duration,
    error: bool,
}

impl Timing {
    /// Takes what `values` give of the monitor, kind and trace id.
    fn take_names(&mut self, names: Names<'_>) {
        self.monitor = names.monitor.or(self.monitor.take());
        self.kind = names.kind.or(self.kind.take());
        self.trace_id = names.trace_id.or(self.trace_id.take());
    }
}

/// The monitor, kind and trace id fields of a span.
struct Names<'a> {
    config: &'a InstrumentationConfig,
    monitor: Option<String>,
    kind: Option<String>,
    trace_id: Option<String>,
}

impl Visit for Names<'_> {
    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == self.config.monitor_label {
            self.monitor = Some(value.to_owned());
        } else if field.name() == self.config.kind_label {
            self.kind = Some(value.to_owned());
        } else if field.name() == "trace_id" {
            self.trace_id = Some(value.to_owned());
        }
    }

    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        let name = field.name();
        if name == self.config.monitor_label || name == self.config.kind_label || name == "trace_id"
        {
            self.record_str(field, &format!("{value:?}"));
        }
    }
}

impl SpanLayer {
    pub(crate) fn new(tree: Arc<ActorTree>) -> Self {
        let config = Arc::new(tree.config.get().instrumentation.clone());
        SpanLayer::with_config(tree, config)
    }

    fn with_config(tree: Arc<ActorTree>, config: Arc<InstrumentationConfig>) -> Self {
        static LAYERS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let id = LAYERS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        SpanLayer { tree, config, id }
    }

    fn names(&self) -> Names<'_> {
        Names {
            config: &self.config,
            monitor: None,
            kind: None,
            trace_id: None,
        }
    }

    fn dropped(&self, span: &str, why: &str) {
        super::count_drop(&self.tree, "span", span, why);
    }
}

impl<S> Layer<S> for SpanLayer
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
        let mut names = self.names();
        attrs.record(&mut names);
        let metadata = attrs.metadata();
        // A span that declares a monitor field may name its monitor later; one that does not is
        // an operation only when its name is mapped to a monitor.
        let declared = metadata
            .fields()
            .field(&*self.config.monitor_label)
            .is_some();
        if !declared
            && names.monitor.is_none()
            && !self.config.monitors.contains_key(metadata.name())
        {
            return;
        }
        let Some(span) = ctx.span(id) else {
            return;
        };
        let mut timing = Timing {
            layer: self.id,
            name: metadata.name(),
            monitor: None,
            kind: None,
            trace_id: None,
            created: (self.config.span_time == SpanTime::Wall).then(Instant::now),
            entered: None,
            depth: 0,
            busy: Duration::ZERO,
            error: false,
        };
        timing.take_names(names);
        let mut extensions = span.extensions_mut();
        match extensions.get_mut::<Timings>() {
            Some(timings) => timings.0.push(timing),
            None => extensions.insert(Timings(vec![timing])),
        }
    }

    fn on_record(&self, id: &Id, values: &Record<'_>, ctx: Context<'_, S>) {
        if let Some(span) = ctx.span(id) {
            let mut names = self.names();
            values.record(&mut names);
            Timings::with(&span, self.id, |t| t.take_names(names));
        }
    }

    fn on_enter(&self, id: &Id, ctx: Context<'_, S>) {
        if let Some(span) = ctx.span(id) {
            Timings::with(&span, self.id, |t| {
                if t.depth == 0 {
                    t.entered = Some(Instant::now());
                }
                t.depth += 1;
            });
        }
    }

    fn on_exit(&self, id: &Id, ctx: Context<'_, S>) {
        if let Some(span) = ctx.span(id) {
            Timings::with(&span, self.id, |t| {
                t.depth = t.depth.saturating_sub(1);
                if t.depth == 0 {
                    if let Some(at) = t.entered.take() {
                        t.busy += at.elapsed();
                    }
                }
            });
        }
    }

    fn on_event(&self, event: &Event<'_>, ctx: Context<'_, S>) {
        if *event.metadata().level() != Level::ERROR {
            return;
        }
        // The nearest span that is an operation (so far: one whose monitor field is still empty
        // is not) takes the error.
        if let Some(scope) = ctx.event_scope(event) {
            for span in scope {
                let took = Timings::with(&span, self.id, |t| {
                    let named = t.monitor.is_some() || self.config.monitors.contains_key(t.name);
                    t.error |= named;
                    named
                });
                if took == Some(true) {
                    return;
                }
            }
        }
    }

    fn on_close(&self, id: Id, ctx: Context<'_, S>) {
        let Some(span) = ctx.span(&id) else {
            return;
        };
        let Some(t) = Timings::take(&span, self.id) else {
            return;
        };
        let took = match self.config.span_time {
            SpanTime::Busy => t.busy + t.entered.map_or(Duration::ZERO, |at| at.elapsed()),
            SpanTime::Wall => t.created.map_or(Duration::ZERO, |at| at.elapsed()),
        };
        let fields = [
            t.monitor
                .as_deref()
                .map(|m| (&*self.config.monitor_label, m)),
            t.kind.as_deref().map(|k| (&*self.config.kind_label, k)),
        ];
        // A declared monitor field never recorded: not an operation.
        let Some(target) = Target::of(&self.config, t.name, fields.into_iter().flatten(), false)
        else {
            return;
        };
        let handle = match self.tree.monitor(&target.monitor) {
            Ok(h) => h,
            Err(e) => return self.dropped(t.name, &e.to_string()),
        };
        let Some(kind) = handle.kind(&target.name) else {
            return self.dropped(t.name, "the monitor has 64 kinds");
        };
        match &t.trace_id {
            Some(trace) => handle.record_with_trace(kind, took, trace),
            None => handle.record(kind, took),
        }
        if t.error {
            handle.record_error(kind);
        }
    }
}
