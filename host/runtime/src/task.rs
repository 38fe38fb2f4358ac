//! What a plugin is asked to do: the task's words and the files given with it
//! (`gamecode run --attach`), each an image or a document recognised by its content.

use std::path::Path;

use gamecode_backend::{Document, DocumentFormat, Image, ImageFormat};

/// A task for an agent plugin. 0.1.0 plugins get its text only.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Task {
    pub text: String,
    pub attachments: Vec<Attachment>,
}

impl From<String> for Task {
    fn from(text: String) -> Self {
        Self {
            text,
            attachments: Vec::new(),
        }
    }
}

impl From<&String> for Task {
    fn from(text: &String) -> Self {
        Self::from(text.as_str())
    }
}

impl From<&Task> for Task {
    fn from(task: &Task) -> Self {
        task.clone()
    }
}

impl From<&str> for Task {
    fn from(text: &str) -> Self {
        Self {
            text: text.to_string(),
            attachments: Vec::new(),
        }
    }
}

/// A file given with a task.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Attachment {
    Image(Image),
    Document(Document),
}

/// Why a file cannot be attached.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AttachmentError {
    #[error("cannot read {path}: {message}")]
    Io { path: String, message: String },
    #[error(
        "{path} is neither an image (png, jpeg, gif, webp) nor a document (pdf, csv, doc, \
         docx, xls, xlsx, html, txt, md) by its content"
    )]
    UnknownFormat { path: String },
    #[error("{path} is {bytes} bytes; {limit}")]
    TooLarge {
        path: String,
        bytes: u64,
        limit: String,
    },
    #[error("{path} is empty")]
    Empty { path: String },
    #[error(
        "{path} is named like {named} but its content is {found}: give the real file, or \
         rename it"
    )]
    Misnamed {
        path: String,
        named: String,
        found: String,
    },
}

impl Attachment {
    /// Reads a file, telling its format from its content; the document name is the file
    /// name with the characters Bedrock refuses replaced. `max_bytes` is the policy's limit
    /// (Bedrock's own limits apply too).
    pub fn from_file(path: impl AsRef<Path>, max_bytes: usize) -> Result<Self, AttachmentError> {
        let path = path.as_ref();
        let shown = path.display().to_string();
        let io = |e: std::io::Error| AttachmentError::Io {
            path: shown.clone(),
            message: e.to_string(),
        };
        let len = std::fs::metadata(path).map_err(io)?.len();
        let bedrock = gamecode_backend::media::MAX_DOCUMENT_BYTES
            .max(gamecode_backend::media::MAX_IMAGE_BYTES);
        let limit = max_bytes.min(bedrock);
        if len > limit as u64 {
            return Err(AttachmentError::TooLarge {
                path: shown,
                bytes: len,
                limit: format!("the most an attachment may be here is {limit} bytes"),
            });
        }
        if len == 0 {
            return Err(AttachmentError::Empty { path: shown });
        }
        let bytes = std::fs::read(path).map_err(io)?;
        let stem = path
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default();
        let attachment = Self::from_bytes(&stem, bytes).ok_or(AttachmentError::UnknownFormat {
            path: shown.clone(),
        })?;
        // An image's name that the content belies is a mistake, not a document.
        let extension = path
            .extension()
            .map(|e| e.to_string_lossy().to_ascii_lowercase())
            .unwrap_or_default();
        let named_image = match extension.as_str() {
            "png" => Some("a PNG image"),
            "jpg" | "jpeg" => Some("a JPEG image"),
            "gif" => Some("a GIF image"),
            "webp" => Some("a WebP image"),
            _ => None,
        };
        if let (Some(named), Self::Document(d)) = (named_image, &attachment) {
            return Err(AttachmentError::Misnamed {
                path: shown,
                named: named.into(),
                found: format!("a {} document", d.format.as_str()),
            });
        }
        // Bedrock's own limits by kind, known before any call.
        let (kind, most) = match &attachment {
            Self::Image(_) => ("images", gamecode_backend::media::MAX_IMAGE_BYTES),
            Self::Document(_) => ("documents", gamecode_backend::media::MAX_DOCUMENT_BYTES),
        };
        if attachment.len() > most {
            return Err(AttachmentError::TooLarge {
                path: shown,
                bytes: len,
                limit: format!("Bedrock takes {kind} of at most {most} bytes"),
            });
        }
        Ok(attachment)
    }

    /// An attachment from bytes; `None` when they are neither an image nor a document.
    pub fn from_bytes(name: &str, bytes: Vec<u8>) -> Option<Self> {
        if let Some(format) = ImageFormat::sniff(&bytes) {
            return Some(Self::Image(Image { format, bytes }));
        }
        let format = DocumentFormat::sniff(&bytes)?;
        Some(Self::Document(Document {
            format,
            name: document_name(name),
            bytes,
            citations: false,
        }))
    }

    /// Its size in bytes.
    pub fn len(&self) -> usize {
        match self {
            Self::Image(i) => i.bytes.len(),
            Self::Document(d) => d.bytes.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// A name Bedrock accepts for a document: letters, digits, single spaces, hyphens,
/// parentheses and brackets; anything else becomes a space.
fn document_name(stem: &str) -> String {
    let cleaned: String = stem
        .chars()
        .map(|c| {
            if c.is_alphanumeric() || "-()[]".contains(c) {
                c
            } else {
                ' '
            }
        })
        .take(200)
        .collect();
    let name = cleaned.split_whitespace().collect::<Vec<_>>().join(" ");
    if name.is_empty() {
        "document".into()
    } else {
        name
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_formats() {
        assert_eq!(document_name("spec_v2.final"), "spec v2 final");
        assert_eq!(document_name("..."), "document");
        assert!(gamecode_backend::media::is_valid_document_name(
            &document_name("a  b__c (1)")
        ));
        let png = b"\x89PNG\r\n\x1a\n\0\0\0\x0dIHDR\0\0\0\x02\0\0\0\x02\x08\x06\0\0\0".to_vec();
        assert!(matches!(
            Attachment::from_bytes("x", png),
            Some(Attachment::Image(_))
        ));
        // A PDF named like a picture is a document.
        match Attachment::from_bytes("photo", b"%PDF-1.4\n".to_vec()) {
            Some(Attachment::Document(d)) => assert_eq!(d.format, DocumentFormat::Pdf),
            other => panic!("{other:?}"),
        }
        assert_eq!(Attachment::from_bytes("bin", vec![0, 1, 2, 0]), None);
    }
}
