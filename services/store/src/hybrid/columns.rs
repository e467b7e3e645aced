//! The encodings inside a block's columns, before zstd: varints, string
//! columns (a dictionary or lengths then bytes), id columns (a kind byte per
//! row, canonical hex and UUIDs as raw bytes), numbers and attribute values.
//!
//! Decoders read untrusted bytes: every count is checked against what is
//! left before anything is allocated for it, and a malformed column is an
//! `Err` naming what is wrong, never a panic.

use std::collections::HashMap;

use foldhash::fast::RandomState as FastHash;
use loglens_core::AttrValue;

use crate::tantivy::stored::{hex_value, push_hex, push_uuid, uuid_value};

/// Why a column does not decode (the block adds which column).
pub(super) type Malformed = String;

/// Appends `v` as a LEB128 varint.
pub(super) fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push(v as u8 | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

/// Maps signed to unsigned so that small magnitudes give short varints.
pub(super) fn zigzag(v: i64) -> u64 {
    ((v << 1) ^ (v >> 63)) as u64
}

/// The inverse of [`zigzag`].
pub(super) fn unzigzag(v: u64) -> i64 {
    (v >> 1) as i64 ^ -((v & 1) as i64)
}

/// Appends `text` as its length and bytes.
pub(super) fn put_text(out: &mut Vec<u8>, text: &str) {
    put_varint(out, text.len() as u64);
    out.extend_from_slice(text.as_bytes());
}

/// A cursor over untrusted bytes.
pub(super) struct Reader<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    pub(super) fn new(bytes: &'a [u8]) -> Reader<'a> {
        Reader { bytes, pos: 0 }
    }

    /// Bytes not read yet.
    pub(super) fn remaining(&self) -> usize {
        self.bytes.len() - self.pos
    }

    #[inline]
    pub(super) fn bytes(&mut self, n: usize) -> Result<&'a [u8], Malformed> {
        if n > self.remaining() {
            return Err(self.short(n));
        }
        self.pos += n;
        Ok(&self.bytes[self.pos - n..self.pos])
    }

    #[cold]
    fn short(&self, n: usize) -> Malformed {
        format!("{n} bytes wanted at offset {}, {} left", self.pos, self.remaining())
    }

    pub(super) fn u8(&mut self) -> Result<u8, Malformed> {
        Ok(self.bytes(1)?[0])
    }

    #[inline]
    pub(super) fn array<const N: usize>(&mut self) -> Result<[u8; N], Malformed> {
        let mut a = [0; N];
        a.copy_from_slice(self.bytes(N)?);
        Ok(a)
    }

    #[inline(always)]
    pub(super) fn varint(&mut self) -> Result<u64, Malformed> {
        // One or two bytes (most deltas, tags and lengths) inline; longer
        // ones and the end of the input below.
        match self.bytes.get(self.pos..) {
            Some([a, ..]) if *a < 0x80 => {
                self.pos += 1;
                Ok(u64::from(*a))
            }
            Some([a, b, ..]) if *b < 0x80 => {
                self.pos += 2;
                Ok(u64::from(a & 0x7f) | u64::from(*b) << 7)
            }
            _ => self.varint_long(),
        }
    }

    /// [`Reader::varint`] of three bytes or more: with ten bytes left (the
    /// longest varint) the loop needs no bounds check per byte; the tail
    /// of a column and malformed input take the checked path.
    #[inline(never)]
    fn varint_long(&mut self) -> Result<u64, Malformed> {
        if let Some(longest) = self.bytes.get(self.pos..self.pos + 10) {
            let mut v = 0u64;
            for (i, &b) in longest.iter().enumerate() {
                v |= u64::from(b & 0x7f) << (7 * i);
                if b < 0x80 {
                    if i == 9 && b > 1 {
                        break;
                    }
                    self.pos += i + 1;
                    return Ok(v);
                }
            }
        }
        self.varint_checked()
    }

    /// [`Reader::varint`], a byte at a time with every read checked.
    fn varint_checked(&mut self) -> Result<u64, Malformed> {
        let mut v = 0u64;
        for shift in (0..64).step_by(7) {
            let b = self.u8()?;
            v |= u64::from(b & 0x7f) << shift;
            if b < 0x80 {
                if shift == 63 && b > 1 {
                    break;
                }
                return Ok(v);
            }
        }
        Err(format!("varint longer than 64 bits before offset {}", self.pos))
    }

    /// A varint that counts things of at least `min_bytes` bytes each
    /// still to be read: larger counts are errors, not allocations.
    pub(super) fn count(&mut self, min_bytes: usize) -> Result<usize, Malformed> {
        let n = self.varint()?;
        match usize::try_from(n) {
            Ok(n) if n.saturating_mul(min_bytes) <= self.remaining() => Ok(n),
            _ => {
                let left = self.remaining();
                Err(format!("count {n} at offset {} exceeds the {left} bytes left", self.pos))
            }
        }
    }

    pub(super) fn str(&mut self, n: usize) -> Result<&'a str, Malformed> {
        let at = self.pos;
        std::str::from_utf8(self.bytes(n)?).map_err(|e| format!("text at offset {at}: {e}"))
    }

    /// A text written by [`put_text`].
    pub(super) fn text(&mut self) -> Result<&'a str, Malformed> {
        let n = self.count(1)?;
        self.str(n)
    }

    /// Checks every byte was read.
    pub(super) fn finish(&self) -> Result<(), Malformed> {
        match self.remaining() {
            0 => Ok(()),
            n => Err(format!("{n} bytes left over")),
        }
    }
}

/// String column modes (the column's first byte).
const PLAIN: u8 = 0;
const DICT8: u8 = 1;
const DICT16: u8 = 2;

/// Appends a column of optional strings: a dictionary and a code per row
/// (0 = none, `i` = the `i`-th entry) when `dictionary` allows it and
/// values repeat (at most 255 distinct, one-byte codes; or at most half as
/// many distinct as rows, two-byte codes), else every row's length + 1 (0 =
/// none) followed by the bytes.
pub(super) fn put_strings(out: &mut Vec<u8>, values: &[Option<&str>], dictionary: bool) {
    if dictionary && let Some((entries, codes)) = dictionary_of(values) {
        let wide = entries.len() > usize::from(u8::MAX);
        out.push(if wide { DICT16 } else { DICT8 });
        put_varint(out, entries.len() as u64);
        for e in &entries {
            put_text(out, e);
        }
        if wide {
            out.extend(codes.iter().flat_map(|c| c.to_le_bytes()));
        } else {
            out.extend(codes.iter().map(|&c| c as u8));
        }
        return;
    }
    out.push(PLAIN);
    for v in values {
        put_varint(out, v.map_or(0, |s| s.len() as u64 + 1));
    }
    for s in values.iter().flatten() {
        out.extend_from_slice(s.as_bytes());
    }
}

/// The distinct values in order of first appearance and every row's code,
/// or `None` when too many are distinct for a dictionary to pay.
fn dictionary_of<'a>(values: &[Option<&'a str>]) -> Option<(Vec<&'a str>, Vec<u16>)> {
    let limit = (values.len() / 2).clamp(usize::from(u8::MAX), usize::from(u16::MAX) - 1);
    let mut codes = Vec::with_capacity(values.len());
    let mut seen: HashMap<&str, u16, FastHash> = HashMap::default();
    let mut entries = Vec::new();
    for v in values {
        let code = match v {
            None => 0,
            Some(s) => *seen.entry(s).or_insert_with(|| {
                entries.push(*s);
                entries.len() as u16
            }),
        };
        if entries.len() > limit {
            return None;
        }
        codes.push(code);
    }
    Some((entries, codes))
}

/// A column written by [`put_strings`], `rows` values.
pub(super) fn strings<'a>(
    r: &mut Reader<'a>,
    rows: usize,
) -> Result<Vec<Option<&'a str>>, Malformed> {
    let mode = r.u8()?;
    if rows > r.remaining() {
        return Err(format!("{rows} rows in {} bytes", r.remaining()));
    }
    let mut out = Vec::with_capacity(rows);
    match mode {
        PLAIN => {
            let mut lens = Vec::with_capacity(rows);
            let mut total = 0usize;
            for _ in 0..rows {
                let len = r.varint()?;
                total = total
                    .saturating_add(usize::try_from(len.saturating_sub(1)).unwrap_or(usize::MAX));
                lens.push(len);
            }
            // The values lie back to back: one UTF-8 check for all of them,
            // then each cut must fall on a character boundary.
            let at = r.pos;
            let all = r.str(total)?;
            let mut start = 0;
            for len in lens {
                out.push(match len {
                    0 => None,
                    n => {
                        let end = start + usize::try_from(n - 1).unwrap_or(usize::MAX);
                        let value = all.get(start..end).ok_or_else(|| {
                            format!("text at offset {} splits a character", at + start)
                        })?;
                        start = end;
                        Some(value)
                    }
                });
            }
        }
        DICT8 | DICT16 => {
            let n = r.count(1)?;
            let mut entries = Vec::with_capacity(n);
            for _ in 0..n {
                entries.push(r.text()?);
            }
            for code in dictionary_codes(r, mode, rows)? {
                out.push(match code {
                    0 => None,
                    c => Some(
                        *entries
                            .get(usize::from(c) - 1)
                            .ok_or_else(|| format!("code {c} of a {n}-entry dictionary"))?,
                    ),
                });
            }
        }
        m => return Err(format!("string column mode {m}")),
    }
    Ok(out)
}

/// The `rows` codes after a dictionary of `mode` ([`DICT8`] or
/// [`DICT16`]): a byte or two (LE) a row, 0 for none.
fn dictionary_codes<'a>(
    r: &mut Reader<'a>,
    mode: u8,
    rows: usize,
) -> Result<impl Iterator<Item = u16> + 'a, Malformed> {
    let width = if mode == DICT8 { 1 } else { 2 };
    let codes = r.bytes(rows * width)?;
    Ok(codes
        .chunks_exact(width)
        .map(move |c| if width == 1 { u16::from(c[0]) } else { u16::from_le_bytes([c[0], c[1]]) }))
}

/// Whether each of the `rows` values of a column written by
/// [`put_strings`] is `want`, without reading a value out: a dictionary's
/// entries are compared once and its codes after, plain values as bytes.
/// (A filter's check on a common host or tag; the bytes were checksummed
/// when the block was read, and a value equal to `want` is valid UTF-8.)
pub(super) fn strings_equal(
    r: &mut Reader<'_>,
    rows: usize,
    want: &str,
) -> Result<Vec<bool>, Malformed> {
    let mode = r.u8()?;
    if rows > r.remaining() {
        return Err(format!("{rows} rows in {} bytes", r.remaining()));
    }
    let want = want.as_bytes();
    match mode {
        PLAIN => {
            let mut lens = Vec::with_capacity(rows);
            for _ in 0..rows {
                lens.push(r.varint()?);
            }
            lens.into_iter()
                .map(|len| match len {
                    0 => Ok(false),
                    n => Ok(r.bytes(usize::try_from(n - 1).unwrap_or(usize::MAX))? == want),
                })
                .collect()
        }
        DICT8 | DICT16 => {
            let n = r.count(1)?;
            let mut code = None;
            for i in 1..=n {
                let len = r.count(1)?;
                if r.bytes(len)? == want {
                    code = code.or(Some(i));
                }
            }
            let codes = dictionary_codes(r, mode, rows)?;
            let Some(code) = code else { return Ok(vec![false; rows]) };
            Ok(codes.map(|c| usize::from(c) == code).collect())
        }
        m => Err(format!("string column mode {m}")),
    }
}

/// Appends a column of lists of strings (tags, anomaly reasons): every
/// row's item count, then the items as one string column.
pub(super) fn put_lists(out: &mut Vec<u8>, lists: &[&[String]]) {
    let mut items = Vec::new();
    for l in lists {
        put_varint(out, l.len() as u64);
        items.extend(l.iter().map(|s| Some(s.as_str())));
    }
    put_strings(out, &items, true);
}

/// A column written by [`put_lists`]: row `i`'s items are
/// `items[bounds[i]..bounds[i + 1]]`.
pub(super) struct Lists<'a> {
    bounds: Vec<usize>,
    items: Vec<&'a str>,
}

impl<'a> Lists<'a> {
    /// Row `row`'s items.
    pub(super) fn row(&self, row: usize) -> &[&'a str] {
        &self.items[self.bounds[row]..self.bounds[row + 1]]
    }
}

/// Reads a column written by [`put_lists`], `rows` rows.
pub(super) fn lists<'a>(r: &mut Reader<'a>, rows: usize) -> Result<Lists<'a>, Malformed> {
    let bounds = list_bounds(r, rows)?;
    let items = strings(r, bounds[rows])?
        .into_iter()
        .map(|s| s.ok_or_else(|| "a list item is absent".to_owned()))
        .collect::<Result<_, _>>()?;
    Ok(Lists { bounds, items })
}

/// Whether each of the `rows` lists of a column written by [`put_lists`]
/// has `want` among its items ([`strings_equal`] over the items).
pub(super) fn lists_contain(
    r: &mut Reader<'_>,
    rows: usize,
    want: &str,
) -> Result<Vec<bool>, Malformed> {
    let bounds = list_bounds(r, rows)?;
    let equal = strings_equal(r, bounds[rows], want)?;
    Ok(bounds.windows(2).map(|b| equal[b[0]..b[1]].contains(&true)).collect())
}

/// The item counts of a column written by [`put_lists`] as bounds: row
/// `i`'s items are `bounds[i]..bounds[i + 1]` of the items that follow.
fn list_bounds(r: &mut Reader<'_>, rows: usize) -> Result<Vec<usize>, Malformed> {
    if rows > r.remaining() {
        return Err(format!("{rows} rows in {} bytes", r.remaining()));
    }
    let mut bounds = Vec::with_capacity(rows + 1);
    bounds.push(0);
    let mut total = 0usize;
    for _ in 0..rows {
        // Every item takes at least a byte of the string column.
        total = total.saturating_add(r.count(1)?);
        bounds.push(total);
    }
    if total > r.remaining() {
        return Err(format!("{total} items in {} bytes", r.remaining()));
    }
    Ok(bounds)
}

/// Id kinds (a byte per row of an id column).
const ID_NONE: u8 = 0;
const ID_DERIVED: u8 = 1;
const ID_UUID: u8 = 2;
const ID_HEX32: u8 = 3;
const ID_HEX16: u8 = 4;
const ID_TEXT: u8 = 5;

/// An id column being written: a kind byte per row, then the payloads.
#[derive(Default)]
pub(super) struct IdColumn {
    kinds: Vec<u8>,
    payload: Vec<u8>,
}

impl IdColumn {
    /// Adds a row: `None` for no id; the canonical lowercase forms of a
    /// UUID, 32 and 16 hex digits as their bytes, any other text as it is.
    pub(super) fn push(&mut self, id: Option<&str>) {
        let Some(text) = id else {
            self.kinds.push(ID_NONE);
            return;
        };
        let b = text.as_bytes();
        if let Some(v) = uuid_value(b) {
            self.kinds.push(ID_UUID);
            self.payload.extend_from_slice(&v.to_be_bytes());
        } else if b.len() == 32
            && let Some(v) = hex_value(b, 0)
        {
            self.kinds.push(ID_HEX32);
            self.payload.extend_from_slice(&v.to_be_bytes());
        } else if b.len() == 16
            && let Some(v) = hex_value(b, 0)
        {
            self.kinds.push(ID_HEX16);
            self.payload.extend_from_slice(&(v as u64).to_be_bytes());
        } else {
            self.kinds.push(ID_TEXT);
            put_text(&mut self.payload, text);
        }
    }

    /// Adds a row whose id is computed on read (a record id its content
    /// gives).
    pub(super) fn push_derived(&mut self) {
        self.kinds.push(ID_DERIVED);
    }

    /// Appends the column to `out` and empties it for the next block.
    pub(super) fn write_to(&mut self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.kinds);
        out.extend_from_slice(&self.payload);
        self.kinds.clear();
        self.payload.clear();
    }
}

/// A row of an id column as read.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) enum IdCell<'a> {
    None,
    Derived,
    Uuid(&'a [u8; 16]),
    Hex(&'a [u8]),
    Text(&'a str),
}

impl IdCell<'_> {
    /// The id's text; `None` for no id, and for a derived one, which only
    /// the whole record gives.
    pub(super) fn text(self) -> Option<String> {
        match self {
            IdCell::None | IdCell::Derived => None,
            IdCell::Uuid(b) => {
                let mut s = String::with_capacity(36);
                push_uuid(&mut s, b);
                Some(s)
            }
            IdCell::Hex(b) => {
                let mut s = String::with_capacity(b.len() * 2);
                push_hex(&mut s, b);
                Some(s)
            }
            IdCell::Text(t) => Some(t.to_owned()),
        }
    }
}

/// Reads an id column of `rows` rows.
pub(super) fn ids<'a>(r: &mut Reader<'a>, rows: usize) -> Result<Vec<IdCell<'a>>, Malformed> {
    let kinds = r.bytes(rows)?;
    let mut out = Vec::with_capacity(rows);
    for &k in kinds {
        out.push(match k {
            ID_NONE => IdCell::None,
            ID_DERIVED => IdCell::Derived,
            ID_UUID => IdCell::Uuid(
                r.bytes(16)?.try_into().map_err(|_| "a UUID of other than 16 bytes".to_owned())?,
            ),
            ID_HEX32 => IdCell::Hex(r.bytes(16)?),
            ID_HEX16 => IdCell::Hex(r.bytes(8)?),
            ID_TEXT => IdCell::Text(r.text()?),
            k => return Err(format!("id kind {k}")),
        });
    }
    Ok(out)
}

/// Largest whole number kept as a varint: every whole number up to 2^53
/// is exact in an f64.
const MAX_WHOLE: u64 = 1 << 53;

/// A number is one varint: `0` none, `1` its f64 bits follow, else
/// `2 + 2n` the whole number `n` or `3 + 2k` the tenths `k` (one varint,
/// so the common case reads no tag).
const NUMBER_NONE: u64 = 0;
const NUMBER_BITS: u64 = 1;
const NUMBER_VALUES: u64 = 2;

/// The tenths `k` of `v` when `k / 10` reads back as `v`'s very bits
/// (response times are mostly kept to a tenth of a millisecond: as tenths
/// a value takes 2-3 bytes rather than 9).
fn tenths(v: f64) -> Option<u64> {
    let k = (v * 10.0).round();
    // Also rules out NaN, the infinities and every negative (-0.0 too).
    if !(0.0..=MAX_WHOLE as f64).contains(&k) || v.is_sign_negative() {
        return None;
    }
    let k = k as u64;
    ((k as f64 / 10.0).to_bits() == v.to_bits()).then_some(k)
}

/// Appends an optional number (see [`NUMBER_VALUES`]): a whole number `n`
/// that reads back as the same bits (so not -0.0) as `2 + 2n`, a number of
/// tenths `k` (see [`tenths`]) as `3 + 2k`, any other as `1` and the f64's
/// bits.
pub(super) fn put_number(out: &mut Vec<u8>, v: Option<f64>) {
    match v {
        None => put_varint(out, NUMBER_NONE),
        Some(v) => {
            let whole = v as u64;
            if whole <= MAX_WHOLE && (whole as f64).to_bits() == v.to_bits() {
                put_varint(out, NUMBER_VALUES + 2 * whole);
            } else if let Some(k) = tenths(v) {
                put_varint(out, NUMBER_VALUES + 2 * k + 1);
            } else {
                put_varint(out, NUMBER_BITS);
                out.extend_from_slice(&v.to_bits().to_le_bytes());
            }
        }
    }
}

/// Reads a number written by [`put_number`].
#[inline]
pub(super) fn number(r: &mut Reader<'_>) -> Result<Option<f64>, Malformed> {
    Ok(match r.varint()? {
        NUMBER_NONE => None,
        NUMBER_BITS => Some(f64::from_bits(u64::from_le_bytes(r.array()?))),
        v => {
            let n = (v - NUMBER_VALUES) >> 1;
            if n > MAX_WHOLE {
                return Err(format!("number {n} above 2^53"));
            }
            if v & 1 == 0 { Some(n as f64) } else { Some(n as f64 / 10.0) }
        }
    })
}

/// Attribute kinds (a byte per row of an attribute column).
const ATTR_ABSENT: u8 = 0;
const ATTR_STR: u8 = 1;
const ATTR_INT: u8 = 2;
const ATTR_FLOAT: u8 = 3;
const ATTR_TRUE: u8 = 4;
const ATTR_FALSE: u8 = 5;

/// Appends one attribute key's column of `rows` rows from the rows that
/// have the key, in row order: every row's kind, then the strings as a
/// string column, the ints as zigzag varints, the floats' bits.
pub(super) fn put_attribute(out: &mut Vec<u8>, rows: usize, values: &[(usize, &AttrValue)]) {
    let mut strings = Vec::new();
    let (mut ints, mut floats) = (Vec::new(), Vec::new());
    let start = out.len();
    out.resize(start + rows, ATTR_ABSENT);
    for &(row, v) in values {
        out[start + row] = match v {
            AttrValue::Str(s) => {
                strings.push(Some(s.as_str()));
                ATTR_STR
            }
            AttrValue::Int(i) => {
                put_varint(&mut ints, zigzag(*i));
                ATTR_INT
            }
            AttrValue::Float(f) => {
                floats.extend_from_slice(&f.to_bits().to_le_bytes());
                ATTR_FLOAT
            }
            AttrValue::Bool(true) => ATTR_TRUE,
            AttrValue::Bool(false) => ATTR_FALSE,
        };
    }
    put_strings(out, &strings, true);
    out.extend_from_slice(&ints);
    out.extend_from_slice(&floats);
}

/// A row of an attribute column as read.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) enum AttrCell<'a> {
    Str(&'a str),
    Int(i64),
    Float(f64),
    Bool(bool),
}

impl AttrCell<'_> {
    pub(super) fn value(self) -> AttrValue {
        match self {
            AttrCell::Str(s) => AttrValue::Str(s.to_owned()),
            AttrCell::Int(i) => AttrValue::Int(i),
            AttrCell::Float(f) => AttrValue::Float(f),
            AttrCell::Bool(b) => AttrValue::Bool(b),
        }
    }
}

/// Reads an attribute column of `rows` rows.
pub(super) fn attribute<'a>(
    r: &mut Reader<'a>,
    rows: usize,
) -> Result<Vec<Option<AttrCell<'a>>>, Malformed> {
    let kinds = r.bytes(rows)?;
    let n_str = kinds.iter().filter(|&&k| k == ATTR_STR).count();
    let mut strings = strings(r, n_str)?.into_iter();
    let mut out = Vec::with_capacity(rows);
    let mut floats = Vec::new();
    for &k in kinds {
        out.push(match k {
            ATTR_ABSENT => None,
            ATTR_STR => Some(AttrCell::Str(
                strings.next().flatten().ok_or_else(|| "an absent string value".to_owned())?,
            )),
            ATTR_INT => Some(AttrCell::Int(unzigzag(r.varint()?))),
            ATTR_FLOAT => {
                // The bits follow the ints: filled in below.
                floats.push(out.len());
                Some(AttrCell::Float(0.0))
            }
            ATTR_TRUE => Some(AttrCell::Bool(true)),
            ATTR_FALSE => Some(AttrCell::Bool(false)),
            k => return Err(format!("attribute kind {k}")),
        });
    }
    for row in floats {
        out[row] = Some(AttrCell::Float(f64::from_bits(u64::from_le_bytes(r.array()?))));
    }
    Ok(out)
}

/// Whether each of the `rows` values of an attribute column reads as
/// `want` (`AttrValue`'s `Display`, as `Filter::matches` compares), without
/// reading a value out: strings through [`strings_equal`], numbers and
/// booleans against `want` parsed once. (A filter on an attribute most
/// records hold; [`attribute`] built a `String` a row for it.)
pub(super) fn attribute_equal(
    r: &mut Reader<'_>,
    rows: usize,
    want: &str,
) -> Result<Vec<bool>, Malformed> {
    let kinds = r.bytes(rows)?;
    let n_str = kinds.iter().filter(|&&k| k == ATTR_STR).count();
    let mut strings = strings_equal(r, n_str, want)?.into_iter();
    // Only the canonical text of an integer reads as it ("7", not "+7").
    let int = want.parse::<i64>().ok().filter(|i| i.to_string() == want);
    let mut out = Vec::with_capacity(rows);
    let mut floats = Vec::new();
    for &k in kinds {
        out.push(match k {
            ATTR_ABSENT => false,
            ATTR_STR => strings.next().ok_or_else(|| "a missing string value".to_owned())?,
            ATTR_INT => int == Some(unzigzag(r.varint()?)),
            ATTR_FLOAT => {
                // The bits follow the ints: compared below.
                floats.push(out.len());
                false
            }
            ATTR_TRUE => want == "true",
            ATTR_FALSE => want == "false",
            k => return Err(format!("attribute kind {k}")),
        });
    }
    for row in floats {
        let x = f64::from_bits(u64::from_le_bytes(r.array()?));
        out[row] = AttrValue::Float(x).to_string() == want;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn varints_and_zigzag_round_trip_at_the_edges() {
        for v in [0, 1, 127, 128, 300, u64::from(u32::MAX), u64::MAX - 1, u64::MAX] {
            let mut b = Vec::new();
            put_varint(&mut b, v);
            let mut r = Reader::new(&b);
            assert_eq!(r.varint().unwrap(), v);
            r.finish().unwrap();
            // With ten bytes after it, the unchecked path reads it.
            b.extend_from_slice(&[0x80; 10]);
            let mut r = Reader::new(&b);
            assert_eq!(r.varint().unwrap(), v);
            assert_eq!(r.remaining(), 10);
        }
        for v in [0, -1, 1, i64::MIN, i64::MAX, -300] {
            assert_eq!(unzigzag(zigzag(v)), v);
        }
        // Eleven bytes, or a tenth byte above 1, do not fit 64 bits.
        assert!(Reader::new(&[0xff; 11]).varint().is_err());
        assert!(
            Reader::new(&[0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02])
                .varint()
                .is_err()
        );
        assert!(Reader::new(&[0x80]).varint().is_err());
        let mut long = vec![0xff; 9];
        long.extend_from_slice(&[0x02, 0, 0, 0]);
        assert!(Reader::new(&long).varint().is_err());
        assert!(Reader::new(&[0xff; 20]).varint().is_err());
    }

    #[test]
    fn string_columns_pick_a_dictionary_only_when_values_repeat() {
        let few: Vec<Option<&str>> =
            (0..1000).map(|i| [Some("a"), None, Some("bé")][i % 3]).collect();
        let many: Vec<String> = (0..1000).map(|i| format!("v{i}")).collect();
        let many: Vec<Option<&str>> = many.iter().map(|s| Some(s.as_str())).collect();
        let wide: Vec<String> = (0..2000).map(|i| format!("w{}", i % 600)).collect();
        let wide: Vec<Option<&str>> = wide.iter().map(|s| Some(s.as_str())).collect();
        for (values, dictionary, mode) in
            [(&few, true, DICT8), (&few, false, PLAIN), (&many, true, PLAIN), (&wide, true, DICT16)]
        {
            let mut b = Vec::new();
            put_strings(&mut b, values, dictionary);
            assert_eq!(b[0], mode);
            let mut r = Reader::new(&b);
            assert_eq!(&strings(&mut r, values.len()).unwrap(), values);
            r.finish().unwrap();
            for want in ["a", "bé", "b", "", "v7", "w599", "w600"] {
                let mut r = Reader::new(&b);
                let equal = strings_equal(&mut r, values.len(), want).unwrap();
                r.finish().unwrap();
                let expected: Vec<bool> = values.iter().map(|v| *v == Some(want)).collect();
                assert_eq!(equal, expected, "{want:?} in a column of mode {mode}");
            }
        }
    }

    #[test]
    fn a_plain_value_that_splits_a_character_is_an_error() {
        // Two one-byte values whose bytes together are "é": valid UTF-8 as
        // a whole, not each.
        let mut b = vec![PLAIN, 2, 2];
        b.extend_from_slice("é".as_bytes());
        let e = strings(&mut Reader::new(&b), 2).unwrap_err();
        assert_eq!(e, "text at offset 3 splits a character");
        b[2] = 1;
        assert!(strings(&mut Reader::new(&b), 2).is_err(), "half a character is not UTF-8");
        let mut ok = vec![PLAIN, 3, 0];
        ok.extend_from_slice("é".as_bytes());
        assert_eq!(strings(&mut Reader::new(&ok), 2).unwrap(), [Some("é"), None]);
    }

    #[test]
    fn list_columns_say_which_rows_hold_an_item() {
        let lists: Vec<Vec<String>> =
            (0..700).map(|i| (0..i % 4).map(|j| format!("t{}", (i + j) % 9)).collect()).collect();
        let slices: Vec<&[String]> = lists.iter().map(Vec::as_slice).collect();
        let mut b = Vec::new();
        put_lists(&mut b, &slices);
        for want in ["t0", "t8", "t9", ""] {
            let mut r = Reader::new(&b);
            let contain = lists_contain(&mut r, lists.len(), want).unwrap();
            r.finish().unwrap();
            let expected: Vec<bool> = lists.iter().map(|l| l.iter().any(|t| t == want)).collect();
            assert_eq!(contain, expected, "{want:?}");
        }
        assert!(lists_contain(&mut Reader::new(&b[..b.len() - 1]), lists.len(), "t0").is_err());
    }

    #[test]
    fn only_canonical_ids_become_bytes() {
        let cases = [
            (Some("8fadc1a6-06cb-4fb3-9a1d-e644815ef6d1"), ID_UUID),
            (Some("6b65a6a48b8148f6b38a088ca65ed389"), ID_HEX32),
            (Some("72ff5d2a386ecbe0"), ID_HEX16),
            (Some("8FADC1A6-06CB-4FB3-9A1D-E644815EF6D1"), ID_TEXT),
            (Some("6B65A6A48B8148F6B38A088CA65ED389"), ID_TEXT),
            (Some("72ff5d2a386ecbe"), ID_TEXT),
            (Some("abcd"), ID_TEXT),
            (Some(""), ID_TEXT),
            (None, ID_NONE),
        ];
        let mut col = IdColumn::default();
        for (id, _) in cases {
            col.push(id);
        }
        col.push_derived();
        let mut b = Vec::new();
        col.write_to(&mut b);
        let kinds: Vec<u8> = cases.iter().map(|c| c.1).chain([ID_DERIVED]).collect();
        assert_eq!(&b[..kinds.len()], &kinds[..]);
        let mut r = Reader::new(&b);
        let back = ids(&mut r, kinds.len()).unwrap();
        r.finish().unwrap();
        for ((id, _), cell) in cases.iter().zip(&back) {
            assert_eq!(cell.text().as_deref(), *id);
        }
        assert_eq!(back[cases.len()], IdCell::Derived);
    }

    #[test]
    fn numbers_keep_their_bits() {
        let values = [
            None,
            Some(0.0),
            Some(-0.0),
            Some(74.0),
            Some(0.5),
            Some(1e300),
            Some(9_007_199_254_740_992.0),
            Some(9_007_199_254_740_994.0),
            Some(f64::NAN),
            Some(f64::INFINITY),
            Some(-3.0),
            Some(f64::MIN_POSITIVE),
            Some(0.1),
            Some(1234.5),
            Some(0.30000000000000004),
            Some(-1234.5),
            Some(900_719_925_474_099.1),
            Some(2.05),
        ];
        let mut b = Vec::new();
        for v in values {
            put_number(&mut b, v);
        }
        assert_eq!(b[..3], [0, 2, 1], "none, 0 as a varint, -0.0 as bits");
        let mut r = Reader::new(&b);
        for v in values {
            assert_eq!(number(&mut r).unwrap().map(f64::to_bits), v.map(f64::to_bits));
        }
        r.finish().unwrap();
        // Tenths where they read back exactly, bits where they do not.
        for (v, want) in [
            (0.1, Some(1)),
            (1234.5, Some(12_345)),
            (2.05, None),
            (0.30000000000000004, None),
            (-1234.5, None),
            (74.0, Some(740)),
            (f64::NAN, None),
            (f64::INFINITY, None),
        ] {
            assert_eq!(tenths(v), want, "{v}");
        }
        let mut b = Vec::new();
        put_number(&mut b, Some(1234.5));
        put_number(&mut b, Some(74.0));
        assert_eq!(b, [0xf5, 0xc0, 0x01, 150, 1], "3 + 2 * 12345, then 2 + 2 * 74");
        // Numbers above 2^53 are refused, whole or tenths.
        for v in [NUMBER_VALUES + 2 * (MAX_WHOLE + 1), NUMBER_VALUES + 2 * (MAX_WHOLE + 1) + 1] {
            let mut b = Vec::new();
            put_varint(&mut b, v);
            assert!(number(&mut Reader::new(&b)).is_err());
        }
    }

    #[test]
    fn attribute_columns_say_which_rows_read_as_a_value() {
        let values: Vec<Option<AttrValue>> = (0..900)
            .map(|i| match i % 9 {
                0 => None,
                1 => Some(AttrValue::Str(format!("pod-{}", i % 4))),
                2 => Some(AttrValue::Str("7".into())),
                3 => Some(AttrValue::Int(7)),
                4 => Some(AttrValue::Int(-(i as i64))),
                5 => Some(AttrValue::Float(7.0)),
                6 => Some(AttrValue::Float(0.25)),
                7 => Some(AttrValue::Bool(i % 2 == 0)),
                _ => Some(AttrValue::Str(String::new())),
            })
            .collect();
        let present: Vec<(usize, &AttrValue)> =
            values.iter().enumerate().filter_map(|(row, v)| v.as_ref().map(|v| (row, v))).collect();
        let mut b = Vec::new();
        put_attribute(&mut b, values.len(), &present);
        for want in
            ["pod-1", "7", "+7", "07", "7.0", "0.25", "-4", "true", "false", "", "pod-9", "x"]
        {
            let mut r = Reader::new(&b);
            let equal = attribute_equal(&mut r, values.len(), want).unwrap();
            r.finish().unwrap();
            let expected: Vec<bool> =
                values.iter().map(|v| v.as_ref().is_some_and(|v| v.to_string() == want)).collect();
            assert_eq!(equal, expected, "{want:?}");
            assert!(expected.iter().any(|e| *e) || ["+7", "07", "pod-9", "x"].contains(&want));
        }
        assert!(attribute_equal(&mut Reader::new(&b[..b.len() - 1]), values.len(), "7").is_err());
    }
}
