//! Images and documents in a conversation: their formats, Bedrock's limits, and what their
//! bytes say about them (the format is read from the content, never from a file name).

use serde::{Deserialize, Serialize};

use crate::error::BackendError;

/// Images one request may carry.
pub const MAX_IMAGES: usize = 20;
/// The largest image, in bytes (3.75 MB).
pub const MAX_IMAGE_BYTES: usize = 3_932_160;
/// The longest side of an image, in pixels.
pub const MAX_IMAGE_SIDE: u32 = 8000;
/// Documents one request may carry.
pub const MAX_DOCUMENTS: usize = 5;
/// The largest document, in bytes (4.5 MB).
pub const MAX_DOCUMENT_BYTES: usize = 4_718_592;

/// An image format Bedrock accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ImageFormat {
    Png,
    Jpeg,
    Gif,
    Webp,
}

impl ImageFormat {
    pub const ALL: [ImageFormat; 4] = [Self::Png, Self::Jpeg, Self::Gif, Self::Webp];

    /// The wire name (`png`, `jpeg`, `gif`, `webp`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Png => "png",
            Self::Jpeg => "jpeg",
            Self::Gif => "gif",
            Self::Webp => "webp",
        }
    }

    /// The format the bytes are in, from their signature.
    pub fn sniff(bytes: &[u8]) -> Option<Self> {
        if bytes.starts_with(b"\x89PNG\r\n\x1a\n") {
            Some(Self::Png)
        } else if bytes.starts_with(&[0xFF, 0xD8, 0xFF]) {
            Some(Self::Jpeg)
        } else if bytes.starts_with(b"GIF87a") || bytes.starts_with(b"GIF89a") {
            Some(Self::Gif)
        } else if bytes.len() >= 12 && &bytes[..4] == b"RIFF" && &bytes[8..12] == b"WEBP" {
            Some(Self::Webp)
        } else {
            None
        }
    }
}

/// Width and height of an image, read from its header; `None` when the header is not
/// readable as `format`.
pub fn image_size(format: ImageFormat, b: &[u8]) -> Option<(u32, u32)> {
    let be16 = |i: usize| Some(u16::from_be_bytes([*b.get(i)?, *b.get(i + 1)?]) as u32);
    let le16 = |i: usize| Some(u16::from_le_bytes([*b.get(i)?, *b.get(i + 1)?]) as u32);
    let be32 = |i: usize| {
        Some(u32::from_be_bytes([
            *b.get(i)?,
            *b.get(i + 1)?,
            *b.get(i + 2)?,
            *b.get(i + 3)?,
        ]))
    };
    let le24 = |i: usize| {
        Some(u32::from_le_bytes([
            *b.get(i)?,
            *b.get(i + 1)?,
            *b.get(i + 2)?,
            0,
        ]))
    };
    if ImageFormat::sniff(b) != Some(format) {
        return None;
    }
    match format {
        // Signature, then the IHDR chunk: length, "IHDR", width, height.
        ImageFormat::Png => (b.get(12..16)? == b"IHDR").then_some((be32(16)?, be32(20)?)),
        ImageFormat::Gif => Some((le16(6)?, le16(8)?)),
        ImageFormat::Webp => match b.get(12..16)? {
            b"VP8X" => Some((le24(24)? + 1, le24(27)? + 1)),
            b"VP8L" => {
                let bits = u32::from_le_bytes([*b.get(21)?, *b.get(22)?, *b.get(23)?, *b.get(24)?]);
                Some(((bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1))
            }
            b"VP8 " => Some((le16(26)? & 0x3FFF, le16(28)? & 0x3FFF)),
            _ => None,
        },
        // Walk the markers to the first start-of-frame.
        ImageFormat::Jpeg => {
            let mut i = 2;
            while i + 4 <= b.len() {
                if b[i] != 0xFF {
                    return None;
                }
                let marker = b[i + 1];
                if marker == 0xFF {
                    i += 1;
                    continue;
                }
                let len = be16(i + 2)? as usize;
                let sof = matches!(marker, 0xC0..=0xCF) && !matches!(marker, 0xC4 | 0xC8 | 0xCC);
                if sof {
                    return Some((be16(i + 7)?, be16(i + 5)?));
                }
                i += 2 + len;
            }
            None
        }
    }
}

/// A document format Bedrock accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DocumentFormat {
    Pdf,
    Csv,
    Doc,
    Docx,
    Xls,
    Xlsx,
    Html,
    Txt,
    Md,
}

impl DocumentFormat {
    pub const ALL: [DocumentFormat; 9] = [
        Self::Pdf,
        Self::Csv,
        Self::Doc,
        Self::Docx,
        Self::Xls,
        Self::Xlsx,
        Self::Html,
        Self::Txt,
        Self::Md,
    ];

    /// The wire name (`pdf`, `csv`, …).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pdf => "pdf",
            Self::Csv => "csv",
            Self::Doc => "doc",
            Self::Docx => "docx",
            Self::Xls => "xls",
            Self::Xlsx => "xlsx",
            Self::Html => "html",
            Self::Txt => "txt",
            Self::Md => "md",
        }
    }

    /// The format `bytes` are in, read from the content alone: PDF by its header, Word and
    /// Excel (OLE or zip) by the parts they hold, HTML by its opening tag, and UTF-8 text as
    /// CSV (a consistent comma count on every line), Markdown (headings, lists, fences or
    /// links) or plain text.
    pub fn sniff(bytes: &[u8]) -> Option<Self> {
        const OLE: &[u8] = &[0xD0, 0xCF, 0x11, 0xE0, 0xA1, 0xB1, 0x1A, 0xE1];
        let contains = |needle: &[u8]| bytes.windows(needle.len()).any(|w| w == needle);
        if bytes.starts_with(b"%PDF-") {
            return Some(Self::Pdf);
        }
        if bytes.starts_with(b"PK\x03\x04") {
            return if contains(b"word/") {
                Some(Self::Docx)
            } else if contains(b"xl/") {
                Some(Self::Xlsx)
            } else {
                None
            };
        }
        if bytes.starts_with(OLE) {
            // The stream names are UTF-16 in the directory.
            let utf16 = |s: &str| -> Vec<u8> { s.bytes().flat_map(|b| [b, 0]).collect() };
            return if contains(&utf16("WordDocument")) {
                Some(Self::Doc)
            } else if contains(&utf16("Workbook")) || contains(&utf16("Book")) {
                Some(Self::Xls)
            } else {
                None
            };
        }
        if bytes.contains(&0) {
            return None;
        }
        let text = std::str::from_utf8(bytes).ok()?;
        let head = text.trim_start().get(..15).unwrap_or(text.trim_start());
        let head = head.to_ascii_lowercase();
        if head.starts_with("<!doctype html") || head.starts_with("<html") {
            return Some(Self::Html);
        }
        let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
        let commas = |l: &str| l.matches(',').count();
        if lines.len() >= 2
            && commas(lines[0]) > 0
            && lines.iter().all(|l| commas(l) == commas(lines[0]))
        {
            return Some(Self::Csv);
        }
        let markdown = lines.iter().any(|l| {
            let l = l.trim_start();
            l.starts_with("# ")
                || l.starts_with("## ")
                || l.starts_with("```")
                || l.starts_with("- ")
                || l.starts_with("* ")
                || (l.contains("](") && l.contains('['))
        });
        Some(if markdown { Self::Md } else { Self::Txt })
    }

    /// Whether `bytes` can be a document of this format: PDF starts with `%PDF-`, doc/xls
    /// are OLE compound files, docx/xlsx zip archives, and the text formats are UTF-8 text.
    pub fn matches(self, bytes: &[u8]) -> bool {
        const OLE: &[u8] = &[0xD0, 0xCF, 0x11, 0xE0, 0xA1, 0xB1, 0x1A, 0xE1];
        match self {
            Self::Pdf => bytes.starts_with(b"%PDF-"),
            Self::Doc | Self::Xls => bytes.starts_with(OLE),
            Self::Docx | Self::Xlsx => bytes.starts_with(b"PK\x03\x04"),
            Self::Csv | Self::Html | Self::Txt | Self::Md => {
                std::str::from_utf8(bytes).is_ok() && !bytes.contains(&0)
            }
        }
    }
}

/// An image for the model to look at.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Image {
    pub format: ImageFormat,
    pub bytes: Vec<u8>,
}

impl Image {
    /// An image whose format is read from its bytes.
    pub fn from_bytes(bytes: Vec<u8>) -> Result<Self, BackendError> {
        let format = ImageFormat::sniff(&bytes).ok_or_else(|| {
            BackendError::validation("not an image Bedrock accepts (png, jpeg, gif or webp)")
        })?;
        Ok(Self { format, bytes })
    }
}

/// A document for the model to read.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Document {
    pub format: DocumentFormat,
    /// Letters, digits, single spaces, hyphens, parentheses and square brackets (Bedrock's
    /// rule); see [`is_valid_document_name`].
    pub name: String,
    pub bytes: Vec<u8>,
    /// Whether the model may cite passages of it.
    #[serde(default)]
    pub citations: bool,
}

/// Bedrock's rule for document names: 1–200 characters, letters, digits, single spaces
/// (not at either end), hyphens, parentheses and square brackets.
pub fn is_valid_document_name(name: &str) -> bool {
    (1..=200).contains(&name.chars().count())
        && !name.starts_with(' ')
        && !name.ends_with(' ')
        && !name.contains("  ")
        && name
            .chars()
            .all(|c| c.is_alphanumeric() || " -()[]".contains(c))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A PNG header of `w` × `h` (enough for the format and size checks).
    pub(crate) fn png(w: u32, h: u32) -> Vec<u8> {
        let mut b = b"\x89PNG\r\n\x1a\n\0\0\0\x0dIHDR".to_vec();
        b.extend_from_slice(&w.to_be_bytes());
        b.extend_from_slice(&h.to_be_bytes());
        b.extend_from_slice(&[8, 6, 0, 0, 0, 0, 0, 0, 0]);
        b
    }

    #[test]
    fn document_formats_are_read_from_content() {
        let sniff = |b: &[u8]| DocumentFormat::sniff(b);
        assert_eq!(sniff(b"%PDF-1.7\n..."), Some(DocumentFormat::Pdf));
        assert_eq!(sniff(b"<!DOCTYPE html><p>x"), Some(DocumentFormat::Html));
        assert_eq!(sniff(b"a,b\n1,2\n3,4\n"), Some(DocumentFormat::Csv));
        assert_eq!(sniff(b"# Title\n\nSome text."), Some(DocumentFormat::Md));
        assert_eq!(
            sniff(b"Just words, and more.\nA line."),
            Some(DocumentFormat::Txt)
        );
        assert_eq!(
            sniff(b"PK\x03\x04....word/document.xml"),
            Some(DocumentFormat::Docx)
        );
        assert_eq!(
            sniff(b"PK\x03\x04....xl/workbook.xml"),
            Some(DocumentFormat::Xlsx)
        );
        assert_eq!(sniff(b"PK\x03\x04....other"), None);
        assert_eq!(sniff(b"\x89PNG\r\n\x1a\n\0\0"), None);
    }

    #[test]
    fn formats_and_sizes_are_read_from_the_bytes() {
        assert_eq!(ImageFormat::sniff(&png(640, 480)), Some(ImageFormat::Png));
        assert_eq!(
            image_size(ImageFormat::Png, &png(640, 480)),
            Some((640, 480))
        );
        let gif = b"GIF89a\x20\x03\x58\x02rest".to_vec();
        assert_eq!(image_size(ImageFormat::Gif, &gif), Some((800, 600)));
        // JPEG: SOI, an APP0 segment, then SOF0 with height 300, width 400.
        let mut jpeg = vec![0xFF, 0xD8, 0xFF, 0xE0, 0x00, 0x04, 0x00, 0x00];
        jpeg.extend_from_slice(&[0xFF, 0xC0, 0x00, 0x11, 0x08, 0x01, 0x2C, 0x01, 0x90, 0x03]);
        assert_eq!(image_size(ImageFormat::Jpeg, &jpeg), Some((400, 300)));
        // WebP (VP8X): 1-based 24-bit sizes.
        let mut webp = b"RIFF\0\0\0\0WEBPVP8X\x0a\0\0\0\0\0\0\0".to_vec();
        webp.extend_from_slice(&[0x3F, 0x01, 0x00, 0xEF, 0x00, 0x00]);
        assert_eq!(image_size(ImageFormat::Webp, &webp), Some((320, 240)));
        // The declared format must be the real one.
        assert_eq!(image_size(ImageFormat::Jpeg, &png(1, 1)), None);
        assert!(Image::from_bytes(b"not an image".to_vec()).is_err());
        assert_eq!(
            Image::from_bytes(png(2, 2)).unwrap().format,
            ImageFormat::Png
        );
    }

    #[test]
    fn documents_match_their_format_and_names_follow_bedrocks_rule() {
        assert!(DocumentFormat::Pdf.matches(b"%PDF-1.7\n"));
        assert!(!DocumentFormat::Pdf.matches(b"hello"));
        assert!(DocumentFormat::Txt.matches("héllo\n".as_bytes()));
        assert!(!DocumentFormat::Md.matches(&[0xFF, 0xFE, 0]));
        assert!(DocumentFormat::Docx.matches(b"PK\x03\x04..."));
        for ok in ["spec", "Q3 report (final) [v2]", "a-b"] {
            assert!(is_valid_document_name(ok), "{ok}");
        }
        for bad in [
            "",
            "two  spaces",
            " lead",
            "trail ",
            "a.pdf",
            "x/y",
            "semi;colon",
        ] {
            assert!(!is_valid_document_name(bad), "{bad}");
        }
    }
}
