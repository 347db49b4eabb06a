//! How far an admin connection reads ahead of its answers.
//!
//! actix-http decodes every whole request in its read buffer at once (up to 128 KiB of them) and
//! queues them behind the one being answered: one connection pipelining 3,000
//! `GET /health/live` in a single write had them all decoded and held together, and resident memory
//! grew by 17 MiB and stayed there. So a connection gives its reader at most [`READ_AT_ONCE`] bytes
//! a read, follows the framing of the requests it reads ([`Framing`]: heads, then bodies by
//! `Content-Length` or by chunks), and, between requests, reads no further once
//! [`MOST_UNANSWERED`] requests are read and not yet answered. Each answer the application gives
//! lets it read on. It never waits within a body, so the wait cannot stall a request being
//! answered, and it reads a body of known length in one read where it can
//! ([`Framing::next_read`]).

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::task::Waker;

/// Most requests a connection holds read and not answered before it stops reading.
pub(super) const MOST_UNANSWERED: u64 = 8;

/// Most bytes one read takes from the socket: the requests it may carry past
/// [`MOST_UNANSWERED`] (about 28 of the smallest, 18 bytes each) are the most a connection holds
/// beyond it.
pub(super) const READ_AT_ONCE: usize = 512;

/// Most bytes one read takes of a body whose length is known: a body arrives whole in one read
/// wherever it is already at hand, as it did before reads were limited. actix-http closes a
/// connection whose request was answered before its body had all been read (a wrong token, say),
/// so a body split between two reads would have cost the requests after it on the connection.
const BODY_AT_ONCE: u64 = 64 * 1024;

/// Bytes of a line of a head kept to recognise it: enough for `content-length:` and twenty
/// digits, or `transfer-encoding:` and `chunked`.
const LINE_KEPT: usize = 64;

/// The requests read and answered on one connection: read by the connection, answered by the
/// service around the application, shared by both (as connection data).
#[derive(Clone, Default)]
pub(crate) struct Answers(Rc<AnswersInner>);

#[derive(Default)]
struct AnswersInner {
    read: Cell<u64>,
    answered: Cell<u64>,
    /// The reader waiting for an answer to read on.
    waiting: RefCell<Option<Waker>>,
}

impl Answers {
    /// Counts `heads` more requests read.
    pub(super) fn read(&self, heads: u64) {
        self.0.read.set(self.0.read.get() + heads);
    }

    /// Counts an answer, and wakes a reader waiting for one.
    pub(super) fn answered(&self) {
        self.0.answered.set(self.0.answered.get() + 1);
        if let Some(waker) = self.0.waiting.borrow_mut().take() {
            waker.wake();
        }
    }

    /// Requests read and not answered.
    pub(super) fn unanswered(&self) -> u64 {
        self.0.read.get().saturating_sub(self.0.answered.get())
    }

    /// Whether the reader must wait for an answer; if so, `waker` is woken by the next.
    pub(super) fn must_wait(&self, waker: &Waker) -> bool {
        if self.unanswered() < MOST_UNANSWERED {
            return false;
        }
        *self.0.waiting.borrow_mut() = Some(waker.clone());
        true
    }
}

/// Where in a request the bytes read so far end.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Part {
    Head,
    /// Bytes of a body of known length still to come.
    Body(u64),
    /// A chunk's size line.
    ChunkSize,
    /// Bytes of a chunk still to come, then its line end.
    ChunkData(u64),
    ChunkEnd,
    /// The trailer after the last chunk, up to its empty line.
    Trailer,
}

/// Follows the framing of the requests a connection reads and counts their heads. It errs
/// towards counting fewer: what it cannot follow (a length that is not a number, a chunk size that
/// is not hexadecimal) ends its counting on that connection, and actix-http refuses the request
/// and closes the connection anyway.
#[derive(Debug)]
pub(super) struct Framing {
    part: Part,
    /// The current line's first [`LINE_KEPT`] bytes, in lower case.
    line: Vec<u8>,
    /// Whether the current line has any byte but its line end.
    line_has_text: bool,
    /// Lines of the current head so far (empty lines before a request line are not counted).
    head_lines: usize,
    length: u64,
    chunked: bool,
    lost: bool,
}

impl Default for Framing {
    fn default() -> Self {
        Framing {
            part: Part::Head,
            line: Vec::with_capacity(LINE_KEPT),
            line_has_text: false,
            head_lines: 0,
            length: 0,
            chunked: false,
            lost: false,
        }
    }
}

impl Framing {
    /// Whether reading may wait for an answer here: between requests or within a head, while
    /// the framing is followed. Within a body it never waits: the rest of a body makes no new
    /// request, and the request it belongs to may be the one being answered.
    pub(super) fn may_wait(&self) -> bool {
        !self.lost && self.part == Part::Head
    }

    /// Most bytes the next read may take: the rest of a body of known length, else
    /// [`READ_AT_ONCE`].
    pub(super) fn next_read(&self) -> usize {
        match self.part {
            Part::Body(left) | Part::ChunkData(left) => usize::try_from(left.min(BODY_AT_ONCE))
                .unwrap_or(READ_AT_ONCE)
                .max(READ_AT_ONCE),
            _ => READ_AT_ONCE,
        }
    }

    /// Whether the framing was followed so far; once lost, nothing more is counted.
    #[cfg(test)]
    fn followed(&self) -> bool {
        !self.lost
    }

    /// Reads `bytes`; returns how many request heads they complete.
    pub(super) fn read(&mut self, mut bytes: &[u8]) -> u64 {
        let mut heads = 0;
        while !bytes.is_empty() && !self.lost {
            match self.part {
                Part::Body(left) | Part::ChunkData(left) => {
                    let taken = bytes.len().min(usize::try_from(left).unwrap_or(usize::MAX));
                    bytes = &bytes[taken..];
                    let left = left - taken as u64;
                    self.part = match (self.part, left) {
                        (Part::Body(_), 0) => Part::Head,
                        (Part::Body(_), _) => Part::Body(left),
                        (_, 0) => Part::ChunkEnd,
                        _ => Part::ChunkData(left),
                    };
                }
                Part::Head | Part::ChunkSize | Part::ChunkEnd | Part::Trailer => {
                    let (byte, rest) = (bytes[0], &bytes[1..]);
                    bytes = rest;
                    if byte == b'\n' {
                        heads += u64::from(self.end_line());
                        self.line.clear();
                        self.line_has_text = false;
                    } else if byte != b'\r' {
                        self.line_has_text = true;
                        if self.line.len() < LINE_KEPT {
                            self.line.push(byte.to_ascii_lowercase());
                        }
                    }
                }
            }
        }
        heads
    }

    /// Acts on the line just ended; true when it ended a request's head.
    fn end_line(&mut self) -> bool {
        match self.part {
            Part::Head if !self.line_has_text => {
                if self.head_lines == 0 {
                    // An empty line before a request line is passed over.
                    return false;
                }
                self.head_lines = 0;
                self.part = if self.chunked {
                    Part::ChunkSize
                } else if self.length > 0 {
                    Part::Body(self.length)
                } else {
                    Part::Head
                };
                (self.length, self.chunked) = (0, false);
                true
            }
            Part::Head => {
                self.head_lines += 1;
                self.header();
                false
            }
            Part::ChunkSize => {
                let size = self.line.split(|b| *b == b';').next().unwrap_or_default();
                let size = std::str::from_utf8(size).unwrap_or_default().trim();
                match u64::from_str_radix(size, 16) {
                    Ok(0) => self.part = Part::Trailer,
                    Ok(size) => self.part = Part::ChunkData(size),
                    Err(_) => self.lost = true,
                }
                false
            }
            Part::ChunkEnd => {
                self.part = Part::ChunkSize;
                false
            }
            Part::Trailer => {
                if !self.line_has_text {
                    self.part = Part::Head;
                }
                false
            }
            Part::Body(_) | Part::ChunkData(_) => false,
        }
    }

    /// Takes what a header line of a head says of the body.
    fn header(&mut self) {
        let line = &self.line[..];
        if let Some(value) = line.strip_prefix(b"content-length:") {
            let value = std::str::from_utf8(value).unwrap_or_default().trim();
            match value.parse::<u64>() {
                Ok(length) => self.length = length,
                Err(_) => self.lost = true,
            }
        } else if let Some(value) = line.strip_prefix(b"transfer-encoding:") {
            if value.windows(7).any(|w| w == b"chunked") {
                self.chunked = true;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Heads counted when `stream` is read in pieces of `step` bytes.
    fn heads(stream: &[u8], step: usize) -> (u64, Framing) {
        let mut framing = Framing::default();
        let heads = stream.chunks(step).map(|piece| framing.read(piece)).sum();
        (heads, framing)
    }

    #[test]
    fn heads_are_counted_past_bodies_of_either_framing_in_pieces_of_any_size() {
        let body = "{\"a\":\"\r\n\r\n\r\n\r\n\"}";
        let stream = format!(
            "\r\nGET /health/live HTTP/1.1\r\nHost: x\r\n\r\n\
             POST /api/v2/silences HTTP/1.1\r\nContent-Length: {}\r\n\r\n{body}\
             POST /api/v2/alerts HTTP/1.1\r\nTransfer-Encoding: chunked\r\nX-Long: {}\r\n\r\n\
             6;ext=1\r\n\r\n\r\n\r\n\r\n4\r\n\r\n\r\n\r\n0\r\nTrailer: t\r\n\r\n\
             GET / HTTP/1.1\nHost: x\n\n",
            body.len(),
            "y".repeat(300),
        );
        for step in [1, 2, 3, 7, 64, 512, stream.len()] {
            let (counted, framing) = heads(stream.as_bytes(), step);
            assert_eq!(counted, 4, "in pieces of {step}");
            assert!(framing.followed());
            assert_eq!(framing.part, Part::Head);
        }
    }

    #[test]
    fn what_cannot_be_followed_ends_the_counting() {
        for stream in [
            "POST / HTTP/1.1\r\nContent-Length: ten\r\n\r\nGET / HTTP/1.1\r\n\r\n",
            "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nGET / HTTP/1.1\r\n\r\n",
        ] {
            let (counted, framing) = heads(stream.as_bytes(), 5);
            assert!(!framing.followed(), "{stream:?}");
            assert!(counted <= 1, "{stream:?}");
        }
    }

    #[test]
    fn a_reader_waits_for_an_answer_once_enough_are_unanswered() {
        let answers = Answers::default();
        let waker = std::task::Waker::noop();
        answers.read(MOST_UNANSWERED - 1);
        assert!(!answers.must_wait(waker));
        answers.read(1);
        assert!(answers.must_wait(waker));
        answers.answered();
        assert_eq!(answers.unanswered(), MOST_UNANSWERED - 1);
        assert!(!answers.must_wait(waker));
    }
}
