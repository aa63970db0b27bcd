//! One-time link codes: made on the account page, sent to the bot.

/// The alphabet of link codes: no `0`/`O` or `1`/`I` to mix up.
pub(super) const CODE_ALPHABET: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZ23456789";

/// A fresh link code (12 characters, 60 random bits; fits a `start`
/// parameter) and the SHA-256 storage keeps.
pub fn new_link_code() -> (String, String) {
    let mut bytes = [0u8; 12];
    rand::fill(&mut bytes);
    let code: String = bytes
        .iter()
        .map(|b| CODE_ALPHABET[usize::from(*b) % CODE_ALPHABET.len()] as char)
        .collect();
    let hash = code_hash(&code);
    (code, hash)
}

/// What storage keeps of a code.
pub fn code_hash(code: &str) -> String {
    crate::auth::token_hash(&normalize_code(code))
}

pub(super) fn normalize_code(code: &str) -> String {
    code.trim().to_ascii_uppercase()
}
