//! `opintel shell`: interactive read-only SQL with line editing and history
//! (`~/.opintel_history`). A statement ends with `;` and may span lines; `.tables`
//! lists tables, `.help` helps, `.quit` (or Ctrl-D) leaves.

use rustyline::DefaultEditor;
use rustyline::error::ReadlineError;

use opintel::app::sql::{Analyst, SessionRequest};
use opintel::config::Config;
use opintel::error::{Error, Result};

use crate::cli::SqlFormat;

pub fn shell(config: &Config, req: &SessionRequest) -> Result<()> {
    let session = Analyst::open(config, req)?;
    let terminal = |e: ReadlineError| Error::setting("terminal", e.to_string());
    let mut editor = DefaultEditor::new().map_err(terminal)?;
    let history =
        std::env::var_os("HOME").map(|h| std::path::PathBuf::from(h).join(".opintel_history"));
    if let Some(h) = &history {
        let _ = editor.load_history(h);
    }
    println!(
        "opintel shell on {} (read-only), as of {}. End statements with ;  .tables  .help  .quit",
        session.lake.display(),
        session.as_of.date()
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
                            match opintel::app::tables::listing(config, session.report.as_deref()) {
                                Ok(text) => print!("{text}"),
                                Err(e) => eprintln!("{e}"),
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
                match session.query(statement.trim().trim_end_matches(';')) {
                    Ok((schema, batches)) => {
                        if let Err(e) =
                            crate::print::result(SqlFormat::Table, None, &schema, &batches)
                        {
                            eprintln!("{e}");
                        }
                    }
                    Err(e) => eprintln!("{e}"),
                }
            }
            Err(ReadlineError::Interrupted) => buffer.clear(),
            Err(ReadlineError::Eof) => break,
            Err(e) => return Err(terminal(e)),
        }
    }
    if let Some(h) = &history {
        let _ = editor.save_history(h);
    }
    Ok(())
}
