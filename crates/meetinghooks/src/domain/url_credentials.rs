//! Credentials inside a webhook URL (`https://user:pass@host/…`): where they are, and the URL
//! as shown without them. Found on the text as given, so a URL that does not parse is
//! redacted all the same.

/// What the credentials read as.
const HIDDEN: &str = "…";

/// The URL split around its userinfo: `scheme://` before it and the text after its `@`.
struct Split<'a> {
    scheme: &'a str,
    after: &'a str,
}

fn split(url: &str) -> Option<Split<'_>> {
    let start = url.find("://")? + 3;
    let authority_end = url[start..]
        .find(['/', '?', '#'])
        .map_or(url.len(), |i| start + i);
    // The last `@` of the authority ends the userinfo, as URL parsers read it.
    let at = url[start..authority_end].rfind('@')? + start;
    Some(Split {
        scheme: &url[..start],
        after: &url[at + 1..],
    })
}

/// Whether the URL carries a user name or password.
pub fn has_credentials(url: &str) -> bool {
    split(url).is_some()
}

/// The URL as shown on reads: its whole userinfo (user name and password) is write-only and
/// reads as `…@`; a URL without one is returned exactly as stored.
pub fn redact(url: &str) -> String {
    match split(url) {
        Some(Split { scheme, after }) => format!("{scheme}{HIDDEN}@{after}"),
        None => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_whole_userinfo_is_hidden() {
        assert_eq!(
            redact("https://user:pa55@hooks.example.com/x?y=1"),
            "https://…@hooks.example.com/x?y=1"
        );
        assert_eq!(
            redact("https://ghp_SECRETTOKEN@example.com/h"),
            "https://…@example.com/h"
        );
        assert_eq!(
            redact("https://:pa55@h.example.com/"),
            "https://…@h.example.com/"
        );
        // An `@` in the password itself, or after the authority, is handled as parsers do.
        assert_eq!(
            redact("http://u:p@ss@h.example.com/"),
            "http://…@h.example.com/"
        );
        assert_eq!(
            redact("https://h.example.com/a@b"),
            "https://h.example.com/a@b"
        );
        assert!(!has_credentials("https://h.example.com/a@b?c=@"));
        assert_eq!(redact("https://h.example.com"), "https://h.example.com");
        assert!(has_credentials("https://u@h.example.com"));
    }
}
