//! Reading the dependency hashes out of a `.siginfo` file.
//!
//! A siginfo is the zstd-compressed JSON that BitBake's `dump_sigtask`
//! writes, with sorted keys. Its `runtaskhashes` maps each dependency task
//! to the unihash it had, and those hashes are the ones in the dependencies'
//! sstate file names. Keys are sorted, so `runtaskhashes` comes before the
//! large `taskdeps` and `varvals`: the parser stops there and never looks at
//! the rest.
//!
//! Anything else (a truncated file, not zstd, not JSON, BitBake's older
//! pickle format, a JSON document without `runtaskhashes`) is an
//! [`Unreadable`] with a short reason; it never panics and never aborts the
//! caller.

use serde::de::{self, IgnoredAny, MapAccess, Visitor};
use std::borrow::Cow;
use std::fmt;
use std::io::Read;
use std::path::Path;

/// Decompressed bytes read at most: a real siginfo is well below 1 MiB; a
/// decompression bomb stops here.
pub const MAX_DECOMPRESSED: u64 = 64 << 20;

/// Why a siginfo gave no dependencies.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unreadable(pub String);

impl fmt::Display for Unreadable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Reads siginfo files, one after the other, reusing its zstd context and
/// buffers (one per thread: creating a context per file cost as much as
/// decoding a small file).
pub struct Reader {
    zstd: Option<zstd::bulk::Decompressor<'static>>,
    compressed: Vec<u8>,
    json: Vec<u8>,
}

impl Default for Reader {
    fn default() -> Self {
        Reader {
            zstd: zstd::bulk::Decompressor::new().ok(),
            compressed: Vec::new(),
            json: Vec::new(),
        }
    }
}

impl Reader {
    /// The dependency unihashes named by the siginfo at `path`, lowercase
    /// hex, in file order.
    pub fn read_deps(&mut self, path: &Path) -> Result<Vec<String>, Unreadable> {
        self.read_deps_sized(path, 0)
    }

    /// The same, with the file's size as the index knows it (0: unknown):
    /// one `read` fills the buffer, and a short read is the end of the
    /// file, as it is for regular files (a file that grew since is read
    /// on to its end).
    pub fn read_deps_sized(&mut self, path: &Path, size: u64) -> Result<Vec<String>, Unreadable> {
        let file =
            std::fs::File::open(path).map_err(|e| Unreadable(format!("cannot read: {e}")))?;
        self.deps_of_file(file, size)
    }

    /// The same for `rel` under the directory `root` (no lookup of the
    /// cache's own path for every file).
    pub fn read_deps_at(
        &mut self,
        root: rustix::fd::BorrowedFd<'_>,
        rel: &str,
        size: u64,
    ) -> Result<Vec<String>, Unreadable> {
        use rustix::fs::{Mode, OFlags};
        let fd = rustix::fs::openat(root, rel, OFlags::RDONLY | OFlags::CLOEXEC, Mode::empty())
            .map_err(|e| Unreadable(format!("cannot read: {}", std::io::Error::from(e))))?;
        self.deps_of_file(std::fs::File::from(fd), size)
    }

    fn deps_of_file(&mut self, file: std::fs::File, size: u64) -> Result<Vec<String>, Unreadable> {
        self.compressed.clear();
        read_file(file, size, &mut self.compressed)
            .map_err(|e| Unreadable(format!("cannot read: {e}")))?;
        let compressed = std::mem::take(&mut self.compressed);
        let deps = self.deps_of_bytes(&compressed);
        self.compressed = compressed;
        deps
    }

    /// The dependency unihashes of a siginfo's contents (read from an
    /// object store, say).
    pub fn deps_of_bytes(&mut self, compressed: &[u8]) -> Result<Vec<String>, Unreadable> {
        match self.zstd.as_mut() {
            Some(z) => decode_bulk(z, compressed, &mut self.json)?,
            None => decode(compressed, &mut self.json)?,
        }
        parse_deps(&self.json)
    }
}

/// Read at most `MAX_DECOMPRESSED` bytes of `f` into `buf`, expecting
/// about `size` of them.
fn read_file(mut f: std::fs::File, size: u64, buf: &mut Vec<u8>) -> std::io::Result<()> {
    // (Size unknown: start at 64 KiB, not at one byte doubling.)
    let want = match size {
        0 => 64 << 10,
        n => (n.min(MAX_DECOMPRESSED) as usize) + 1,
    };
    buf.resize(want, 0);
    let mut filled = 0;
    loop {
        match f.read(&mut buf[filled..]) {
            Ok(0) => break,
            Ok(n) => {
                filled += n;
                if filled < buf.len() {
                    // Short: the end of the file (or the size was unknown).
                    if size > 0 {
                        break;
                    }
                    continue;
                }
                if buf.len() as u64 > MAX_DECOMPRESSED {
                    break;
                }
                let grow = (buf.len() * 2).min(MAX_DECOMPRESSED as usize + 1);
                buf.resize(grow, 0);
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    buf.truncate(filled);
    Ok(())
}

/// Decompress with a reused context. Frames written by the `zstd` tool
/// from a pipe do not record their size: start at 8x and grow.
fn decode_bulk(
    z: &mut zstd::bulk::Decompressor<'static>,
    input: &[u8],
    out: &mut Vec<u8>,
) -> Result<(), Unreadable> {
    let mut cap = (input.len() * 8).clamp(64 << 10, MAX_DECOMPRESSED as usize);
    loop {
        out.clear();
        out.reserve(cap);
        match z.decompress_to_buffer(input, out) {
            Ok(_) => return Ok(()),
            Err(_) if cap < MAX_DECOMPRESSED as usize => {
                // Too small, or not zstd at all: the streaming decoder
                // tells the two apart once the buffer is as big as allowed.
                cap = (cap * 4).min(MAX_DECOMPRESSED as usize);
                if cap == MAX_DECOMPRESSED as usize {
                    return decode(input, out);
                }
            }
            Err(_) => return decode(input, out),
        }
    }
}

/// Decompress a zstd stream into `buf` (replacing its contents).
fn decode(input: impl Read, buf: &mut Vec<u8>) -> Result<(), Unreadable> {
    buf.clear();
    let decoder =
        zstd::stream::read::Decoder::new(input).map_err(|e| Unreadable(format!("zstd: {e}")))?;
    let mut limited = decoder.take(MAX_DECOMPRESSED + 1);
    match limited.read_to_end(buf) {
        Ok(_) if buf.len() as u64 > MAX_DECOMPRESSED => Err(Unreadable(format!(
            "more than {} MiB decompressed",
            MAX_DECOMPRESSED >> 20
        ))),
        Ok(_) => Ok(()),
        Err(e) => Err(Unreadable(match e.kind() {
            std::io::ErrorKind::UnexpectedEof => "truncated zstd stream".to_string(),
            _ => format!("not a zstd file or corrupt: {e}"),
        })),
    }
}

/// The values of the top-level `runtaskhashes` object of a JSON document.
///
/// First the fast way: the first `"runtaskhashes"` that is a key (an
/// unescaped quote, then `:`) and whose value parses as a map of hashes.
/// In what BitBake writes, nothing before the top-level key can be that:
/// the values before it are hashes, lists of names, and `gendeps`, whose
/// values are sets of variable names (a variable named `runtaskhashes`
/// there holds names, not hashes, and fails the parse). Anything else goes
/// the careful way: the keys before `runtaskhashes` skipped by their
/// structure (strings, brackets), then, if that fails too, serde from the
/// start, which gives the precise error.
pub fn parse_deps(json: &[u8]) -> Result<Vec<String>, Unreadable> {
    if let Some(found) = find_key(json) {
        return Ok(found);
    }
    match locate(json) {
        Some(at) => {
            let mut stream =
                serde_json::Deserializer::from_slice(&json[at..]).into_iter::<Hashes>();
            match stream.next() {
                Some(Ok(h)) => h.0,
                _ => parse_deps_serde(json),
            }
        }
        None => parse_deps_serde(json),
    }
}

/// The fast way of [`parse_deps`]: Some only for a well-formed map of
/// hashes at the first `"runtaskhashes":` key.
fn find_key(json: &[u8]) -> Option<Vec<String>> {
    const KEY: &[u8] = b"\"runtaskhashes\"";
    let at = memchr::memmem::find_iter(json, KEY).find(|&at| {
        let backslashes = json[..at].iter().rev().take_while(|&&b| b == b'\\').count();
        backslashes % 2 == 0 && json.get(skip_ws(json, at + KEY.len())) == Some(&b':')
    })?;
    let value = skip_ws(json, skip_ws(json, at + KEY.len()) + 1);
    if json.get(value) != Some(&b'{') {
        return None;
    }
    let mut stream = serde_json::Deserializer::from_slice(&json[value..]).into_iter::<Hashes>();
    match stream.next() {
        Some(Ok(Hashes(Ok(found)))) => Some(found),
        _ => None,
    }
}

fn skip_ws(b: &[u8], mut i: usize) -> usize {
    while i < b.len() && matches!(b[i], b' ' | b'\t' | b'\n' | b'\r') {
        i += 1;
    }
    i
}

/// The index just past the string that starts at `b[i] == '"'`.
fn end_of_string(b: &[u8], i: usize) -> Option<usize> {
    let mut j = i + 1;
    loop {
        let k = j + memchr::memchr2(b'"', b'\\', b.get(j..)?)?;
        if b[k] == b'\\' {
            j = k + 2;
        } else {
            return Some(k + 1);
        }
    }
}

/// The index just past the JSON value that starts at `b[i]`.
fn skip_value(b: &[u8], i: usize) -> Option<usize> {
    match *b.get(i)? {
        b'"' => end_of_string(b, i),
        b'{' | b'[' => {
            let mut depth = 0usize;
            let mut j = i;
            while j < b.len() {
                match b[j] {
                    b'"' => {
                        j = end_of_string(b, j)?;
                        continue;
                    }
                    b'{' | b'[' => depth += 1,
                    b'}' | b']' => {
                        depth -= 1;
                        if depth == 0 {
                            return Some(j + 1);
                        }
                    }
                    _ => {}
                }
                j += 1;
            }
            None
        }
        _ => {
            let mut j = i;
            while j < b.len() && !matches!(b[j], b',' | b'}' | b']' | b' ' | b'\t' | b'\n' | b'\r')
            {
                j += 1;
            }
            (j > i).then_some(j)
        }
    }
}

/// Where the value of the top-level key `runtaskhashes` starts.
fn locate(b: &[u8]) -> Option<usize> {
    let mut i = skip_ws(b, 0);
    if b.get(i) != Some(&b'{') {
        return None;
    }
    i += 1;
    loop {
        i = skip_ws(b, i);
        if b.get(i) != Some(&b'"') {
            return None;
        }
        let key_end = end_of_string(b, i)?;
        let key = &b[i + 1..key_end - 1];
        i = skip_ws(b, key_end);
        if b.get(i) != Some(&b':') {
            return None;
        }
        i = skip_ws(b, i + 1);
        if key == b"runtaskhashes" {
            return Some(i);
        }
        i = skip_ws(b, skip_value(b, i)?);
        match b.get(i)? {
            b',' => i += 1,
            _ => return None,
        }
    }
}

/// The same, by serde alone.
fn parse_deps_serde(json: &[u8]) -> Result<Vec<String>, Unreadable> {
    let mut out = None;
    let mut de = serde_json::Deserializer::from_slice(json);
    let result = de::Deserializer::deserialize_map(&mut de, TopLevel { out: &mut out });
    match (result, out) {
        // Stopped on purpose right after `runtaskhashes`.
        (Err(_), Some(found)) => found,
        (Ok(()), _) => Err(Unreadable("no runtaskhashes in the JSON".to_string())),
        (Err(e), None) => Err(Unreadable(format!("not siginfo JSON: {e}"))),
    }
}

/// Walks the top-level object, skipping values until `runtaskhashes`,
/// then stops the parse with an error so the rest is never read.
struct TopLevel<'a> {
    out: &'a mut Option<Result<Vec<String>, Unreadable>>,
}

const STOP: &str = "stop: runtaskhashes read";

impl<'de> Visitor<'de> for TopLevel<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a siginfo JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        while let Some(key) = map.next_key::<Cow<'de, str>>()? {
            if key == "runtaskhashes" {
                let deps: Hashes = map.next_value()?;
                *self.out = Some(deps.0);
                return Err(de::Error::custom(STOP));
            }
            map.next_value::<IgnoredAny>()?;
        }
        Ok(())
    }
}

/// The values of the `runtaskhashes` map, checked to be hashes.
struct Hashes(Result<Vec<String>, Unreadable>);

impl<'de> de::Deserialize<'de> for Hashes {
    fn deserialize<D: de::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Hashes;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a map of task to unihash")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Hashes, A::Error> {
                let mut out = Vec::new();
                let mut bad = None;
                while let Some((_task, hash)) = map.next_entry::<IgnoredAny, Cow<'de, str>>()? {
                    if is_hash(&hash) {
                        out.push(hash.into_owned());
                    } else if bad.is_none() {
                        bad = Some(hash.into_owned());
                    }
                }
                Ok(Hashes(match bad {
                    None => Ok(out),
                    Some(h) => Err(Unreadable(format!(
                        "runtaskhashes holds a value that is not a hash: {:?}",
                        h.chars().take(80).collect::<String>()
                    ))),
                }))
            }
            // `null` or an empty value: no dependencies.
            fn visit_unit<E: de::Error>(self) -> Result<Hashes, E> {
                Ok(Hashes(Ok(Vec::new())))
            }
        }
        d.deserialize_any(V)
    }
}

/// A unihash as BitBake writes them: 32 (md5) or 64 (sha256) lowercase hex.
fn is_hash(s: &str) -> bool {
    (s.len() == 64 || s.len() == 32) && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: &str = "3b5f1c0e9a7d2b4c6e8f0a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f";
    const B: &str = "0123456789abcdef0123456789abcdef";

    fn zst(json: &str) -> Vec<u8> {
        zstd::encode_all(json.as_bytes(), 3).expect("compressing")
    }

    fn read(bytes: &[u8]) -> Result<Vec<String>, Unreadable> {
        let mut buf = Vec::new();
        decode(bytes, &mut buf)?;
        parse_deps(&buf)
    }

    #[test]
    fn reads_runtaskhashes_and_stops_there() {
        // Everything after runtaskhashes is garbage: it must never be parsed.
        let json = format!(
            r#"{{"basehash":"x","gendeps":{{"A":["B"]}},"runtaskdeps":["a:do_x"],"runtaskhashes":{{"/r/a.bb:do_install":"{A}","virtual:native:/r/b.bb:do_populate_sysroot":"{B}"}},"taskdeps": this is not json"#
        );
        assert_eq!(read(&zst(&json)), Ok(vec![A.to_string(), B.to_string()]));
    }

    #[test]
    fn empty_or_null_runtaskhashes_have_no_deps() {
        assert_eq!(read(&zst(r#"{"runtaskhashes":{},"x":1}"#)), Ok(vec![]));
        assert_eq!(read(&zst(r#"{"runtaskhashes":null}"#)), Ok(vec![]));
    }

    #[test]
    fn bad_inputs_are_unreadable_with_a_reason() {
        let full = zst(&format!(r#"{{"runtaskhashes":{{"t":"{A}"}}}}"#));
        let cases: Vec<(Vec<u8>, &str)> = vec![
            (Vec::new(), "truncated"),
            (b"\x80\x04\x95pickle".to_vec(), "zstd"),
            (full[..full.len() / 2].to_vec(), "truncated"),
            (zst("not json at all"), "not siginfo JSON"),
            (zst(r#"{"taskhash":"x"}"#), "no runtaskhashes"),
            (zst(r#"["runtaskhashes"]"#), "not siginfo JSON"),
            (zst(r#"{"runtaskhashes":{"t":"ZZ"}}"#), "not a hash"),
            (zst(r#"{"runtaskhashes":{"t":"#), "not siginfo JSON"),
        ];
        for (bytes, why) in cases {
            let err = read(&bytes).expect_err("must be unreadable");
            assert!(err.0.contains(why), "{why}: got {err}");
        }
    }

    #[test]
    fn decompression_bomb_stops_at_the_limit() {
        let zeros = vec![b' '; (MAX_DECOMPRESSED + 10) as usize];
        let bomb = zstd::encode_all(zeros.as_slice(), 19).expect("compressing");
        let err = read(&bomb).expect_err("too big");
        assert!(err.0.contains("MiB"), "{err}");
    }

    #[test]
    fn the_fast_skip_agrees_with_serde() {
        let docs = [
            format!(
                r#"{{"a":"x\"y\\","b":[1,{{"c":"]}}"}},true,null,-1.5e3],"runtaskhashes":{{"t":"{A}"}},"z":1}}"#
            ),
            format!("{{ \"a\" : [ ] ,\n\"runtaskhashes\" :\t{{ \"t\" : \"{B}\" }} }}"),
            r#"{"gendeps":{"X":["Y","Z"]},"runtaskhashes":{}}"#.to_string(),
        ];
        for d in &docs {
            assert_eq!(
                parse_deps(d.as_bytes()),
                parse_deps_serde(d.as_bytes()),
                "{d}"
            );
            assert!(locate(d.as_bytes()).is_some(), "{d}");
        }
    }

    #[test]
    fn the_key_search_skips_what_is_not_the_top_level_key() {
        // A variable named runtaskhashes in gendeps (a set of names), the
        // name inside a string, escaped quotes: the top-level key wins.
        let docs = [
            format!(
                r#"{{"gendeps":{{"runtaskhashes":{{"_set_object":["A","B"]}}}},"runtaskhashes":{{"t":"{A}"}}}}"#
            ),
            format!(r#"{{"gendeps":{{"runtaskhashes":["A"]}},"runtaskhashes":{{"t":"{A}"}}}}"#),
            format!(
                r#"{{"a":"say \"runtaskhashes\":{{\"t\":\"{B}\"}}","runtaskhashes":{{"t":"{A}"}}}}"#
            ),
            format!(r#"{{"a":"\\","runtaskhashes" : {{"t":"{A}"}}}}"#),
            format!(
                r#"{{"a":"\\\"runtaskhashes\":{{\"t\":\"{B}\"}}","runtaskhashes":{{"t":"{A}"}}}}"#
            ),
        ];
        for d in &docs {
            assert_eq!(parse_deps(d.as_bytes()), Ok(vec![A.to_string()]), "{d}");
            assert_eq!(
                parse_deps(d.as_bytes()),
                parse_deps_serde(d.as_bytes()),
                "{d}"
            );
        }
    }

    #[test]
    fn reading_with_a_wrong_size_still_reads_the_whole_file() {
        let dir = tempfile::tempdir().expect("tempdir");
        let json = format!(
            r#"{{"basehash":"{}","runtaskhashes":{{"t":"{A}"}}}}"#,
            "x".repeat(70_000)
        );
        let path = dir.path().join("a.siginfo");
        std::fs::write(&path, zst(&json)).expect("writing");
        let real = std::fs::metadata(&path).expect("stat").len();
        for size in [0, 1, real / 2, real, real + 100] {
            let got = Reader::default().read_deps_sized(&path, size);
            assert_eq!(got, Ok(vec![A.to_string()]), "size {size}");
        }
        let root = rustix::fs::open(
            dir.path(),
            rustix::fs::OFlags::RDONLY,
            rustix::fs::Mode::empty(),
        )
        .expect("opening the dir");
        let got = Reader::default().read_deps_at(rustix::fd::AsFd::as_fd(&root), "a.siginfo", real);
        assert_eq!(got, Ok(vec![A.to_string()]));
        let gone = Reader::default().read_deps_at(rustix::fd::AsFd::as_fd(&root), "b.siginfo", 10);
        assert!(gone.expect_err("missing").0.contains("cannot read"));
    }

    proptest::proptest! {
        // Fuzzing: many more cases than proptest's default 256 (these are
        // pure and fast); PROPTEST_CASES overrides it for longer runs.
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(
            std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(5000)
        ))]

        #[test]
        fn fast_and_serde_agree_on_random_documents(
            keys in proptest::collection::vec("[a-z_]{1,8}", 0..6),
            vals in proptest::collection::vec("[\\[\\]{}\",:a-z0-9 ]{0,12}", 0..6),
        ) {
            let mut doc = String::from("{");
            for (k, v) in keys.iter().zip(&vals) {
                doc.push_str(&format!("{:?}:{:?},", k, v));
            }
            doc.push_str(&format!("\"runtaskhashes\":{{\"t\":\"{A}\"}}}}"));
            proptest::prop_assert_eq!(parse_deps(doc.as_bytes()), parse_deps_serde(doc.as_bytes()));
        }

        #[test]
        fn random_bytes_never_panic(bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..400)) {
            let _ = read(&bytes);
            let _ = parse_deps(&bytes);
            let _ = read(&zst(&String::from_utf8_lossy(&bytes)));
        }

        #[test]
        fn truncated_real_siginfo_never_panics(cut in 0usize..200) {
            let full = zst(&format!(r#"{{"a":[1,2,{{"b":null}}],"runtaskhashes":{{"t1":"{A}","t2":"{B}"}},"varvals":{{"x":"y"}}}}"#));
            let _ = read(&full[..cut.min(full.len())]);
        }
    }
}
