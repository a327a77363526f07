//! Repository globs: `*` matches within one path segment, `**` any number of segments.
//!
//! Matching is dynamic programming over (pattern segment, repository segment), so its cost
//! is the product of the two lengths however many `**` a pattern has: a hostile policy or
//! repository name cannot make it backtrack exponentially.

/// True when `pattern` matches the repository name `repo` (`reg/path/name`).
pub(crate) fn matches(pattern: &str, repo: &str) -> bool {
    let r: Vec<&str> = repo.split('/').collect();
    // reachable[j]: the pattern segments so far match the first j repository segments.
    let mut reachable = vec![false; r.len() + 1];
    reachable[0] = true;
    for seg in pattern.split('/') {
        let mut next = vec![false; r.len() + 1];
        if seg == "**" {
            let mut any = false;
            for (j, slot) in next.iter_mut().enumerate() {
                any |= reachable[j];
                *slot = any;
            }
        } else {
            for j in 1..=r.len() {
                next[j] = reachable[j - 1] && segment_matches(seg, r[j - 1]);
            }
        }
        if !next.iter().any(|&b| b) {
            return false;
        }
        reachable = next;
    }
    reachable[r.len()]
}

/// True when every repository `inner` matches is also matched by `outer`: for finding a
/// rule that an earlier one shadows. Conservative: it may miss a covering, never invent one.
pub(crate) fn covers(outer: &str, inner: &str) -> bool {
    let g: Vec<&str> = inner.split('/').collect();
    let mut reachable = vec![false; g.len() + 1];
    reachable[0] = true;
    for seg in outer.split('/') {
        let mut next = vec![false; g.len() + 1];
        if seg == "**" {
            let mut any = false;
            for (j, slot) in next.iter_mut().enumerate() {
                any |= reachable[j];
                *slot = any;
            }
        } else {
            // A single segment covers only single segments whose matches it matches.
            for j in 1..=g.len() {
                next[j] = reachable[j - 1] && g[j - 1] != "**" && segment_matches(seg, g[j - 1]);
            }
        }
        reachable = next;
    }
    reachable[g.len()]
}

/// `*` within a segment matches any run of characters except `/`. Greedy with one
/// backtrack point, so linear in practice and quadratic at worst.
fn segment_matches(pattern: &str, s: &str) -> bool {
    let (p, s): (Vec<char>, Vec<char>) = (pattern.chars().collect(), s.chars().collect());
    let (mut pi, mut si) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while si < s.len() {
        if pi < p.len() && p[pi] == '*' {
            star = Some((pi, si));
            pi += 1;
        } else if pi < p.len() && p[pi] == s[si] {
            pi += 1;
            si += 1;
        } else if let Some((sp, ss)) = star {
            pi = sp + 1;
            si = ss + 1;
            star = Some((sp, ss + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|&c| c == '*')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn segments_and_double_stars() {
        let cases = [
            ("reg.io/team/*", "reg.io/team/app", true),
            ("reg.io/team/*", "reg.io/team/a/b", false),
            ("reg.io/**", "reg.io/team/a/b", true),
            ("reg.io/**", "reg.io", true),
            ("**", "reg.io/x", true),
            ("reg.io/**/app", "reg.io/app", true),
            ("reg.io/**/app", "reg.io/a/b/app", true),
            ("reg.io/**/app", "reg.io/a/b/app2", false),
            ("reg.io/team/app-*", "reg.io/team/app-1", true),
            ("reg.io/team/*-prod", "reg.io/team/app-prod", true),
            ("reg.io/team/a*b*c", "reg.io/team/aXbYc", true),
            ("reg.io/team/a*b*c", "reg.io/team/aXbY", false),
            ("reg.io/team/app", "reg.io/team/app2", false),
            ("reg.io/*", "other.io/x", false),
            ("*", "", true),
        ];
        for (p, r, want) in cases {
            assert_eq!(matches(p, r), want, "{p} vs {r}");
        }
    }

    #[test]
    fn coverage() {
        assert!(covers("**", "reg.io/team/*"));
        assert!(covers("reg.io/**", "reg.io/team/**"));
        assert!(covers("reg.io/team/*", "reg.io/team/app-*"));
        assert!(covers("reg.io/team/*", "reg.io/team/app"));
        assert!(!covers("reg.io/*", "reg.io/**"));
        assert!(!covers("reg.io/team/app-*", "reg.io/team/*"));
        assert!(!covers("reg.io/team/*", "reg.io/other/app"));
    }

    #[test]
    fn many_double_stars_cost_polynomial_time() {
        let repo = ["a"; 60].join("/") + "/z";
        let pattern = ["**"; 12].join("/") + "/b";
        let start = std::time::Instant::now();
        assert!(!matches(&pattern, &repo));
        assert!(matches(&(["**"; 12].join("/") + "/z"), &repo));
        // Exponential backtracking took minutes here; this is microseconds.
        assert!(start.elapsed() < std::time::Duration::from_secs(2));
    }
}
