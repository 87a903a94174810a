//! Output of query results as a table, CSV, JSON or JSON Lines, behind one
//! function so that every command prints the same way.

use std::io::Write;

use datafusion::arrow::array::Array as _;
use datafusion::arrow::array::RecordBatch;
use datafusion::arrow::json::writer::{JsonArray, LineDelimited, WriterBuilder};
use datafusion::arrow::util::pretty::pretty_format_batches;

use crate::error::Result;

/// Format of printed results.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OutputFormat {
    /// An aligned text table.
    Table,
    /// CSV with a header row, with text that a spreadsheet would run as a
    /// formula prefixed with `'`.
    Csv,
    /// One JSON array of row objects.
    Json,
    /// One JSON object per line.
    JsonLines,
}

/// Writes batches in the given format.
pub fn write_batches(
    batches: &[RecordBatch],
    format: OutputFormat,
    out: &mut dyn Write,
) -> Result<()> {
    match format {
        OutputFormat::Table => {
            let rows: usize = batches.iter().map(RecordBatch::num_rows).sum();
            if rows == 0 {
                writeln!(out, "(no rows)").map_err(io_error)?;
            } else {
                // Text from AWS may hold newlines and terminal escape
                // sequences; the table shows them escaped.
                let printable = batches
                    .iter()
                    .map(|batch| escape_names(&map_text(&nested_as_json(batch)?, escape_text)?))
                    .collect::<Result<Vec<_>>>()?;
                let table = pretty_format_batches(&printable)?;
                writeln!(out, "{table}").map_err(io_error)?;
            }
        }
        OutputFormat::Csv => {
            let mut writer = datafusion::arrow::csv::WriterBuilder::new()
                .with_header(true)
                .build(&mut *out);
            for batch in batches {
                writer.write(&map_text(&nested_as_json(batch)?, neutralize_formula)?)?;
            }
        }
        OutputFormat::Json => {
            let mut writer = WriterBuilder::new()
                .with_explicit_nulls(true)
                .build::<_, JsonArray>(&mut *out);
            for batch in batches {
                writer.write(batch)?;
            }
            writer.finish()?;
            drop(writer);
            writeln!(out).map_err(io_error)?;
        }
        OutputFormat::JsonLines => {
            let mut writer = WriterBuilder::new()
                .with_explicit_nulls(true)
                .build::<_, LineDelimited>(&mut *out);
            for batch in batches {
                writer.write(batch)?;
            }
            writer.finish()?;
        }
    }
    Ok(())
}

/// Turns list, struct and map columns into JSON text, which CSV and the
/// table can hold and which reads back without ambiguity.
fn nested_as_json(batch: &RecordBatch) -> Result<RecordBatch> {
    use std::sync::Arc;

    use datafusion::arrow::array::{ArrayRef, StringBuilder};
    use datafusion::arrow::datatypes::{DataType, Field, Schema};

    if !batch
        .schema()
        .fields()
        .iter()
        .any(|field| field.data_type().is_nested())
    {
        return Ok(batch.clone());
    }
    let mut fields = Vec::new();
    let mut columns: Vec<ArrayRef> = Vec::new();
    for (field, column) in batch.schema().fields().iter().zip(batch.columns()) {
        if !field.data_type().is_nested() {
            fields.push(field.as_ref().clone());
            columns.push(column.clone());
            continue;
        }
        let mut text = StringBuilder::new();
        for value in column_as_json(field, column)? {
            match value {
                serde_json::Value::Null => text.append_null(),
                value => text.append_value(value.to_string()),
            }
        }
        fields.push(Field::new(field.name(), DataType::Utf8, true));
        columns.push(Arc::new(text.finish()));
    }
    Ok(RecordBatch::try_new(
        Arc::new(Schema::new(fields)),
        columns,
    )?)
}

/// Converts the values of one column to JSON, through Arrow's JSON writer.
fn column_as_json(
    field: &datafusion::arrow::datatypes::FieldRef,
    column: &datafusion::arrow::array::ArrayRef,
) -> Result<Vec<serde_json::Value>> {
    use std::sync::Arc;

    use datafusion::arrow::datatypes::Schema;

    let single = RecordBatch::try_new(
        Arc::new(Schema::new(vec![field.as_ref().clone()])),
        vec![column.clone()],
    )?;
    let mut lines = Vec::new();
    {
        let mut writer = WriterBuilder::new()
            .with_explicit_nulls(true)
            .build::<_, LineDelimited>(&mut lines);
        writer.write(&single)?;
        writer.finish()?;
    }
    let mut values = Vec::with_capacity(column.len());
    for line in lines
        .split(|byte| *byte == b'\n')
        .filter(|line| !line.is_empty())
    {
        let mut row: serde_json::Value = serde_json::from_slice(line)
            .map_err(|error| crate::StoreError::Invalid(format!("JSON of a column: {error}")))?;
        values.push(row[field.name()].take());
    }
    Ok(values)
}

/// Returns the batch with every value of its text columns passed through
/// `change`.
/// Escapes the column names of a batch for a terminal, since a query's
/// aliases may contain any text.
fn escape_names(batch: &RecordBatch) -> Result<RecordBatch> {
    use datafusion::arrow::datatypes::Schema;

    let fields: Vec<_> = batch
        .schema()
        .fields()
        .iter()
        .map(|field| field.as_ref().clone().with_name(escape_text(field.name())))
        .collect();
    let schema = std::sync::Arc::new(Schema::new(fields));
    Ok(RecordBatch::try_new(schema, batch.columns().to_vec())?)
}

fn map_text(batch: &RecordBatch, change: fn(&str) -> String) -> Result<RecordBatch> {
    use std::sync::Arc;

    use datafusion::arrow::array::{Array, ArrayRef, StringArray};
    use datafusion::arrow::compute::cast;
    use datafusion::arrow::datatypes::{DataType, Field, Schema};

    let mut fields = Vec::new();
    let mut columns: Vec<ArrayRef> = Vec::new();
    for (field, column) in batch.schema().fields().iter().zip(batch.columns()) {
        let is_text = matches!(
            field.data_type(),
            DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View
        );
        if !is_text {
            fields.push(field.as_ref().clone());
            columns.push(column.clone());
            continue;
        }
        let text = cast(column, &DataType::Utf8)?;
        let Some(text) = text.as_any().downcast_ref::<StringArray>() else {
            fields.push(field.as_ref().clone());
            columns.push(column.clone());
            continue;
        };
        let changed: StringArray = text.iter().map(|value| value.map(change)).collect();
        fields.push(Field::new(field.name(), DataType::Utf8, true));
        columns.push(Arc::new(changed) as ArrayRef);
    }
    Ok(RecordBatch::try_new(
        Arc::new(Schema::new(fields)),
        columns,
    )?)
}

fn escape_text(text: &str) -> String {
    escape_for_terminal(text).into_owned()
}

/// Replaces control characters, and characters that reorder text or show as
/// nothing, with escapes such as `\n`, `\u{1b}` and `\u{202e}`, and doubles
/// each backslash so that an escape cannot be faked. Printed text from AWS
/// or from a file name then cannot move the cursor, start a new line, hide
/// or show itself in another order.
pub fn escape_for_terminal(text: &str) -> std::borrow::Cow<'_, str> {
    if !text.chars().any(|c| c == '\\' || changes_display(c)) {
        return std::borrow::Cow::Borrowed(text);
    }
    let mut escaped = String::with_capacity(text.len() + 8);
    for character in text.chars() {
        if character == '\\' {
            escaped.push_str("\\\\");
        } else if character.is_control() {
            escaped.extend(character.escape_default());
        } else if changes_display(character) {
            escaped.extend(character.escape_unicode());
        } else {
            escaped.push(character);
        }
    }
    std::borrow::Cow::Owned(escaped)
}

/// Reports whether a character is a control character, or one that
/// reorders text or shows as nothing on a terminal. Those are bidirectional
/// marks and overrides, zero-width spaces and joiners, line and paragraph
/// separators, the soft hyphen, fillers, variation selectors and tags.
fn changes_display(character: char) -> bool {
    character.is_control()
        || matches!(
            character,
            '\u{ad}'
                | '\u{34f}'
                | '\u{61c}'
                | '\u{115f}'..='\u{1160}'
                | '\u{17b4}'..='\u{17b5}'
                | '\u{180b}'..='\u{180f}'
                | '\u{200b}'..='\u{200f}'
                | '\u{2028}'..='\u{202e}'
                | '\u{2060}'..='\u{206f}'
                | '\u{3164}'
                | '\u{fe00}'..='\u{fe0f}'
                | '\u{feff}'
                | '\u{ffa0}'
                | '\u{fff0}'..='\u{fffb}'
                | '\u{1bca0}'..='\u{1bca3}'
                | '\u{1d173}'..='\u{1d17a}'
                | '\u{e0000}'..='\u{e0fff}'
        )
}

/// Prefixes with `'` a value that a spreadsheet would run as a formula.
/// Text from AWS, such as a caller's user agent, may start with `=`, also
/// after spaces, line breaks or characters that show as nothing, which
/// spreadsheets skip or hide.
fn neutralize_formula(text: &str) -> String {
    let start = text.trim_start_matches(|c: char| c.is_whitespace() || changes_display(c));
    if text.starts_with(['\t', '\r']) || start.starts_with(['=', '+', '-', '@']) {
        format!("'{text}")
    } else {
        text.to_owned()
    }
}

fn io_error(error: std::io::Error) -> crate::StoreError {
    crate::StoreError::Arrow(error.into())
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use datafusion::arrow::array::{ListBuilder, StringArray, StringBuilder};
    use datafusion::arrow::datatypes::{DataType, Field, Schema};

    use super::*;

    fn batch() -> RecordBatch {
        let mut tags = ListBuilder::new(StringBuilder::new());
        tags.values().append_value("a}, {key: b");
        tags.append(true);
        tags.append_null();
        let names = StringArray::from(vec![Some("evil\u{1b}[2J\nrow"), None]);
        RecordBatch::try_new(
            Arc::new(Schema::new(vec![
                Field::new("name", DataType::Utf8, true),
                Field::new(
                    "tags",
                    DataType::List(Arc::new(Field::new_list_field(DataType::Utf8, true))),
                    true,
                ),
            ])),
            vec![Arc::new(names), Arc::new(tags.finish())],
        )
        .unwrap()
    }

    fn render(format: OutputFormat) -> String {
        let mut out = Vec::new();
        write_batches(&[batch()], format, &mut out).unwrap();
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn table_escapes_control_characters() {
        let table = render(OutputFormat::Table);
        assert!(!table.contains('\u{1b}'), "{table}");
        assert!(table.contains("evil\\u{1b}[2J\\nrow"), "{table}");
        // Header, three rules and two rows: the newline did not add a row.
        assert_eq!(table.lines().count(), 6, "{table}");
    }

    #[test]
    fn csv_writes_nested_values_as_json() {
        let csv = render(OutputFormat::Csv);
        assert!(csv.contains(r#""[""a}, {key: b""]""#), "{csv}");
    }

    #[test]
    fn csv_text_never_starts_a_formula() {
        let agents = StringArray::from(vec![
            Some("=HYPERLINK(\"http://x\")"),
            Some("+cmd"),
            Some("-1+1"),
            Some("@SUM(A1)"),
            Some("aws-cli/2.15"),
            None,
            Some(" =1+1"),
            Some("\n=1+1"),
            Some("\u{200b}=1+1"),
        ]);
        let counts = datafusion::arrow::array::Int64Array::from(vec![-3, 1, 2, 3, 4, 5, 6, 7, 8]);
        let batch = RecordBatch::try_new(
            Arc::new(Schema::new(vec![
                Field::new("user_agent", DataType::Utf8, true),
                Field::new("calls", DataType::Int64, false),
            ])),
            vec![Arc::new(agents), Arc::new(counts)],
        )
        .unwrap();
        let mut out = Vec::new();
        write_batches(&[batch], OutputFormat::Csv, &mut out).unwrap();
        let csv = String::from_utf8(out).unwrap();
        let lines: Vec<&str> = csv.lines().collect();
        assert_eq!(lines[1], r#""'=HYPERLINK(""http://x"")",-3"#);
        assert_eq!(lines[2], "'+cmd,1");
        assert_eq!(lines[3], "'-1+1,2");
        assert_eq!(lines[4], "'@SUM(A1),3");
        assert_eq!(lines[5], "aws-cli/2.15,4");
        assert_eq!(lines[6], ",5");
        assert_eq!(lines[7], "' =1+1,6");
        assert!(csv.contains("\"'\n=1+1\",7"), "{csv}");
        assert!(csv.contains("\n'\u{200b}=1+1,8"), "{csv}");
    }

    #[test]
    fn terminal_text_escapes_reordering_characters() {
        let text = "file\u{202e}txt.exe\u{200b}";
        assert_eq!(escape_for_terminal(text), "file\\u{202e}txt.exe\\u{200b}");
        assert_eq!(escape_for_terminal("plain text"), "plain text");
    }

    #[test]
    fn terminal_text_escapes_invisible_characters() {
        let tagged = "ok\u{e0049}\u{e0047}end";
        assert_eq!(escape_for_terminal(tagged), "ok\\u{e0049}\\u{e0047}end");
        for invisible in [
            '\u{2028}', '\u{2029}', '\u{206a}', '\u{fff9}', '\u{180e}', '\u{3164}',
        ] {
            let escaped = escape_for_terminal(&format!("a{invisible}b")).into_owned();
            assert!(!escaped.contains(invisible), "{escaped}");
        }
    }

    #[test]
    fn table_escapes_column_names() {
        let batch = RecordBatch::try_new(
            Arc::new(Schema::new(vec![Field::new(
                "a\u{202e}b\u{1b}",
                DataType::Int64,
                false,
            )])),
            vec![Arc::new(datafusion::arrow::array::Int64Array::from(vec![
                1,
            ]))],
        )
        .unwrap();
        let mut out = Vec::new();
        write_batches(&[batch], OutputFormat::Table, &mut out).unwrap();
        let table = String::from_utf8(out).unwrap();

        assert!(!table.contains('\u{202e}'), "{table}");
        assert!(table.contains("a\\u{202e}b\\u{1b}"), "{table}");
    }

    #[test]
    fn terminal_text_doubles_backslashes() {
        let faked = "name\\u{1b}";
        assert_eq!(escape_for_terminal(faked), "name\\\\u{1b}");
        assert_ne!(
            escape_for_terminal(faked),
            escape_for_terminal("name\u{1b}")
        );
    }

    #[test]
    fn csv_of_no_rows_has_a_header() {
        let empty = RecordBatch::new_empty(batch().schema());
        let mut out = Vec::new();
        write_batches(&[empty], OutputFormat::Csv, &mut out).unwrap();
        assert_eq!(String::from_utf8(out).unwrap(), "name,tags\n");
    }
}
