//! The sstate file-name parser (SSTATE.md section 2). Pure: no I/O.
//!
//! `sstate:PN:PKGTARGET:PV:PR:PKGARCH:SSVER:UNIHASH_TASK.EXT`
//!
//! Anything that does not match exactly is "not an entry" and is never
//! touched by a cleanup: temporary files of builds in progress, lock files,
//! names with an unknown extension or a malformed hash.

/// What an entry is to its object.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Kind {
    /// `.tar.zst` (or legacy `.tgz`): the archive itself.
    Archive,
    /// `.tar.zst.siginfo`: the task signature (zstd JSON).
    Siginfo,
    /// `.tar.zst.sig`: detached GPG signature.
    Sig,
    /// `.tar.zst.done`: legacy marker.
    Done,
}

impl Kind {
    /// The name stored in the index and shown in the public views.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Archive => "archive",
            Kind::Siginfo => "siginfo",
            Kind::Sig => "sig",
            Kind::Done => "done",
        }
    }
}

/// Known extensions, longest first for each archive format, so that a
/// suffix test picks the most specific one.
const EXTENSIONS: &[(&str, Kind)] = &[
    (".tar.zst.siginfo", Kind::Siginfo),
    (".tar.zst.sig", Kind::Sig),
    (".tar.zst.done", Kind::Done),
    (".tar.zst", Kind::Archive),
    (".tgz.siginfo", Kind::Siginfo),
    (".tgz.sig", Kind::Sig),
    (".tgz.done", Kind::Done),
    (".tgz", Kind::Archive),
];

/// The prefix every sstate entry starts with.
pub const PREFIX: &str = "sstate:";

/// The fields of one sstate file name, borrowed from it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Name<'a> {
    /// The name without its extension: shared by an object's entries.
    pub stem: &'a str,
    pub pn: &'a str,
    pub pkgtarget: &'a str,
    pub pv: &'a str,
    pub pr: &'a str,
    pub pkgarch: &'a str,
    pub ssver: &'a str,
    pub unihash: &'a str,
    pub task: &'a str,
    /// The extension including its leading dot, e.g. `.tar.zst.siginfo`.
    pub ext: &'a str,
    pub kind: Kind,
}

/// Parse a file name; `None` means "not an sstate entry".
///
/// Hot path (once per file in the walk, once more in the writer): one pass
/// over the bytes to find the seven separators, no allocation.
pub fn parse(name: &str) -> Option<Name<'_>> {
    let body = name.strip_prefix(PREFIX)?;
    // BitBake never writes control characters (a newline would also split
    // every line-based listing): such a name is not an entry.
    if body.bytes().any(|b| b < 0x20 || b == 0x7f) {
        return None;
    }
    let (ext, kind) = EXTENSIONS
        .iter()
        .copied()
        .find(|(ext, _)| body.ends_with(ext))?;
    let (stem, ext) = name.split_at(name.len() - ext.len());
    let fields = &body[..body.len() - ext.len()];

    // Positions of the six ':' between PN..SSVER and UNIHASH_TASK; a
    // seventh ':' means a malformed name.
    let mut colons = [0usize; 6];
    let mut n = 0;
    for (i, b) in fields.bytes().enumerate() {
        if b == b':' {
            if n == colons.len() {
                return None;
            }
            colons[n] = i;
            n += 1;
        }
    }
    if n != colons.len() {
        return None;
    }
    let field = |k: usize| {
        let start = if k == 0 { 0 } else { colons[k - 1] + 1 };
        let end = if k == colons.len() {
            fields.len()
        } else {
            colons[k]
        };
        &fields[start..end]
    };
    let (pn, pkgtarget, pv, pr, pkgarch, ssver, hash_task) = (
        field(0),
        field(1),
        field(2),
        field(3),
        field(4),
        field(5),
        field(6),
    );
    if pn.is_empty() {
        return None;
    }
    let (unihash, task) = hash_task.split_once('_')?;
    if !(unihash.len() == 64 || unihash.len() == 32)
        || !unihash
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    {
        return None;
    }
    if task.is_empty()
        || !task
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
    {
        return None;
    }
    Some(Name {
        stem,
        pn,
        pkgtarget,
        pv,
        pr,
        pkgarch,
        ssver,
        unihash,
        task,
        ext,
        kind,
    })
}

/// Where the fields of a parsed name are, as byte ranges into it: a name
/// parsed on a walker thread is read on the writer thread without parsing
/// it again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Spans {
    /// stem, pn, pkgtarget, pv, pr, pkgarch, ssver, unihash, task, ext.
    ranges: [(u16, u16); 10],
    kind: Kind,
}

impl Name<'_> {
    /// The spans of this name's fields within `base`, the string it was
    /// parsed from.
    pub fn spans(&self, base: &str) -> Spans {
        let at = |f: &str| {
            let start = (f.as_ptr() as usize).saturating_sub(base.as_ptr() as usize);
            (start as u16, (start + f.len()) as u16)
        };
        Spans {
            ranges: [
                at(self.stem),
                at(self.pn),
                at(self.pkgtarget),
                at(self.pv),
                at(self.pr),
                at(self.pkgarch),
                at(self.ssver),
                at(self.unihash),
                at(self.task),
                at(self.ext),
            ],
            kind: self.kind,
        }
    }
}

impl Spans {
    /// The name's fields again, from the string the spans were taken from.
    pub fn name<'a>(&self, base: &'a str) -> Name<'a> {
        let f = |i: usize| {
            let (a, b) = self.ranges[i];
            base.get(a as usize..b as usize).unwrap_or("")
        };
        Name {
            stem: f(0),
            pn: f(1),
            pkgtarget: f(2),
            pv: f(3),
            pr: f(4),
            pkgarch: f(5),
            ssver: f(6),
            unihash: f(7),
            task: f(8),
            ext: f(9),
            kind: self.kind,
        }
    }

    /// Length of the stem (the name without its extension).
    pub fn stem_len(&self) -> usize {
        self.ranges[0].1 as usize
    }
}

/// EXTRAPATH of an object, from the directory it sits in (relative to the
/// cache root, `/`-separated) and its unihash: the directory minus the
/// trailing `HH/hh`. When the object is not in its `HH/hh` directory (an odd
/// layout), the whole directory is its EXTRAPATH, so that it is grouped only
/// with objects that sit beside it.
pub fn extrapath<'a>(rel_dir: &'a str, unihash: &str) -> &'a str {
    let (Some(hh1), Some(hh2)) = (unihash.get(0..2), unihash.get(2..4)) else {
        return rel_dir;
    };
    let mut parts = rel_dir.rsplitn(3, '/');
    let last = parts.next();
    let prev = parts.next();
    match (prev, last) {
        (Some(p), Some(l)) if p == hh1 && l == hh2 => parts.next().unwrap_or(""),
        _ => rel_dir,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const H64: &str = "3b5f1c0e9a7d2b4c6e8f0a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f";
    const H32: &str = "0123456789abcdef0123456789abcdef";

    #[test]
    fn target_archive() {
        let n = format!(
            "sstate:busybox:core2-64-poky-linux:1.36.1:r0:core2-64:14:{H64}_populate_sysroot.tar.zst"
        );
        let p = parse(&n).expect("parses");
        assert_eq!(p.pn, "busybox");
        assert_eq!(p.pkgtarget, "core2-64-poky-linux");
        assert_eq!(p.pv, "1.36.1");
        assert_eq!(p.pr, "r0");
        assert_eq!(p.pkgarch, "core2-64");
        assert_eq!(p.ssver, "14");
        assert_eq!(p.unihash, H64);
        assert_eq!(p.task, "populate_sysroot");
        assert_eq!(p.ext, ".tar.zst");
        assert_eq!(p.kind, Kind::Archive);
        assert_eq!(format!("{}{}", p.stem, p.ext), n);
    }

    #[test]
    fn companions() {
        for (ext, kind) in [
            (".tar.zst.siginfo", Kind::Siginfo),
            (".tar.zst.sig", Kind::Sig),
            (".tar.zst.done", Kind::Done),
            (".tgz", Kind::Archive),
            (".tgz.siginfo", Kind::Siginfo),
        ] {
            let n =
                format!("sstate:zlib:x86_64-linux:1.3:r0:x86_64:14:{H64}_package_write_ipk{ext}");
            let p = parse(&n).expect("parses");
            assert_eq!(p.kind, kind, "{ext}");
            assert_eq!(p.ext, ext);
            assert_eq!(p.task, "package_write_ipk");
        }
    }

    #[test]
    fn swspec_names() {
        let n = format!("sstate:glibc::2.39+git:r0::14:{H64}_populate_lic.tar.zst");
        let p = parse(&n).expect("parses");
        assert_eq!(p.pkgtarget, "");
        assert_eq!(p.pkgarch, "");
        assert_eq!(p.pv, "2.39+git");
        assert_eq!(p.task, "populate_lic");
        let n = format!("sstate:gcc-source-13.2.0::13.2.0:r0::14:{H64}_unpack.tar.zst.siginfo");
        assert_eq!(parse(&n).map(|p| p.task), Some("unpack"));
    }

    #[test]
    fn md5_hashes_and_odd_pv() {
        let n = format!(
            "sstate:foo:core2-64-poky-linux:1.0~rc1-2_3+x:r5:core2-64:10:{H32}_package.tgz"
        );
        let p = parse(&n).expect("parses");
        assert_eq!(p.pv, "1.0~rc1-2_3+x");
        assert_eq!(p.unihash, H32);
    }

    #[test]
    fn truncated_names() {
        // generate_sstatefn cuts PKGTARGET, PV and PR to equal lengths.
        let n = format!(
            "sstate:linux-yocto:qemux86:6.6.2+gitAUTOIN:r0:qemux86_64:14:{H64}_deploy.tar.zst"
        );
        assert!(parse(&n).is_some());
        let n = format!("sstate:linux-yocto::::qemux86_64:14:{H64}_deploy.tar.zst");
        assert_eq!(parse(&n).map(|p| p.pv), Some(""));
    }

    #[test]
    fn not_entries() {
        let base =
            format!("sstate:busybox:core2-64-poky-linux:1.36.1:r0:core2-64:14:{H64}_package");
        for n in [
            format!("{base}.tar.zstAbC12_x9"),      // NamedTemporaryFile
            format!("{base}.tar.zst.siginfo.lock"), // lock file
            format!("{base}.tar.zst.lock"),
            format!("{base}.tar.gz"),
            "README".to_string(),
            "sstate:foo".to_string(),
            "sstate:foo.tar.zst".to_string(),
            format!("Sstate:busybox:a:1:r0:b:14:{H64}_package.tar.zst"),
            format!("sstate::a:1:r0:b:14:{H64}_package.tar.zst"), // empty PN
            format!("sstate:busybox:a:1:r0:b:14:{}_package.tar.zst", &H64[..63]),
            format!(
                "sstate:busybox:a:1:r0:b:14:{}_package.tar.zst",
                H64.to_uppercase()
            ),
            format!("sstate:busybox:a:1:r0:b:14:{H64}_.tar.zst"),
            format!("sstate:busybox:a:1:r0:b:14:x:{H64}_package.tar.zst"),
            format!("sstate:busybox:a:1:r0:b:{H64}_package.tar.zst"),
            format!("sstate:busy\nbox:a:1:r0:b:14:{H64}_package.tar.zst"),
            format!("sstate:busybox:a:1.36\r:r0:b:14:{H64}_package.tar.zst"),
            format!("sstate:busybox:a:1:r0:b\t:14:{H64}_package.tar.zst"),
            format!("sstate:busybox:a:1:r0:b:14:{H64}_package\x1b[2J.tar.zst"),
            format!("sstate:busybox:a:1:r0:b:14:{H64}_package\x7f.tar.zst"),
        ] {
            assert!(parse(&n).is_none(), "{n} must not parse");
        }
    }

    #[test]
    fn extrapath_from_dir() {
        assert_eq!(extrapath("3b/5f", H64), "");
        assert_eq!(extrapath("universal/3b/5f", H64), "universal");
        assert_eq!(extrapath("a/b/3b/5f", H64), "a/b");
        assert_eq!(extrapath("", H64), "");
        assert_eq!(extrapath("5f", H64), "5f");
        assert_eq!(extrapath("universal/00/5f", H64), "universal/00/5f");
    }

    proptest::proptest! {
        // Fuzzing: many more cases than proptest's default 256 (these are
        // pure and fast); PROPTEST_CASES overrides it for longer runs.
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(
            std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(20000)
        ))]

        #[test]
        fn random_bytes_never_panic(bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..300)) {
            let s = String::from_utf8_lossy(&bytes);
            let _ = parse(&s);
            let _ = parse(&format!("sstate:{s}"));
            let _ = parse(&format!("sstate:{s}.tar.zst"));
        }

        #[test]
        fn spans_give_the_same_fields(pv in "[0-9a-z.+~_-]{0,40}", task in "[a-z][a-z_]{0,20}") {
            let n = format!("sstate:zlib:core2-64-poky-linux:{pv}:r0:core2-64:14:{H64}_{task}.tar.zst.sig");
            let p = parse(&n).expect("parses");
            let copy = n.clone();
            proptest::prop_assert_eq!(p.spans(&n).name(&copy), p);
        }

        #[test]
        fn fields_round_trip(pn in "[a-z][a-z0-9+.-]{0,20}", pv in "[0-9a-z.+~_-]{0,12}", task in "[a-z][a-z_]{0,20}") {
            let n = format!("sstate:{pn}:core2-64-poky-linux:{pv}:r0:core2-64:14:{H64}_{task}.tar.zst.siginfo");
            let p = parse(&n).expect("parses");
            proptest::prop_assert_eq!(p.pn, pn.as_str());
            proptest::prop_assert_eq!(p.pv, pv.as_str());
            proptest::prop_assert_eq!(p.task, task.as_str());
        }
    }
}
