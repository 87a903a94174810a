//! Length limits and stable identifiers.

use sha2::{Digest, Sha256};
use unicode_segmentation::UnicodeSegmentation;

/// Marks text that was cut to fit a limit.
const ELLIPSIS: char = '…';

/// Cuts `text` to at most `max_chars` Unicode scalar values, which is how
/// AWS counts string lengths. The cut falls between two grapheme clusters,
/// so no character, combining mark or emoji sequence is split, and an
/// ellipsis that counts toward the limit marks it.
pub fn truncate_chars(text: &str, max_chars: usize) -> String {
    if text.chars().count() <= max_chars {
        return text.to_owned();
    }
    let budget = max_chars.saturating_sub(1);
    let mut kept = String::new();
    let mut count = 0;
    for grapheme in text.graphemes(true) {
        let length = grapheme.chars().count();
        if count + length > budget {
            break;
        }
        kept.push_str(grapheme);
        count += length;
    }
    if max_chars > 0 {
        kept.push(ELLIPSIS);
    }
    kept
}

/// Returns a stable identifier of a rule's finding on a resource: the first
/// 128 bits of the SHA-256 of the rule id and the ARN, in hexadecimal. The
/// same rule and resource give the same value in every run and format.
pub fn finding_hash(rule_id: &str, resource_arn: &str) -> String {
    let mut hasher = Sha256::new();
    hasher.update(rule_id.as_bytes());
    hasher.update([0]);
    hasher.update(resource_arn.as_bytes());
    let digest = hasher.finalize();
    digest[..16]
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_text_is_kept() {
        assert_eq!(truncate_chars("abc", 3), "abc");
        assert_eq!(truncate_chars("", 0), "");
    }

    #[test]
    fn long_text_ends_with_an_ellipsis() {
        let cut = truncate_chars("abcdef", 4);
        assert_eq!(cut, "abc…");
        assert_eq!(cut.chars().count(), 4);
    }

    #[test]
    fn cut_never_splits_a_character() {
        // "é" as e and a combining accent, then a family emoji of seven
        // scalar values joined by zero-width joiners.
        let text = "e\u{301}e\u{301}👨‍👩‍👧‍👦xyz";
        for limit in 0..12 {
            let cut = truncate_chars(text, limit);
            assert!(cut.chars().count() <= limit, "{limit}: {cut:?}");
            let kept = cut.trim_end_matches(ELLIPSIS);
            assert!(text.starts_with(kept), "{limit}: {cut:?}");
            let at_boundary = text[kept.len()..].graphemes(true).count()
                + kept.graphemes(true).count()
                == text.graphemes(true).count();
            assert!(at_boundary, "{limit}: {cut:?}");
        }
        assert_eq!(truncate_chars(text, 4), "e\u{301}\u{2026}");
    }

    #[test]
    fn hash_is_stable_and_separates_fields() {
        let hash = finding_hash("kms-key-rotation", "arn:aws:kms:us-east-1:1:key/a");
        assert_eq!(hash.len(), 32);
        assert_eq!(
            hash,
            finding_hash("kms-key-rotation", "arn:aws:kms:us-east-1:1:key/a")
        );
        assert_ne!(finding_hash("ab", "c"), finding_hash("a", "bc"));
    }
}
