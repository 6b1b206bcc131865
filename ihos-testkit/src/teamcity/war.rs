//! WARs for the fake server to serve.

use std::io::Write;

/// A valid WAR (a zip with `WEB-INF/web.xml` and `version.txt`) whose bytes depend on
/// `version`, with `filler` extra bytes of pseudo-random content stored uncompressed (so
/// a download takes several reads).
pub fn test_war(version: &str, filler: usize) -> Vec<u8> {
    let mut z = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let opts =
        zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Stored);
    let mut x: u64 = version.bytes().fold(0x9E37_79B9_7F4A_7C15, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x100_0000_01B3)
    });
    let mut filler_bytes = Vec::with_capacity(filler);
    while filler_bytes.len() < filler {
        // xorshift64: fast, deterministic, incompressible enough.
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        filler_bytes.extend_from_slice(&x.to_le_bytes());
    }
    filler_bytes.truncate(filler);
    let written = (|| -> zip::result::ZipResult<Vec<u8>> {
        z.add_directory("WEB-INF/", opts)?;
        z.start_file("WEB-INF/web.xml", opts)?;
        z.write_all(b"<web-app/>")?;
        z.start_file("version.txt", opts)?;
        z.write_all(version.as_bytes())?;
        z.start_file("filler.bin", opts)?;
        z.write_all(&filler_bytes)?;
        Ok(z.finish()?.into_inner())
    })();
    written.unwrap_or_default()
}

/// A zip archive of `entries` (path, bytes), stored uncompressed: an artifact such as
/// `dist/app.zip` holding the WAR.
pub fn zip_of(entries: &[(&str, Vec<u8>)]) -> Vec<u8> {
    let mut z = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let opts =
        zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Stored);
    let written = (|| -> zip::result::ZipResult<Vec<u8>> {
        for (path, bytes) in entries {
            z.start_file(*path, opts)?;
            z.write_all(bytes)?;
        }
        Ok(z.finish()?.into_inner())
    })();
    written.unwrap_or_default()
}
