//! Images and documents in a request: Bedrock's checks (counts, sizes, pixel limits, names,
//! the bytes being what the block declares, media only in user turns, a document beside a
//! text block), and what the emulated model says about them (format and pixel size read from
//! the bytes; a document's name, format and length in pages or lines).

use aws_smithy_types::base64;
use gamecode_backend::media::{
    self, DocumentFormat, ImageFormat, MAX_DOCUMENT_BYTES, MAX_DOCUMENTS, MAX_IMAGE_BYTES,
    MAX_IMAGE_SIDE, MAX_IMAGES,
};
use serde_json::Value;

use crate::shape::{CONTENT_BLOCK_KINDS, Invalid, TOOL_RESULT_BLOCK_KINDS, union_member};

const DOCUMENT_NAME_RULE: &str = "The document file name can only contain alphanumeric characters, whitespace characters, hyphens, parentheses, and square brackets. The name can't contain more than one consecutive whitespace character.";

fn invalid(message: String) -> Invalid {
    Invalid(message)
}

/// The decoded inline bytes of an image or document block (`source.bytes`, base64 on the
/// wire); `None` when there are none.
fn source_bytes(block: &Value) -> Option<Vec<u8>> {
    let encoded = block.get("source")?.get("bytes")?.as_str()?;
    base64::decode(encoded).ok()
}

fn image_format(block: &Value) -> Option<ImageFormat> {
    let name = block.get("format")?.as_str()?;
    ImageFormat::ALL.into_iter().find(|f| f.as_str() == name)
}

fn document_format(block: &Value) -> Option<DocumentFormat> {
    let name = block.get("format")?.as_str()?;
    DocumentFormat::ALL.into_iter().find(|f| f.as_str() == name)
}

/// Checks every image and document of the conversation as Bedrock does.
pub(crate) fn check(messages: &[Value]) -> Result<(), Invalid> {
    let (mut images, mut documents) = (0usize, 0usize);
    for (i, m) in messages.iter().enumerate() {
        let role = m.get("role").and_then(Value::as_str).unwrap_or("");
        let blocks = m
            .get("content")
            .and_then(Value::as_array)
            .map(Vec::as_slice)
            .unwrap_or(&[]);
        let mut has_text = false;
        let mut has_document = false;
        for (j, b) in blocks.iter().enumerate() {
            let at = format!("messages.{i}.content.{j}");
            match union_member(b, CONTENT_BLOCK_KINDS) {
                Some(("text", _)) => has_text = true,
                Some((kind @ ("image" | "document"), v)) => {
                    if role != "user" {
                        return Err(invalid(format!(
                            "The {kind} block at {at} is not allowed in an assistant message. {kind} blocks can only appear in user messages."
                        )));
                    }
                    if kind == "image" {
                        images += 1;
                        check_image(v, &at)?;
                    } else {
                        documents += 1;
                        has_document = true;
                        check_document(v, &at)?;
                    }
                }
                Some(("toolResult", tr)) => {
                    let content = tr
                        .get("content")
                        .and_then(Value::as_array)
                        .map(Vec::as_slice)
                        .unwrap_or(&[]);
                    for (k, c) in content.iter().enumerate() {
                        let at = format!("{at}.toolResult.content.{k}");
                        match union_member(c, TOOL_RESULT_BLOCK_KINDS) {
                            Some(("image", v)) => {
                                images += 1;
                                check_image(v, &at)?;
                            }
                            Some(("document", v)) => {
                                documents += 1;
                                check_document(v, &at)?;
                            }
                            _ => {}
                        }
                    }
                }
                _ => {}
            }
        }
        if has_document && !has_text {
            return Err(invalid(format!(
                "The message at messages.{i} has a document but no text block. Add a text block describing what to do with the document, and try again."
            )));
        }
    }
    if images > MAX_IMAGES {
        return Err(invalid(format!(
            "Too many images provided. The maximum number of images per request is {MAX_IMAGES}."
        )));
    }
    if documents > MAX_DOCUMENTS {
        return Err(invalid(format!(
            "Too many documents provided. The maximum number of documents per request is {MAX_DOCUMENTS}."
        )));
    }
    Ok(())
}

fn check_image(block: &Value, at: &str) -> Result<(), Invalid> {
    let format = image_format(block).ok_or_else(|| {
        invalid(format!(
            "The image format at {at} is not supported. Supported formats: png, jpeg, gif, webp."
        ))
    })?;
    let bytes = source_bytes(block)
        .ok_or_else(|| invalid(format!("The image at {at} has no bytes in its source.")))?;
    if bytes.len() > MAX_IMAGE_BYTES {
        return Err(invalid(format!(
            "The image at {at} is {} bytes, which exceeds the maximum of 3.75 MB.",
            bytes.len()
        )));
    }
    match media::image_size(format, &bytes) {
        None => Err(invalid(format!(
            "Could not process image at {at}: the bytes are not a valid {} image.",
            format.as_str()
        ))),
        Some((w, h)) if w > MAX_IMAGE_SIDE || h > MAX_IMAGE_SIDE => Err(invalid(format!(
            "The image at {at} is {w}x{h} pixels; the maximum is {MAX_IMAGE_SIDE}x{MAX_IMAGE_SIDE}."
        ))),
        Some(_) => Ok(()),
    }
}

fn check_document(block: &Value, at: &str) -> Result<(), Invalid> {
    let format = document_format(block).ok_or_else(|| {
        invalid(format!("The document format at {at} is not supported. Supported formats: pdf, csv, doc, docx, xls, xlsx, html, txt, md."))
    })?;
    let name = block.get("name").and_then(Value::as_str).unwrap_or("");
    if !media::is_valid_document_name(name) {
        return Err(invalid(DOCUMENT_NAME_RULE.to_string()));
    }
    let bytes = source_bytes(block)
        .ok_or_else(|| invalid(format!("The document at {at} has no bytes in its source.")))?;
    if bytes.len() > MAX_DOCUMENT_BYTES {
        return Err(invalid(format!(
            "The document at {at} is {} bytes, which exceeds the maximum of 4.5 MB.",
            bytes.len()
        )));
    }
    if !format.matches(&bytes) {
        return Err(invalid(format!(
            "Could not process document at {at}: the bytes are not a valid {} document.",
            format.as_str()
        )));
    }
    Ok(())
}

/// What the emulated model says about the images and documents of a user message.
pub(crate) fn describe(message: &Value) -> Vec<String> {
    let blocks = message
        .get("content")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or(&[]);
    let mut out = Vec::new();
    for b in blocks {
        match union_member(b, CONTENT_BLOCK_KINDS) {
            Some(("image", v)) => {
                let (Some(format), Some(bytes)) = (image_format(v), source_bytes(v)) else {
                    continue;
                };
                let size = media::image_size(format, &bytes)
                    .map(|(w, h)| format!(", {w}×{h} pixels"))
                    .unwrap_or_default();
                out.push(format!(
                    "I see a {} image{size}.",
                    format.as_str().to_uppercase()
                ));
            }
            Some(("document", v)) => {
                let (Some(format), Some(bytes)) = (document_format(v), source_bytes(v)) else {
                    continue;
                };
                let name = v.get("name").and_then(Value::as_str).unwrap_or("");
                out.push(format!(
                    "The document \"{name}\" is a {} document of {}.",
                    format.as_str().to_uppercase(),
                    length_of(format, &bytes)
                ));
            }
            _ => {}
        }
    }
    out
}

/// The citations the emulated model gives for the documents of a user message that asked
/// for them (`citations.enabled`): each cites its document's first line (text formats) or
/// first page (PDF), by name and location.
pub(crate) fn citations(message: &Value) -> Vec<Value> {
    let blocks = message
        .get("content")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or(&[]);
    let documents = blocks
        .iter()
        .filter_map(|b| match union_member(b, CONTENT_BLOCK_KINDS) {
            Some(("document", v)) => Some(v),
            _ => None,
        });
    let mut out = Vec::new();
    for (index, doc) in documents.enumerate() {
        let enabled = doc
            .get("citations")
            .and_then(|c| c.get("enabled"))
            .and_then(Value::as_bool)
            .unwrap_or(false);
        let (Some(format), Some(bytes)) = (document_format(doc), source_bytes(doc)) else {
            continue;
        };
        if !enabled {
            continue;
        }
        let name = doc.get("name").and_then(Value::as_str).unwrap_or("");
        let (quoted, location) = match format {
            DocumentFormat::Csv
            | DocumentFormat::Html
            | DocumentFormat::Txt
            | DocumentFormat::Md => {
                let text = String::from_utf8_lossy(&bytes);
                let first = text.lines().find(|l| !l.trim().is_empty()).unwrap_or("");
                let quoted: String = first.chars().take(200).collect();
                let start = text.find(first).unwrap_or(0);
                let end = start + quoted.chars().count();
                (
                    quoted,
                    serde_json::json!({"documentChar": {"documentIndex": index, "start": start, "end": end}}),
                )
            }
            DocumentFormat::Pdf => (
                String::new(),
                serde_json::json!({"documentPage": {"documentIndex": index, "start": 1, "end": 2}}),
            ),
            _ => (
                String::new(),
                serde_json::json!({"documentChunk": {"documentIndex": index, "start": 0, "end": 1}}),
            ),
        };
        out.push(serde_json::json!({
            "title": name,
            "sourceContent": [{"text": quoted}],
            "location": location,
        }));
    }
    out
}

/// A document's length as a reader would give it.
fn length_of(format: DocumentFormat, bytes: &[u8]) -> String {
    let plural = |n: usize, one: &str| format!("{n} {one}{}", if n == 1 { "" } else { "s" });
    match format {
        DocumentFormat::Pdf => {
            // Page objects: `/Type /Page` (not `/Pages`, the page tree).
            let text = String::from_utf8_lossy(bytes);
            let pages = text
                .match_indices("/Type")
                .filter(|(at, _)| {
                    let rest = text[at + 5..].trim_start();
                    rest.starts_with("/Page") && !rest.starts_with("/Pages")
                })
                .count();
            plural(pages.max(1), "page")
        }
        DocumentFormat::Csv | DocumentFormat::Html | DocumentFormat::Txt | DocumentFormat::Md => {
            plural(String::from_utf8_lossy(bytes).lines().count(), "line")
        }
        _ => plural(bytes.len(), "byte"),
    }
}

/// Characters of input an image or document block stands for: Bedrock bills an image by
/// its pixels (about one token per 750), a document by its text.
pub(crate) fn input_chars(block: &Value) -> usize {
    if let Some(v) = block.get("image") {
        let size = image_format(v)
            .zip(source_bytes(v))
            .and_then(|(f, b)| media::image_size(f, &b));
        return size.map_or(0, |(w, h)| (w as usize * h as usize) / 750 * 4);
    }
    if let Some(v) = block.get("document") {
        return source_bytes(v).map_or(0, |b| b.len());
    }
    0
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use serde_json::json;

    pub(crate) fn png(w: u32, h: u32) -> Vec<u8> {
        let mut b = b"\x89PNG\r\n\x1a\n\0\0\0\x0dIHDR".to_vec();
        b.extend_from_slice(&w.to_be_bytes());
        b.extend_from_slice(&h.to_be_bytes());
        b.extend_from_slice(&[8, 6, 0, 0, 0]);
        b
    }

    fn image(format: &str, bytes: &[u8]) -> Value {
        json!({"image": {"format": format, "source": {"bytes": base64::encode(bytes)}}})
    }

    fn doc(format: &str, name: &str, bytes: &[u8]) -> Value {
        json!({"document": {"format": format, "name": name, "source": {"bytes": base64::encode(bytes)}}})
    }

    fn user(blocks: Vec<Value>) -> Vec<Value> {
        vec![json!({"role": "user", "content": blocks})]
    }

    #[test]
    fn media_is_checked_as_bedrock_does() {
        let text = json!({"text": "look"});
        check(&user(vec![text.clone(), image("png", &png(10, 10))])).unwrap();
        let err = |m: Vec<Value>| check(&m).unwrap_err().0;
        assert!(err(user(vec![image("jpeg", &png(10, 10))])).contains("not a valid jpeg image"));
        assert!(err(user(vec![image("png", &png(9000, 10))])).contains("9000x10 pixels"));
        assert!(err(user(vec![image("bmp", b"BM")])).contains("not supported"));
        assert!(err(user(vec![doc("pdf", "spec", b"%PDF-")])).contains("no text block"));
        assert!(
            err(user(vec![text.clone(), doc("pdf", "spec.pdf", b"%PDF-")])).contains("file name")
        );
        assert!(
            err(user(vec![text.clone(), doc("pdf", "spec", b"text")])).contains("not a valid pdf")
        );
        let many = (0..21).map(|_| image("png", &png(1, 1))).collect();
        assert!(err(user(many)).contains("maximum number of images per request is 20"));
        let assistant = vec![
            json!({"role": "user", "content": [text.clone()]}),
            json!({"role": "assistant", "content": [image("png", &png(1, 1))]}),
        ];
        assert!(err(assistant).contains("can only appear in user messages"));
    }

    #[test]
    fn the_model_describes_what_it_was_shown() {
        let pdf = b"%PDF-1.7\n1 0 obj << /Type /Pages /Count 2 >>\n2 0 obj << /Type /Page >>\n3 0 obj << /Type/Page >>\n";
        let m = json!({"role": "user", "content": [
            {"text": "What is this?"}, image("png", &png(640, 480)), doc("pdf", "Spec (v2)", pdf),
            doc("md", "notes", b"# a\nb\nc\n")]});
        assert_eq!(
            describe(&m),
            [
                "I see a PNG image, 640×480 pixels.",
                "The document \"Spec (v2)\" is a PDF document of 2 pages.",
                "The document \"notes\" is a MD document of 3 lines.",
            ]
        );
    }
}
