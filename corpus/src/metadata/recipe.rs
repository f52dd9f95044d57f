//! Recipe-specific values (rendered per file) and the recipe's build system.

use super::*;

/// What a siginfo body needs to know about its recipe.
pub(crate) struct RecipeInfo<'a> {
    pub(crate) bpn: &'a str,
    pub(crate) pv: &'a str,
    pub(crate) pr: &'a str,
    /// Stable per recipe (build system, size factor, sources, licenses).
    pub(crate) key: u64,
    pub(crate) build: BuildSys,
}

impl RecipeInfo<'_> {
    /// The recipe's local files (`file://` in SRC_URI): (name, present).
    pub(crate) fn local_files(&self) -> Vec<(String, bool)> {
        let mut r = SplitMix64::keyed(self.key, &[0x10ca1]);
        let words = &banks().words;
        let n = match r.below(10) {
            0..=3 => 0,
            4..=6 => r.range(1, 3),
            7..=8 => r.range(3, 8),
            _ => r.range(8, 16),
        };
        let mut v = Vec::new();
        for k in 0..n {
            let name = match r.below(6) {
                0 => "defconfig".to_string(),
                1 => format!("{}.conf", zpick(&mut r, words)),
                2 => "run-ptest".to_string(),
                3 => format!("{}-{}.service", self.bpn, zpick(&mut r, words)),
                _ => format!(
                    "{:04}-{}-{}-{}.patch",
                    k + 1,
                    zpick(&mut r, words),
                    zpick(&mut r, words),
                    zpick(&mut r, words)
                ),
            };
            if !v.iter().any(|(x, _)| *x == name) {
                v.push((name, !r.chance(80)));
            }
        }
        v
    }

    pub(crate) fn license_files(&self) -> Vec<String> {
        let mut r = SplitMix64::keyed(self.key, &[0x11c]);
        let pool = [
            "COPYING",
            "LICENSE",
            "COPYING.LIB",
            "LICENSE.txt",
            "COPYING.GPL",
            "src/main.c",
            "include/version.h",
        ];
        let n = r.range(1, 4) as usize;
        pool[..n].iter().map(|s| s.to_string()).collect()
    }

    pub(crate) fn git(&self) -> bool {
        self.pv.contains("+git")
    }

    /// Write the value of `d` to `out`; false if the variable is unset (null).
    pub(crate) fn render(&self, d: Dyn, out: &mut String) -> bool {
        let mut r = SplitMix64::keyed(self.key, &[0xd1, d as u64]);
        let words = &banks().words;
        match d {
            Dyn::SrcSha256 if self.git() => return false,
            Dyn::SrcSha256 => {
                let mut h = SplitMix64::keyed(self.key, &[0x256, fnv(self.pv)]);
                out.push_str(&h.hex(64));
            }
            Dyn::Pr => out.push_str(self.pr),
            Dyn::SrcUri => {
                let hosts = &banks().hosts;
                if self.git() {
                    write!(
                        out,
                        "git://github.com/{}/{}.git;protocol=https;branch={}",
                        zpick(&mut r, words),
                        self.bpn,
                        zpick(&mut r, &["master", "main", "stable", "release"])
                    )
                    .unwrap_or(());
                } else {
                    write!(
                        out,
                        "https://{}/{}/${{BP}}.tar.{}",
                        zpick(&mut r, hosts),
                        self.bpn,
                        zpick(&mut r, &["xz", "gz", "bz2", "zst"])
                    )
                    .unwrap_or(());
                }
                for (f, _) in self.local_files() {
                    write!(out, " \\\n           file://{f}").unwrap_or(());
                }
            }
            Dyn::Srcrev => {
                if self.git() {
                    let mut h = SplitMix64::keyed(self.key, &[0x5c, self.pv.len() as u64]);
                    out.push_str(&h.hex(40));
                } else {
                    out.push_str("INVALID");
                }
            }
            Dyn::LicFilesChksum => {
                for (k, f) in self.license_files().iter().enumerate() {
                    if k > 0 {
                        out.push_str(" \\\n                    ");
                    }
                    if f.ends_with(".c") || f.ends_with(".h") {
                        write!(
                            out,
                            "file://{f};beginline=1;endline={};md5={}",
                            r.range(3, 40),
                            r.hex(32)
                        )
                        .unwrap_or(());
                    } else {
                        write!(out, "file://{f};md5={}", r.hex(32)).unwrap_or(());
                    }
                }
            }
            Dyn::License => out.push_str(r.pick::<&str>(LICENSES)),
            Dyn::Depends => out.push_str(&words_from(&mut r, &banks().deps, 0, 12)),
            Dyn::Packageconfig => {
                out.push_str("${@bb.utils.filter('DISTRO_FEATURES', '");
                out.push_str(&words_from(&mut r, &banks().features, 1, 4));
                out.push_str("', d)} ");
                out.push_str(&words_from(&mut r, &banks().features, 0, 5));
            }
            Dyn::ExtraOeconf => {
                let n = r.range(0, 10);
                for k in 0..n {
                    if k > 0 {
                        out.push(' ');
                    }
                    match r.below(4) {
                        0 => write!(out, "--enable-{}", zpick(&mut r, words)).unwrap_or(()),
                        1 => write!(out, "--disable-{}", zpick(&mut r, words)).unwrap_or(()),
                        2 => {
                            write!(out, "--with-{}=${{prefix}}", zpick(&mut r, words)).unwrap_or(())
                        }
                        _ => write!(out, "--without-{}", zpick(&mut r, words)).unwrap_or(()),
                    }
                }
            }
        }
        true
    }
}

pub(crate) fn fnv(s: &str) -> u64 {
    s.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
    })
}

/// The build system of a recipe, from its key and a few name hints.
pub(crate) fn build_sys_for(key: u64, pn: &str) -> BuildSys {
    if pn.starts_with("linux-") {
        return BuildSys::Kernel;
    }
    if pn.starts_with("python3-") {
        return BuildSys::Python;
    }
    let mut r = SplitMix64::keyed(key, &[0xb5]);
    match r.below(100) {
        0..=41 => BuildSys::Autotools,
        42..=57 => BuildSys::Cmake,
        58..=71 => BuildSys::Meson,
        72..=86 => BuildSys::Make,
        87..=93 => BuildSys::Python,
        _ => BuildSys::Data,
    }
}
