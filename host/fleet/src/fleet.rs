//! A fleet's JetStream, as submitters and workers use it: the task queue (a work-queue
//! stream with one durable consumer all workers share), the results stream, run events on
//! plain subjects, and plugins and attachments in an object store by content digest.
//!
//! Names, for prefix `P`: stream `P_TASKS` (subject `P.tasks`), stream `P_RESULTS`
//! (`P.results.>`), events on `P.events.RUN_ID`, object store `P_FILES`, and the state
//! store's buckets `P_RUNS`, `P_JOURNAL`, `P_SESSIONS` ([`JetStreamStore`](crate::JetStreamStore)).

use std::time::Duration;

use async_nats::jetstream::{self, consumer, object_store, stream};
use futures::{Stream, StreamExt};
use sha2::{Digest, Sha256};
use tokio::io::AsyncReadExt;

use crate::protocol::{FileRef, TaskOrder, TaskResult};
use crate::{FleetConfig, FleetError, connect};

/// The durable consumer every worker of a fleet pulls tasks through.
pub const WORKERS: &str = "workers";

/// How long a submitted order or result is recognised as sent before (its message id).
const DUPLICATE_WINDOW: Duration = Duration::from_secs(600);

/// How long results are kept for submitters that come back for them.
const RESULTS_KEPT: Duration = Duration::from_secs(7 * 24 * 3600);

/// A connection to a fleet, its streams ready.
#[derive(Clone)]
pub struct Fleet {
    client: async_nats::Client,
    js: jetstream::Context,
    config: FleetConfig,
    tasks: stream::Stream,
    results: stream::Stream,
    files: object_store::ObjectStore,
}

impl std::fmt::Debug for Fleet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Fleet")
            .field("prefix", &self.config.prefix)
            .finish_non_exhaustive()
    }
}

fn js_err(what: &str) -> impl FnOnce(String) -> FleetError + '_ {
    move |e| FleetError::JetStream(format!("{what}: {e}"))
}

impl Fleet {
    /// Connects and makes sure the fleet's streams and object store exist (the first
    /// worker or submitter creates them).
    pub async fn open(config: &FleetConfig) -> Result<Self, FleetError> {
        let client = connect(config).await?;
        let js = jetstream::new(client.clone());
        let tasks = js
            .get_or_create_stream(stream::Config {
                name: config.bucket("TASKS"),
                subjects: vec![config.subject(&["tasks"])],
                retention: stream::RetentionPolicy::WorkQueue,
                storage: stream::StorageType::File,
                duplicate_window: DUPLICATE_WINDOW,
                ..Default::default()
            })
            .await
            .map_err(|e| js_err("the task stream")(e.to_string()))?;
        let results = js
            .get_or_create_stream(stream::Config {
                name: config.bucket("RESULTS"),
                subjects: vec![config.subject(&["results", ">"])],
                storage: stream::StorageType::File,
                duplicate_window: DUPLICATE_WINDOW,
                max_age: RESULTS_KEPT,
                max_messages_per_subject: 1,
                ..Default::default()
            })
            .await
            .map_err(|e| js_err("the results stream")(e.to_string()))?;
        let files = match js.get_object_store(config.bucket("FILES")).await {
            Ok(store) => store,
            Err(_) => js
                .create_object_store(object_store::Config {
                    bucket: config.bucket("FILES"),
                    storage: stream::StorageType::File,
                    ..Default::default()
                })
                .await
                .map_err(|e| js_err("the file store")(e.to_string()))?,
        };
        Ok(Self {
            client,
            js,
            config: config.clone(),
            tasks,
            results,
            files,
        })
    }

    pub fn config(&self) -> &FleetConfig {
        &self.config
    }

    pub fn client(&self) -> &async_nats::Client {
        &self.client
    }

    /// The subject a run's events go to.
    pub fn events_subject(&self, run_id: &str) -> String {
        self.config.subject(&["events", run_id])
    }

    /// The subject results of batch `batch` go to (`item` names one of them).
    pub fn results_subject(&self, batch: &str, item: &str) -> String {
        self.config.subject(&["results", batch, item])
    }

    /// Where run `run_id`'s result goes: a run id is `BATCH-ITEM` (each letters, digits and
    /// `_`; the item after the last `-`), answered on `P.results.BATCH.ITEM`. `None` for an
    /// id of another shape.
    pub fn reply_subject(&self, run_id: &str) -> Option<String> {
        let (batch, item) = run_id.rsplit_once('-')?;
        let token = |t: &str| {
            !t.is_empty()
                && t.len() <= 64
                && t.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        };
        (token(batch) && token(item)).then(|| self.results_subject(batch, item))
    }

    /// Whether `subject` is one of this fleet's result subjects (a worker publishes only
    /// there, whatever an order says): `P.results.` and two tokens of letters, digits, `_`.
    pub fn is_results_subject(&self, subject: &str) -> bool {
        let prefix = self.config.subject(&["results", ""]);
        let Some(rest) = subject.strip_prefix(&prefix) else {
            return false;
        };
        let tokens: Vec<&str> = rest.split('.').collect();
        tokens.len() == 2
            && tokens
                .iter()
                .all(|t| !t.is_empty() && t.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'))
    }

    /// Puts a file (a plugin, an attachment) in the object store under its SHA-256, unless
    /// it is there already.
    pub async fn put_file(&self, name: &str, bytes: &[u8]) -> Result<FileRef, FleetError> {
        let digest = hex(&Sha256::digest(bytes));
        match self.files.info(&digest).await {
            Ok(info) if info.size == bytes.len() && !info.deleted => {}
            _ => {
                let mut reader = bytes;
                self.files
                    .put(digest.as_str(), &mut reader)
                    .await
                    .map_err(|e| js_err("uploading a file")(format!("{name}: {e}")))?;
            }
        }
        Ok(FileRef {
            name: name.to_string(),
            digest,
        })
    }

    /// A file's bytes from the object store, checked against its digest.
    /// Refused when the object is larger than `most` (it is not read).
    pub async fn get_file(&self, digest: &str, most: usize) -> Result<Vec<u8>, FleetError> {
        let info = self
            .files
            .info(digest)
            .await
            .map_err(|e| js_err("fetching a file")(format!("{digest}: {e}")))?;
        if info.size > most {
            return Err(FleetError::JetStream(format!(
                "the file stored as {digest} is {} bytes; at most {most} are taken",
                info.size
            )));
        }
        let mut object = self
            .files
            .get(digest)
            .await
            .map_err(|e| js_err("fetching a file")(format!("{digest}: {e}")))?;
        let mut bytes = Vec::new();
        object
            .read_to_end(&mut bytes)
            .await
            .map_err(|e| js_err("fetching a file")(format!("{digest}: {e}")))?;
        let got = hex(&Sha256::digest(&bytes));
        if got != digest {
            return Err(FleetError::JetStream(format!(
                "the file stored as {digest} has digest {got}: refused"
            )));
        }
        Ok(bytes)
    }

    /// Queues an order; `true` when the fleet had it already (same run id within the
    /// duplicate window), which is not queued twice.
    pub async fn order(&self, order: &TaskOrder) -> Result<bool, FleetError> {
        let body = serde_json::to_vec(order)
            .map_err(|e| FleetError::JetStream(format!("an order: {e}")))?;
        let ack = self
            .js
            .send_publish(
                self.config.subject(&["tasks"]),
                jetstream::message::PublishMessage::build()
                    .payload(body.into())
                    .message_id(order.run_id.as_str()),
            )
            .await
            .map_err(|e| js_err("queueing a task")(e.to_string()))?
            .await
            .map_err(|e| js_err("queueing a task")(e.to_string()))?;
        Ok(ack.duplicate)
    }

    /// The workers' shared consumer of the task queue: an order unacknowledged for
    /// `ack_wait` (its worker stopped saying it is still at it) goes to another worker, at
    /// most `max_deliver` times in all.
    pub async fn workers(
        &self,
        ack_wait: Duration,
        max_deliver: i64,
    ) -> Result<consumer::PullConsumer, FleetError> {
        // Workers renew their runs' leases every third of their ack wait: one that waited
        // longer than the consumer redelivers would lose runs it is still running.
        if let Ok(mut existing) = self
            .tasks
            .get_consumer::<consumer::pull::Config>(WORKERS)
            .await
            && let Ok(info) = existing.info().await
            && info.config.ack_wait != ack_wait
        {
            return Err(FleetError::Config(format!(
                "this fleet's workers use an ack wait of {:?}; give every worker the same \
                 (--ack-wait {})",
                info.config.ack_wait,
                info.config.ack_wait.as_secs_f64()
            )));
        }
        self.tasks
            .create_consumer(consumer::pull::Config {
                durable_name: Some(WORKERS.into()),
                ack_policy: consumer::AckPolicy::Explicit,
                ack_wait,
                max_deliver,
                ..Default::default()
            })
            .await
            .map_err(|e| js_err("the workers' consumer")(e.to_string()))
    }

    /// Publishes a run's result (once: its run id is the message id).
    pub async fn publish_result(
        &self,
        subject: &str,
        result: &TaskResult,
    ) -> Result<(), FleetError> {
        if !self.is_results_subject(subject) {
            return Err(FleetError::JetStream(format!(
                "`{}` is not a result subject of this fleet",
                subject.escape_debug()
            )));
        }
        let body = serde_json::to_vec(result)
            .map_err(|e| FleetError::JetStream(format!("a result: {e}")))?;
        self.js
            .send_publish(
                subject.to_string(),
                jetstream::message::PublishMessage::build()
                    .payload(body.into())
                    .message_id(result.run_id.as_str()),
            )
            .await
            .map_err(|e| js_err("publishing a result")(e.to_string()))?
            .await
            .map_err(|e| js_err("publishing a result")(e.to_string()))?;
        Ok(())
    }

    /// Every result of batch `batch`, those already there first, then as they come.
    pub async fn results(
        &self,
        batch: &str,
    ) -> Result<impl Stream<Item = Result<TaskResult, FleetError>> + use<>, FleetError> {
        let consumer = self
            .results
            .create_consumer(consumer::push::OrderedConfig {
                deliver_subject: self.client.new_inbox(),
                filter_subject: self.config.subject(&["results", batch, ">"]),
                deliver_policy: consumer::DeliverPolicy::All,
                ..Default::default()
            })
            .await
            .map_err(|e| js_err("reading results")(e.to_string()))?;
        let messages = consumer
            .messages()
            .await
            .map_err(|e| js_err("reading results")(e.to_string()))?;
        Ok(messages.map(|m| {
            let m = m.map_err(|e| js_err("reading results")(e.to_string()))?;
            serde_json::from_slice(&m.payload)
                .map_err(|e| FleetError::JetStream(format!("a result: {e}")))
        }))
    }
}

/// Lower-case hex.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
