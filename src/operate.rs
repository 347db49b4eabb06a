//! What an operator does, from the host's code: alerts and their history, acknowledgement, and
//! silences, on [`Runtime`] — each async, with a `_blocking` twin for synchronous hosts. With a
//! data directory (`storage.path`) an acknowledgement or silence is written to disk before the
//! call returns, as over the admin API.

use watchkeeper_actors::alerting::{
    AckError, Acknowledge, AddSilence, Alert, ExpireSilence, GetAlertHistory, GetAlerts,
    GetSilences, Silence, SilenceError,
};
use watchkeeper_actors::{Handles, Message};

use crate::error::Error;
use crate::runtime::Runtime;
use crate::tree::ActorTree;

impl Runtime {
    /// The active alerts (pending, firing, recovering), with their state, labels, annotations
    /// and evidence.
    pub async fn alerts(&self) -> Result<Vec<Alert>, Error> {
        self.ask_alerting(GetAlerts).await
    }

    /// [`Runtime::alerts`] for synchronous hosts.
    pub fn alerts_blocking(&self) -> Result<Vec<Alert>, Error> {
        self.ask_alerting_blocking(GetAlerts)
    }

    /// Resolved alerts, newest last (bounded by `alerting.history_limit`).
    pub async fn alert_history(&self) -> Result<Vec<Alert>, Error> {
        self.ask_alerting(GetAlertHistory).await
    }

    /// [`Runtime::alert_history`] for synchronous hosts.
    pub fn alert_history_blocking(&self) -> Result<Vec<Alert>, Error> {
        self.ask_alerting_blocking(GetAlertHistory)
    }

    /// Acknowledges the firing alert with this fingerprint (its escalation stops);
    /// [`Error::Acknowledge`] says why not (unknown, or not firing).
    pub async fn acknowledge(&self, fingerprint: u64, by: &str) -> Result<(), Error> {
        let by = by.to_owned();
        let tree = self.tree().clone();
        self.tree()
            .link
            .run(async move { acknowledge(&tree, fingerprint, by).await })
            .await?
    }

    /// [`Runtime::acknowledge`] for synchronous hosts.
    pub fn acknowledge_blocking(&self, fingerprint: u64, by: &str) -> Result<(), Error> {
        let by = by.to_owned();
        let tree = self.tree().clone();
        let timeout = self.tree().link.ask_timeout * 2;
        self.tree().link.run_blocking(
            async move { acknowledge(&tree, fingerprint, by).await },
            timeout,
        )?
    }

    /// Adds a silence (Alertmanager's: every matcher must match; from `starts_at` to `ends_at`);
    /// returns its id. [`Error::Silence`] says why one is refused.
    ///
    /// ```no_run
    /// # let rt = watchkeeper::Runtime::start(watchkeeper::Config::default()).unwrap();
    /// use watchkeeper::actors::alerting::{Matcher, Silence};
    /// let now = chrono::Utc::now();
    /// let id = rt.add_silence_blocking(Silence {
    ///     id: String::new(),
    ///     matchers: vec![Matcher::parse("alertname=~\"Search.*\"").unwrap()],
    ///     starts_at: now,
    ///     ends_at: now + chrono::Duration::hours(1),
    ///     created_by: "ana".into(),
    ///     comment: "reindexing".into(),
    ///     updated_at: now,
    /// })?;
    /// # Ok::<(), watchkeeper::Error>(())
    /// ```
    pub async fn add_silence(&self, silence: Silence) -> Result<String, Error> {
        let tree = self.tree().clone();
        self.tree()
            .link
            .run(async move { add_silence(&tree, silence).await })
            .await?
    }

    /// [`Runtime::add_silence`] for synchronous hosts.
    pub fn add_silence_blocking(&self, silence: Silence) -> Result<String, Error> {
        let tree = self.tree().clone();
        let timeout = self.tree().link.ask_timeout * 2;
        self.tree()
            .link
            .run_blocking(async move { add_silence(&tree, silence).await }, timeout)?
    }

    /// Ends the silence with this id now.
    pub async fn expire_silence(&self, id: &str) -> Result<(), Error> {
        let (tree, id) = (self.tree().clone(), id.to_owned());
        self.tree()
            .link
            .run(async move { expire_silence(&tree, id).await })
            .await?
    }

    /// [`Runtime::expire_silence`] for synchronous hosts.
    pub fn expire_silence_blocking(&self, id: &str) -> Result<(), Error> {
        let (tree, id) = (self.tree().clone(), id.to_owned());
        let timeout = self.tree().link.ask_timeout * 2;
        self.tree()
            .link
            .run_blocking(async move { expire_silence(&tree, id).await }, timeout)?
    }

    /// Every silence, active, pending and expired (kept for `alerting.silences.retention`).
    pub async fn silences(&self) -> Result<Vec<Silence>, Error> {
        self.ask_alerting(GetSilences).await
    }

    /// [`Runtime::silences`] for synchronous hosts.
    pub fn silences_blocking(&self) -> Result<Vec<Silence>, Error> {
        self.ask_alerting_blocking(GetSilences)
    }

    async fn ask_alerting<M>(&self, msg: M) -> Result<M::Result, Error>
    where
        M: Message + Send + 'static,
        M::Result: Send + 'static,
        watchkeeper_actors::alerting::AlertingActor: Handles<M>,
    {
        let (alerting, timeout) = (self.tree().alerting.clone(), self.tree().link.ask_timeout);
        Ok(self
            .tree()
            .link
            .run(async move { alerting.ask(msg, timeout).await })
            .await??)
    }

    fn ask_alerting_blocking<M>(&self, msg: M) -> Result<M::Result, Error>
    where
        M: Message + Send + 'static,
        M::Result: Send + 'static,
        watchkeeper_actors::alerting::AlertingActor: Handles<M>,
    {
        // Once the runtime is shut down the answer is `Error::Stopped`, as for every question.
        self.tree()
            .alerting
            .ask_blocking(msg, self.tree().link.ask_timeout)
            .map_err(|e| {
                if self.running() {
                    e.into()
                } else {
                    Error::Stopped
                }
            })
    }
}

async fn acknowledge(tree: &ActorTree, fingerprint: u64, by: String) -> Result<(), Error> {
    tree.alerting
        .ask(Acknowledge { fingerprint, by }, tree.link.ask_timeout)
        .await?
        .map_err(Error::Acknowledge)?;
    tree.persist().await.map_err(Error::Storage)
}

async fn add_silence(tree: &ActorTree, silence: Silence) -> Result<String, Error> {
    let id = tree
        .alerting
        .ask(AddSilence(silence), tree.link.ask_timeout)
        .await?
        .map_err(Error::Silence)?;
    tree.persist().await.map_err(Error::Storage)?;
    Ok(id)
}

async fn expire_silence(tree: &ActorTree, id: String) -> Result<(), Error> {
    tree.alerting
        .ask(ExpireSilence(id), tree.link.ask_timeout)
        .await?
        .map_err(Error::Silence)?;
    tree.persist().await.map_err(Error::Storage)
}

impl From<AckError> for Error {
    fn from(e: AckError) -> Self {
        Error::Acknowledge(e)
    }
}

impl From<SilenceError> for Error {
    fn from(e: SilenceError) -> Self {
        Error::Silence(e)
    }
}
