//! Values and function bodies, made from templates and word banks.

use super::*;

/// A Zipf-like pick: early items are much more frequent, as words are in
/// real code (uniform picks would make text compress unrealistically badly).
pub(crate) fn zpick<T: Copy>(r: &mut SplitMix64, items: &[T]) -> T {
    let n = items.len() as u64;
    let k = r.below(n);
    items[r.below(k + 1) as usize]
}

pub(crate) fn words_n(r: &mut SplitMix64, bank: &str, lo: u64, hi: u64) -> String {
    words_from(r, &split(bank), lo, hi)
}

pub(crate) fn words_from(r: &mut SplitMix64, w: &[&str], lo: u64, hi: u64) -> String {
    let n = r.range(lo, hi);
    (0..n).map(|_| zpick(r, w)).collect::<Vec<_>>().join(" ")
}

/// A message or comment: drawn (Zipf-like) from a fixed set of phrases, as
/// real code repeats its messages.
pub(crate) fn sentence(r: &mut SplitMix64) -> String {
    static PHRASES: OnceLock<Vec<String>> = OnceLock::new();
    let phrases = PHRASES.get_or_init(|| {
        let mut p = SplitMix64::keyed(0x5e27_e9ce, &[1]);
        (0..240).map(|_| words_n(&mut p, WORDS, 2, 7)).collect()
    });
    let n = phrases.len() as u64;
    let k = r.below(n);
    phrases[r.below(k + 1) as usize].clone()
}

pub(crate) fn refs(deps: &[(String, Kind)]) -> Vec<&str> {
    deps.iter()
        .filter(|(_, k)| *k == Kind::Var)
        .map(|(n, _)| n.as_str())
        .collect()
}

pub(crate) fn funcs(deps: &[(String, Kind)], kind: Kind) -> Vec<&str> {
    deps.iter()
        .filter(|(_, k)| *k == kind)
        .map(|(n, _)| n.as_str())
        .collect()
}

pub(crate) fn var_value(r: &mut SplitMix64, name: &str, deps: &[(String, Kind)]) -> Option<String> {
    let vars = refs(deps);
    if vars.is_empty() {
        match r.below(100) {
            0..=5 => return None,
            6..=14 => return Some(String::new()),
            _ => {}
        }
    }
    let mut s = String::new();
    let ends = |suffix: &str| name.ends_with(suffix);
    let style = if ends("DIR") || ends("dir") || ends("PATH") || ends("DIRS") {
        0
    } else if ends("FLAGS") || ends("ARGS") || ends("OPTS") || ends("OPTIONS") {
        1
    } else if ends("FEATURES") || ends("PACKAGES") || ends("INSTALL") || ends("LIST") {
        2
    } else if ends("MIRROR") || ends("MIRRORS") || name.contains("URI") {
        3
    } else if ends("CMD") || ends("COMMAND") || ends("FUNCS") {
        4
    } else {
        // Mostly references and short literals, as most real values are.
        zpick(r, &[6, 7, 1, 5, 0, 2])
    };
    let mut it = vars.iter();
    match style {
        0 => {
            let dirs = split(DIRS);
            match it.next() {
                Some(v) => write!(s, "${{{v}}}").unwrap_or(()),
                None => s.push_str("/usr"),
            }
            for _ in 0..r.range(1, 3) {
                write!(s, "/{}", zpick(r, &dirs)).unwrap_or(());
            }
            for v in it {
                write!(s, " ${{{v}}}/{}", zpick(r, &dirs)).unwrap_or(());
            }
        }
        1 => {
            s.push_str(&words_n(r, FLAGS, 1, 8));
            for v in it {
                write!(s, " ${{{v}}}").unwrap_or(());
            }
        }
        2 => {
            s.push_str(&words_n(r, FEATURES, 1, 10));
            for v in it {
                write!(s, " ${{{v}}}").unwrap_or(());
            }
        }
        3 => {
            let hosts = split(URL_HOSTS);
            let n = r.range(1, 10);
            for k in 0..n {
                if k > 0 {
                    s.push_str(" \\\n");
                }
                let proto = zpick(r, &["git", "https", "http", "ftp", "npm", "crate"]);
                write!(s, "{proto}://.*/.* https://{}/", zpick(r, &hosts)).unwrap_or(());
                if k % 3 == 2 {
                    s.push_str("BASENAME");
                }
            }
            for v in it {
                write!(s, " ${{{v}}}").unwrap_or(());
            }
        }
        4 => {
            let tools = split(TOOLS);
            write!(s, "{} ", zpick(r, &tools)).unwrap_or(());
            s.push_str(&words_n(r, LOWER_NOUNS, 0, 3));
            for v in it {
                write!(s, " ${{{v}}}").unwrap_or(());
            }
            if r.chance(500) {
                s.push_str("; ");
            }
        }
        5 => {
            // Inline python with a contains() the signature records.
            let feats = split(FEATURES);
            let f = zpick(r, &feats);
            let var = it.next().copied().unwrap_or("DISTRO_FEATURES");
            let (a, b) = (zpick(r, &feats), zpick(r, &feats));
            write!(
                s,
                "${{@bb.utils.contains('{var}', '{f}', '--enable-{a}', '--disable-{b}', d)}}"
            )
            .unwrap_or(());
            for v in it {
                write!(s, " ${{{v}}}").unwrap_or(());
            }
            write!(
                s,
                "\n{var}{{{f}}} = {}",
                if r.chance(500) { "Set" } else { "Unset" }
            )
            .unwrap_or(());
        }
        6 => {
            let n = r.range(1, 4);
            for k in 0..n {
                if k > 0 {
                    s.push(' ');
                }
                match it.next() {
                    Some(v) => write!(s, "${{{v}}}").unwrap_or(()),
                    None => s.push_str(&words_n(r, WORDS, 1, 2)),
                }
            }
            for v in it {
                write!(s, "-${{{v}}}").unwrap_or(());
            }
        }
        _ => {
            let lit = match r.below(6) {
                0 => "1".to_string(),
                1 => "0".to_string(),
                2 => r.range(2, 65_536).to_string(),
                3 => "yes".to_string(),
                4 => format!("{}-{}", zpick(r, &split(WORDS)), r.range(1, 99)),
                _ => words_n(r, WORDS, 1, 4),
            };
            s.push_str(&lit);
            for v in it {
                write!(s, " ${{{v}}}").unwrap_or(());
            }
        }
    }
    Some(s)
}

/// Lines of a body: between 2 and ~120, most of them short.
pub(crate) fn body_lines(r: &mut SplitMix64) -> u64 {
    match r.below(100) {
        0..=49 => r.range(2, 8),
        50..=84 => r.range(8, 24),
        85..=96 => r.range(24, 60),
        _ => r.range(60, 120),
    }
}

/// Statements shared by many bodies (`cd ${B}`, `bbnote ...`): real code
/// repeats its idioms, which is much of why it compresses as it does.
pub(crate) struct Stock {
    pub(crate) shell: Vec<String>,
    pub(crate) python: Vec<String>,
}

impl Stock {
    pub(crate) fn new(r: &mut SplitMix64) -> Self {
        let keep = |l: &str| {
            let t = l.trim_start();
            !t.is_empty()
                && !t.starts_with("if ")
                && !t.starts_with("for ")
                && !t.starts_with("try:")
                && !t.starts_with("except")
                && !t.starts_with("with ")
                && !matches!(t, "fi" | "done")
        };
        let mut shell = Vec::new();
        let mut python = Vec::new();
        while shell.len() < 400 {
            let b = shell_body(r, &[], &[], None);
            shell.extend(
                b.lines()
                    .filter(|l| keep(l))
                    .map(|l| l.trim_start().to_string()),
            );
        }
        while python.len() < 400 {
            let b = python_body(r, &[], None);
            python.extend(
                b.lines()
                    .filter(|l| keep(l))
                    .map(|l| l.trim_start().to_string()),
            );
        }
        Self { shell, python }
    }
}

pub(crate) fn stock_line<'a>(r: &mut SplitMix64, lines: &'a [String]) -> &'a str {
    let n = lines.len() as u64;
    let k = r.below(n);
    &lines[r.below(k + 1) as usize]
}

pub(crate) fn shell_body(
    r: &mut SplitMix64,
    deps: &[(String, Kind)],
    exported: &[&str],
    stock: Option<&Stock>,
) -> String {
    let vars: Vec<&str> = refs(deps)
        .into_iter()
        .filter(|v| !exported.contains(v))
        .collect();
    let calls = funcs(deps, Kind::Shell);
    let dirs = split(DIRS);
    let files = split(FILES);
    let tools = split(TOOLS);
    let n = body_lines(r);
    let mut s = String::new();
    let mut vi = 0usize;
    let mut ci = 0usize;
    let mut depth = 1usize;
    let mut line = 0;
    while line < n || vi < vars.len() || ci < calls.len() || depth > 1 {
        let ind = "\t".repeat(depth);
        if depth > 1 && (line >= n || r.chance(250)) {
            depth -= 1;
            let close = if r.chance(500) { "fi" } else { "done" };
            writeln!(s, "{}{close}", "\t".repeat(depth)).unwrap_or(());
            line += 1;
            continue;
        }
        if ci < calls.len() && r.chance(300) {
            let c = calls[ci];
            ci += 1;
            match r.below(3) {
                0 => writeln!(s, "{ind}{c}").unwrap_or(()),
                1 => writeln!(
                    s,
                    "{ind}{c} ${{{}}} {}",
                    take_var(r, &vars, &mut vi),
                    zpick(r, &files)
                )
                .unwrap_or(()),
                _ => writeln!(s, "{ind}{c} \"{}\"", sentence(r)).unwrap_or(()),
            }
            line += 1;
            continue;
        }
        if let Some(st) = stock
            && r.chance(if vi < vars.len() { 350 } else { 650 })
        {
            writeln!(s, "{ind}{}", stock_line(r, &st.shell)).unwrap_or(());
            line += 1;
            continue;
        }
        let v = take_var(r, &vars, &mut vi);
        match r.below(14) {
            0 => writeln!(s, "{ind}# {}", sentence(r)).unwrap_or(()),
            1 if depth < 4 => {
                writeln!(s, "{ind}if [ -e \"${{{v}}}/{}\" ]; then", zpick(r, &files)).unwrap_or(());
                depth += 1;
            }
            2 if depth < 4 => {
                writeln!(s, "{ind}for f in {}; do", words_n(r, LOWER_NOUNS, 1, 5)).unwrap_or(());
                depth += 1;
            }
            3 => writeln!(s, "{ind}install -d ${{D}}${{{v}}}/{}", zpick(r, &dirs)).unwrap_or(()),
            4 => writeln!(
                s,
                "{ind}install -m 0{} ${{{v}}}/{} ${{D}}${{{}}}/",
                zpick(r, &["644", "755", "600", "444"]),
                zpick(r, &files),
                take_var(r, &vars, &mut vi)
            )
            .unwrap_or(()),
            5 => writeln!(
                s,
                "{ind}sed -i -e 's:{}:{}:g' ${{{v}}}/{}",
                zpick(r, &dirs),
                zpick(r, &dirs),
                zpick(r, &files)
            )
            .unwrap_or(()),
            6 => writeln!(s, "{ind}rm -rf ${{{v}}}/{}", zpick(r, &dirs)).unwrap_or(()),
            7 => writeln!(
                s,
                "{ind}find ${{{v}}} -name '*.{}' -exec rm -f {{}} \\;",
                zpick(r, &["la", "a", "pyc", "orig", "so", "pc"])
            )
            .unwrap_or(()),
            8 => {
                writeln!(s, "{ind}[ -n \"${{{v}}}\" ] || bbfatal \"{}\"", sentence(r)).unwrap_or(())
            }
            9 => writeln!(
                s,
                "{ind}{} {} ${{{v}}}",
                zpick(r, &tools),
                words_n(r, FLAGS, 0, 3)
            )
            .unwrap_or(()),
            10 => writeln!(s, "{ind}cd ${{{v}}}").unwrap_or(()),
            11 => writeln!(
                s,
                "{ind}ln -sf {} ${{D}}${{{v}}}/{}",
                zpick(r, &files),
                zpick(r, &files)
            )
            .unwrap_or(()),
            12 => writeln!(s, "{ind}mkdir -p ${{{v}}}/{}", zpick(r, &dirs)).unwrap_or(()),
            _ => writeln!(
                s,
                "{ind}cp -R --no-dereference --preserve=mode,links ${{{v}}}/* ${{{}}}/",
                take_var(r, &vars, &mut vi)
            )
            .unwrap_or(()),
        }
        line += 1;
    }
    s
}

/// The next variable the body must mention, or a common one once all are used.
pub(crate) fn take_var(r: &mut SplitMix64, vars: &[&str], vi: &mut usize) -> String {
    if *vi < vars.len() {
        *vi += 1;
        vars[*vi - 1].to_string()
    } else {
        (zpick(
            r,
            &["S", "B", "D", "WORKDIR", "libdir", "bindir", "datadir"],
        ))
        .to_string()
    }
}

pub(crate) fn python_body(
    r: &mut SplitMix64,
    deps: &[(String, Kind)],
    stock: Option<&Stock>,
) -> String {
    let vars = refs(deps);
    let pyf = funcs(deps, Kind::Python);
    let shf = funcs(deps, Kind::Shell);
    let dirs = split(DIRS);
    let files = split(FILES);
    let n = body_lines(r);
    let locals = [
        "pkg", "pkgs", "path", "dest", "src", "files", "f", "pn", "value", "dirs", "bpn", "name",
        "entry", "deps", "workdir", "root", "target",
    ];
    let mut s = String::new();
    let mut vi = 0usize;
    let mut fi = 0usize;
    let mut si = 0usize;
    let mut depth = 1usize;
    let mut line = 0;
    while line < n || vi < vars.len() || fi < pyf.len() || si < shf.len() {
        let ind = "    ".repeat(depth);
        let l = zpick(r, &locals);
        if depth > 1 && r.chance(300) {
            depth -= 1;
            continue;
        }
        if vi < vars.len() && r.chance(450) {
            let v = vars[vi];
            vi += 1;
            match r.below(3) {
                0 => writeln!(s, "{ind}{l} = d.getVar('{v}')").unwrap_or(()),
                1 => writeln!(s, "{ind}{l} = (d.getVar('{v}') or \"\").split()").unwrap_or(()),
                _ => writeln!(s, "{ind}{l} = d.getVar('{v}', False) or ''").unwrap_or(()),
            }
            line += 1;
            continue;
        }
        if fi < pyf.len() && r.chance(300) {
            let f = pyf[fi];
            fi += 1;
            if f.contains('.') {
                writeln!(s, "{ind}{l} = {f}(d.getVar('PN'), d)").unwrap_or(());
            } else {
                writeln!(s, "{ind}{f}(d)").unwrap_or(());
            }
            line += 1;
            continue;
        }
        if si < shf.len() && r.chance(300) {
            writeln!(s, "{ind}bb.build.exec_func('{}', d)", shf[si]).unwrap_or(());
            si += 1;
            line += 1;
            continue;
        }
        if let Some(st) = stock
            && r.chance(if vi < vars.len() { 350 } else { 650 })
        {
            writeln!(s, "{ind}{}", stock_line(r, &st.python)).unwrap_or(());
            line += 1;
            continue;
        }
        match r.below(12) {
            0 => writeln!(s, "{ind}# {}", sentence(r)).unwrap_or(()),
            1 if depth < 4 => {
                writeln!(s, "{ind}if not {l}:").unwrap_or(());
                depth += 1;
            }
            2 if depth < 4 => {
                writeln!(
                    s,
                    "{ind}for {l} in sorted(os.listdir({})):",
                    zpick(r, &locals)
                )
                .unwrap_or(());
                depth += 1;
            }
            3 => writeln!(s, "{ind}bb.note(\"{} %s\" % {l})", sentence(r)).unwrap_or(()),
            4 => writeln!(
                s,
                "{ind}bb.utils.mkdirhier(os.path.join({l}, '{}'))",
                zpick(r, &dirs)
            )
            .unwrap_or(()),
            5 => writeln!(
                s,
                "{ind}{l} = os.path.join({}, '{}')",
                zpick(r, &locals),
                zpick(r, &files)
            )
            .unwrap_or(()),
            6 if depth < 4 => {
                writeln!(s, "{ind}try:").unwrap_or(());
                writeln!(
                    s,
                    "{ind}    {l} = oe.path.relative({}, {l})",
                    zpick(r, &locals)
                )
                .unwrap_or(());
                writeln!(s, "{ind}except OSError as e:").unwrap_or(());
                writeln!(s, "{ind}    bb.fatal(\"{}: %s\" % str(e))", sentence(r)).unwrap_or(());
                line += 3;
            }
            7 => writeln!(s, "{ind}d.setVar('{}', ' '.join({l}))", upper_word(r)).unwrap_or(()),
            8 if depth < 4 => {
                writeln!(
                    s,
                    "{ind}with open(os.path.join({l}, '{}'), 'w') as f:",
                    zpick(r, &files)
                )
                .unwrap_or(());
                writeln!(s, "{ind}    f.write(\"%s\\n\" % {})", zpick(r, &locals)).unwrap_or(());
                line += 1;
            }
            9 => writeln!(
                s,
                "{ind}oe.qa.handle_error(\"{}\", \"{} %s\" % {l}, d)",
                zpick(r, &split(LOWER_NOUNS)),
                sentence(r)
            )
            .unwrap_or(()),
            10 => writeln!(s, "{ind}{l}.append({})", zpick(r, &locals)).unwrap_or(()),
            _ => writeln!(s, "{ind}return {l}").unwrap_or(()),
        }
        line += 1;
    }
    s
}

pub(crate) fn upper_word(r: &mut SplitMix64) -> String {
    let w = split(WORDS);
    format!(
        "{}_{}",
        zpick(r, &split(UPPER_SUFFIXES)),
        zpick(r, &w).to_ascii_uppercase()
    )
}
