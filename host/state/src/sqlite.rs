//! The state store in one SQLite file: WAL, so readers never block the writer and a killed
//! writer leaves the last committed transaction; a busy timeout, so several `gamecode`
//! processes share the file by taking turns.

use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rusqlite::{Connection, ErrorCode, OptionalExtension, TransactionBehavior, params};

use crate::{Entry, NewRun, Owner, RunRecord, RunStatus, StateError, StateStore};

/// The schema this build writes (SQLite's `user_version`).
const SCHEMA_VERSION: i64 = 1;

/// How long a writer waits for another process's transaction before giving up.
const BUSY_TIMEOUT: Duration = Duration::from_secs(30);

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS runs (
    id            TEXT PRIMARY KEY,
    plugin        TEXT NOT NULL,
    plugin_path   TEXT,
    plugin_digest TEXT NOT NULL,
    start         TEXT NOT NULL,
    context       TEXT,
    status        TEXT NOT NULL CHECK (status IN ('running', 'finished', 'failed')),
    owner         TEXT,
    created_ms    INTEGER NOT NULL,
    updated_ms    INTEGER NOT NULL,
    outcome       TEXT
);
CREATE TABLE IF NOT EXISTS journal (
    run_id TEXT NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
    seq    INTEGER NOT NULL,
    kind   TEXT NOT NULL,
    body   TEXT NOT NULL,
    PRIMARY KEY (run_id, seq)
) WITHOUT ROWID;
";

/// What a committed write survives.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Durability {
    /// The process being killed (SIGKILL, a crash, a redeploy): committed writes are in the
    /// OS's hands. A power loss may take back the last ones; the journal stays a consistent
    /// prefix, so a resume redoes those calls. SQLite's `synchronous=NORMAL` under WAL.
    #[default]
    Process,
    /// Power loss too: every commit waits for the disk (`synchronous=FULL`).
    Power,
}

/// A [`StateStore`] in one SQLite file.
pub struct SqliteStore {
    path: PathBuf,
    conn: Mutex<Connection>,
    me: Owner,
    /// `me` as the store keeps it (every append compares it).
    me_text: String,
}

impl std::fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteStore")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

impl SqliteStore {
    /// Opens (or creates) the store at `path`, surviving process crashes.
    pub fn open(path: impl AsRef<Path>) -> Result<Self, StateError> {
        Self::open_with(path, Durability::default())
    }

    /// Opens (or creates) the store at `path` with the given durability.
    pub fn open_with(path: impl AsRef<Path>, durability: Durability) -> Result<Self, StateError> {
        let path = path.as_ref().to_path_buf();
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| {
                StateError::Storage(format!("cannot create {}: {e}", dir.display()))
            })?;
        }
        let conn = Connection::open(&path).map_err(|e| storage(&path, e))?;
        conn.busy_timeout(BUSY_TIMEOUT)
            .map_err(|e| storage(&path, e))?;
        let sync = match durability {
            Durability::Process => "NORMAL",
            Durability::Power => "FULL",
        };
        conn.execute_batch(&format!(
            "PRAGMA journal_mode=WAL; PRAGMA synchronous={sync}; PRAGMA foreign_keys=ON;"
        ))
        .map_err(|e| storage(&path, e))?;
        let version: i64 = conn
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .map_err(|e| storage(&path, e))?;
        if version > SCHEMA_VERSION {
            return Err(StateError::Incompatible {
                path: path.display().to_string(),
                why: format!(
                    "its schema is version {version}, this build knows {SCHEMA_VERSION}; \
                     upgrade gamecode"
                ),
            });
        }
        conn.execute_batch(&format!(
            "BEGIN IMMEDIATE; {SCHEMA} PRAGMA user_version={SCHEMA_VERSION}; COMMIT;"
        ))
        .map_err(|e| storage(&path, e))?;
        let me = Owner::current();
        Ok(Self {
            path,
            conn: Mutex::new(conn),
            me_text: me.to_text(),
            me,
        })
    }

    /// The store at [`default_path`](crate::default_path).
    pub fn open_default() -> Result<Self, StateError> {
        let path = crate::default_path().ok_or_else(|| {
            StateError::Storage(format!(
                "no place for the state store: set {} or HOME",
                crate::STATE_DIR_ENV
            ))
        })?;
        Self::open(path)
    }

    /// The file this store is kept in.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Moves what the write-ahead log holds into the database file and empties the log (SQLite
    /// does it on its own every 1,000 pages): the file's size is then what the runs take.
    pub fn checkpoint(&self) -> Result<(), StateError> {
        self.conn()
            .query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))
            .map_err(|e| self.err(e))
    }

    /// SQLite's own check of the whole file (`PRAGMA integrity_check`): `Ok` when it is sound.
    pub fn check_integrity(&self) -> Result<(), StateError> {
        let verdict: String = self
            .conn()
            .query_row("PRAGMA integrity_check", [], |r| r.get(0))
            .map_err(|e| self.err(e))?;
        match verdict.as_str() {
            "ok" => Ok(()),
            _ => Err(StateError::Storage(format!(
                "{} is damaged: {verdict}",
                self.path.display()
            ))),
        }
    }

    fn conn(&self) -> MutexGuard<'_, Connection> {
        // A panic while holding the connection leaves no half-done transaction behind:
        // rusqlite rolls back an unfinished one when it is dropped.
        self.conn.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn err(&self, e: rusqlite::Error) -> StateError {
        storage(&self.path, e)
    }

    fn read_run(&self, conn: &Connection, run: &str) -> Result<RunRecord, StateError> {
        conn.query_row(
            &format!("SELECT {RUN_COLUMNS} FROM runs WHERE id = ?1"),
            params![run],
            run_of,
        )
        .optional()
        .map_err(|e| self.err(e))?
        .ok_or_else(|| StateError::NoSuchRun(run.to_string()))
    }
}

fn storage(path: &Path, e: rusqlite::Error) -> StateError {
    StateError::Storage(format!("{}: {e}", path.display()))
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

const RUN_COLUMNS: &str = "id, plugin, plugin_path, plugin_digest, start, status, owner, \
     created_ms, updated_ms, outcome, (SELECT COUNT(*) FROM journal WHERE run_id = runs.id), \
     context";

fn run_of(row: &rusqlite::Row<'_>) -> rusqlite::Result<RunRecord> {
    let status: String = row.get(5)?;
    let owner = row
        .get::<_, Option<String>>(6)?
        .and_then(|o| Owner::from_text(&o));
    let status = match status.as_str() {
        "finished" => RunStatus::Finished,
        "failed" => RunStatus::Failed,
        _ if owner.as_ref().is_some_and(Owner::alive) => RunStatus::Running,
        _ => RunStatus::Interrupted,
    };
    Ok(RunRecord {
        id: row.get(0)?,
        plugin: row.get(1)?,
        plugin_path: row.get(2)?,
        plugin_digest: row.get(3)?,
        start: row.get(4)?,
        status,
        owner,
        created_ms: row.get(7)?,
        updated_ms: row.get(8)?,
        outcome: row.get(9)?,
        entries: row.get::<_, i64>(10)?.try_into().unwrap_or(0),
        context: row.get(11)?,
    })
}

fn seq_param(seq: u64) -> Result<i64, StateError> {
    i64::try_from(seq).map_err(|_| StateError::Storage(format!("journal entry {seq} is too far")))
}

impl StateStore for SqliteStore {
    fn create_run(&self, run: &NewRun) -> Result<(), StateError> {
        let now = now_ms();
        self.conn()
            .execute(
                "INSERT INTO runs (id, plugin, plugin_path, plugin_digest, start, context, status, \
                 owner, created_ms, updated_ms) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, 'running', ?7, ?8, ?8)",
                params![
                    run.id,
                    run.plugin,
                    run.plugin_path,
                    run.plugin_digest,
                    run.start,
                    run.context,
                    &self.me_text,
                    now
                ],
            )
            .map_err(|e| match e.sqlite_error_code() {
                Some(ErrorCode::ConstraintViolation) => StateError::Busy {
                    id: run.id.clone(),
                    why: "a run with this id already exists".into(),
                },
                _ => self.err(e),
            })?;
        Ok(())
    }

    fn append(&self, run: &str, seq: u64, kind: &str, body: &str) -> Result<(), StateError> {
        let seq = seq_param(seq)?;
        let conn = self.conn();
        // Only the run's owner appends, and only while it runs.
        let inserted = conn
            .prepare_cached(
                "INSERT INTO journal (run_id, seq, kind, body) SELECT ?1, ?2, ?3, ?4 \
                 WHERE EXISTS (SELECT 1 FROM runs WHERE id = ?1 AND status = 'running' \
                 AND owner = ?5)",
            )
            .and_then(|mut s| s.execute(params![run, seq, kind, body, &self.me_text]))
            .map_err(|e| match e.sqlite_error_code() {
                Some(ErrorCode::ConstraintViolation) => StateError::Conflict {
                    id: run.to_string(),
                    seq: seq as u64,
                },
                _ => self.err(e),
            })?;
        if inserted == 0 {
            drop(conn);
            let record = self.run(run)?;
            return Err(StateError::Busy {
                id: run.to_string(),
                why: match record.status {
                    s if s.ended() => format!("it has {s}"),
                    _ => "another process owns it".into(),
                },
            });
        }
        Ok(())
    }

    fn journal(&self, run: &str) -> Result<Vec<Entry>, StateError> {
        let conn = self.conn();
        let mut stmt = conn
            .prepare_cached("SELECT seq, kind, body FROM journal WHERE run_id = ?1 ORDER BY seq")
            .map_err(|e| self.err(e))?;
        let rows = stmt
            .query_map(params![run], |r| {
                Ok(Entry {
                    seq: r.get::<_, i64>(0)?.try_into().unwrap_or(0),
                    kind: r.get(1)?,
                    body: r.get(2)?,
                })
            })
            .map_err(|e| self.err(e))?;
        let entries = rows
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| self.err(e))?;
        if entries.is_empty() {
            drop(stmt);
            drop(conn);
            self.run(run)?;
        }
        Ok(entries)
    }

    fn claim(&self, run: &str) -> Result<RunRecord, StateError> {
        let mut conn = self.conn();
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(|e| self.err(e))?;
        let record = self.read_run(&tx, run)?;
        let busy = |why: String| StateError::Busy {
            id: run.to_string(),
            why,
        };
        match record.status {
            RunStatus::Interrupted => {}
            RunStatus::Running if record.owner.as_ref() == Some(&self.me) => {}
            RunStatus::Running => {
                let pid = record.owner.as_ref().map_or(0, |o| o.pid);
                return Err(busy(format!("process {pid} is still running it")));
            }
            s => return Err(busy(format!("it has {s}"))),
        }
        tx.execute(
            "UPDATE runs SET owner = ?2, updated_ms = ?3 WHERE id = ?1",
            params![run, &self.me_text, now_ms()],
        )
        .map_err(|e| self.err(e))?;
        tx.commit().map_err(|e| self.err(e))?;
        Ok(RunRecord {
            owner: Some(self.me.clone()),
            status: RunStatus::Running,
            ..record
        })
    }

    fn finish(&self, run: &str, status: RunStatus, outcome: &str) -> Result<(), StateError> {
        let word = match status {
            RunStatus::Finished => "finished",
            RunStatus::Failed => "failed",
            other => {
                return Err(StateError::Storage(format!(
                    "a run cannot be finished as {other}"
                )));
            }
        };
        let changed = self
            .conn()
            .execute(
                "UPDATE runs SET status = ?2, outcome = ?3, owner = NULL, updated_ms = ?4 \
                 WHERE id = ?1 AND status = 'running' AND owner = ?5",
                params![run, word, outcome, now_ms(), &self.me_text],
            )
            .map_err(|e| self.err(e))?;
        if changed == 0 {
            let record = self.run(run)?;
            return Err(StateError::Busy {
                id: run.to_string(),
                why: format!("it is {} and not this process's", record.status),
            });
        }
        Ok(())
    }

    fn run(&self, run: &str) -> Result<RunRecord, StateError> {
        self.read_run(&self.conn(), run)
    }

    fn runs(&self) -> Result<Vec<RunRecord>, StateError> {
        let conn = self.conn();
        let mut stmt = conn
            .prepare(&format!(
                "SELECT {RUN_COLUMNS} FROM runs ORDER BY created_ms DESC, id DESC"
            ))
            .map_err(|e| self.err(e))?;
        let rows = stmt.query_map([], run_of).map_err(|e| self.err(e))?;
        rows.collect::<Result<Vec<_>, _>>().map_err(|e| self.err(e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn new_run(id: &str) -> NewRun {
        NewRun {
            id: id.into(),
            plugin: "agent".into(),
            plugin_path: Some("/tmp/agent.wasm".into()),
            plugin_digest: "ab".repeat(32),
            start: r#"{"task":"hi"}"#.into(),
            context: Some("--emulator".into()),
        }
    }

    #[test]
    fn a_run_journals_in_order_and_finishes() {
        let dir = tempfile::tempdir().expect("a temp dir");
        let store = SqliteStore::open(dir.path().join("s/state.sqlite")).expect("opens");
        store.create_run(&new_run("r1")).expect("created");
        for seq in 0..3 {
            store
                .append("r1", seq, "model", &format!("{{\"n\":{seq}}}"))
                .expect("appended");
        }
        assert!(matches!(
            store.append("r1", 1, "model", "{}"),
            Err(StateError::Conflict { seq: 1, .. })
        ));
        let journal = store.journal("r1").expect("read");
        assert_eq!(journal.iter().map(|e| e.seq).collect::<Vec<_>>(), [0, 1, 2]);
        assert_eq!(journal[2].body, "{\"n\":2}");
        let record = store.run("r1").expect("the run");
        assert_eq!((record.status, record.entries), (RunStatus::Running, 3));
        store
            .finish("r1", RunStatus::Finished, "42")
            .expect("finished");
        let record = store.run("r1").expect("the run");
        assert_eq!(record.status, RunStatus::Finished);
        assert_eq!(record.outcome.as_deref(), Some("42"));
        // Ended: no more entries, no resume.
        assert!(matches!(
            store.append("r1", 3, "model", "{}"),
            Err(StateError::Busy { .. })
        ));
        assert!(matches!(store.claim("r1"), Err(StateError::Busy { .. })));
        assert!(matches!(
            store.journal("nope"),
            Err(StateError::NoSuchRun(_))
        ));
    }

    #[test]
    fn a_dead_owners_run_is_interrupted_and_claimed_once() {
        let dir = tempfile::tempdir().expect("a temp dir");
        let path = dir.path().join("state.sqlite");
        let store = SqliteStore::open(&path).expect("opens");
        store.create_run(&new_run("r2")).expect("created");
        // Pretend its owner was a process that is gone.
        let dead = Owner {
            pid: u32::MAX - 1,
            started: 1,
            boot: Owner::current().boot,
        };
        store
            .conn()
            .execute(
                "UPDATE runs SET owner = ?1 WHERE id = 'r2'",
                params![dead.to_text()],
            )
            .expect("updated");
        assert_eq!(
            store.run("r2").expect("the run").status,
            RunStatus::Interrupted
        );
        assert!(
            matches!(
                store.append("r2", 0, "model", "{}"),
                Err(StateError::Busy { .. })
            ),
            "only the owner appends"
        );
        let claimed = store.claim("r2").expect("claimed");
        assert_eq!(claimed.status, RunStatus::Running);
        store.append("r2", 0, "model", "{}").expect("now it may");
        assert_eq!(store.runs().expect("listed").len(), 1);
    }

    #[test]
    fn a_newer_schema_is_refused() {
        let dir = tempfile::tempdir().expect("a temp dir");
        let path = dir.path().join("state.sqlite");
        drop(SqliteStore::open(&path).expect("opens"));
        Connection::open(&path)
            .and_then(|c| c.execute_batch("PRAGMA user_version = 99"))
            .expect("bumped");
        let err = SqliteStore::open(&path).expect_err("refused");
        assert!(err.to_string().contains("version 99"), "{err}");
    }

    #[test]
    fn two_connections_append_to_their_runs_without_losing_any() {
        let dir = tempfile::tempdir().expect("a temp dir");
        let path = dir.path().join("state.sqlite");
        let threads: Vec<_> = (0..4)
            .map(|t| {
                let path = path.clone();
                std::thread::spawn(move || {
                    let store = SqliteStore::open(&path).expect("opens");
                    let id = format!("t{t}");
                    store.create_run(&new_run(&id)).expect("created");
                    for seq in 0..200 {
                        store.append(&id, seq, "tool", "{}").expect("appended");
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().expect("no panic");
        }
        let store = SqliteStore::open(&path).expect("opens");
        let runs = store.runs().expect("listed");
        assert_eq!(runs.len(), 4);
        assert!(runs.iter().all(|r| r.entries == 200));
        store.check_integrity().expect("sound");
    }
}
