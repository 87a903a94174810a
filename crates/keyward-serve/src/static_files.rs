//! The script, the style sheet and the vendored Apache ECharts, embedded
//! into the binary so that the app works without any network.

use axum::extract::Path;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use rust_embed::RustEmbed;

/// Files under `assets/`: `app.js`, `style.css` and
/// `vendor/echarts/` (the library, its licenses and checksum).
#[derive(RustEmbed)]
#[folder = "assets/"]
pub struct Assets;

/// Returns the text of an embedded file, or an empty string when it is
/// missing (a test checks that every file the pages name is embedded).
pub fn text(path: &str) -> String {
    Assets::get(path)
        .map(|file| String::from_utf8_lossy(&file.data).into_owned())
        .unwrap_or_default()
}

/// Serves `/static/PATH` from the embedded files.
pub async fn serve(Path(path): Path<String>) -> Response {
    let Some(file) = Assets::get(&path) else {
        return (StatusCode::NOT_FOUND, "not found\n").into_response();
    };
    let content_type = match path.rsplit_once('.').map(|(_, extension)| extension) {
        Some("js") => "text/javascript; charset=utf-8",
        Some("css") => "text/css; charset=utf-8",
        _ => "text/plain; charset=utf-8",
    };
    (
        [
            (header::CONTENT_TYPE, content_type),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        file.data.into_owned(),
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;
    use sha2::{Digest, Sha256};

    #[test]
    fn vendored_echarts_matches_its_checksum() {
        let sums = text("vendor/echarts/SHA256SUMS");
        let expected = sums.split_whitespace().next().unwrap();
        let library = Assets::get("vendor/echarts/echarts.min.js").unwrap();
        let actual: String = Sha256::digest(&library.data)
            .iter()
            .map(|byte| format!("{byte:02x}"))
            .collect();
        assert_eq!(actual, expected);
        assert!(Assets::get("vendor/echarts/LICENSE").is_some());
    }
}
