//! Text from outside (a registry's error body, a header, a media type, a signed field) is
//! printed only through here: control characters are escaped so that it cannot forge
//! lines or colours in a CI log, it is truncated, and anything that looks like a
//! credential is redacted.

/// Longest message printed, in characters.
const MAX_CHARS: usize = 2000;
/// Words after which a value is a secret (`password=…`, `"token":"…"`).
const SECRET_KEYS: [&str; 9] = [
    "password",
    "pin-value",
    "passwd",
    "secret",
    "token",
    "access_token",
    "refresh_token",
    "api_key",
    "apikey",
];
/// Prefixes of well-known token formats (GitHub, GitLab, npm, PyPI, Docker Hub, AWS keys).
const TOKEN_PREFIXES: [&str; 10] = [
    "ghp_",
    "gho_",
    "ghu_",
    "ghs_",
    "ghr_",
    "github_pat_",
    "glpat-",
    "npm_",
    "pypi-",
    "dckr_pat_",
];

/// One line, safe to print.
pub fn line(text: &str) -> String {
    let redacted = redact(text);
    let mut out = String::with_capacity(redacted.len());
    for (chars, c) in redacted.chars().enumerate() {
        if chars >= MAX_CHARS {
            let rest = redacted.chars().count() - chars;
            out.push_str(&format!("… ({rest} more characters)"));
            break;
        }
        match c {
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            // Controls (C0, DEL, C1) and the bidirectional overrides that reorder text.
            c if c.is_control()
                || ('\u{202a}'..='\u{202e}').contains(&c)
                || ('\u{2066}'..='\u{2069}').contains(&c) =>
            {
                out.push_str(&format!("\\u{{{:x}}}", c as u32));
            }
            c => out.push(c),
        }
    }
    out
}

fn is_token_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '~' | '+' | '/' | '=' | '-')
}

/// Whether `i` is inside a `pkcs11:` URI, whose `token=` is the token's label, not a
/// credential (its PIN is `pin-value=`).
fn in_pkcs11_uri(lower: &str, i: usize) -> bool {
    let start = lower[..i]
        .rfind(|c: char| c.is_whitespace() || c == '"')
        .map_or(0, |p| p + 1);
    lower[start..i].contains("pkcs11:")
}

/// Replaces credentials with `<redacted>`: `Basic`/`Bearer` values, `secret=value` pairs
/// (also JSON-ish `"token": "value"`), well-known token formats and AWS access key ids.
fn redact(text: &str) -> String {
    let lower = text.to_ascii_lowercase();
    let bytes = text.as_bytes();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    'scan: while i < text.len() {
        if !text.is_char_boundary(i) {
            i += 1;
            continue;
        }
        let rest = &lower[i..];
        let word_start = i == 0 || !is_token_char(bytes[i - 1] as char);
        // `Basic xxx`, `Bearer xxx`
        for scheme in ["basic ", "bearer "] {
            if word_start && rest.starts_with(scheme) {
                let value_start = i + scheme.len();
                let end = token_end(text, value_start);
                if looks_secret(&text[value_start..end]) {
                    out.push_str(&text[i..value_start]);
                    out.push_str("<redacted>");
                    i = end;
                    continue 'scan;
                }
            }
        }
        // `password=xxx`, `"token": "xxx"`
        for key in SECRET_KEYS {
            if word_start && rest.starts_with(key) && !(key == "token" && in_pkcs11_uri(&lower, i))
            {
                let mut j = i + key.len();
                let skip = |j: &mut usize, set: &[u8]| {
                    while *j < bytes.len() && set.contains(&bytes[*j]) {
                        *j += 1;
                    }
                };
                skip(&mut j, b"\"' ");
                if j < bytes.len() && (bytes[j] == b'=' || bytes[j] == b':') {
                    j += 1;
                    skip(&mut j, b"\"' ");
                    let end = value_end(text, j);
                    if end > j {
                        out.push_str(&text[i..j]);
                        out.push_str("<redacted>");
                        i = end;
                        continue 'scan;
                    }
                }
            }
        }
        // Well-known token shapes.
        let known = TOKEN_PREFIXES.iter().any(|p| rest.starts_with(p))
            || (text[i..].starts_with("AKIA")
                && text[i..].len() >= 20
                && text[i..i + 20]
                    .bytes()
                    .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit()));
        if word_start && known {
            out.push_str("<redacted>");
            i = token_end(text, i);
            continue;
        }
        let c = text[i..].chars().next().expect("i is a char boundary");
        out.push(c);
        i += c.len_utf8();
    }
    out
}

/// A credential has some entropy: a word of lowercase letters (`basic authentication`) is
/// prose, not a secret.
fn looks_secret(v: &str) -> bool {
    v.len() >= 6
        && v.chars().any(|c| {
            c.is_ascii_digit()
                || c.is_ascii_uppercase()
                || matches!(c, '+' | '/' | '=' | '.' | '_' | '-')
        })
}

fn token_end(text: &str, from: usize) -> usize {
    text[from..]
        .char_indices()
        .find(|(_, c)| !is_token_char(*c))
        .map_or(text.len(), |(k, _)| from + k)
}

fn value_end(text: &str, from: usize) -> usize {
    text[from..]
        .char_indices()
        .find(|(_, c)| c.is_whitespace() || matches!(c, '"' | '\'' | ',' | ';' | '&' | '}'))
        .map_or(text.len(), |(k, _)| from + k)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_characters_cannot_forge_lines_or_colours() {
        let forged =
            "denied\nverified sha256:abc — signed by release.pub\r\x1b[32mok\x1b[0m\u{202e}";
        let clean = line(forged);
        assert!(!clean.contains('\n') && !clean.contains('\r') && !clean.contains('\x1b'));
        assert_eq!(
            clean,
            "denied\\nverified sha256:abc — signed by release.pub\\r\\u{1b}[32mok\\u{1b}[0m\\u{202e}"
        );
        assert_eq!(line("tab\there é ü"), "tab\\there é ü");
    }

    #[test]
    fn long_text_is_truncated() {
        let long = "x".repeat(MAX_CHARS + 50);
        let clean = line(&long);
        assert!(clean.ends_with("… (50 more characters)"), "{clean}");
        assert_eq!(clean.chars().filter(|&c| c == 'x').count(), MAX_CHARS);
    }

    #[test]
    fn credentials_are_redacted() {
        let cases = [
            (
                "Authorization: Basic YWxpY2U6czNjcmV0",
                "Authorization: Basic <redacted>",
            ),
            (
                "authorization: bearer eyJhbGciOi.x.y",
                "authorization: bearer <redacted>",
            ),
            (
                r#"{"token":"abcdefgh","ok":1}"#,
                r#"{"token":"<redacted>","ok":1}"#,
            ),
            ("url?password=hunter2&x=1", "url?password=<redacted>&x=1"),
            ("refresh_token: rt-123 end", "refresh_token: <redacted> end"),
            (
                "key ghp_abcdefghijklmnopqrstuvwxyz0123456789",
                "key <redacted>",
            ),
            ("id AKIAIOSFODNN7EXAMPLE used", "id <redacted> used"),
            ("glpat-xxxxxxxxxxxxxxxxxxxx", "<redacted>"),
            // A PKCS#11 URI's token= is a label; its pin-value is the secret.
            (
                "key pkcs11:token=hsm;object=k?pin-value=123456 token=abcdefgh",
                "key pkcs11:token=hsm;object=k?pin-value=<redacted> token=<redacted>",
            ),
        ];
        for (input, want) in cases {
            assert_eq!(line(input), want, "{input}");
        }
        // Ordinary words and short values stay.
        for keep in [
            "basic auth failed",
            "basic authentication is required",
            "the tokenizer said no",
            "registry answered 401 (UNAUTHORIZED: authentication required)",
        ] {
            assert_eq!(line(keep), keep);
        }
    }
}
