//! The smallest ZIP the 3202 exchange needs: a writer of one-file archives (stored, no
//! compression) and a reader of the archives a platform returns (stored or deflated, the two
//! methods every ZIP library writes by default).
//!
//! Why not the `zip` crate: the detail file is one small text file, and the container is three
//! fixed records; the crate would bring its own feature set and several compression back ends
//! for what is ~150 lines here. The checksum and the inflater are `crc32fast` and `miniz_oxide`,
//! already in the dependency tree. The reader takes sizes from the central directory, so
//! archives written as a stream (sizes in a trailing data descriptor, as Java's
//! `ZipOutputStream` writes them) read correctly. Not supported, and refused with a clear
//! error: encryption, ZIP64, other compression methods, multi-disk archives.

/// Largest uncompressed file the reader accepts (a day's detail of a large hospital is a few
/// MiB; this bounds a hostile archive).
pub const MAX_FILE_BYTES: usize = 256 * 1024 * 1024;

/// A file inside an archive.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ZipFile {
    pub name: String,
    pub data: Vec<u8>,
}

/// Why an archive was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not a readable ZIP archive: {0}")]
pub struct ZipError(pub String);

fn bad<T>(why: impl Into<String>) -> Result<T, ZipError> {
    Err(ZipError(why.into()))
}

const LOCAL: u32 = 0x0403_4b50;
const CENTRAL: u32 = 0x0201_4b50;
const END: u32 = 0x0605_4b50;
/// General-purpose flag bit 11: the name is UTF-8.
const UTF8_NAME: u16 = 0x0800;
/// 1980-01-01 00:00: a fixed stamp keeps the archive a pure function of its content.
const DOS_DATE: u16 = (1 << 5) | 1;

/// A one-file archive holding `data` as `name`, stored.
pub fn write_single(name: &str, data: &[u8]) -> Vec<u8> {
    let crc = crc32fast::hash(data);
    let size = u32::try_from(data.len()).expect("a detail file below 4 GiB");
    let name_len = u16::try_from(name.len()).expect("a file name below 64 KiB");
    let mut out = Vec::with_capacity(data.len() + 2 * name.len() + 100);
    // Local file header.
    put32(&mut out, LOCAL);
    for v in [20, UTF8_NAME, 0, 0, DOS_DATE] {
        put16(&mut out, v);
    }
    for v in [crc, size, size] {
        put32(&mut out, v);
    }
    put16(&mut out, name_len);
    put16(&mut out, 0);
    out.extend_from_slice(name.as_bytes());
    out.extend_from_slice(data);
    // Central directory.
    let cd_offset = out.len();
    put32(&mut out, CENTRAL);
    for v in [20, 20, UTF8_NAME, 0, 0, DOS_DATE] {
        put16(&mut out, v);
    }
    for v in [crc, size, size] {
        put32(&mut out, v);
    }
    for v in [name_len, 0, 0, 0, 0] {
        put16(&mut out, v);
    }
    put32(&mut out, 0); // external attributes
    put32(&mut out, 0); // local header offset
    out.extend_from_slice(name.as_bytes());
    let cd_size = out.len() - cd_offset;
    // End of central directory.
    put32(&mut out, END);
    for v in [0, 0, 1, 1] {
        put16(&mut out, v);
    }
    put32(&mut out, cd_size as u32);
    put32(&mut out, cd_offset as u32);
    put16(&mut out, 0);
    out
}

/// Every file of `archive` (directories skipped), in central-directory order.
pub fn read_all(archive: &[u8]) -> Result<Vec<ZipFile>, ZipError> {
    let end = find_end(archive)?;
    let entries = usize::from(u16_at(archive, end + 10)?);
    let cd_offset = u32_at(archive, end + 16)? as usize;
    if u16_at(archive, end + 4)? != 0 || u16_at(archive, end + 6)? != 0 {
        return bad("multi-disk archive");
    }
    if entries == 0xFFFF || cd_offset == 0xFFFF_FFFF {
        return bad("ZIP64 archive");
    }
    let mut files = Vec::with_capacity(entries);
    let mut at = cd_offset;
    for _ in 0..entries {
        if u32_at(archive, at)? != CENTRAL {
            return bad(format!("central directory entry expected at byte {at}"));
        }
        let flags = u16_at(archive, at + 8)?;
        let method = u16_at(archive, at + 10)?;
        let crc = u32_at(archive, at + 16)?;
        let packed = u32_at(archive, at + 20)? as usize;
        let size = u32_at(archive, at + 24)? as usize;
        let name_len = usize::from(u16_at(archive, at + 28)?);
        let extra_len = usize::from(u16_at(archive, at + 30)?);
        let comment_len = usize::from(u16_at(archive, at + 32)?);
        let local = u32_at(archive, at + 42)? as usize;
        let name_bytes = slice(archive, at + 46, name_len)?;
        let name = String::from_utf8_lossy(name_bytes).into_owned();
        at += 46 + name_len + extra_len + comment_len;
        if name.ends_with('/') {
            continue;
        }
        if flags & 1 != 0 {
            return bad(format!("{name}: encrypted"));
        }
        if size > MAX_FILE_BYTES {
            return bad(format!("{name}: larger than {MAX_FILE_BYTES} bytes"));
        }
        if u32_at(archive, local)? != LOCAL {
            return bad(format!("{name}: local header expected at byte {local}"));
        }
        let skip = 30
            + usize::from(u16_at(archive, local + 26)?)
            + usize::from(u16_at(archive, local + 28)?);
        let raw = slice(archive, local + skip, packed)?;
        let data = match method {
            0 => raw.to_vec(),
            8 => miniz_oxide::inflate::decompress_to_vec_with_limit(raw, MAX_FILE_BYTES)
                .map_err(|e| ZipError(format!("{name}: deflate data corrupt ({:?})", e.status)))?,
            other => return bad(format!("{name}: compression method {other} not supported")),
        };
        if data.len() != size || crc32fast::hash(&data) != crc {
            return bad(format!("{name}: size or CRC does not match"));
        }
        files.push(ZipFile { name, data });
    }
    Ok(files)
}

/// The one file of `archive` (the 3202 result holds one text file); an archive with none or
/// several is refused.
pub fn read_single(archive: &[u8]) -> Result<ZipFile, ZipError> {
    let mut files = read_all(archive)?;
    match files.len() {
        1 => Ok(files.remove(0)),
        n => bad(format!("expected one file, found {n}")),
    }
}

/// The end-of-central-directory record: searched backwards (a comment may follow it).
fn find_end(archive: &[u8]) -> Result<usize, ZipError> {
    if archive.len() < 22 {
        return bad("shorter than an empty archive");
    }
    let lowest = archive.len().saturating_sub(22 + 0xFFFF);
    (lowest..=archive.len() - 22)
        .rev()
        .find(|&i| archive[i..i + 4] == END.to_le_bytes())
        .map_or_else(|| bad("no end of central directory"), Ok)
}

fn slice(b: &[u8], at: usize, len: usize) -> Result<&[u8], ZipError> {
    at.checked_add(len)
        .and_then(|end| b.get(at..end))
        .map_or_else(|| bad(format!("truncated at byte {at}")), Ok)
}

fn u16_at(b: &[u8], at: usize) -> Result<u16, ZipError> {
    slice(b, at, 2).map(|s| u16::from_le_bytes([s[0], s[1]]))
}

fn u32_at(b: &[u8], at: usize) -> Result<u32, ZipError> {
    slice(b, at, 4).map(|s| u32::from_le_bytes([s[0], s[1], s[2], s[3]]))
}

fn put16(out: &mut Vec<u8>, v: u16) {
    out.extend_from_slice(&v.to_le_bytes());
}

fn put32(out: &mut Vec<u8>, v: u32) {
    out.extend_from_slice(&v.to_le_bytes());
}
