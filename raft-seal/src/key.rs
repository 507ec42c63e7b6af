//! The contents of a cluster key file: 64 hex digits (surrounding whitespace allowed, e.g. the
//! output of `openssl rand -hex 32`) or exactly 32 raw bytes. The host reads the file with std,
//! a board through semihosting; both parse it here.

/// Bytes of the XChaCha20-Poly1305 key.
pub const KEY_LEN: usize = 32;

/// The key in a key file's `contents`, or `None` if they are neither form.
pub fn parse(contents: &[u8]) -> Option<[u8; KEY_LEN]> {
    let trimmed = contents.trim_ascii();
    if trimmed.len() == 2 * KEY_LEN {
        let mut key = [0u8; KEY_LEN];
        for (out, pair) in key.iter_mut().zip(trimmed.chunks_exact(2)) {
            *out = (hex_digit(pair[0])? << 4) | hex_digit(pair[1])?;
        }
        return Some(key);
    }
    // Raw keys are taken verbatim: trimming would eat key bytes that happen to be spaces.
    <[u8; KEY_LEN]>::try_from(contents).ok()
}

fn hex_digit(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

#[cfg(test)]
mod test {
    use super::*;

    #[test]
    fn hex_with_newline_and_raw_bytes_are_keys() {
        let hex = "00112233445566778899aabbccddeeff00112233445566778899AABBCCDDEEFF\n";
        let k = parse(hex.as_bytes()).unwrap();
        assert_eq!(k[..4], [0x00, 0x11, 0x22, 0x33]);
        assert_eq!(k[31], 0xff);
        assert_eq!(parse(&[b' '; 32]), Some([b' '; 32]));
    }

    #[test]
    fn wrong_length_or_bad_hex_is_refused() {
        assert_eq!(parse(b"abcd"), None);
        assert_eq!(parse(&[b'g'; 64]), None);
        assert_eq!(parse(&[0u8; 33]), None);
    }
}
