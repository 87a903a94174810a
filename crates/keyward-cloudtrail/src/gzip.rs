//! Whole-file gzip decompression.
//!
//! CloudTrail delivers each log file as one gzip member, usually of a few
//! megabytes at most. Such a file is decompressed in one call of
//! libdeflate, which was measured at about one and a half times the speed
//! of zlib-rs streaming on generated CloudTrail logs.
//!
//! Everything else is left to the caller's streaming decoder. That covers
//! files too large to hold and files of several members, which libdeflate
//! would stop reading after the first. It also covers damaged or cut-off
//! files, so that the records before the damage are still read.

use std::sync::atomic::{AtomicUsize, Ordering};

use libdeflater::Decompressor;
use memchr::memmem;

/// Largest compressed file that is read into memory to be decompressed
/// whole. Generated CloudTrail logs compress about six to one, so a larger
/// file would rarely fit [`MAX_WHOLE_SIZE`] anyway.
pub const MAX_WHOLE_COMPRESSED: usize = 2 << 20;

/// Largest uncompressed size decompressed whole.
pub const MAX_WHOLE_SIZE: usize = 16 << 20;

/// Maximum number of bytes that one byte of deflate data decompresses to:
/// four 258-byte matches, each coded in two bits (one for the length, one
/// for the distance).
const MAX_DEFLATE_RATIO: usize = 1032;

/// Uncompressed bytes that all threads together may hold in files
/// decompressed whole. A file that would exceed it is streamed, so memory
/// does not grow with the number of threads times the file size.
pub const WHOLE_BUDGET: usize = 32 << 20;

/// Bytes of [`WHOLE_BUDGET`] in use.
static WHOLE_BYTES: AtomicUsize = AtomicUsize::new(0);

/// A file's content decompressed whole.
#[derive(Debug)]
pub struct Decompressed {
    /// Length of the content at the start of the output buffer.
    pub len: usize,
    /// The content's share of [`WHOLE_BUDGET`], given back when dropped.
    _reservation: Reservation,
}

/// A share of a budget of bytes, given back when dropped.
#[derive(Debug)]
struct Reservation {
    used: &'static AtomicUsize,
    bytes: usize,
}

impl Reservation {
    /// Takes `bytes` of the budget whose use `used` counts, or returns
    /// `None` when too few are left.
    fn take(used: &'static AtomicUsize, bytes: usize) -> Option<Self> {
        used.fetch_update(Ordering::AcqRel, Ordering::Acquire, |in_use| {
            in_use
                .checked_add(bytes)
                .filter(|total| *total <= WHOLE_BUDGET)
        })
        .ok()?;
        Some(Self { used, bytes })
    }
}

impl Drop for Reservation {
    fn drop(&mut self) {
        self.used.fetch_sub(self.bytes, Ordering::AcqRel);
    }
}

/// Decompresses `compressed`, a whole gzip file, into the start of `out`,
/// growing `out` when it is shorter than the content.
///
/// Returns `None` when the file must be streamed instead. That is the case
/// for a file larger than [`MAX_WHOLE_SIZE`] uncompressed or than the
/// budget left, and for a damaged, cut-off or multi-member file, or one
/// followed by other bytes. It is also the case for a header with optional
/// fields, because only the streaming decoder checks them.
pub fn decompress_whole(compressed: &[u8], out: &mut Vec<u8>) -> Option<Decompressed> {
    if compressed.len() > MAX_WHOLE_COMPRESSED {
        return None;
    }
    // Byte 3 is the header's flags for a file name, a comment, extra fields
    // and a header checksum.
    if compressed.get(3) != Some(&0) {
        return None;
    }
    // The trailer's last four bytes give the member's size modulo 2^32.
    let trailer_size = trailer_size(compressed)?;
    let size = usize::try_from(trailer_size).ok()?;
    // Deflate expands a byte to at most 1032 bytes, so a larger size in the
    // trailer is false, and the buffer is not zero-filled for it.
    if size > MAX_WHOLE_SIZE || size > compressed.len().saturating_mul(MAX_DEFLATE_RATIO) {
        return None;
    }
    let trailer_start = compressed.len().checked_sub(TRAILER_LEN)?;
    let reservation = Reservation::take(&WHOLE_BYTES, size)?;

    if out.len() < size {
        out.resize(size, 0);
    }
    // libdeflate checks the trailer that follows the deflate stream, but
    // does not say where the stream ended.
    let written = Decompressor::new()
        .gzip_decompress(compressed, &mut out[..size])
        .ok()?;

    // A shorter content means the file's last four bytes are not this
    // member's size field.
    if written != size {
        return None;
    }

    // libdeflate stops after the first member and ignores what follows, so
    // the member's trailer must end the file. That trailer ends with the
    // size field, equal to the file's last four bytes. When those four
    // bytes appear nowhere earlier in the file, the trailer can only be
    // the file's last eight bytes.
    let size_start = compressed.len() - 4;
    if memmem::find(compressed, &trailer_size.to_le_bytes()) != Some(size_start) {
        // Otherwise the whole trailer, CRC-32 included, must appear nowhere
        // before the end. Where anything follows the first member, its
        // trailer appears earlier. A chance match of the eight bytes only
        // sends the file to the streaming decoder.
        let mut trailer = [0u8; TRAILER_LEN];
        trailer[..4].copy_from_slice(&libdeflater::crc32(&out[..written]).to_le_bytes());
        trailer[4..].copy_from_slice(&trailer_size.to_le_bytes());
        if memmem::find(compressed, &trailer) != Some(trailer_start) {
            return None;
        }
    }
    Some(Decompressed {
        len: written,
        _reservation: reservation,
    })
}

/// Length of the gzip trailer: CRC-32, then size modulo 2^32.
const TRAILER_LEN: usize = 8;

/// Reads the size field of the gzip trailer that ends `compressed`.
fn trailer_size(compressed: &[u8]) -> Option<u32> {
    let start = compressed.len().checked_sub(4)?;
    let bytes: [u8; 4] = compressed[start..].try_into().ok()?;
    Some(u32::from_le_bytes(bytes))
}

#[cfg(test)]
mod tests {
    use std::io::{Read, Write};

    use flate2::Compression;
    use flate2::write::GzEncoder;

    use super::*;

    fn gzip(content: &[u8]) -> Vec<u8> {
        let mut encoder = GzEncoder::new(Vec::new(), Compression::fast());
        encoder.write_all(content).unwrap();
        encoder.finish().unwrap()
    }

    fn content(len: usize) -> Vec<u8> {
        (0..len)
            .map(|index| b"{\"Records\":[]}\n"[index % 15])
            .collect()
    }

    #[test]
    fn single_member_is_decompressed_whole() {
        let text = content(300_000);
        let mut out = Vec::new();
        let written = decompress_whole(&gzip(&text), &mut out).unwrap().len;
        assert_eq!(&out[..written], &text[..]);
    }

    #[test]
    fn output_longer_than_content_is_kept() {
        let mut out = vec![b'x'; 100];
        let written = decompress_whole(&gzip(b"{}"), &mut out).unwrap().len;
        assert_eq!(&out[..written], b"{}");
        assert_eq!(out.len(), 100);
    }

    #[test]
    fn several_members_are_left_to_streaming() {
        // Identical members give the same trailer at the end of the file as
        // after the first member, the case a trailer check alone would miss.
        let member = gzip(b"{\"a\":1}");
        for members in [
            [member.clone(), member.clone()].concat(),
            [member.clone(), gzip(b"{\"b\":22}")].concat(),
            [member.clone(), gzip(b""), member.clone()].concat(),
        ] {
            assert!(decompress_whole(&members, &mut Vec::new()).is_none());
            let mut streamed = Vec::new();
            flate2::read::MultiGzDecoder::new(&members[..])
                .read_to_end(&mut streamed)
                .unwrap();
            assert!(streamed.len() > 7);
        }
    }

    #[test]
    fn bytes_after_member_left_to_streaming() {
        let first = gzip(b"{\"a\":1}");
        let second = gzip(b"{\"b\":2}");
        assert_eq!(first.len(), second.len());
        let mut flipped_magic = second.clone();
        flipped_magic[0] ^= 1;
        // Each file ends with a size field equal to the first member's.
        for file in [
            [&first[..], b"\n", &second[..]].concat(),
            [&first[..], &flipped_magic[..]].concat(),
            [&first[..], &first[first.len() - 8..]].concat(),
            [&first[..], &[0; 16][..], &first[first.len() - 4..]].concat(),
        ] {
            assert!(decompress_whole(&file, &mut Vec::new()).is_none());
        }
    }

    #[test]
    fn optional_header_fields_left_to_streaming() {
        let plain = gzip(b"{}");
        for flags in [0x02, 0x04, 0x08, 0x10] {
            let mut flagged = plain.clone();
            flagged[3] = flags;
            assert!(decompress_whole(&flagged, &mut Vec::new()).is_none());
        }
    }

    #[test]
    fn damaged_files_are_left_to_streaming() {
        let whole = gzip(&content(10_000));
        let mut out = Vec::new();
        // Cut off inside the data, inside the trailer, or followed by a
        // stray byte or by zero padding.
        assert!(decompress_whole(&whole[..whole.len() / 2], &mut out).is_none());
        assert!(decompress_whole(&whole[..whole.len() - 3], &mut out).is_none());
        let stray_byte = [&whole[..], b"x"].concat();
        assert!(decompress_whole(&stray_byte, &mut out).is_none());
        let zero_padding = [&whole[..], &[0; 8]].concat();
        assert!(decompress_whole(&zero_padding, &mut out).is_none());
        let mut corrupt = whole.clone();
        corrupt[whole.len() / 2] ^= 0x55;
        assert!(decompress_whole(&corrupt, &mut out).is_none());
        assert!(decompress_whole(&whole[..3], &mut out).is_none());
    }

    #[test]
    fn wrong_checksum_or_header_left_to_streaming() {
        let whole = gzip(&content(1_000));
        let mut out = Vec::new();
        let crc_at = whole.len() - 8;
        for (at, flip) in [
            (crc_at, 0x01),
            (crc_at + 3, 0x80),
            (0, 0x01),
            (1, 0x01),
            (2, 0x01),
        ] {
            let mut damaged = whole.clone();
            damaged[at] ^= flip;
            assert!(decompress_whole(&damaged, &mut out).is_none(), "byte {at}");
        }
        assert!(decompress_whole(&whole, &mut out).is_some());
    }

    #[test]
    fn bytes_before_trailer_left_to_streaming() {
        let whole = gzip(&content(1_000));
        let crc_at = whole.len() - 8;
        let padded = [&whole[..crc_at], b"GARBAGE!", &whole[crc_at..]].concat();
        assert!(decompress_whole(&padded, &mut Vec::new()).is_none());
    }

    #[test]
    fn reservations_stay_within_budget() {
        static USED: AtomicUsize = AtomicUsize::new(0);
        let first = Reservation::take(&USED, WHOLE_BUDGET - 10).unwrap();
        assert!(Reservation::take(&USED, 11).is_none());
        let second = Reservation::take(&USED, 10).unwrap();
        assert!(Reservation::take(&USED, 1).is_none());
        drop(first);
        assert_eq!(USED.load(Ordering::Acquire), 10);
        drop(second);
        assert_eq!(USED.load(Ordering::Acquire), 0);
    }

    #[test]
    fn impossible_trailer_size_grows_no_buffer() {
        let mut file = gzip(b"{}");
        let len = file.len();
        file[len - 4..].copy_from_slice(&(MAX_WHOLE_SIZE as u32).to_le_bytes());
        let mut out = Vec::new();
        assert!(decompress_whole(&file, &mut out).is_none());
        assert!(out.is_empty());
    }

    #[test]
    fn highly_compressed_content_is_decompressed_whole() {
        let text = vec![b' '; 1 << 20];
        let file = gzip(&text);
        assert!(file.len() * MAX_DEFLATE_RATIO >= text.len());
        let mut out = Vec::new();
        assert_eq!(decompress_whole(&file, &mut out).unwrap().len, text.len());
    }

    #[test]
    fn large_content_is_left_to_streaming() {
        let whole = gzip(&vec![b' '; MAX_WHOLE_SIZE + 1]);
        let mut out = Vec::new();
        assert!(decompress_whole(&whole, &mut out).is_none());
        assert!(
            out.is_empty(),
            "no buffer is grown for a file left to streaming"
        );
    }
}
