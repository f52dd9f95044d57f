//! sstate file names: fields, `SSTATE_SWSPEC`, the 254-character rule.

use std::path::PathBuf;

/// The fields of an sstate file name. `file_name` implements OE-Core's
/// `generate_sstatefn` including its 254-character truncation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NameParts {
    pub pn: String,
    pub pkgtarget: String,
    pub pv: String,
    pub pr: String,
    pub pkgarch: String,
    pub ssver: String,
    pub unihash: String,
    /// Task name without `do_`.
    pub task: String,
}

/// Python's `s[:n]` for ASCII strings (negative n cuts from the end).
pub(crate) fn py_prefix(s: &str, n: i64) -> &str {
    let len = s.len() as i64;
    let end = if n >= 0 { n.min(len) } else { (len + n).max(0) };
    s.get(..end as usize).unwrap_or(s)
}

impl NameParts {
    /// An `SSTATE_SWSPEC` name: `sstate:PN::PV:PR::SSVER:` (PKGTARGET and
    /// PKGARCH empty). Such entries live at the top level (no EXTRAPATH).
    pub fn swspec(pn: &str, pv: &str, pr: &str, ssver: &str, unihash: &str, task: &str) -> Self {
        Self {
            pn: pn.into(),
            pkgtarget: String::new(),
            pv: pv.into(),
            pr: pr.into(),
            pkgarch: String::new(),
            ssver: ssver.into(),
            unihash: unihash.into(),
            task: task.into(),
        }
    }

    /// `sstate:PN:PKGTARGET:PV:PR:PKGARCH:SSVER:` (untruncated).
    pub fn spec(&self) -> String {
        format!(
            "sstate:{}:{}:{}:{}:{}:{}:",
            self.pn, self.pkgtarget, self.pv, self.pr, self.pkgarch, self.ssver
        )
    }

    /// The file name for extension `ext` (`.tar.zst`, `.tar.zst.siginfo`,
    /// `.tar.zst.sig`, `.tar.zst.done`, `.tgz`, ...).
    ///
    /// As in OE-Core: the archive name (`.tar.zst`/`.tgz`) is limited to
    /// 254 - 8 characters, and companions are the archive name plus their
    /// suffix, so a `.siginfo` is at most 254 characters. When the name is too
    /// long, PKGTARGET, PV and PR are each cut to
    /// `avail = (limit - len(hash + "_" + task + ext) - len("sstate") - len(pn) -
    /// len(pkgarch) - len(ssver) - 7) // 3`. (For `.tar.zst.siginfo` this is
    /// identical to `generate_sstatefn(..., siginfo=True)`.) Other extensions
    /// are treated as a whole with the 254 limit.
    pub fn file_name(&self, ext: &str) -> String {
        self.name_and_truncated(ext).0
    }

    /// Whether `file_name(ext)` had to shorten the name.
    pub fn is_truncated(&self, ext: &str) -> bool {
        self.name_and_truncated(ext).1
    }

    pub(crate) fn name_and_truncated(&self, ext: &str) -> (String, bool) {
        let (base, suffix, limit) = if let Some(rest) = ext.strip_prefix(".tar.zst") {
            (".tar.zst", rest, 254 - 8)
        } else if let Some(rest) = ext.strip_prefix(".tgz") {
            (".tgz", rest, 254 - 8)
        } else {
            (ext, "", 254)
        };
        let hash_task = format!("{}_{}", self.unihash, self.task);
        let spec = self.spec();
        if (spec.len() + hash_task.len() + base.len()) as i64 <= limit {
            return (format!("{spec}{hash_task}{base}{suffix}"), false);
        }
        let avail = (limit
            - (hash_task.len() + base.len()) as i64
            - "sstate".len() as i64
            - self.pn.len() as i64
            - self.pkgarch.len() as i64
            - self.ssver.len() as i64
            - 7)
        .div_euclid(3);
        let name = format!(
            "sstate:{}:{}:{}:{}:{}:{}:{hash_task}{base}{suffix}",
            self.pn,
            py_prefix(&self.pkgtarget, avail),
            py_prefix(&self.pv, avail),
            py_prefix(&self.pr, avail),
            self.pkgarch,
            self.ssver,
        );
        (name, true)
    }

    /// `[EXTRAPATH/]HH/hh` from the unihash.
    pub fn rel_dir(&self, extrapath: &str) -> PathBuf {
        let h = &self.unihash;
        PathBuf::from(extrapath.trim_end_matches('/'))
            .join(h.get(0..2).unwrap_or("__"))
            .join(h.get(2..4).unwrap_or("__"))
    }

    /// `[EXTRAPATH/]HH/hh/NAME`.
    pub fn rel_path(&self, extrapath: &str, ext: &str) -> PathBuf {
        self.rel_dir(extrapath).join(self.file_name(ext))
    }
}

/// Convenience: the full (possibly truncated) file name of an sstate entry.
#[allow(clippy::too_many_arguments)]
pub fn sstate_name(
    pn: &str,
    pkgtarget: &str,
    pv: &str,
    pr: &str,
    pkgarch: &str,
    ssver: &str,
    unihash: &str,
    task: &str,
    ext: &str,
) -> String {
    NameParts {
        pn: pn.into(),
        pkgtarget: pkgtarget.into(),
        pv: pv.into(),
        pr: pr.into(),
        pkgarch: pkgarch.into(),
        ssver: ssver.into(),
        unihash: unihash.into(),
        task: task.into(),
    }
    .file_name(ext)
}
