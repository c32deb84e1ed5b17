//! When output reached `lanterm attach`, by offset: enough to say, after a service that stopped
//! uncleanly comes back with less than was shown, since when output was not saved.

use std::collections::VecDeque;

use crate::model::clock::Timestamp;

/// Marks kept: the output of the last minute or so of activity.
const MARKS: usize = 64;

/// Output offsets with the time they arrived: at most one a second, the newest [`MARKS`].
#[derive(Default)]
pub struct Marks(VecDeque<(u64, i64)>);

impl Marks {
    /// Output at `offset` arrives now.
    pub fn note(&mut self, offset: u64) {
        let now = Timestamp::now().0;
        if self.0.back().is_none_or(|&(_, t)| t < now) {
            if self.0.len() == MARKS {
                self.0.pop_front();
            }
            self.0.push_back((offset, now));
        }
    }

    /// The time (UTC, `HH:MM:SS`) output at `offset` arrived, about.
    pub fn time_of(&self, offset: u64) -> String {
        let at = self
            .0
            .iter()
            .rev()
            .find(|(o, _)| *o <= offset)
            .or(self.0.front());
        let stamp = at.map_or_else(Timestamp::now, |&(_, t)| Timestamp(t));
        let text = stamp.to_string(); // RFC 3339: 2026-12-06T14:02:11Z
        format!("{} UTC", text.get(11..19).unwrap_or(&text))
    }
}
