//! How far an admin connection reads ahead of its answers: one request.
//!
//! actix-http decodes every whole request in its read buffer at once (up to 128 KiB of them) and
//! queues them behind the one being answered, so a connection pipelining 3,000
//! `GET /health/live` in a single write would have them all decoded and held together (resident
//! memory grows by about 18 MiB, and stays). And it frames each answer by what the last request it
//! decoded asked: a pipelined `HEAD` decoded while the answer before it is pending takes that
//! answer's body off (its `Content-Length` kept), an `HTTP/1.0` request relabels it, and a
//! `Connection: close` labels every answer before it.
//!
//! So a connection reads one request at a time. It follows the framing of the requests it reads
//! ([`Framing`]: heads, then bodies by `Content-Length` or by chunks, as actix-http frames them),
//! gives actix-http nothing past the end of the request it is reading ([`Framing::request_end`]
//! over the bytes it holds read ahead, at most [`READ_AT_ONCE`] of them), passes over empty lines
//! between requests itself, and gives no further, between requests, until that request is
//! answered ([`MOST_UNANSWERED`]). Each answer the application gives lets it read on. It never
//! waits within a body, so the wait cannot stall a request being answered, and it reads a body of
//! known length in one pass where it can ([`Framing::next_read`]).

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::task::Waker;

/// Most requests a connection gives actix-http unanswered before it gives it more: one, so the
/// request actix-http decoded last is the one it answers. More would bring back the answers
/// framed by later requests (the module's doc).
pub(super) const MOST_UNANSWERED: u64 = 1;

/// Most bytes one read takes from the socket outside a body of known length: what a connection
/// holds read ahead of actix-http, to find where the request it is reading ends.
pub(super) const READ_AT_ONCE: usize = 512;

/// Most bytes one read takes of a body (or a chunk) whose length is known: a body arrives whole
/// wherever it is already at hand (with its head, when both are in the bytes read ahead).
/// actix-http closes a connection whose request was answered before its body was decoded (a
/// refusal without the token, say); with the body read whole, the answer can wait for it to be
/// decoded (the admin server yields once before answering a request with a `Content-Length`).
const BODY_AT_ONCE: u64 = 64 * 1024;

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

/// Where in a request the bytes read so far end. The chunked states follow actix-http's own
/// decoder (`h1::chunked`), which takes line ends within a body as `\r\n` only.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Part {
    Head,
    /// Bytes of a body of known length still to come.
    Body(u64),
    /// A chunk's size line: its first digit, the digits so far, the blanks after them, an
    /// extension, its line feed.
    ChunkFirst,
    ChunkSize(u64),
    ChunkBlank(u64),
    ChunkExtension(u64),
    ChunkLf(u64),
    /// Bytes of a chunk still to come, then its line end.
    ChunkData(u64),
    ChunkCr,
    ChunkDataLf,
    /// After the last chunk: the end of the body, or a trailer's lines up to an empty one.
    EndCr,
    EndLf,
    Trailer,
    TrailerLf,
    /// The rest of the connection is one request's body: a WebSocket upgrade, which the admin
    /// application does not take, so actix-http hands it the rest of the stream.
    Rest,
    /// Something actix-http refuses: it answers 400 and reads nothing more, and is given nothing
    /// more.
    Refused,
}

/// A number in a header's value, read byte by byte as actix-http reads the whole value: blanks
/// around decimal digits, no sign.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Number {
    Before,
    Digits(u64),
    After(u64),
    Bad,
}

impl Number {
    fn next(self, byte: u8) -> Number {
        match (self, byte) {
            (Number::Before, b' ' | b'\t') => Number::Before,
            (Number::Before, b'0'..=b'9') => Number::Digits(u64::from(byte - b'0')),
            (Number::Digits(n), b'0'..=b'9') => n
                .checked_mul(10)
                .and_then(|n| n.checked_add(u64::from(byte - b'0')))
                .map_or(Number::Bad, Number::Digits),
            (Number::Digits(n) | Number::After(n), b' ' | b'\t') => Number::After(n),
            _ => Number::Bad,
        }
    }

    fn value(self) -> Option<u64> {
        match self {
            Number::Digits(n) | Number::After(n) => Some(n),
            Number::Before | Number::Bad => None,
        }
    }
}

/// A header's value compared with one word, byte by byte, ignoring case and the blanks around it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Word {
    Before,
    Matched(usize),
    After,
    Other,
}

impl Word {
    fn next(self, byte: u8, word: &[u8]) -> Word {
        let blank = matches!(byte, b' ' | b'\t');
        match self {
            Word::Before if blank => Word::Before,
            Word::Before | Word::Matched(_) => {
                let at = match self {
                    Word::Matched(at) => at,
                    _ => 0,
                };
                if at == word.len() && blank {
                    Word::After
                } else if word.get(at).is_some_and(|w| w.eq_ignore_ascii_case(&byte)) {
                    Word::Matched(at + 1)
                } else {
                    Word::Other
                }
            }
            Word::After if blank => Word::After,
            Word::After | Word::Other => Word::Other,
        }
    }

    fn is(self, word: &[u8]) -> bool {
        self == Word::After || self == Word::Matched(word.len())
    }
}

/// The header line being read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Field {
    /// Its name, up to the colon: its first [`NAME_KEPT`] bytes are kept.
    Name,
    ContentLength(Number),
    TransferEncoding(Word),
    Upgrade(Word),
    /// A header that says nothing of the body, or the request line.
    Other,
}

/// Bytes of a header's name kept: enough for `transfer-encoding`.
const NAME_KEPT: usize = 18;

/// Follows the framing of the requests a connection reads, byte by byte in constant memory, as
/// actix-http's decoder frames them, and counts their heads: a body is known by its
/// `Content-Length` or its chunks, whatever blanks pad the values. A head that actix-http
/// refuses for its framing (two lengths, a length that is not a number, an encoding other than
/// chunked, a chunk size that is not hexadecimal) ends what the connection gives actix-http
/// ([`Framing::refused`]), as actix-http ends it too.
#[derive(Debug, Clone)]
pub(super) struct Framing {
    part: Part,
    /// Whether the current line has a byte before its line end.
    in_line: bool,
    /// Lines of the current head so far (empty lines before a request line are not counted).
    head_lines: usize,
    field: Field,
    name: [u8; NAME_KEPT],
    name_len: usize,
    length: Option<u64>,
    encoding: Option<bool>,
    websocket: bool,
    bad: bool,
}

impl Default for Framing {
    fn default() -> Self {
        Framing {
            part: Part::Head,
            in_line: false,
            head_lines: 0,
            field: Field::Other,
            name: [0; NAME_KEPT],
            name_len: 0,
            length: None,
            encoding: None,
            websocket: false,
            bad: false,
        }
    }
}

impl Framing {
    /// Whether reading may wait for an answer here: between requests or within a head. Within a
    /// body it never waits: the rest of a body makes no new request, and the request it belongs
    /// to may be the one being answered.
    pub(super) fn may_wait(&self) -> bool {
        self.part == Part::Head
    }

    /// Whether what was read is refused by actix-http: nothing more is given to it.
    pub(super) fn refused(&self) -> bool {
        self.part == Part::Refused
    }

    /// Most bytes the next read may take: the rest of a body of known length or of a chunk's data
    /// (up to [`BODY_AT_ONCE`]), which never reaches past the request; `None` elsewhere, where the
    /// end of the request is found in the bytes at hand ([`Framing::request_end`]).
    pub(super) fn next_read(&self) -> Option<usize> {
        match self.part {
            Part::Body(left) | Part::ChunkData(left) => {
                usize::try_from(left.min(BODY_AT_ONCE)).ok()
            }
            _ => None,
        }
    }

    /// Whether the next byte starts a request: no byte of its head read yet.
    pub(super) fn between_requests(&self) -> bool {
        self.part == Part::Head && self.head_lines == 0 && !self.in_line
    }

    /// How many of `bytes`, the next ones on the connection, belong to the request being read:
    /// up to the end of its head when it has no body, of its body when it has one, up to a head
    /// actix-http refuses (none after one), and all of them when the request does not end within
    /// them (or its body is the rest of the connection).
    pub(super) fn request_end(&self, bytes: &[u8]) -> usize {
        if self.refused() {
            return 0;
        }
        let mut ahead = self.clone();
        let mut heads = 0;
        let in_body = self.part != Part::Head;
        for (at, byte) in bytes.iter().enumerate() {
            heads += ahead.read(std::slice::from_ref(byte));
            if ahead.refused() || (ahead.part == Part::Head && (heads > 0 || in_body)) {
                return at + 1;
            }
        }
        bytes.len()
    }

    /// Reads `bytes`; returns how many request heads they complete.
    pub(super) fn read(&mut self, mut bytes: &[u8]) -> u64 {
        let mut heads = 0;
        while let Some((&byte, rest)) = bytes.split_first() {
            match self.part {
                Part::Body(left) | Part::ChunkData(left) => {
                    let taken = bytes.len().min(usize::try_from(left).unwrap_or(usize::MAX));
                    bytes = &bytes[taken..];
                    let left = left - taken as u64;
                    self.part = match (self.part, left) {
                        (Part::Body(_), 0) => Part::Head,
                        (Part::Body(_), _) => Part::Body(left),
                        (_, 0) => Part::ChunkCr,
                        _ => Part::ChunkData(left),
                    };
                    continue;
                }
                Part::Rest | Part::Refused => return heads,
                Part::Head => heads += u64::from(self.head_byte(byte)),
                _ => self.part = chunked(self.part, byte),
            }
            bytes = rest;
        }
        heads
    }

    /// Takes one byte of a head; true when it ends the head.
    fn head_byte(&mut self, byte: u8) -> bool {
        match byte {
            b'\n' => return self.end_line(),
            // A line ends in `\r\n` or `\n`.
            b'\r' => return false,
            _ => {}
        }
        if !self.in_line {
            self.field = if self.head_lines == 0 {
                Field::Other
            } else {
                Field::Name
            };
            self.name_len = 0;
        }
        self.in_line = true;
        self.field = match self.field {
            Field::Name if byte == b':' => match &self.name[..self.name_len] {
                b"content-length" => Field::ContentLength(Number::Before),
                b"transfer-encoding" => Field::TransferEncoding(Word::Before),
                b"upgrade" => Field::Upgrade(Word::Before),
                _ => Field::Other,
            },
            Field::Name if self.name_len < NAME_KEPT => {
                self.name[self.name_len] = byte.to_ascii_lowercase();
                self.name_len += 1;
                Field::Name
            }
            Field::Name => Field::Other,
            Field::ContentLength(n) => Field::ContentLength(n.next(byte)),
            Field::TransferEncoding(w) => Field::TransferEncoding(w.next(byte, b"chunked")),
            Field::Upgrade(w) => Field::Upgrade(w.next(byte, b"websocket")),
            Field::Other => Field::Other,
        };
        false
    }

    /// Ends a line of a head: a header's value is taken; true when it was the empty line that
    /// ends the head.
    fn end_line(&mut self) -> bool {
        if self.in_line {
            self.in_line = false;
            self.head_lines += 1;
            match self.field {
                Field::ContentLength(n) => match (self.length, n.value()) {
                    (None, Some(length)) => self.length = Some(length),
                    _ => self.bad = true,
                },
                Field::TransferEncoding(w) => match self.encoding {
                    None => self.encoding = Some(w.is(b"chunked")),
                    Some(_) => self.bad = true,
                },
                Field::Upgrade(w) => self.websocket |= w.is(b"websocket"),
                Field::Name | Field::Other => {}
            }
            self.field = Field::Other;
            return false;
        }
        if self.head_lines == 0 {
            // An empty line before a request line is passed over.
            return false;
        }
        let chunked = match (self.encoding, self.length) {
            (Some(true), None) => true,
            (None, _) => false,
            // An encoding other than chunked, or chunked with a length.
            (Some(_), _) => {
                self.bad = true;
                false
            }
        };
        self.part = if self.bad {
            Part::Refused
        } else if chunked {
            Part::ChunkFirst
        } else if self.websocket {
            Part::Rest
        } else {
            match self.length {
                Some(length) if length > 0 => Part::Body(length),
                _ => Part::Head,
            }
        };
        (self.head_lines, self.length, self.encoding) = (0, None, None);
        (self.websocket, self.bad) = (false, false);
        true
    }
}

/// The next part of a chunked body after `byte`, as actix-http's decoder takes it.
fn chunked(part: Part, byte: u8) -> Part {
    let digit = (byte as char).to_digit(16).map(u64::from);
    let blank = matches!(byte, b' ' | b'\t');
    match (part, byte) {
        (Part::ChunkFirst, _) => digit.map_or(Part::Refused, Part::ChunkSize),
        (Part::ChunkSize(size), _) if digit.is_some() => size
            .checked_mul(16)
            .and_then(|s| s.checked_add(digit.unwrap_or_default()))
            .map_or(Part::Refused, Part::ChunkSize),
        (Part::ChunkSize(size) | Part::ChunkBlank(size), _) if blank => Part::ChunkBlank(size),
        (Part::ChunkSize(size) | Part::ChunkBlank(size), b';') => Part::ChunkExtension(size),
        (Part::ChunkSize(size) | Part::ChunkBlank(size) | Part::ChunkExtension(size), b'\r') => {
            Part::ChunkLf(size)
        }
        (Part::ChunkExtension(_), 0x00..=0x08 | 0x0a..=0x1f | 0x7f) => Part::Refused,
        (Part::ChunkExtension(size), _) => Part::ChunkExtension(size),
        (Part::ChunkLf(0), b'\n') => Part::EndCr,
        (Part::ChunkLf(size), b'\n') => Part::ChunkData(size),
        (Part::ChunkCr, b'\r') => Part::ChunkDataLf,
        (Part::ChunkDataLf, b'\n') => Part::ChunkFirst,
        (Part::EndCr, b'\r') => Part::EndLf,
        (Part::EndCr, _) => Part::Trailer,
        (Part::EndLf, b'\n') => Part::Head,
        (Part::Trailer, b'\r') => Part::TrailerLf,
        (Part::Trailer, _) => Part::Trailer,
        (Part::TrailerLf, b'\n') => Part::EndCr,
        _ => Part::Refused,
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
        let pad = " ".repeat(70);
        let stream = format!(
            "\r\nGET /health/live HTTP/1.1\r\nHost: x\r\n\r\n\
             POST /api/v2/silences HTTP/1.1\r\nContent-Length: {}\r\n\r\n{body}\
             POST /api/v2/alerts HTTP/1.1\r\nTransfer-Encoding: chunked\r\nX-Long: {}\r\n\r\n\
             6;ext=1\r\n\r\n\r\n\r\n\r\n4\r\n\r\n\r\n\r\n0\r\nTrailer: t\r\n\r\n\
             GET / HTTP/1.1\nHost: x\nContent-Length:{pad}0\t\n\n\
             POST / HTTP/1.1\r\ntransfer-ENCODING:{pad}Chunked{pad}\r\n\r\n\
             {}1e  ;x\r\n\r\n{}\r\n0\r\n\r\n\
             GET http://x:80/ HTTP/1.1\r\nContent-Length: 00003\r\n\r\nabc",
            body.len(),
            "y".repeat(300),
            "0".repeat(70),
            "z".repeat(28),
        );
        for step in [1, 2, 3, 7, 64, 512, stream.len()] {
            let (counted, framing) = heads(stream.as_bytes(), step);
            assert_eq!(counted, 6, "in pieces of {step}");
            assert_eq!(framing.part, Part::Head, "in pieces of {step}");
        }
    }

    #[test]
    fn what_actix_http_refuses_ends_the_reading() {
        for stream in [
            "POST / HTTP/1.1\r\nContent-Length: ten\r\n\r\nGET / HTTP/1.1\r\n\r\n",
            "POST / HTTP/1.1\r\nContent-Length: +1\r\n\r\nGET / HTTP/1.1\r\n\r\n",
            "POST / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 1\r\n\r\nG",
            "POST / HTTP/1.1\r\nContent-Length: 99999999999999999999999\r\n\r\n",
            "POST / HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\nGET / HTTP/1.1\r\n\r\n",
            "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\nContent-Length: 2\r\n\r\n",
            "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nGET / HTTP/1.1\r\n\r\n",
            "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n2\nab\r\n0\r\n\r\n",
            "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nabc\r\n",
        ] {
            let (counted, framing) = heads(stream.as_bytes(), 5);
            assert!(framing.refused(), "{stream:?}");
            assert_eq!(counted, 1, "{stream:?}");
            assert_eq!(framing.next_read(), None);
            let after = b"GET / HTTP/1.1\r\n\r\n";
            assert_eq!(framing.request_end(after), 0, "nothing more");
        }
    }

    #[test]
    fn a_websocket_upgrade_takes_the_rest_of_the_connection_as_its_body() {
        let stream = "GET / HTTP/1.1\r\nUpgrade:  WebSocket \r\n\r\nGET / HTTP/1.1\r\n\r\n";
        let (counted, framing) = heads(stream.as_bytes(), 3);
        assert_eq!(counted, 1);
        assert_eq!(framing.part, Part::Rest);
        assert!(!framing.may_wait() && !framing.refused());
    }

    #[test]
    fn a_body_of_known_length_is_read_whole() {
        let (_, framing) = heads(b"POST / HTTP/1.1\r\nContent-Length: 20000\r\n\r\n", 64);
        assert_eq!(framing.next_read(), Some(20_000));
        assert!(!framing.may_wait());
        let (_, framing) = heads(b"POST / HTTP/1.1\r\nContent-Length: 9000000\r\n\r\n", 64);
        assert_eq!(framing.next_read(), Some(BODY_AT_ONCE as usize));
        let (_, framing) = heads(b"POST / HTTP/1.1\r\nContent-Length: 3\r\n\r\nab", 64);
        assert_eq!(framing.next_read(), Some(1), "never into the next request");
    }

    #[test]
    fn a_read_ends_where_the_request_being_read_ends() {
        let get = "GET /health/live HTTP/1.1\r\nHost: x\r\n\r\n";
        let post = "POST /api/v2/alerts HTTP/1.1\r\nContent-Length: 2\r\n\r\n[]";
        let chunked = "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n[]\r\n0\r\n\r\n";
        let head = "HEAD /health/live HTTP/1.1\r\n\r\n";
        let stream = format!("\r\n{get}{post}{chunked}{head}{get}");
        // From the start, and from within each request, the first read ends with the request.
        let ends = [
            2 + get.len(),
            2 + get.len() + post.len(),
            2 + get.len() + post.len() + chunked.len(),
            2 + get.len() + post.len() + chunked.len() + head.len(),
            stream.len(),
        ];
        let mut framing = Framing::default();
        let mut at = 0;
        for end in ends {
            let (bytes, within) = (stream.as_bytes(), (end - at) / 2);
            // part of the request read already, as a read cut short by the network leaves it
            let heads_before = framing.read(&bytes[at..at + within]);
            assert_eq!(heads_before, 0);
            let to = at + within + framing.request_end(&bytes[at + within..]);
            assert_eq!(to, end, "{:?}", &stream[at..]);
            assert_eq!(framing.read(&bytes[at + within..to]), 1);
            at = to;
        }
        // A read cut within a chunked body ends with the body, trailer and all.
        for last in ["0\r\n\r\n", "0\r\nTrailer: t\r\n\r\n"] {
            let mut framing = Framing::default();
            let head = b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n[";
            assert_eq!(framing.read(head), 1);
            let after = format!("]\r\n{last}GET / HTTP/1.1\r\n\r\n");
            let end = "]\r\n".len() + last.len();
            assert_eq!(framing.request_end(after.as_bytes()), end, "{after:?}");
        }
        assert!(Framing::default().between_requests());
        let (_, framing) = heads(b"GET / HTTP/1.1\r\n\r\n", 4);
        assert!(framing.between_requests());
        let (_, framing) = heads(b"GET / HT", 4);
        assert!(!framing.between_requests());
        // Not ended within the bytes at hand: all of them.
        let cut = b"GET / HTTP/1.1\r\nHo";
        assert_eq!(Framing::default().request_end(cut), cut.len());
        let (_, in_chunks) = heads(b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n", 9);
        assert_eq!(in_chunks.request_end(b"5\r\nab"), 5);
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
