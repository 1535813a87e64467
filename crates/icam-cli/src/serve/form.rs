//! A `multipart/form-data` request read into the uploaded image and the option fields.

use axum::body::{Body, Bytes};
use axum::extract::multipart::MultipartError;
use axum::extract::{FromRequest, Multipart, Request};
use axum::http::{HeaderMap, StatusCode, header};
use http_body_util::BodyExt as _;

use super::api::ApiError;

/// The most fields a form may have (the options of `icam explain` are fewer).
const MAX_FIELDS: usize = 100;

/// Room for the multipart framing and the option fields around an upload of the limit.
pub const FRAMING: usize = 64 * 1024;

/// How much of a too-large body is read and discarded before the answer, in uploads' worth.
const DRAIN: usize = 4;

/// The uploaded image.
pub struct Upload {
    /// Its file name (the last path component, printable characters only), or `upload`.
    pub name: String,
    pub bytes: Bytes,
}

/// A form: the `image` field and every other field as `(name, value)`, in order.
pub struct Form {
    pub image: Upload,
    pub fields: Vec<(String, String)>,
}

/// Read the whole form: the body (at most `max_upload_bytes` and the framing), then its
/// fields.
pub async fn read(req: Request, max_upload_bytes: usize) -> Result<Form, ApiError> {
    let (parts, body) = req.into_parts();
    let bytes = read_body(&parts.headers, body, max_upload_bytes).await?;
    let content_type = parts
        .headers
        .get(header::CONTENT_TYPE)
        .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned());
    let multipart = content_type.as_deref().is_some_and(|t| {
        t.split(';')
            .next()
            .is_some_and(|m| m.trim().eq_ignore_ascii_case("multipart/form-data"))
    });
    if !multipart {
        let got: String = match &content_type {
            Some(t) => format!("Content-Type {t}").chars().take(120).collect(),
            None => "no Content-Type".into(),
        };
        return Err(ApiError::bad_request(format!(
            "send a multipart/form-data request (the image in the field `image`), not {}",
            got.replace(|c: char| c.is_control(), "")
        )));
    }
    let mp = Multipart::from_request(Request::from_parts(parts, Body::from(bytes)), &())
        .await
        .map_err(|e| {
            ApiError::bad_request(format!(
                "send a multipart/form-data request (the image in the field `image`): {}",
                e.body_text()
            ))
        })?;
    read_fields(mp).await
}

/// The body, if it holds at most `max_upload_bytes` and the framing. A larger one is 413,
/// after reading on to its end (discarded, up to [`DRAIN`] uploads' worth): most clients send
/// the whole body before they read the answer, and a connection closed under them would lose
/// it. A body announced larger than that is refused at once (a client that asked for
/// `100 Continue` sends nothing more).
async fn read_body(
    headers: &HeaderMap,
    mut body: Body,
    max_upload_bytes: usize,
) -> Result<Bytes, ApiError> {
    let max = max_upload_bytes + FRAMING;
    let drain = DRAIN * max_upload_bytes;
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok()?.parse::<u64>().ok());
    if declared.is_some_and(|n| n > (max + drain) as u64) {
        return Err(too_large(max_upload_bytes));
    }
    let mut buf = Vec::new();
    let mut seen = 0usize;
    while let Some(frame) = body.frame().await {
        let frame =
            frame.map_err(|e| ApiError::bad_request(format!("reading the request: {e}")))?;
        let Ok(data) = frame.into_data() else {
            continue;
        };
        seen += data.len();
        if seen > max + drain {
            break;
        }
        if seen <= max {
            buf.extend_from_slice(&data);
        }
    }
    if seen > max {
        return Err(too_large(max_upload_bytes));
    }
    Ok(Bytes::from(buf))
}

/// The image and the other fields of a form.
async fn read_fields(mut mp: Multipart) -> Result<Form, ApiError> {
    let error = |e: MultipartError| {
        ApiError::bad_request(format!("malformed multipart request: {}", e.body_text()))
    };
    let mut image = None;
    let mut fields = Vec::new();
    while let Some(field) = mp.next_field().await.map_err(error)? {
        if fields.len() >= MAX_FIELDS {
            return Err(ApiError::bad_request(format!(
                "too many fields (at most {MAX_FIELDS})"
            )));
        }
        let Some(name) = field.name().map(str::to_string) else {
            return Err(ApiError::bad_request("a multipart field without a name"));
        };
        if name == "image" {
            if image.is_some() {
                return Err(ApiError::bad_request("one image per request"));
            }
            let file = upload_name(field.file_name());
            let bytes = field.bytes().await.map_err(error)?;
            image = Some(Upload { name: file, bytes });
        } else {
            let value = field.text().await.map_err(error)?;
            fields.push((name, value));
        }
    }
    let Some(image) = image else {
        return Err(ApiError::bad_request(
            "no image: send the image file in the multipart field `image`",
        ));
    };
    if image.bytes.is_empty() {
        return Err(ApiError::bad_request(format!(
            "{}: the uploaded file is empty",
            image.name
        )));
    }
    Ok(Form { image, fields })
}

/// 413 with the limit in the message.
pub fn too_large(max_upload_bytes: usize) -> ApiError {
    ApiError::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        format!(
            "the upload is larger than {} MB",
            max_upload_bytes / 1_000_000
        ),
    )
}

/// The name an upload goes by in messages and reports: the last component of the client's
/// file name, printable characters only, at most 100 of them.
fn upload_name(file_name: Option<&str>) -> String {
    let name: String = file_name
        .unwrap_or("")
        .rsplit(['/', '\\'])
        .next()
        .unwrap_or("")
        .chars()
        .filter(|c| !c.is_control())
        .take(100)
        .collect();
    let name = name.trim();
    if name.is_empty() || name == "." || name == ".." {
        "upload".into()
    } else {
        name.into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn upload_names_are_plain_file_names() {
        assert_eq!(upload_name(Some("cat.png")), "cat.png");
        assert_eq!(upload_name(Some("../../etc/passwd")), "passwd");
        assert_eq!(upload_name(Some("C:\\photos\\cat.jpg")), "cat.jpg");
        assert_eq!(upload_name(Some("a\nb\u{7}.png")), "ab.png");
        assert_eq!(upload_name(Some("dir/")), "upload");
        assert_eq!(upload_name(Some("..")), "upload");
        assert_eq!(upload_name(None), "upload");
        assert_eq!(upload_name(Some(&"x".repeat(300))).len(), 100);
    }
}
