//! The side-by-side table.
//!
//! Every row has two raft-rs cells (`batch_append` off, BENCH.md's configuration, and
//! `batch_append` on) and two raft-core cells (messages as encoded frames, and in-process), each
//! raft-core cell followed by the factors by which raft-core is better than each raft-rs column
//! (throughput: raft-core / raft-rs; costs: raft-rs / raft-core), so ">1x" always favours
//! raft-core. A cell that has not been measured prints as "pending" (raft-core before its step
//! API landed) or "n/a" (a measurement that does not exist for that library).

use std::fmt::Write as _;

/// A cell of the table.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Cell {
    /// A measured value.
    Value(f64),
    /// Not measured yet.
    Pending,
    /// Does not apply to this library.
    NotApplicable,
    /// Could not be measured in this environment (e.g. valgrind missing, or smoke mode).
    Skipped,
}

impl Cell {
    /// `Value(v)` for `Some(v)`, else `Pending`.
    pub fn from_opt(v: Option<f64>) -> Cell {
        v.map_or(Cell::Pending, Cell::Value)
    }
}

/// How to print a value and which direction is better.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Unit {
    /// Entries per second, higher is better.
    PerSecond,
    /// A cost with one decimal (allocations), lower is better.
    Count1,
    /// A cost printed as an integer with thousands separators, lower is better.
    Count0,
    /// Nanoseconds, lower is better (one decimal under 10).
    Nanos,
}

impl Unit {
    fn higher_is_better(self) -> bool {
        matches!(self, Unit::PerSecond)
    }

    fn fmt(self, v: f64) -> String {
        match self {
            Unit::PerSecond => {
                if v >= 1e6 {
                    format!("{:.2}M/s", v / 1e6)
                } else {
                    format!("{:.0}k/s", v / 1e3)
                }
            }
            Unit::Count1 => {
                if v != 0.0 && v.abs() < 0.05 {
                    format!("{v:.4}")
                } else {
                    format!("{v:.1}")
                }
            }
            Unit::Count0 => thousands(v.round() as i64),
            Unit::Nanos => {
                if v < 10.0 {
                    format!("{v:.1} ns")
                } else {
                    format!("{v:.0} ns")
                }
            }
        }
    }
}

/// `1234567` as `1,234,567`.
pub fn thousands(v: i64) -> String {
    let s = v.unsigned_abs().to_string();
    let mut out = String::new();
    for (i, ch) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(ch);
    }
    if v < 0 {
        format!("-{out}")
    } else {
        out
    }
}

/// One row of the table.
#[derive(Clone, Debug)]
pub struct Row {
    /// What was measured.
    pub label: String,
    /// How to print it.
    pub unit: Unit,
    /// raft-rs' cell, `batch_append` off (BENCH.md's configuration).
    pub raftrs: Cell,
    /// raft-rs' cell with `batch_append: true`.
    pub raftrs_batch: Cell,
    /// raft-core's cell, messages as encoded frames.
    pub raftcore: Cell,
    /// raft-core's cell, messages in-process (descriptor and body).
    pub inproc: Cell,
}

fn cell_text(c: Cell, unit: Unit) -> String {
    match c {
        Cell::Value(v) => unit.fmt(v),
        Cell::Pending => "pending".into(),
        Cell::NotApplicable => "n/a".into(),
        Cell::Skipped => "skipped".into(),
    }
}

fn ratio_text(raftrs: Cell, core: Cell, unit: Unit) -> String {
    match (raftrs, core) {
        (Cell::Value(rs), Cell::Value(core)) => {
            let (num, den) = if unit.higher_is_better() {
                (core, rs)
            } else {
                (rs, core)
            };
            if den == 0.0 {
                if num == 0.0 {
                    "equal (both 0)".into()
                } else {
                    "∞ (raft-core 0)".into()
                }
            } else {
                format!("{:.2}x", num / den)
            }
        }
        (_, Cell::Pending) | (Cell::Pending, _) => "pending".into(),
        _ => "".into(),
    }
}

/// Renders the rows as a Markdown table.
pub fn markdown(rows: &[Row]) -> String {
    let mut s = String::new();
    s.push_str(
        "| workload | raft-rs | raft-rs batch_append | raft-core | advantage vs raft-rs | \
         advantage vs batch_append | raft-core in-process | in-process vs raft-rs | \
         in-process vs batch_append |\n",
    );
    s.push_str("|---|---:|---:|---:|---:|---:|---:|---:|---:|\n");
    for r in rows {
        let _ = writeln!(
            s,
            "| {} | {} | {} | {} | {} | {} | {} | {} | {} |",
            r.label,
            cell_text(r.raftrs, r.unit),
            cell_text(r.raftrs_batch, r.unit),
            cell_text(r.raftcore, r.unit),
            ratio_text(r.raftrs, r.raftcore, r.unit),
            ratio_text(r.raftrs_batch, r.raftcore, r.unit),
            cell_text(r.inproc, r.unit),
            ratio_text(r.raftrs, r.inproc, r.unit),
            ratio_text(r.raftrs_batch, r.inproc, r.unit),
        );
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thousands_separators() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1000), "1,000");
        assert_eq!(thousands(1234567), "1,234,567");
        assert_eq!(thousands(-1234), "-1,234");
    }

    #[test]
    fn ratios_favour_raft_core_above_one() {
        let v = Cell::Value;
        assert_eq!(ratio_text(v(100.0), v(300.0), Unit::PerSecond), "3.00x");
        assert_eq!(ratio_text(v(2000.0), v(500.0), Unit::Count0), "4.00x");
        assert_eq!(
            ratio_text(v(2000.0), Cell::Pending, Unit::Count0),
            "pending"
        );
        let table = markdown(&[Row {
            label: "c".into(),
            unit: Unit::Count0,
            raftrs: v(2000.0),
            raftrs_batch: v(1000.0),
            raftcore: v(500.0),
            inproc: v(250.0),
        }]);
        assert!(
            table.contains("| c | 2,000 | 1,000 | 500 | 4.00x | 2.00x | 250 | 8.00x | 4.00x |"),
            "{table}"
        );
    }
}
