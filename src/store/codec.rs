//! How a chunk of output is kept in the database: LZ4-compressed (block format, `lz4_flex`)
//! when that makes it smaller, else as it is. A compressed chunk records its output length in
//! `raw_len`; `NULL` there means the bytes are stored raw (and every chunk written before
//! compression existed reads the same way).

use std::borrow::Cow;

/// Largest output length a stored chunk may claim: chunks are written at most
/// [`super::sql::CHUNK_MAX`] long, so anything above this is a damaged row, not output.
const MAX_RAW: usize = 1 << 20;

/// A chunk as stored: its bytes and, when they are compressed, the output length.
pub(super) struct Encoded {
    pub data: Vec<u8>,
    pub raw_len: Option<usize>,
}

/// Compresses `raw` when `compress` is on and the result is smaller; else keeps it raw.
pub(super) fn encode(raw: &[u8], compress: bool) -> Encoded {
    if compress {
        let packed = lz4_flex::block::compress(raw);
        if packed.len() < raw.len() {
            return Encoded {
                data: packed,
                raw_len: Some(raw.len()),
            };
        }
    }
    Encoded {
        data: raw.to_vec(),
        raw_len: None,
    }
}

/// The output bytes of a stored chunk. A row that does not decode (a damaged file) is an
/// error for the reader, never a panic.
pub(super) fn decode(data: &[u8], raw_len: Option<i64>) -> Result<Cow<'_, [u8]>, String> {
    let Some(len) = raw_len else {
        return Ok(Cow::Borrowed(data));
    };
    let len = usize::try_from(len)
        .ok()
        .filter(|&l| l <= MAX_RAW)
        .ok_or_else(|| format!("a stored chunk claims {len} bytes of output"))?;
    let out = lz4_flex::block::decompress(data, len)
        .map_err(|e| format!("a stored chunk does not decompress: {e}"))?;
    if out.len() != len {
        return Err(format!(
            "a stored chunk decompressed to {} bytes, not {len}",
            out.len()
        ));
    }
    Ok(Cow::Owned(out))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_is_compressed_and_noise_is_kept_raw_and_both_read_back() {
        let text: Vec<u8> = (0..2000)
            .flat_map(|i| format!("  CC      drivers/net/module_{i}.o\r\n").into_bytes())
            .collect();
        let e = encode(&text, true);
        assert!(e.raw_len == Some(text.len()) && e.data.len() * 4 < text.len());
        assert_eq!(decode(&e.data, Some(text.len() as i64)).unwrap(), text);

        // xorshift noise does not compress: stored as it is.
        let mut x = 0x2545_f491_4f6c_dd1d_u64;
        let noise: Vec<u8> = (0..4096)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                x as u8
            })
            .collect();
        let e = encode(&noise, true);
        assert!(e.raw_len.is_none() && e.data == noise);
        assert_eq!(decode(&e.data, None).unwrap(), noise);

        let off = encode(&text, false);
        assert!(off.raw_len.is_none() && off.data == text);
    }

    #[test]
    fn damaged_rows_are_errors() {
        let e = encode(&[b'a'; 1000], true);
        assert!(decode(&e.data, Some(999)).is_err());
        assert!(decode(&e.data, Some(-1)).is_err());
        assert!(decode(&e.data, Some(1 << 40)).is_err());
        assert!(decode(b"\xff\xff\xff", Some(100)).is_err());
    }
}
