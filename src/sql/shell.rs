//! `opintel shell`: interactive read-only SQL with line editing and history
//! (`~/.opintel_history`). A statement ends with `;` and may span lines; `.tables`
//! lists tables, `.help` helps, `.quit` (or Ctrl-D) leaves.

use rustyline::DefaultEditor;
use rustyline::error::ReadlineError;

use crate::cli::{ShellArgs, SqlFormat};
use crate::config::Config;
use crate::engine::Params;
use crate::error::{Error, Result};
use crate::lake::Lake;

pub fn shell(config: &Config, a: &ShellArgs) -> Result<()> {
    let lake = Lake::at(&config.lake);
    let as_of = a
        .as_of
        .unwrap_or_else(|| chrono::NaiveDate::from_ymd_opt(9999, 12, 30).unwrap_or_default());
    let params = Params::new(config, as_of);
    let report = a.report.clone().or_else(|| super::latest_report(config));
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(Error::PlainIo)?;
    let ctx = runtime.block_on(super::session(config, &lake, &params, report.as_deref()))?;
    let mut editor = DefaultEditor::new().map_err(|e| Error::Config(format!("terminal: {e}")))?;
    let history =
        std::env::var_os("HOME").map(|h| std::path::PathBuf::from(h).join(".opintel_history"));
    if let Some(h) = &history {
        let _ = editor.load_history(h);
    }
    println!(
        "opintel shell on {} (read-only). End statements with ;  .tables  .help  .quit",
        lake.root().display()
    );
    let mut buffer = String::new();
    loop {
        let prompt = if buffer.is_empty() {
            "opintel> "
        } else {
            "     ...> "
        };
        match editor.readline(prompt) {
            Ok(line) => {
                let trimmed = line.trim();
                if buffer.is_empty() && trimmed.starts_with('.') {
                    let _ = editor.add_history_entry(trimmed);
                    match trimmed {
                        ".quit" | ".exit" => break,
                        ".tables" => {
                            if let Err(e) = super::tables(config, report.as_deref()) {
                                eprintln!("{e}");
                            }
                        }
                        _ => println!(
                            "Queries end with ;. Tables: the lake's (shipments, …), <table>_current views, \
                             _rejects_<table>, kpi.<name>. $as_of and the other parameters are bound.\n\
                             .tables lists them with their columns; .quit leaves."
                        ),
                    }
                    continue;
                }
                buffer.push_str(&line);
                buffer.push('\n');
                if !trimmed.ends_with(';') {
                    continue;
                }
                let statement = std::mem::take(&mut buffer);
                let _ = editor.add_history_entry(statement.trim());
                let result = runtime.block_on(super::query(
                    &ctx,
                    statement.trim().trim_end_matches(';'),
                    &params,
                ));
                match result {
                    Ok((schema, batches)) => {
                        if let Err(e) = super::output(SqlFormat::Table, None, &schema, &batches) {
                            eprintln!("{e}");
                        }
                    }
                    Err(e) => eprintln!("{e}"),
                }
            }
            Err(ReadlineError::Interrupted) => buffer.clear(),
            Err(ReadlineError::Eof) => break,
            Err(e) => return Err(Error::Config(format!("terminal: {e}"))),
        }
    }
    if let Some(h) = &history {
        let _ = editor.save_history(h);
    }
    Ok(())
}
