//! Input layouts shared by the targets.

use plexus_subnets::text::{MAX_STOP_BYTES, MAX_STOPS};

/// Stop strings at the start of `data`, and the rest: a byte for how many (0 to
/// [`MAX_STOPS`]), then each as a length byte (1 to [`MAX_STOP_BYTES`]) and its bytes.
/// `None` when the input ends early or a stop string is not UTF-8.
pub fn stops(data: &[u8]) -> Option<(Vec<String>, &[u8])> {
    let (&count, mut rest) = data.split_first()?;
    let mut stops = Vec::new();
    for _ in 0..usize::from(count) % (MAX_STOPS + 1) {
        let (&len, tail) = rest.split_first()?;
        let len = usize::from(len) % MAX_STOP_BYTES + 1;
        let stop = tail.get(..len)?;
        stops.push(std::str::from_utf8(stop).ok()?.to_owned());
        rest = &tail[len..];
    }
    Some((stops, rest))
}
