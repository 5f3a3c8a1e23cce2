//! A request's `stop` strings on the gateway's side: miners end their answers at the token
//! that completes one (see [`plexus_subnets::text::first_stop`]), and the consumer sees
//! the text cut where it begins. A streamed answer holds back text that could begin a
//! stop string until later text says whether it does.

use plexus_subnets::text::first_stop;

/// Where `text` is cut for `stops`: the start of the first stop string, if any occurs.
pub fn cut_at(text: &str, stops: &[String]) -> Option<usize> {
    first_stop(text, stops).map(|stop| stop.start)
}

/// Where the tail of `text` that could begin a stop string starts (`text.len()` if none):
/// that tail must be held back until later text says whether it does.
fn held_from(text: &str, stops: &[String]) -> usize {
    let longest = stops.iter().map(String::len).max().unwrap_or(0);
    (text.len().saturating_sub(longest)..text.len())
        .filter(|&at| text.is_char_boundary(at))
        .find(|&at| stops.iter().any(|stop| stop.starts_with(&text[at..])))
        .unwrap_or(text.len())
}

/// What a streamed piece lets through.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// Text to send now (maybe empty); the answer goes on.
    Go(String),
    /// The last text to send: a stop string began right after it.
    Stop(String),
}

/// Cuts a streamed answer at its stop strings, holding back text that may begin one.
#[derive(Debug, Clone, Default)]
pub struct StopFilter {
    stops: Vec<String>,
    held: String,
}

impl StopFilter {
    /// A filter for `stops` (none lets everything through at once).
    pub fn new(stops: Vec<String>) -> Self {
        Self {
            stops,
            held: String::new(),
        }
    }

    /// Takes the next piece of the answer.
    pub fn push(&mut self, piece: &str) -> Step {
        self.held.push_str(piece);
        // Text sent earlier never begins a stop string (it would have been held), so any
        // occurrence lies in what is held.
        if let Some(at) = cut_at(&self.held, &self.stops) {
            self.held.truncate(at);
            return Step::Stop(std::mem::take(&mut self.held));
        }
        let keep = self.held.split_off(held_from(&self.held, &self.stops));
        Step::Go(std::mem::replace(&mut self.held, keep))
    }

    /// The held text, at the answer's end (it began no stop string after all).
    pub fn finish(&mut self) -> String {
        std::mem::take(&mut self.held)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stops(s: &[&str]) -> Vec<String> {
        s.iter().map(|s| (*s).to_owned()).collect()
    }

    /// The text a stream of `pieces` lets through, and whether it stopped.
    fn streamed(pieces: &[&str], s: &[&str]) -> (String, bool) {
        let mut filter = StopFilter::new(stops(s));
        let mut out = String::new();
        for piece in pieces {
            match filter.push(piece) {
                Step::Go(text) => out.push_str(&text),
                Step::Stop(text) => {
                    out.push_str(&text);
                    return (out, true);
                }
            }
        }
        out.push_str(&filter.finish());
        (out, false)
    }

    #[test]
    fn streams_hold_back_what_may_begin_a_stop() {
        let mut filter = StopFilter::new(stops(&["END"]));
        assert_eq!(filter.push("Hello E"), Step::Go("Hello ".into()));
        assert_eq!(filter.push("N"), Step::Go(String::new()));
        assert_eq!(filter.push("Dless"), Step::Stop(String::new()));
        let mut filter = StopFilter::new(stops(&["END"]));
        assert_eq!(filter.push("Hello EN"), Step::Go("Hello ".into()));
        assert_eq!(filter.push("ough"), Step::Go("ENough".into()));
        assert_eq!(filter.finish(), "");
        let mut filter = StopFilter::new(stops(&["END"]));
        assert_eq!(filter.push("an E"), Step::Go("an ".into()));
        assert_eq!(filter.finish(), "E");
    }

    #[test]
    fn streams_are_cut_as_whole_answers_are() {
        let text = "Hello wörld. The END is near.";
        for s in [
            &["END"][..],
            &["wör", "."],
            &["near.", "is"],
            &["ld. T", "Hello"],
            &["xyz"],
            &[],
        ] {
            let whole = cut_at(text, &stops(s)).map_or(text, |at| &text[..at]);
            // Every way of splitting the text into two or three pieces.
            let bounds: Vec<usize> = (0..=text.len())
                .filter(|&i| text.is_char_boundary(i))
                .collect();
            for &i in &bounds {
                for &j in bounds.iter().filter(|&&j| j >= i) {
                    let pieces = [&text[..i], &text[i..j], &text[j..]];
                    let (out, stopped) = streamed(&pieces, s);
                    assert_eq!(out, whole, "{s:?} {pieces:?}");
                    assert_eq!(stopped, whole.len() < text.len(), "{s:?} {pieces:?}");
                }
            }
        }
    }
}
