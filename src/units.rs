//! Sizes and durations, as people write and read them.

/// `1536` → `1.5 KiB`: binary units, as `du -h` shows them.
pub fn human_bytes(bytes: u64) -> String {
    const UNITS: [&str; 6] = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{bytes} B")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

/// `90061` s → `1d 1h`; `59` → `59s`: the two largest units.
pub fn human_duration(secs: u64) -> String {
    const UNITS: [(&str, u64); 5] = [
        ("w", 604_800),
        ("d", 86_400),
        ("h", 3_600),
        ("m", 60),
        ("s", 1),
    ];
    let mut parts = Vec::new();
    let mut rest = secs;
    for (name, len) in UNITS {
        if rest >= len {
            parts.push(format!("{}{name}", rest / len));
            rest %= len;
        }
        if parts.len() == 2 {
            break;
        }
    }
    if parts.is_empty() {
        "0s".to_string()
    } else {
        parts.join(" ")
    }
}

/// Split `"1.5T"` into (1.5, "T").
fn number_and_unit(text: &str) -> Option<(f64, &str)> {
    let t = text.trim();
    let end = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (num, unit) = t.split_at(end);
    let value: f64 = num.parse().ok()?;
    (value.is_finite() && value >= 0.0).then_some((value, unit.trim()))
}

/// A duration as `--older-than` takes it: a number and a unit, `30d`,
/// `36h`, `2w`, `90m`, `45s`, `1.5d`. Returns seconds; the error says what
/// is accepted.
pub fn parse_duration(text: &str) -> Result<u64, String> {
    const HINT: &str = "use a number followed by s, m, h, d or w (seconds, minutes, hours, days, weeks), e.g. 30d, 36h or 2w";
    let Some((value, unit)) = number_and_unit(text) else {
        return Err(format!("not a duration; {HINT}"));
    };
    let secs = match unit {
        "s" => 1.0,
        "m" | "min" => 60.0,
        "h" => 3_600.0,
        "d" => 86_400.0,
        "w" => 604_800.0,
        "" => return Err(format!("a duration needs a unit; {HINT}")),
        other => return Err(format!("unknown unit '{other}'; {HINT}")),
    };
    let total = value * secs;
    if total > 100.0 * 365.0 * 86_400.0 {
        return Err("more than a hundred years".to_string());
    }
    Ok(total.round() as u64)
}

/// A size as `--max-size` takes it: `500G`, `800M`, `1.5T`, `4096`
/// (bytes); K, M, G, T, P are powers of 1024 (`GB` and `GiB` are accepted
/// and mean the same).
pub fn parse_size(text: &str) -> Result<u64, String> {
    const HINT: &str = "use a number of bytes or a number followed by K, M, G, T or P (powers of 1024), e.g. 500G, 800M or 1.5T";
    let Some((value, unit)) = number_and_unit(text) else {
        return Err(format!("not a size; {HINT}"));
    };
    let upper = unit.to_ascii_uppercase();
    let base = upper
        .strip_suffix("IB")
        .or_else(|| upper.strip_suffix('B'))
        .unwrap_or(&upper);
    let power = match base {
        "" => 0,
        "K" => 1,
        "M" => 2,
        "G" => 3,
        "T" => 4,
        "P" => 5,
        _ => return Err(format!("unknown unit '{unit}'; {HINT}")),
    };
    let bytes = value * 1024f64.powi(power);
    if bytes >= u64::MAX as f64 {
        return Err("too large".to_string());
    }
    Ok(bytes.round() as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        assert_eq!(human_bytes(0), "0 B");
        assert_eq!(human_bytes(1023), "1023 B");
        assert_eq!(human_bytes(1536), "1.5 KiB");
        assert_eq!(human_bytes(5 * 1024 * 1024 * 1024), "5.0 GiB");
    }

    #[test]
    fn durations_shown() {
        assert_eq!(human_duration(0), "0s");
        assert_eq!(human_duration(59), "59s");
        assert_eq!(human_duration(90_061), "1d 1h");
        assert_eq!(human_duration(3 * 604_800 + 5), "3w 5s");
    }

    #[test]
    fn durations_parsed() {
        let d = parse_duration;
        assert_eq!(d("30d").ok(), Some(30 * 86_400));
        assert_eq!(d("36h").ok(), Some(36 * 3_600));
        assert_eq!(d("2w").ok(), Some(14 * 86_400));
        assert_eq!(d("90m").ok(), Some(5_400));
        assert_eq!(d("1.5d").ok(), Some(129_600));
        assert_eq!(d("45s").ok(), Some(45));
        for (bad, says) in [
            ("3x", "unknown unit 'x'"),
            ("30", "needs a unit"),
            ("d", "not a duration"),
            ("-3d", "not a duration"),
            ("", "not a duration"),
            ("1e9w", "unknown unit"),
            ("99999w", "hundred years"),
        ] {
            let err = d(bad).expect_err(bad);
            assert!(err.contains(says), "{bad}: {err}");
        }
        assert!(d("3x").expect_err("bad unit").contains("s, m, h, d or w"));
    }

    #[test]
    fn sizes_parsed() {
        let s = parse_size;
        assert_eq!(s("500G").ok(), Some(500 << 30));
        assert_eq!(s("800M").ok(), Some(800 << 20));
        assert_eq!(s("1.5T").ok(), Some(3 << 39));
        assert_eq!(s("4096").ok(), Some(4096));
        assert_eq!(s("2GiB").ok(), Some(2 << 30));
        assert_eq!(s("2gb").ok(), Some(2 << 30));
        assert_eq!(s("10k").ok(), Some(10_240));
        for bad in ["12Q", "G", "-5G", "1.2.3G", ""] {
            let err = s(bad).expect_err(bad);
            assert!(err.contains("K, M, G, T or P"), "{bad}: {err}");
        }
    }
}
