//! The client: requests at a fixed rate through the load balancer, one
//! connection each, every failure counted by kind.
//!
//! Request `i` is due at `i / rate` seconds after the start, whatever the
//! earlier ones do: a pool of threads takes the next due request each, so a
//! slow answer does not slow the rate. Bounded in count and in time.

use std::{
    collections::BTreeMap,
    io::{ErrorKind, Read, Write},
    net::{SocketAddr, TcpStream},
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, AtomicU64, Ordering},
    },
    thread::JoinHandle,
    time::{Duration, Instant},
};

/// Each request's limit for connecting, and for sending and reading.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(2);
/// Threads, enough for the requests in flight at any rate used here.
const WORKERS: usize = 16;

/// How a request ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Outcome {
    Ok,
    /// An HTTP status other than 200 (the load balancer's 502, 503, 504).
    Status(u16),
    /// The load balancer refused the connection.
    Refused,
    /// The connection was reset or closed before a whole response.
    Reset,
    /// No answer within the request timeout.
    Timeout,
    /// Any other I/O error.
    Other,
}

impl Outcome {
    pub fn label(self) -> String {
        match self {
            Outcome::Ok => "200".into(),
            Outcome::Status(status) => status.to_string(),
            Outcome::Refused => "refused".into(),
            Outcome::Reset => "reset".into(),
            Outcome::Timeout => "timeout".into(),
            Outcome::Other => "other error".into(),
        }
    }
}

/// What one run of the client saw.
#[derive(Debug, Default, Clone)]
pub struct Tally {
    pub outcomes: BTreeMap<Outcome, u64>,
}

impl Tally {
    pub fn requests(&self) -> u64 {
        self.outcomes.values().sum()
    }

    pub fn failures(&self) -> u64 {
        self.requests() - self.count(Outcome::Ok)
    }

    pub fn count(&self, outcome: Outcome) -> u64 {
        self.outcomes.get(&outcome).copied().unwrap_or(0)
    }

    pub fn add(&mut self, other: &Tally) {
        for (outcome, count) in &other.outcomes {
            *self.outcomes.entry(*outcome).or_default() += count;
        }
    }
}

/// A client running in the background until `stop`.
pub struct Client {
    stop: Arc<AtomicBool>,
    workers: Vec<JoinHandle<()>>,
    tally: Arc<Mutex<Tally>>,
}

impl Client {
    /// Starts sending `rate` requests a second to `target`, at most
    /// `max_requests` of them and none due after `max_time`.
    pub fn start(target: SocketAddr, rate: f64, max_requests: u64, max_time: Duration) -> Client {
        let started = Instant::now();
        let stop = Arc::new(AtomicBool::new(false));
        let next = Arc::new(AtomicU64::new(0));
        let tally = Arc::new(Mutex::new(Tally::default()));
        let workers = (0..WORKERS)
            .map(|_| {
                let (stop, next, tally) = (stop.clone(), next.clone(), tally.clone());
                std::thread::spawn(move || {
                    loop {
                        let index = next.fetch_add(1, Ordering::Relaxed);
                        let due = Duration::from_secs_f64(index as f64 / rate);
                        if index >= max_requests || due > max_time {
                            return;
                        }
                        if let Some(wait) = due.checked_sub(started.elapsed()) {
                            std::thread::sleep(wait);
                        }
                        if stop.load(Ordering::Relaxed) {
                            return;
                        }
                        let outcome = request(target);
                        *tally.lock().unwrap().outcomes.entry(outcome).or_default() += 1;
                    }
                })
            })
            .collect();
        Client { stop, workers, tally }
    }

    /// Sends no more requests, waits for those in flight, returns the tally.
    pub fn stop(mut self) -> Tally {
        self.stop.store(true, Ordering::Relaxed);
        for worker in self.workers.drain(..) {
            worker.join().expect("a client thread panicked");
        }
        self.tally.lock().unwrap().clone()
    }
}

impl Drop for Client {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

/// One `GET /` on a new connection.
fn request(target: SocketAddr) -> Outcome {
    let of_error = |error: std::io::Error| match error.kind() {
        ErrorKind::ConnectionRefused => Outcome::Refused,
        ErrorKind::ConnectionReset | ErrorKind::ConnectionAborted | ErrorKind::BrokenPipe => Outcome::Reset,
        ErrorKind::TimedOut | ErrorKind::WouldBlock => Outcome::Timeout,
        _ => Outcome::Other,
    };
    let mut stream = match TcpStream::connect_timeout(&target, REQUEST_TIMEOUT) {
        Ok(stream) => stream,
        Err(error) => return of_error(error),
    };
    let setup = stream
        .set_read_timeout(Some(REQUEST_TIMEOUT))
        .and_then(|()| stream.set_write_timeout(Some(REQUEST_TIMEOUT)))
        .and_then(|()| stream.write_all(b"GET / HTTP/1.1\r\nHost: rollout\r\nConnection: close\r\n\r\n"));
    if let Err(error) = setup {
        return of_error(error);
    }
    let mut response = Vec::new();
    if let Err(error) = stream.read_to_end(&mut response) {
        return of_error(error);
    }
    // "HTTP/1.1 200 OK\r\n...": the status is the second word.
    let head = String::from_utf8_lossy(&response[..response.len().min(64)]).into_owned();
    let status = head.split_whitespace().nth(1).and_then(|status| status.parse::<u16>().ok());
    match status {
        // Closed before a status line: what a client sees of a reset.
        None => Outcome::Reset,
        Some(200) if response.windows(4).any(|w| w == b"\r\n\r\n") => Outcome::Ok,
        Some(200) => Outcome::Reset,
        Some(status) => Outcome::Status(status),
    }
}
