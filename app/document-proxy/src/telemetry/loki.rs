//! Pushes log lines to Loki (protobuf + snappy, the push API Promtail uses) through a bounded
//! queue. Written here instead of using tracing-loki 0.2.7, which fails two bounds the service
//! must keep (README, "Observability"): its background task moves events into a `Vec` without limit
//! while Loki is failing (it drops them only after backoffs past 30 s), its reqwest client has no
//! timeout (a hanging Loki stalls the queue forever), and its `try_send` drops silently. Here the
//! queue has a fixed capacity, every push has a deadline, and every dropped line is counted.

use super::metrics::Metrics;
use prost::Message;
use reqwest::Url;
use std::time::{Duration, SystemTime};
use tokio::sync::{mpsc, oneshot};
use tracing::Level;
use tracing::instrument::WithSubscriber;

const BATCH_LINES: usize = 1000;
const FLUSH_EVERY: Duration = Duration::from_millis(500);
const PUSH_TIMEOUT: Duration = Duration::from_secs(5);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(1);
const PUSH_ATTEMPTS: u32 = 3;
const FINAL_FLUSH_TIMEOUT: Duration = Duration::from_secs(3);

/// Loki's `logproto.PushRequest`.
#[derive(Clone, PartialEq, Message)]
pub struct PushRequest {
    #[prost(message, repeated, tag = "1")]
    pub streams: Vec<StreamAdapter>,
}

/// Loki's `logproto.StreamAdapter`: one label set and its entries.
#[derive(Clone, PartialEq, Message)]
pub struct StreamAdapter {
    #[prost(string, tag = "1")]
    pub labels: String,
    #[prost(message, repeated, tag = "2")]
    pub entries: Vec<EntryAdapter>,
    #[prost(uint64, tag = "3")]
    pub hash: u64,
}

/// Loki's `logproto.EntryAdapter`.
#[derive(Clone, PartialEq, Message)]
pub struct EntryAdapter {
    #[prost(message, optional, tag = "1")]
    pub timestamp: Option<Timestamp>,
    #[prost(string, tag = "2")]
    pub line: String,
}

/// `google.protobuf.Timestamp`.
#[derive(Clone, PartialEq, Message)]
pub struct Timestamp {
    #[prost(int64, tag = "1")]
    pub seconds: i64,
    #[prost(int32, tag = "2")]
    pub nanos: i32,
}

/// One formatted log line waiting to be pushed.
#[derive(Debug)]
pub struct LogLine {
    pub level: Level,
    pub timestamp: SystemTime,
    pub line: String,
}

/// The producer side, held by the log writer: never blocks, counts what it cannot queue.
#[derive(Debug, Clone)]
pub struct LokiSender {
    queue: mpsc::Sender<LogLine>,
    metrics: Metrics,
}

impl LokiSender {
    pub fn send(&self, line: LogLine) {
        if self.queue.try_send(line).is_err() {
            self.metrics.log_events_dropped(1);
        }
    }
}

/// Ends the pusher: what is queued is sent once more (bounded by a deadline), then it stops.
#[derive(Debug)]
pub struct LokiFlush {
    stop: oneshot::Sender<()>,
    done: tokio::task::JoinHandle<()>,
}

impl LokiFlush {
    pub async fn flush(self) {
        let _ = self.stop.send(());
        let _ = tokio::time::timeout(FINAL_FLUSH_TIMEOUT, self.done).await;
    }
}

/// Starts the background pusher; must be called inside a Tokio runtime.
pub fn start(
    url: &Url,
    environment: &str,
    capacity: usize,
    metrics: Metrics,
) -> Result<(LokiSender, LokiFlush), reqwest::Error> {
    let client = reqwest::Client::builder()
        .connect_timeout(CONNECT_TIMEOUT)
        .timeout(PUSH_TIMEOUT)
        .build()?;
    let (queue, receiver) = mpsc::channel(capacity);
    let (stop, stopped) = oneshot::channel();
    let pusher = Pusher {
        client,
        url: push_url(url),
        environment: environment.to_owned(),
        metrics: metrics.clone(),
    };
    let done = tokio::spawn(pusher.run(receiver, stopped));
    Ok((LokiSender { queue, metrics }, LokiFlush { stop, done }))
}

/// Accepts either Loki's base URL or the full push endpoint.
fn push_url(url: &Url) -> Url {
    if url.path().ends_with("/loki/api/v1/push") {
        return url.clone();
    }
    let mut url = url.clone();
    let path = format!("{}/loki/api/v1/push", url.path().trim_end_matches('/'));
    url.set_path(&path);
    url
}

struct Pusher {
    client: reqwest::Client,
    url: Url,
    environment: String,
    metrics: Metrics,
}

impl Pusher {
    async fn run(self, mut receiver: mpsc::Receiver<LogLine>, mut stopped: oneshot::Receiver<()>) {
        let mut batch = Vec::with_capacity(BATCH_LINES);
        let mut tick = tokio::time::interval(FLUSH_EVERY);
        loop {
            let room = BATCH_LINES - batch.len();
            tokio::select! {
                _ = &mut stopped => break,
                received = receiver.recv_many(&mut batch, room) => {
                    if received == 0 { break }
                    if batch.len() < BATCH_LINES { continue }
                }
                _ = tick.tick() => {}
            }
            if !batch.is_empty() {
                self.push(std::mem::take(&mut batch)).await;
            }
        }
        // Final flush: whatever is queued now, in batches, then stop.
        receiver.close();
        loop {
            if !batch.is_empty() {
                self.push(std::mem::take(&mut batch)).await;
            }
            if receiver.recv_many(&mut batch, BATCH_LINES).await == 0 {
                break;
            }
        }
    }

    /// Sends one batch with a few bounded retries; a batch that cannot be sent is dropped and
    /// counted, so a failing Loki costs at most the queue's capacity in memory.
    async fn push(&self, batch: Vec<LogLine>) {
        let count = batch.len() as u64;
        let body = encode(&batch, &self.environment);
        let mut last_error = String::new();
        for attempt in 0..PUSH_ATTEMPTS {
            if attempt > 0 {
                tokio::time::sleep(Duration::from_millis(250 << attempt)).await;
            }
            // The HTTP client's own debug events must not feed back into the queue.
            let sent = self
                .client
                .post(self.url.clone())
                .header("content-type", "application/x-protobuf")
                .header("content-encoding", "snappy")
                .body(body.clone())
                .send()
                .with_subscriber(tracing::subscriber::NoSubscriber::default())
                .await
                .and_then(reqwest::Response::error_for_status);
            match sent {
                Ok(_) => return,
                Err(err) => last_error = err.to_string(),
            }
        }
        self.metrics.log_events_dropped(count);
        tracing::warn!(dropped = count, error = %last_error, "could not push logs to Loki; stdout has them");
    }
}

/// Protobuf-encodes and snappy-compresses a batch, one stream per level.
pub fn encode(batch: &[LogLine], environment: &str) -> Vec<u8> {
    let mut streams: Vec<StreamAdapter> = Vec::new();
    for line in batch {
        let level = line.level.as_str().to_ascii_lowercase();
        let labels = format!(
            r#"{{service="document-proxy", environment="{environment}", level="{level}"}}"#
        );
        let since_epoch = line
            .timestamp
            .duration_since(SystemTime::UNIX_EPOCH)
            .unwrap_or_default();
        let entry = EntryAdapter {
            timestamp: Some(Timestamp {
                seconds: i64::try_from(since_epoch.as_secs()).unwrap_or(i64::MAX),
                nanos: i32::try_from(since_epoch.subsec_nanos()).unwrap_or(0),
            }),
            line: line.line.trim_end().to_owned(),
        };
        match streams.iter_mut().find(|s| s.labels == labels) {
            Some(stream) => stream.entries.push(entry),
            None => streams.push(StreamAdapter {
                labels,
                entries: vec![entry],
                hash: 0,
            }),
        }
    }
    let encoded = PushRequest { streams }.encode_to_vec();
    snap::raw::Encoder::new()
        .compress_vec(&encoded)
        .expect("snappy compresses any input that fits in memory")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn push_url_accepts_base_or_endpoint() {
        let base = Url::parse("http://loki:3100").expect("url");
        assert_eq!(
            push_url(&base).as_str(),
            "http://loki:3100/loki/api/v1/push"
        );
        let full = Url::parse("http://loki:3100/loki/api/v1/push").expect("url");
        assert_eq!(push_url(&full), full);
    }

    #[test]
    fn encoding_round_trips_with_fixed_labels() {
        let batch = [
            LogLine {
                level: Level::INFO,
                timestamp: SystemTime::now(),
                line: "a\n".into(),
            },
            LogLine {
                level: Level::WARN,
                timestamp: SystemTime::now(),
                line: "b\n".into(),
            },
            LogLine {
                level: Level::INFO,
                timestamp: SystemTime::now(),
                line: "c\n".into(),
            },
        ];
        let raw = snap::raw::Decoder::new()
            .decompress_vec(&encode(&batch, "dev"))
            .expect("snappy");
        let request = PushRequest::decode(raw.as_slice()).expect("protobuf");
        assert_eq!(request.streams.len(), 2);
        let info = &request.streams[0];
        assert_eq!(
            info.labels,
            r#"{service="document-proxy", environment="dev", level="info"}"#
        );
        let lines: Vec<_> = info.entries.iter().map(|e| e.line.as_str()).collect();
        assert_eq!(lines, ["a", "c"]);
    }
}
