//! Entry points for `cargo fuzz` (see `fuzz/`): the row parsers and the validator fed
//! arbitrary bytes. They must never panic, and every row read must come out either
//! accepted or rejected. Not part of the public API.

use std::io::Cursor;

use crate::config::SourceMapping;
use crate::contract::table;
use crate::ingest::RowSource;
use crate::ingest::csv::CsvSource;
use crate::ingest::ndjson::NdjsonSource;
use crate::ingest::timestamp::TsParser;
use crate::ingest::validate::Validator;

/// Parse `data` as a CSV export of `shipments` (first byte picks the delimiter and a
/// time zone) and validate every batch.
pub fn csv(data: &[u8]) {
    let Some((&first, rest)) = data.split_first() else {
        return;
    };
    let delimiter = [b',', b';', b'\t', b'|'][usize::from(first % 4)];
    let Some(t) =
        table(["shipments", "order_lines", "return_events", "items"][usize::from(first / 64)])
    else {
        return;
    };
    let input = Box::new(Cursor::new(rest.to_vec()));
    let Ok(Some(mut src)) = CsvSource::open(input, delimiter, t, None, 97) else {
        return;
    };
    drain(&mut src, t);
}

/// Parse `data` as NDJSON of `exception_events` and validate every batch.
pub fn ndjson(data: &[u8]) {
    let Some(t) = table("exception_events") else {
        return;
    };
    let mapping = SourceMapping {
        pattern: "*".into(),
        values: [(
            "status".to_string(),
            [("CLOSED".to_string(), "resolved".to_string())].into(),
        )]
        .into(),
        ..Default::default()
    };
    let input = Box::new(Cursor::new(data.to_vec()));
    let Ok(mut src) = NdjsonSource::open(input, t, Some(&mapping), 61) else {
        return;
    };
    drain(&mut src, t);
}

fn drain(src: &mut dyn RowSource, t: &'static crate::contract::TableSpec) {
    let validator = Validator::new(
        t,
        None,
        TsParser::new(chrono_tz::Tz::Europe__Paris, Some("%d/%m/%Y %H:%M".into())),
        chrono::NaiveDate::from_ymd_opt(2000, 1, 1).unwrap_or_default(),
        chrono::NaiveDate::from_ymd_opt(2100, 1, 1).unwrap_or_default(),
    );
    while let Ok(Some(raw)) = src.next_batch() {
        let read = raw.rows_read();
        let v = validator.validate(raw);
        let accepted = v.batch.as_ref().map_or(0, |b| b.num_rows()) as u64;
        assert_eq!(
            read,
            accepted + v.rejects.len() as u64,
            "every row is accepted or rejected"
        );
    }
}
