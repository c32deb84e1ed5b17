//! Embeds the browser UI: `web/dist/` (built by `scripts/web`) becomes a table of pre-compressed
//! assets compiled into the binary. Without a build, one plain page says how to make it.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

fn main() {
    let root = PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").unwrap_or_default());
    let dist = root.join("web/dist");
    let manifest = dist.join("assets.json");
    println!("cargo:rerun-if-changed={}", manifest.display());
    println!("cargo:rerun-if-changed=build.rs");
    let out = PathBuf::from(std::env::var_os("OUT_DIR").unwrap_or_default()).join("assets.rs");
    let code = match std::fs::read_to_string(&manifest) {
        Ok(json) => table(&dist, &json),
        Err(_) => fallback(),
    };
    if let Err(e) = std::fs::write(&out, code) {
        panic!("writing {}: {e}", out.display());
    }
}

/// FNV-1a, 64 bits: a content hash for strong ETags with no dependency.
fn fnv(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// The entries of `assets.json`: `[{"path", "gz", "type", "immutable"}, ...]`, read with a
/// small scanner (build scripts get no JSON crate without adding a build dependency).
fn entries(json: &str) -> Vec<(String, String, String, bool)> {
    let field = |obj: &str, key: &str| -> Option<String> {
        let at = obj.find(&format!("\"{key}\""))? + key.len() + 2;
        let rest = obj[at..].trim_start().strip_prefix(':')?.trim_start();
        if let Some(s) = rest.strip_prefix('"') {
            Some(s[..s.find('"')?].to_string())
        } else {
            Some(rest.split([',', '}']).next()?.trim().to_string())
        }
    };
    json.split('{')
        .skip(1)
        .filter_map(|obj| {
            Some((
                field(obj, "path")?,
                field(obj, "gz")?,
                field(obj, "type")?,
                field(obj, "immutable")? == "true",
            ))
        })
        .collect()
}

fn table(dist: &Path, json: &str) -> String {
    let mut code = String::from("pub static ASSETS: &[Asset] = &[\n");
    for (path, gz, content_type, immutable) in entries(json) {
        let file = dist.join(&gz);
        println!("cargo:rerun-if-changed={}", file.display());
        let bytes = std::fs::read(&file).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
        let _ = writeln!(
            code,
            "    Asset {{ path: {path:?}, content_type: {content_type:?}, body: include_bytes!({:?}), \
             gzip: true, etag: \"\\\"{:016x}\\\"\", immutable: {immutable} }},",
            file.display().to_string(),
            fnv(&bytes)
        );
    }
    code.push_str("];\n");
    code
}

fn fallback() -> String {
    let page = "<!doctype html><meta charset=utf-8><title>lanterm</title>\
                <p>The browser UI is not built into this binary. Run <code>scripts/web</code>, then \
                rebuild (<code>scripts/run</code> does both). The API works without it.</p>";
    format!(
        "pub static ASSETS: &[Asset] = &[\n    Asset {{ path: \"index.html\", content_type: \
         \"text/html; charset=utf-8\", body: {page:?}.as_bytes(), gzip: false, etag: \
         \"\\\"{:016x}\\\"\", immutable: false }},\n];\n",
        fnv(page.as_bytes())
    )
}
