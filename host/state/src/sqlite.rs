//! The state store in one SQLite file: WAL, so readers never block the writer and a killed
//! writer leaves the last committed transaction; a busy timeout, so several `gamecode`
//! processes share the file by taking turns.

use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rusqlite::{Connection, ErrorCode, OptionalExtension, TransactionBehavior, params};

use crate::{
    Entry, NewRun, Owner, RunRecord, RunStatus, SessionRecord, SessionTurn, StateError, StateStore,
};

/// The schema this build writes (SQLite's `user_version`). 2 added sessions and runs waiting
/// for approval.
const SCHEMA_VERSION: i64 = 2;

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
    outcome       TEXT,
    session       TEXT,
    waiting       TEXT
);
CREATE TABLE IF NOT EXISTS journal (
    run_id TEXT NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
    seq    INTEGER NOT NULL,
    kind   TEXT NOT NULL,
    body   TEXT NOT NULL,
    PRIMARY KEY (run_id, seq)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS session_turns (
    session    TEXT NOT NULL,
    seq        INTEGER NOT NULL,
    key        TEXT NOT NULL,
    run_id     TEXT,
    messages   TEXT NOT NULL,
    created_ms INTEGER NOT NULL,
    PRIMARY KEY (session, seq)
) WITHOUT ROWID;
CREATE UNIQUE INDEX IF NOT EXISTS session_turns_of_run
    ON session_turns (run_id, session, key) WHERE run_id IS NOT NULL;
";

/// What version 1 (durable runs, no sessions) lacks of [`SCHEMA`]'s tables.
const FROM_V1: &str =
    "ALTER TABLE runs ADD COLUMN session TEXT; ALTER TABLE runs ADD COLUMN waiting TEXT;";

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
        // The version is read under the write lock: two processes opening an old store at
        // once upgrade it once.
        let mut conn = conn;
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(|e| storage(&path, e))?;
        let version: i64 = tx
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
        let upgrade = if version == 1 { FROM_V1 } else { "" };
        tx.execute_batch(&format!(
            "{upgrade} {SCHEMA} PRAGMA user_version={SCHEMA_VERSION};"
        ))
        .map_err(|e| storage(&path, e))?;
        tx.commit().map_err(|e| storage(&path, e))?;
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

    /// An update of a run this process owns changed `changed` rows: none means it is not
    /// this process's (or not running), said as its status.
    fn owned_change(&self, run: &str, changed: usize) -> Result<(), StateError> {
        if changed > 0 {
            return Ok(());
        }
        let record = self.run(run)?;
        Err(StateError::Busy {
            id: run.to_string(),
            why: format!("it is {} and not this process's", record.status),
        })
    }

    /// The session's last turn's number (0 before its first).
    fn head_of(&self, conn: &Connection, session: &str) -> Result<i64, StateError> {
        conn.query_row(
            "SELECT COALESCE(MAX(seq), 0) FROM session_turns WHERE session = ?1",
            params![session],
            |r| r.get(0),
        )
        .map_err(|e| self.err(e))
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
     context, session, waiting";

fn run_of(row: &rusqlite::Row<'_>) -> rusqlite::Result<RunRecord> {
    let status: String = row.get(5)?;
    let owner = row
        .get::<_, Option<String>>(6)?
        .and_then(|o| Owner::from_text(&o));
    let waiting: Option<String> = row.get(13)?;
    let status = match status.as_str() {
        "finished" => RunStatus::Finished,
        "failed" => RunStatus::Failed,
        _ if waiting.is_some() => RunStatus::Waiting,
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
        session: row.get(12)?,
        waiting,
    })
}

fn turn_of(row: &rusqlite::Row<'_>) -> rusqlite::Result<SessionTurn> {
    Ok(SessionTurn {
        seq: row.get::<_, i64>(0)?.try_into().unwrap_or(0),
        key: row.get(1)?,
        run_id: row.get(2)?,
        messages: row.get(3)?,
        created_ms: row.get(4)?,
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
                 owner, created_ms, updated_ms, session) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, 'running', ?7, ?8, ?8, ?9)",
                params![
                    run.id,
                    run.plugin,
                    run.plugin_path,
                    run.plugin_digest,
                    run.start,
                    run.context,
                    &self.me_text,
                    now,
                    run.session
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
            RunStatus::Interrupted | RunStatus::Waiting => {}
            RunStatus::Running if record.owner.as_ref() == Some(&self.me) => {}
            RunStatus::Running => {
                let pid = record.owner.as_ref().map_or(0, |o| o.pid);
                return Err(busy(format!("process {pid} is still running it")));
            }
            s => return Err(busy(format!("it has {s}"))),
        }
        tx.execute(
            "UPDATE runs SET owner = ?2, updated_ms = ?3, waiting = NULL WHERE id = ?1",
            params![run, &self.me_text, now_ms()],
        )
        .map_err(|e| self.err(e))?;
        tx.commit().map_err(|e| self.err(e))?;
        Ok(RunRecord {
            owner: Some(self.me.clone()),
            status: RunStatus::Running,
            waiting: None,
            ..record
        })
    }

    fn suspend(&self, run: &str, waiting: &str) -> Result<(), StateError> {
        let changed = self
            .conn()
            .execute(
                "UPDATE runs SET waiting = ?2, owner = NULL, updated_ms = ?3 \
                 WHERE id = ?1 AND status = 'running' AND owner = ?4",
                params![run, waiting, now_ms(), &self.me_text],
            )
            .map_err(|e| self.err(e))?;
        self.owned_change(run, changed)
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
        self.owned_change(run, changed)
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

    fn session_head(&self, session: &str) -> Result<u64, StateError> {
        let head = self.head_of(&self.conn(), session)?;
        Ok(head.try_into().unwrap_or(0))
    }

    fn session_turns(
        &self,
        session: &str,
        key: Option<&str>,
        upto: u64,
    ) -> Result<Vec<SessionTurn>, StateError> {
        let conn = self.conn();
        let mut stmt = conn
            .prepare_cached(
                "SELECT seq, key, run_id, messages, created_ms FROM session_turns \
                 WHERE session = ?1 AND (?2 IS NULL OR key = ?2) AND seq <= ?3 ORDER BY seq",
            )
            .map_err(|e| self.err(e))?;
        let rows = stmt
            .query_map(params![session, key, seq_param(upto)?], turn_of)
            .map_err(|e| self.err(e))?;
        rows.collect::<Result<Vec<_>, _>>().map_err(|e| self.err(e))
    }

    fn add_session_turns(
        &self,
        session: &str,
        run: &str,
        turns: &[(String, String)],
    ) -> Result<(), StateError> {
        let mut conn = self.conn();
        // IMMEDIATE: the next number is read and taken under the write lock, so two processes
        // adding turns at once each get their own.
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(|e| self.err(e))?;
        let added: i64 = tx
            .query_row(
                "SELECT COUNT(*) FROM session_turns WHERE run_id = ?1 AND session = ?2",
                params![run, session],
                |r| r.get(0),
            )
            .map_err(|e| self.err(e))?;
        if added > 0 {
            // A resumed run adding what it added before its process died.
            return Ok(());
        }
        let head = self.head_of(&tx, session)?;
        let now = now_ms();
        for (i, (key, messages)) in turns.iter().enumerate() {
            let seq = head + 1 + i64::try_from(i).unwrap_or(i64::MAX - head - 1);
            tx.execute(
                "INSERT INTO session_turns (session, seq, key, run_id, messages, created_ms) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                params![session, seq, key, run, messages, now],
            )
            .map_err(|e| self.err(e))?;
        }
        tx.commit().map_err(|e| self.err(e))
    }

    fn sessions(&self) -> Result<Vec<SessionRecord>, StateError> {
        let conn = self.conn();
        let mut stmt = conn
            .prepare(
                "SELECT session, COUNT(*), MIN(created_ms), MAX(created_ms), \
                 COUNT(DISTINCT key) FROM session_turns GROUP BY session \
                 ORDER BY MAX(created_ms) DESC, session",
            )
            .map_err(|e| self.err(e))?;
        let rows = stmt
            .query_map([], |r| {
                Ok(SessionRecord {
                    name: r.get(0)?,
                    turns: r.get::<_, i64>(1)?.try_into().unwrap_or(0),
                    created_ms: r.get(2)?,
                    updated_ms: r.get(3)?,
                    keys: r.get::<_, i64>(4)?.try_into().unwrap_or(0),
                })
            })
            .map_err(|e| self.err(e))?;
        rows.collect::<Result<Vec<_>, _>>().map_err(|e| self.err(e))
    }

    fn remove_session(&self, session: &str) -> Result<u64, StateError> {
        let removed = self
            .conn()
            .execute(
                "DELETE FROM session_turns WHERE session = ?1",
                params![session],
            )
            .map_err(|e| self.err(e))?;
        Ok(removed as u64)
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
            session: None,
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
    fn a_suspended_run_waits_until_claimed() {
        let dir = tempfile::tempdir().expect("a temp dir");
        let store = SqliteStore::open(dir.path().join("state.sqlite")).expect("opens");
        store.create_run(&new_run("w")).expect("created");
        store.suspend("w", "read_file {}").expect("suspended");
        let record = store.run("w").expect("the run");
        assert_eq!(record.status, RunStatus::Waiting);
        assert_eq!(record.waiting.as_deref(), Some("read_file {}"));
        // Nobody owns it: no appends, no second suspend.
        assert!(store.append("w", 0, "tool", "{}").is_err());
        assert!(store.suspend("w", "again").is_err());
        let claimed = store.claim("w").expect("claimed");
        assert_eq!(
            (claimed.status, claimed.waiting),
            (RunStatus::Running, None)
        );
        store.append("w", 0, "tool", "{}").expect("now it may");
    }

    #[test]
    fn a_sessions_turns_are_numbered_in_order_and_added_once_per_run() {
        let dir = tempfile::tempdir().expect("a temp dir");
        let store = SqliteStore::open(dir.path().join("state.sqlite")).expect("opens");
        assert_eq!(store.session_head("s").expect("head"), 0);
        let turn = |k: &str, m: &str| (k.to_string(), m.to_string());
        store
            .add_session_turns("s", "r1", &[turn("chat", "[1]"), turn("notes", "[2]")])
            .expect("added");
        store
            .add_session_turns("s", "r2", &[turn("chat", "[3]")])
            .expect("added");
        // r1 resumed after a crash adds nothing twice.
        store
            .add_session_turns("s", "r1", &[turn("chat", "[1]")])
            .expect("idempotent");
        assert_eq!(store.session_head("s").expect("head"), 3);
        let chat = store.session_turns("s", Some("chat"), 3).expect("read");
        assert_eq!(
            chat.iter().map(|t| t.messages.as_str()).collect::<Vec<_>>(),
            ["[1]", "[3]"]
        );
        // As of an earlier head: what a run that started then saw.
        assert_eq!(
            store
                .session_turns("s", Some("chat"), 2)
                .expect("read")
                .len(),
            1
        );
        assert_eq!(store.session_turns("s", None, 3).expect("read").len(), 3);
        let listed = store.sessions().expect("listed");
        assert_eq!((listed.len(), listed[0].turns, listed[0].keys), (1, 3, 2));
        assert_eq!(store.remove_session("s").expect("removed"), 3);
        assert!(store.sessions().expect("listed").is_empty());
    }

    #[test]
    fn a_version_1_store_gains_sessions_and_keeps_its_runs() {
        let dir = tempfile::tempdir().expect("a temp dir");
        let path = dir.path().join("state.sqlite");
        {
            let conn = Connection::open(&path).expect("opens");
            let v1 = SCHEMA.replace(
                "    outcome       TEXT,\n    session       TEXT,\n    waiting       TEXT\n",
                "    outcome       TEXT\n",
            );
            let v1 = &v1[..v1
                .find("CREATE TABLE IF NOT EXISTS session_turns")
                .expect("there")];
            conn.execute_batch(&format!("{v1} PRAGMA user_version = 1;"))
                .expect("a version 1 store");
            conn.execute(
                "INSERT INTO runs (id, plugin, plugin_digest, start, status, created_ms, \
                 updated_ms) VALUES ('old', 'agent', 'ab', '{}', 'finished', 1, 1)",
                [],
            )
            .expect("an old run");
        }
        let store = SqliteStore::open(&path).expect("upgraded");
        let old = store.run("old").expect("kept");
        assert_eq!(
            (old.status, old.session, old.waiting),
            (RunStatus::Finished, None, None)
        );
        store
            .add_session_turns("s", "r", &[("k".into(), "[]".into())])
            .expect("sessions work");
        drop(store);
        // Opening again changes nothing.
        SqliteStore::open(&path).expect("opens again");
    }

    #[test]
    fn two_processes_adding_turns_at_once_lose_none() {
        let dir = tempfile::tempdir().expect("a temp dir");
        let path = dir.path().join("state.sqlite");
        drop(SqliteStore::open(&path).expect("opens"));
        let threads: Vec<_> = (0..4)
            .map(|t| {
                let path = path.clone();
                std::thread::spawn(move || {
                    let store = SqliteStore::open(&path).expect("opens");
                    for n in 0..50 {
                        store
                            .add_session_turns(
                                "s",
                                &format!("t{t}-{n}"),
                                &[("k".into(), "[]".into())],
                            )
                            .expect("added");
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().expect("no panic");
        }
        let store = SqliteStore::open(&path).expect("opens");
        let turns = store.session_turns("s", None, u64::MAX >> 1).expect("read");
        assert_eq!(turns.len(), 200);
        assert!(turns.iter().enumerate().all(|(i, t)| t.seq == i as u64 + 1));
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
