//! `keyward rules`: list the rules of the catalog.

use std::process::ExitCode;

use super::Format;

/// Arguments of `keyward rules`.
#[derive(Debug, clap::Args)]
#[deny(missing_docs)]
pub struct Args {
    /// Output format: the table shows id, severity, resource, threshold and
    /// title; JSON adds risk, remediation and references.
    #[arg(long, value_enum, default_value_t = Format::Table)]
    format: Format,
}

/// Runs `keyward rules`.
pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let rules = keyward_rules::catalog();
    match args.format {
        Format::Table | Format::Csv => {
            let mut rows = vec![[
                "id".to_owned(),
                "severity".to_owned(),
                "resource".to_owned(),
                "threshold_days".to_owned(),
                "title".to_owned(),
            ]];
            for rule in &rules {
                let threshold = rule
                    .threshold
                    .map(|t| format!("{} ({}-{})", t.default, t.min, t.max))
                    .unwrap_or_default();
                rows.push([
                    rule.id.to_owned(),
                    rule.severity.as_str().to_owned(),
                    rule.resource_type.asff_name().to_owned(),
                    threshold,
                    rule.title.to_owned(),
                ]);
            }
            if args.format == Format::Csv {
                for row in rows {
                    let cells: Vec<String> = row
                        .iter()
                        .map(|cell| format!("\"{}\"", cell.replace('"', "\"\"")))
                        .collect();
                    println!("{}", cells.join(","));
                }
            } else {
                let mut widths = [0usize; 5];
                for row in &rows {
                    for (width, cell) in widths.iter_mut().zip(row) {
                        *width = (*width).max(cell.chars().count());
                    }
                }
                for row in rows {
                    let mut line = String::new();
                    for (index, cell) in row.iter().enumerate() {
                        if index + 1 == row.len() {
                            line.push_str(cell);
                        } else {
                            line.push_str(&format!("{cell:<width$}  ", width = widths[index]));
                        }
                    }
                    println!("{line}");
                }
            }
        }
        Format::Json | Format::Jsonl => {
            let values: Vec<serde_json::Value> = rules
                .iter()
                .map(|rule| {
                    serde_json::json!({
                        "id": rule.id,
                        "title": rule.title,
                        "severity": rule.severity.as_str(),
                        "resource_type": rule.resource_type.asff_name(),
                        "threshold_days": rule.threshold.map(|t| serde_json::json!({
                            "default": t.default, "min": t.min, "max": t.max,
                        })),
                        "risk": rule.risk,
                        "remediation": rule.remediation,
                        "remediation_cli": rule.remediation_cli,
                        "references": rule.references,
                    })
                })
                .collect();
            if args.format == Format::Json {
                println!("{}", serde_json::to_string_pretty(&values)?);
            } else {
                for value in values {
                    println!("{value}");
                }
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
