//! An HTTP load generator for POST /api/v1/recognize: closed loop (N
//! connections, each sending its next photo when the last is answered) or
//! open loop (a fixed rate, however long answers take, capped in flight).
//! Every request is recorded: when it started, how long it took, what came
//! back (status, `Retry-After`) or that the connection failed.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

#[derive(Debug, Clone)]
pub struct Sample {
    /// Since the run started.
    pub at: Duration,
    pub took: Duration,
    /// HTTP status; 0 when no answer came (connection refused, reset, timed out).
    pub status: u16,
    pub retry_after: bool,
}

#[derive(Debug, Clone, Default)]
pub struct Run {
    pub samples: Vec<Sample>,
    pub elapsed: Duration,
}

pub enum Shape {
    Closed { connections: usize },
    Open { per_second: f64, max_in_flight: usize },
}

/// Sends photos to `url` in `shape` for `duration`; `photos` are sent in turn.
pub async fn run(url: &str, photos: &[Vec<u8>], shape: Shape, duration: Duration) -> Run {
    run_as(url, photos, shape, duration, &[]).await
}

/// [`run`] as logged-in visitors: request `n` carries `tokens[n % len]`.
pub async fn run_as(url: &str, photos: &[Vec<u8>], shape: Shape, duration: Duration, tokens: &[String]) -> Run {
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .pool_max_idle_per_host(512)
        .build()
        .expect("client");
    let samples = Arc::new(Mutex::new(Vec::new()));
    let start = Instant::now();
    let photos: Arc<Vec<Vec<u8>>> = Arc::new(photos.to_vec());
    let tokens: Arc<Vec<String>> = Arc::new(tokens.to_vec());
    match shape {
        Shape::Closed { connections } => {
            let mut tasks = Vec::new();
            for c in 0..connections {
                let (http, url, photos, samples) = (http.clone(), url.to_owned(), photos.clone(), samples.clone());
                let tokens = tokens.clone();
                tasks.push(tokio::spawn(async move {
                    let mut n = c;
                    while start.elapsed() < duration {
                        let s = one(&http, &url, &photos[n % photos.len()], token(&tokens, n), start).await;
                        samples.lock().unwrap().push(s);
                        n += connections;
                    }
                }));
            }
            for t in tasks {
                t.await.expect("load task");
            }
        }
        Shape::Open { per_second, max_in_flight } => {
            let gate = Arc::new(tokio::sync::Semaphore::new(max_in_flight));
            let every = Duration::from_secs_f64(1.0 / per_second);
            let mut tasks = Vec::new();
            let mut n = 0usize;
            while start.elapsed() < duration {
                let due = every * n as u32;
                if let Some(wait) = due.checked_sub(start.elapsed()) {
                    tokio::time::sleep(wait).await;
                }
                // Past the cap the generator itself is the bottleneck: such a
                // request counts as refused (status 0), so nothing hides it.
                let Ok(permit) = gate.clone().try_acquire_owned() else {
                    samples.lock().unwrap().push(Sample {
                        at: start.elapsed(),
                        took: Duration::ZERO,
                        status: 0,
                        retry_after: false,
                    });
                    n += 1;
                    continue;
                };
                let (http, url, photos, samples) = (http.clone(), url.to_owned(), photos.clone(), samples.clone());
                let tokens = tokens.clone();
                tasks.push(tokio::spawn(async move {
                    let s = one(&http, &url, &photos[n % photos.len()], token(&tokens, n), start).await;
                    samples.lock().unwrap().push(s);
                    drop(permit);
                }));
                n += 1;
            }
            for t in tasks {
                t.await.expect("load task");
            }
        }
    }
    let mut samples = std::mem::take(&mut *samples.lock().unwrap());
    samples.sort_by_key(|s| s.at);
    Run { samples, elapsed: start.elapsed() }
}

fn token(tokens: &[String], n: usize) -> Option<&str> {
    (!tokens.is_empty()).then(|| tokens[n % tokens.len()].as_str())
}

async fn one(http: &reqwest::Client, url: &str, photo: &[u8], token: Option<&str>, start: Instant) -> Sample {
    let at = start.elapsed();
    let form = reqwest::multipart::Form::new().part(
        "file",
        reqwest::multipart::Part::bytes(photo.to_vec()).file_name("photo.jpg").mime_str("image/jpeg").expect("mime"),
    );
    let begun = Instant::now();
    let mut request = http.post(url).multipart(form);
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let (status, retry_after) = match request.send().await {
        Ok(r) => {
            let status = r.status().as_u16();
            let retry_after = r.headers().contains_key("retry-after");
            // The whole body, so the time is the visitor's.
            if r.bytes().await.is_err() { (0, false) } else { (status, retry_after) }
        }
        Err(_) => (0, false),
    };
    Sample { at, took: begun.elapsed(), status, retry_after }
}

impl Run {
    pub fn count(&self, f: impl Fn(&Sample) -> bool) -> usize {
        self.samples.iter().filter(|s| f(s)).count()
    }

    pub fn ok(&self) -> usize {
        self.count(|s| s.status == 200)
    }

    /// Answered with anything but 200.
    pub fn failed(&self) -> usize {
        self.count(|s| s.status != 200)
    }

    /// Answered 200 per second.
    pub fn throughput(&self) -> f64 {
        self.ok() as f64 / self.elapsed.as_secs_f64()
    }

    /// The `q` quantile (0..1) of the time 200 answers took, in ms.
    pub fn quantile_ms(&self, q: f64) -> f64 {
        quantile(self.samples.iter().filter(|s| s.status == 200).map(|s| s.took), q)
    }

    /// The samples that started within `from..to` of the run's start.
    pub fn window(&self, from: Duration, to: Duration) -> Run {
        Run {
            samples: self.samples.iter().filter(|s| s.at >= from && s.at < to).cloned().collect(),
            elapsed: to.saturating_sub(from),
        }
    }

    /// Status -> count, for reports.
    pub fn statuses(&self) -> std::collections::BTreeMap<u16, usize> {
        let mut m = std::collections::BTreeMap::new();
        for s in &self.samples {
            *m.entry(s.status).or_default() += 1;
        }
        m
    }
}

pub fn quantile(durations: impl Iterator<Item = Duration>, q: f64) -> f64 {
    let mut v: Vec<f64> = durations.map(|d| d.as_secs_f64() * 1000.0).collect();
    if v.is_empty() {
        return f64::NAN;
    }
    v.sort_by(f64::total_cmp);
    v[((v.len() - 1) as f64 * q).round() as usize]
}
