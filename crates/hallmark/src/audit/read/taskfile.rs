//! Taskfile (`Taskfile.yml`, go-task): its commands are YAML strings in which Go template
//! actions (`{{.VAR}}`) are replaced before the shell reads them. The YAML walk is the
//! generic YAML reader's; this module turns one command string into the shell text that
//! would run.

use super::mapped::{Builder, Mapped, Quotes, chars_of};

/// Stands for a template action the shell cannot know (`{{.X | upper}}`, `{{OS}}`,
/// `{{if …}}`).
pub const TEMPLATE: &str = "__task_fn";

/// Rewrites the template actions of `command` into shell references: `{{.VAR}}` and
/// `{{ .VAR }}` become `${VAR}`, any other action becomes `${__task_fn}` (unknown, never
/// empty), and an action inside single quotes is written outside them. Positions in the
/// result are 1-based lines and columns within `command`: the caller adds where the
/// string starts in its file.
pub fn interpolate(command: &str) -> Mapped {
    let cs = chars_of(command);
    let mut out = Builder::default();
    let mut quotes = Quotes::default();
    let mut i = 0;
    while let Some(&(c, pos)) = cs.get(i) {
        if c == '{' && cs.get(i + 1).is_some_and(|&(n, _)| n == '{') {
            let close = cs[i + 2..]
                .windows(2)
                .position(|w| w[0].0 == '}' && w[1].0 == '}')
                .map(|k| i + 2 + k);
            let Some(close) = close else {
                out.reference(TEMPLATE, pos, &quotes);
                break;
            };
            let inner: String = cs[i + 2..close].iter().map(|&(c, _)| c).collect();
            out.reference(action(&inner).unwrap_or(TEMPLATE), pos, &quotes);
            i = close + 2;
            continue;
        }
        out.push(c, pos);
        quotes.feed(c);
        i += 1;
    }
    out.finish()
}

/// The variable a template action reads, when it is only that.
fn action(inner: &str) -> Option<&str> {
    // `{{-` and `-}}` trim blanks around the action; they do not change what it is.
    let inner = inner.trim();
    let inner = inner.strip_prefix("- ").unwrap_or(inner);
    let inner = inner.strip_suffix(" -").unwrap_or(inner).trim();
    let name = inner.strip_prefix('.')?;
    let mut chars = name.chars();
    (chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_'))
    .then_some(name)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audit::read::mapped::Pos;

    #[test]
    fn variables_become_shell_references_at_their_place() {
        let m = interpolate("docker push {{.IMAGE}}:{{ .TAG }}\ncosign sign {{.IMAGE}}");
        assert_eq!(m.text, "docker push ${IMAGE}:${TAG}\ncosign sign ${IMAGE}");
        assert_eq!(m.find("${TAG}"), Some(Pos::new(1, 24)));
        assert_eq!(m.find("cosign"), Some(Pos::new(2, 1)));
        assert_eq!(
            m.position(m.text.rfind("${IMAGE}").unwrap()),
            Some(Pos::new(2, 13))
        );
    }

    #[test]
    fn other_actions_are_unknown_and_trim_markers_are_read() {
        let m = interpolate("cosign sign {{.IMG | lower}} {{OS}} {{- .TAG -}} {{.A.b}}");
        assert_eq!(
            m.text,
            "cosign sign ${__task_fn} ${__task_fn} ${TAG} ${__task_fn}"
        );
    }

    #[test]
    fn an_action_in_single_quotes_is_expanded_before_the_shell_reads_it() {
        let m = interpolate("echo '{{.TOKEN}}' | docker login --password-stdin");
        assert_eq!(
            m.text,
            "echo ''\"${TOKEN}\"'' | docker login --password-stdin"
        );
    }

    #[test]
    fn an_unterminated_action_is_unknown_to_the_end() {
        let m = interpolate("docker push {{.IMAGE");
        assert_eq!(m.text, "docker push ${__task_fn}");
        assert_eq!(m.find("$"), Some(Pos::new(1, 13)));
    }
}
