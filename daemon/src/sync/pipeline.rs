//! Pipelining helpers: keep the next listing page coming while earlier objects are copied.

use futures::StreamExt;
use futures::stream::BoxStream;
use tokio::sync::mpsc;

/// Drives `stream` on its own task, up to `depth` items ahead of the consumer.
///
/// A store listing yields pages of ~1000 keys with one request each; pulled lazily, every page
/// boundary stalls the workers for a round trip (seconds on a slow server). Read ahead, the
/// next page is already there. The task ends when the stream ends or the returned stream is
/// dropped. Needs a Tokio runtime.
///
/// The end of the stream is sent as a marker: if the reading task dies before it (a panic),
/// the returned stream yields `lost()` instead of ending, so that a cut listing is never
/// taken for a complete one (which could make a mirror delete what it did not see).
pub fn prefetch<T: Send + 'static>(
    mut stream: BoxStream<'static, T>,
    depth: usize,
    lost: impl FnOnce() -> T + Send + 'static,
) -> BoxStream<'static, T> {
    let (tx, rx) = mpsc::channel::<Option<T>>(depth.max(1));
    tokio::spawn(async move {
        while let Some(item) = stream.next().await {
            if tx.send(Some(item)).await.is_err() {
                return;
            }
        }
        let _ = tx.send(None).await;
    });
    futures::stream::unfold((rx, Some(lost)), |(mut rx, lost)| async move {
        match rx.recv().await {
            Some(Some(item)) => Some((item, (rx, lost))),
            Some(None) => None,
            None => lost.map(|f| (f(), (rx, None))),
        }
    })
    .boxed()
}

/// What a prefetched listing of `what` yields when its reading task died before the end.
pub fn listing_lost(
    what: String,
) -> impl FnOnce() -> Result<crate::backend::ListEntry, crate::backend::error::Error> {
    move || {
        Err(crate::backend::error::Error::Generic {
            path: what,
            source: "the listing stopped before its end (its task failed)".into(),
        })
    }
}

/// How far a listing is read ahead: two pages of S3's 1000.
pub const LIST_AHEAD: usize = 2000;

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_producer_that_dies_is_not_an_end() {
        let source = futures::stream::iter(0..5u32)
            .map(|i| {
                assert!(i < 3, "the listing task panics at its fourth item");
                i
            })
            .boxed();
        let all: Vec<u32> = prefetch(source, 10, || u32::MAX).collect().await;
        assert_eq!(all, [0, 1, 2, u32::MAX]);
    }

    #[tokio::test]
    async fn prefetch_reads_ahead_and_keeps_order() {
        let (seen_tx, mut seen_rx) = mpsc::unbounded_channel();
        let source = futures::stream::iter(0..100u32)
            .inspect(move |i| {
                let _ = seen_tx.send(*i);
            })
            .boxed();
        let mut s = prefetch(source, 10, || u32::MAX);
        // Before anything is consumed, the producer has run ahead up to the depth.
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        let mut ahead = 0;
        while seen_rx.try_recv().is_ok() {
            ahead += 1;
        }
        assert!((10..=12).contains(&ahead), "read ahead {ahead}");
        let all: Vec<u32> = (&mut s).collect().await;
        assert_eq!(all, (0..100).collect::<Vec<_>>());
    }

    #[tokio::test]
    async fn dropping_the_consumer_stops_the_producer() {
        let (seen_tx, mut seen_rx) = mpsc::unbounded_channel();
        let source = futures::stream::iter(0..u32::MAX)
            .inspect(move |i| {
                let _ = seen_tx.send(*i);
            })
            .boxed();
        let s = prefetch(source, 4, || 0);
        drop(s);
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        let mut n = 0;
        while seen_rx.try_recv().is_ok() {
            n += 1;
        }
        assert!(n <= 6, "kept producing after the consumer left: {n}");
    }
}
