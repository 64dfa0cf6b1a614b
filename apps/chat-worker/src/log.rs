//! The room's write-ahead log in the Durable Object's SQLite storage: runs the statements that
//! `room::wal` builds and reads their rows. Every call is synchronous (the storage is local), so
//! a commit's reads and its write happen in one turn with nothing in between, and the runtime's
//! output gate holds the frames sent after it until the write is durable.

use protocol::{HistoryPage, Message};
use room::StoreFailure;
use room::mirror::{MarkSchedule, MirrorRow, MirrorStatus};
use room::store::WriteOutcome;
use room::wal::{self, Arg, Commit, Snapshot, Statement, StorageUsage, WalLimits};
use std::cell::Cell;
use worker::{SqlCursor, SqlStorage, SqlStorageValue};

/// The log of one room.
#[derive(Debug)]
pub struct Log {
    sql: SqlStorage,
    limits: WalLimits,
    /// The log's row counts, read once per instance and then kept as the log changes: counting
    /// on every commit would read every row of the table, and rows read are billed.
    counts: Cell<Option<Counts>>,
    /// When the log last trimmed (ms since the epoch). Trimming scans the mirrored rows, so it
    /// runs at most once per [`TRIM_EVERY_MS`].
    trimmed_at: Cell<i64>,
    /// The room's name once read: the mirror needs it on every pass, and it never changes.
    room: std::cell::RefCell<Option<String>>,
    /// What the log cost storage since this instance started.
    usage: Cell<StorageUsage>,
    /// The mirror's mark as this instance knows it, kept apart from `counts` so that reading
    /// the counts again (after a failed statement) cannot take it back to the saved one.
    mark: Cell<i64>,
    /// When the mark is saved next.
    marks: std::cell::RefCell<MarkSchedule>,
}

/// Rows in the log, of those the ones not yet mirrored, the highest revision, and the mirror's mark
/// as this instance knows it (ahead of the saved one until [`MarkSchedule`] saves it).
#[derive(Debug, Clone, Copy)]
struct Counts {
    rows: usize,
    unmirrored: usize,
    highest: i64,
    mirrored: i64,
}

/// How often the log lets go of rows it no longer needs.
const TRIM_EVERY_MS: i64 = 60_000;

/// Whether the log has been started, and how.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Started {
    /// Never: the room may have lived in Redis before the log existed.
    No,
    /// The log holds the room's whole history.
    Complete,
    /// Older messages than the log's are in Redis only.
    Partial,
}

impl Log {
    /// Opens the log, making its tables if need be. Fails where the object's storage is not
    /// SQLite (a class not migrated with `new_sqlite_classes`).
    pub fn open(sql: SqlStorage, limits: WalLimits) -> Result<Self, String> {
        let log = Self {
            sql,
            limits,
            counts: Cell::new(None),
            trimmed_at: Cell::new(0),
            room: std::cell::RefCell::new(None),
            usage: Cell::new(StorageUsage::default()),
            mark: Cell::new(0),
            marks: std::cell::RefCell::new(MarkSchedule::default()),
        };
        let unusable = |e: StoreFailure| format!("the room's SQLite storage cannot be used: {e}");
        for statement in wal::SCHEMA {
            log.run(&plain(statement)).map_err(unusable)?;
        }
        log.migrate().map_err(unusable)?;
        // Rows an older version wrote after the migration (a rollback, then this one again)
        // have no revision: they take their `seq`, as the migration gave the rows before it.
        log.run(&plain(wal::BACKFILL_REV)).map_err(unusable)?;
        Ok(log)
    }

    /// Brings a log made by an older version to [`wal::SCHEMA_VERSION`].
    fn migrate(&self) -> Result<(), StoreFailure> {
        let version = self
            .int(&wal::get_meta_statement(wal::SCHEMA_KEY))?
            .unwrap_or(1);
        if version >= wal::SCHEMA_VERSION {
            return Ok(());
        }
        for statement in wal::MIGRATION {
            match self.run(&plain(statement)) {
                // A migration that stopped half way added the column already.
                Err(e)
                    if statement.starts_with("ALTER")
                        && e.to_string().contains("duplicate column") => {}
                other => {
                    other?;
                }
            }
        }
        self.run(&wal::set_meta_statement(
            wal::SCHEMA_KEY,
            Arg::Int(wal::SCHEMA_VERSION),
        ))?;
        worker::console_log!("the room's log is at schema {}", wal::SCHEMA_VERSION);
        Ok(())
    }

    fn exec(&self, statement: &Statement) -> Result<SqlCursor, StoreFailure> {
        let args = statement
            .args
            .iter()
            .map(|arg| match arg {
                Arg::Int(n) => SqlStorageValue::Integer(*n),
                Arg::Text(text) => SqlStorageValue::String(text.clone()),
            })
            .collect::<Vec<_>>();
        self.sql
            .exec(&statement.sql, args)
            .map_err(|e| StoreFailure::Unavailable(format!("SQLite: {e}")))
    }

    /// Runs a statement that returns no rows; how many rows it changed.
    fn run(&self, statement: &Statement) -> Result<usize, StoreFailure> {
        let cursor = self.exec(statement)?;
        // Reading the cursor to its end makes sure the statement has run.
        for row in cursor.raw() {
            row.map_err(|e| StoreFailure::Unavailable(format!("SQLite: {e}")))?;
        }
        self.count_usage(&cursor);
        Ok(cursor.rows_written())
    }

    /// The rows of a query.
    fn rows(&self, statement: &Statement) -> Result<Vec<Vec<SqlStorageValue>>, StoreFailure> {
        let cursor = self.exec(statement)?;
        let rows = cursor
            .raw()
            .map(|row| row.map_err(|e| StoreFailure::Unavailable(format!("SQLite: {e}"))))
            .collect();
        self.count_usage(&cursor);
        rows
    }

    /// Adds a finished statement's rows to the usage.
    fn count_usage(&self, cursor: &SqlCursor) {
        let mut usage = self.usage.get();
        usage.statements += 1;
        usage.rows_read += cursor.rows_read() as u64;
        usage.rows_written += cursor.rows_written() as u64;
        self.usage.set(usage);
    }

    /// What the log cost storage since this instance started.
    pub fn usage(&self) -> StorageUsage {
        StorageUsage {
            database_bytes: self.sql.database_size() as u64,
            ..self.usage.get()
        }
    }

    /// The first column of the first row, as an integer.
    fn int(&self, statement: &Statement) -> Result<Option<i64>, StoreFailure> {
        Ok(self
            .rows(statement)?
            .first()
            .and_then(|row| row.first())
            .and_then(int))
    }

    /// The row counts, read from the tables the first time.
    fn counts(&self) -> Result<Counts, StoreFailure> {
        if let Some(counts) = self.counts.get() {
            return Ok(counts);
        }
        let saved = self
            .int(&wal::get_meta_statement(wal::MIRRORED))?
            .unwrap_or(0);
        let mirrored = saved.max(self.mark.get());
        let counts = Counts {
            rows: count(self.int(&wal::row_count_statement())?),
            unmirrored: count(self.int(&wal::unmirrored_count_statement(mirrored))?),
            highest: self.int(&wal::highest_statement())?.unwrap_or(0),
            mirrored,
        };
        self.counts.set(Some(counts));
        Ok(counts)
    }

    /// Runs a statement that changes the log; if it fails, the counts are read again next
    /// time rather than trusted.
    fn change(&self, statement: &Statement) -> Result<usize, StoreFailure> {
        self.run(statement).inspect_err(|_| self.counts.set(None))
    }

    /// Commits a batch: fenced, deduped, bounded ([`wal::decide`]), then one statement, so a
    /// commit that fails wrote nothing.
    pub fn commit(&self, batch: &room::Batch, now: i64) -> Result<WriteOutcome, StoreFailure> {
        let counts = self.counts()?;
        let existing = committed_rows(self.rows(&wal::existing_statement(batch))?)
            .into_iter()
            .map(|row| (row.id, (row.seq, row.json)))
            .collect();
        let snapshot = Snapshot {
            highest: counts.highest,
            existing,
            unmirrored: counts.unmirrored,
            rows: counts.rows,
        };
        match wal::decide(batch, &snapshot, &self.limits) {
            Commit::Write {
                messages,
                changes,
                outcome,
            } => {
                self.change(&wal::write_statement(&messages, &changes, batch, now))?;
                let mut usage = self.usage.get();
                usage.commits += 1;
                usage.messages_committed += (messages.len() + changes.len()) as u64;
                self.usage.set(usage);
                let highest = messages.iter().chain(&changes).map(protocol::Message::rev);
                // A changed row may have been mirrored already or not: counted again rather
                // than guessed (the index on `rev` reads only the unmirrored rows).
                let unmirrored = if changes.is_empty() {
                    counts.unmirrored + messages.len()
                } else {
                    count(self.int(&wal::unmirrored_count_statement(counts.mirrored))?)
                };
                self.counts.set(Some(Counts {
                    rows: counts.rows + messages.len(),
                    unmirrored,
                    highest: highest.max().unwrap_or(counts.highest).max(counts.highest),
                    ..counts
                }));
                Ok(outcome)
            }
            Commit::Answer(answer) => answer,
        }
    }

    /// Whether the log was started, and whether it then held the room's whole history.
    pub fn started(&self) -> Result<Started, StoreFailure> {
        Ok(match self.int(&wal::get_meta_statement(wal::STARTED))? {
            None => Started::No,
            Some(1) => Started::Complete,
            Some(_) => Started::Partial,
        })
    }

    /// Starts the log of `room` with what Redis held (`messages`, ascending, the newest
    /// `keep`; `complete` when that was all of it), marked as mirrored already.
    pub fn start(
        &self,
        room: &str,
        messages: &[Message],
        complete: bool,
        now: i64,
    ) -> Result<(), StoreFailure> {
        for statement in wal::import_statements(messages, now) {
            self.change(&statement)?;
        }
        self.counts.set(None);
        self.run(&wal::set_meta_statement(
            wal::ROOM,
            Arg::Text(room.to_owned()),
        ))?;
        self.run(&wal::set_meta_statement(
            wal::STARTED,
            Arg::Int(i64::from(complete)),
        ))?;
        Ok(())
    }

    /// The room's name, once the log is started.
    pub fn room(&self) -> Result<Option<String>, StoreFailure> {
        if let Some(room) = self.room.borrow().clone() {
            return Ok(Some(room));
        }
        let room = self
            .rows(&wal::get_meta_statement(wal::ROOM))?
            .into_iter()
            .next()
            .and_then(|row| match row.into_iter().next() {
                Some(SqlStorageValue::String(room)) => Some(room),
                _ => None,
            });
        self.room.replace(room.clone());
        Ok(room)
    }

    /// The newest `count` messages, ascending, the log's highest revision, and the actions the
    /// messages have seen.
    pub fn tail(&self, count: usize) -> Result<room::Tail, StoreFailure> {
        let messages = messages_newest_first(self.rows(&wal::tail_statement(count))?);
        let first = messages.first().map_or(i64::MAX, |m| m.seq);
        let acts = self
            .rows(&wal::acts_statement(first))?
            .into_iter()
            .filter_map(|row| match <[SqlStorageValue; 2]>::try_from(row) {
                Ok([seq, SqlStorageValue::String(acts)]) => Some((int(&seq)?, acts)),
                _ => None,
            })
            .collect();
        Ok(room::Tail {
            acts,
            messages,
            // Read, not the cached count: after a fence the log moved without this instance.
            // An index lookup.
            highest: self.int(&wal::highest_statement())?.unwrap_or(0),
        })
    }

    /// Up to `limit + 1` messages before `before`, ascending.
    pub fn before(&self, before: i64, limit: u32) -> Result<Vec<Message>, StoreFailure> {
        Ok(messages_newest_first(
            self.rows(&wal::history_statement(before, limit))?,
        ))
    }

    /// A history page from the log alone, when it can answer: it holds more than `limit`
    /// messages before `before`, or the room's whole history. Otherwise the messages it holds
    /// before `before` (fewer than `limit`, all newer than anything only Redis has), for the
    /// caller to complete from Redis.
    pub fn history(
        &self,
        before: i64,
        limit: u32,
    ) -> Result<Result<HistoryPage, Vec<Message>>, StoreFailure> {
        let mut messages = self.before(before, limit)?;
        let complete = self.started()? == Started::Complete;
        if messages.len() > limit as usize {
            messages.remove(0);
            return Ok(Ok(HistoryPage {
                messages,
                has_more: true,
            }));
        }
        if complete {
            return Ok(Ok(HistoryPage {
                messages,
                has_more: false,
            }));
        }
        Ok(Err(messages))
    }

    /// Up to `limit` committed messages not yet mirrored, ascending, as they are stored; none
    /// without a query when the counts say so (every event ends with a mirror pass).
    pub fn unmirrored(&self, limit: usize) -> Result<Vec<MirrorRow>, StoreFailure> {
        let counts = self.counts()?;
        if counts.unmirrored == 0 {
            return Ok(Vec::new());
        }
        Ok(committed_rows(self.rows(&wal::unmirrored_statement(
            counts.mirrored,
            limit,
        ))?))
    }

    /// How far Redis is behind the log at `now`, with the mirror's failures in a row.
    pub fn status(&self, now: i64, failures: u32) -> Result<MirrorStatus, StoreFailure> {
        let started = self.started()? != Started::No;
        let counts = self.counts()?;
        let oldest = self.int(&wal::oldest_unmirrored_statement(counts.mirrored))?;
        Ok(MirrorStatus {
            started,
            committed_seq: counts.highest,
            mirrored_seq: counts.mirrored,
            backlog: counts.unmirrored,
            lag_ms: oldest.map_or(0, |at| (now - at).max(0)),
            failures,
            storage: self.usage(),
        })
    }

    /// The mirror wrote the next `written` rows, up to revision `rev`. The mark is saved when
    /// [`MarkSchedule`] says so; at most once a minute, rows the log no longer needs go (those
    /// below the saved mark only).
    pub fn mirrored(&self, rev: i64, written: usize, now: i64) -> Result<(), StoreFailure> {
        let mut counts = self.counts()?;
        self.mark.set(rev);
        if self.marks.borrow_mut().wrote(now, written) {
            self.change(&wal::set_meta_statement(wal::MIRRORED, Arg::Int(rev)))?;
        }
        counts.mirrored = rev;
        counts.unmirrored = counts.unmirrored.saturating_sub(written);
        if now - self.trimmed_at.get() >= TRIM_EVERY_MS && counts.rows > self.limits.keep {
            self.trimmed_at.set(now);
            let removed = self.change(&wal::trim_statement(now, &self.limits))?;
            if removed > 0 {
                counts.rows = counts.rows.saturating_sub(removed);
                self.change(&wal::set_meta_statement(wal::STARTED, Arg::Int(0)))?;
            }
        }
        self.counts.set(Some(counts));
        Ok(())
    }
}

/// Rows of `(seq, id, json, rev)`, as the queries for committed ids and for unmirrored rows
/// return them; a row of another shape is skipped.
fn committed_rows(rows: Vec<Vec<SqlStorageValue>>) -> Vec<MirrorRow> {
    rows.into_iter()
        .filter_map(|row| match <[SqlStorageValue; 4]>::try_from(row) {
            Ok(
                [
                    seq,
                    SqlStorageValue::String(id),
                    SqlStorageValue::String(json),
                    rev,
                ],
            ) => Some(MirrorRow {
                seq: int(&seq)?,
                id,
                json,
                rev: int(&rev)?,
            }),
            _ => None,
        })
        .collect()
}

/// A statement without arguments.
fn plain(sql: &str) -> Statement {
    Statement {
        sql: sql.to_owned(),
        args: Vec::new(),
    }
}

/// An integer column (SQLite integers reach JavaScript as numbers).
fn int(value: &SqlStorageValue) -> Option<i64> {
    match value {
        SqlStorageValue::Integer(n) => Some(*n),
        SqlStorageValue::Float(f) if f.fract() == 0.0 => Some(*f as i64),
        _ => None,
    }
}

fn count(value: Option<i64>) -> usize {
    value.and_then(|n| usize::try_from(n).ok()).unwrap_or(0)
}

/// Messages from rows whose first column is JSON, newest first, as ascending messages. A row
/// that does not read is skipped (it cannot be one the log wrote, but it must not stop a room).
fn messages_newest_first(rows: Vec<Vec<SqlStorageValue>>) -> Vec<Message> {
    let mut messages: Vec<Message> = rows
        .into_iter()
        .filter_map(|row| match row.into_iter().next() {
            Some(SqlStorageValue::String(json)) => serde_json::from_str(&json).ok(),
            _ => None,
        })
        .collect();
    messages.reverse();
    messages
}
