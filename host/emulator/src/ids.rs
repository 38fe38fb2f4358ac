//! Deterministic identifiers (request ids, toolUse ids).
//!
//! Real Bedrock ids look random; ours only need to look plausible and be reproducible from
//! run to run, so they are derived from per-emulator counters through a bit mixer.

/// SplitMix64: a cheap, well-distributed 64-bit mixer.
pub(crate) fn mix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^ (x >> 31)
}

/// A UUID-looking request id (`xxxxxxxx-xxxx-4xxx-8xxx-xxxxxxxxxxxx`) for counter `n`.
pub(crate) fn request_id(n: u64) -> String {
    let a = mix(n);
    let b = mix(a ^ 0x5151_5151);
    format!(
        "{:08x}-{:04x}-4{:03x}-8{:03x}-{:012x}",
        (a >> 32) as u32,
        (a >> 16) & 0xffff,
        a & 0xfff,
        (b >> 48) & 0xfff,
        b & 0xffff_ffff_ffff
    )
}

/// A Bedrock-looking toolUse id (`tooluse_` + 22 url-safe characters) for counter `n`.
pub(crate) fn tool_use_id(n: u64) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut state = mix(n ^ 0x7001_u64);
    let mut id = String::from("tooluse_");
    for i in 0..22 {
        if i == 11 {
            state = mix(state);
        }
        id.push(char::from(ALPHABET[(state & 63) as usize]));
        state = state.rotate_right(6);
    }
    id
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_deterministic_distinct_and_well_formed() {
        assert_eq!(request_id(1), request_id(1));
        assert_ne!(request_id(1), request_id(2));
        assert_eq!(request_id(7).len(), 36);
        let t = tool_use_id(0);
        assert_eq!(t.len(), "tooluse_".len() + 22);
        assert_ne!(tool_use_id(0), tool_use_id(1));
        assert!(
            t["tooluse_".len()..]
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        );
    }
}
