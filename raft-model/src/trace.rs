//! Paths: replaying one on real `State`s with every `always` property checked after each
//! step, telling it step by step, and writing it as a Rust test or parsing it back.

use raftcore::codec;
use raftcore::Membership;
use stateright::Model;

use crate::state::{conf, ModelState, MEMBERSHIP_KIND};
use crate::storage::Entry;
use crate::{Action, Bounds, RaftModel};

impl RaftModel {
    /// Replays `actions` from the initial state, checking every `always` property after
    /// each step: a counterexample path as a regression test.
    pub fn replay(&self, actions: &[Action]) -> Result<ModelState, String> {
        self.replay_traced(actions, &mut |_, _, _, _| {})
    }

    /// [`RaftModel::replay`] that also calls `each(step, action, before, after)`.
    fn replay_traced(
        &self,
        actions: &[Action],
        each: &mut dyn FnMut(usize, Action, &ModelState, &ModelState),
    ) -> Result<ModelState, String> {
        let mut s = self.init_states().remove(0);
        for (n, a) in actions.iter().enumerate() {
            let mut enabled = Vec::new();
            self.actions(&s, &mut enabled);
            if !enabled.contains(a) {
                return Err(format!("step {n}: {a:?} is not enabled"));
            }
            let next = self.next_state(&s, *a).ok_or_else(|| {
                format!("step {n}: {a:?} is no transition (refused, or past a bound)")
            })?;
            each(n, *a, &s, &next);
            s = next;
            for p in self.properties() {
                if p.expectation == stateright::Expectation::Always && !(p.condition)(self, &s) {
                    let why = s
                        .broken
                        .as_deref()
                        .map_or(String::new(), |b| format!(": {b}"));
                    return Err(format!("step {n}: {a:?} breaks {}{why}", p.name));
                }
            }
        }
        Ok(s)
    }

    /// The path up to and including its first step that breaks an `always` property (all of
    /// it if none does). The checker reports the last violating state it met in a block of
    /// work, and the model's violation flags stay set once raised, so its path may run on past
    /// the first violation.
    pub fn up_to_first_violation<'a>(&self, actions: &'a [Action]) -> &'a [Action] {
        let mut seen = 0;
        let _ = self.replay_traced(actions, &mut |n, _, _, _| seen = n + 1);
        &actions[..seen.max(1).min(actions.len())]
    }

    /// A path told step by step: each action with the frame it delivers, drops or duplicates
    /// (decoded) and every node's role, term, vote, commit and log afterwards; then the
    /// result of the replay (the property a counterexample breaks).
    pub fn trace(&self, actions: &[Action]) -> String {
        let mut out = String::new();
        if !self.bounds.script.is_empty() {
            match self.scripted_start() {
                Ok(s) => {
                    out.push_str(&format!(
                        "start: after the bound's script of {} steps\n",
                        self.bounds.script.len()
                    ));
                    out.push_str(&nodes_text(&s));
                    for p in &s.net {
                        let msg = match codec::decode(&p.frame) {
                            Ok((_, m)) => format!("{m:?}"),
                            Err(e) => format!("undecodable: {e}"),
                        };
                        out.push_str(&format!(
                            "       in flight: n{} -> n{} {msg}\n",
                            p.from + 1,
                            p.to + 1
                        ));
                    }
                }
                Err(e) => out.push_str(&format!("start: {e}\n")),
            }
        }
        let result = self.replay_traced(actions, &mut |n, a, before, after| {
            let what = match a {
                Action::Deliver(i) | Action::Drop(i) | Action::Duplicate(i) => {
                    let p = &before.net[i as usize];
                    let msg = match codec::decode(&p.frame) {
                        Ok((_, m)) => format!("{m:?}"),
                        Err(e) => format!("undecodable: {e}"),
                    };
                    format!("n{} -> n{} {msg}", p.from + 1, p.to + 1)
                }
                Action::Invoke(c, k) => {
                    let op = self.bounds.clients[c as usize][before.clients[c as usize].0 as usize];
                    let op = match op {
                        Some(v) => format!("write {v}"),
                        None if self.bounds.read_index => "read (ReadIndex)".into(),
                        None => "read".into(),
                    };
                    format!("client {c} asks n{} to {op}", k + 1)
                }
                Action::RemoveMember(k, _)
                | Action::MakeLearner(k, _)
                | Action::MakeVoter(k, _)
                | Action::DemoteTwo(k, _)
                | Action::JointDemoteTwo(k, _) => match self.change_of(before, a) {
                    Some(m) => format!("operator asks n{} to change to {}", k + 1, conf(&m)),
                    None => "(no such change)".into(),
                },
                Action::Snapshot(k) => {
                    let m = &before.disks[k as usize].machine;
                    format!(
                        "n{} captures its state machine at {} (register {}, {})",
                        k + 1,
                        m.applied.0,
                        m.register,
                        conf(&m.members.0)
                    )
                }
                Action::Transfer(k, j) => {
                    format!("operator asks n{} to hand leadership to n{}", k + 1, j + 1)
                }
                _ => String::new(),
            };
            out.push_str(&format!("{n:>3}. {a:?} {what}\n"));
            out.push_str(&nodes_text(after));
        });
        match result {
            Ok(_) => out.push_str("replay: every property holds\n"),
            Err(e) => out.push_str(&format!("replay: {e}\n")),
        }
        out
    }

    /// A path's actions as Rust source: a test that replays it with [`RaftModel::replay`]
    /// under `bounds` (spelled out, so it keeps replaying when the named bounds change).
    pub fn path_as_rust(bounds: &Bounds, actions: &[Action]) -> String {
        let items: Vec<String> = actions.iter().map(|a| format!("{a:?}")).collect();
        let lines: Vec<String> = items
            .chunks(8)
            .map(|c| format!("        {},", c.join(", ")))
            .collect();
        format!(
            "#[test]\nfn model_regression() {{\n    use raft_model::{{Action::*, RaftModel}};\n    \
             let model = RaftModel {{\n        bounds: {},\n    }};\n    \
             #[rustfmt::skip]\n    let path = [\n{}\n    ];\n    \
             if let Err(e) = model.replay(&path) {{\n        panic!(\"{{e}}\");\n    }}\n}}\n",
            bounds.as_rust(),
            lines.join("\n")
        )
    }

    /// Parses a path as [`Action`]'s `Debug` forms separated by spaces or commas
    /// (`"Tick(0) Deliver(1) Invoke(0, 2)"`), as the binary prints it.
    pub fn parse_path(text: &str) -> Result<Vec<Action>, String> {
        let mut v = Vec::new();
        let separators = [',', ' ', '\n', '[', ']'];
        let mut rest = text.trim_matches(separators);
        while !rest.is_empty() {
            let open = rest
                .find('(')
                .ok_or_else(|| format!("no '(' in {rest:?}"))?;
            let close = rest
                .find(')')
                .ok_or_else(|| format!("no ')' in {rest:?}"))?;
            let name = rest[..open].trim().trim_start_matches("Action::");
            let args: Vec<u8> = rest[open + 1..close]
                .split(',')
                .map(|x| x.trim().parse::<u8>().map_err(|e| format!("{x:?}: {e}")))
                .collect::<Result<_, _>>()?;
            let a = match (name, args.as_slice()) {
                ("Tick", [k]) => Action::Tick(*k),
                ("Deliver", [i]) => Action::Deliver(*i),
                ("Drop", [i]) => Action::Drop(*i),
                ("Duplicate", [i]) => Action::Duplicate(*i),
                ("Crash", [k]) => Action::Crash(*k),
                ("Restart", [k]) => Action::Restart(*k),
                ("Reboot", [k]) => Action::Reboot(*k),
                ("Invoke", [c, k]) => Action::Invoke(*c, *k),
                ("RemoveMember", [k, j]) => Action::RemoveMember(*k, *j),
                ("MakeLearner", [k, j]) => Action::MakeLearner(*k, *j),
                ("MakeVoter", [k, j]) => Action::MakeVoter(*k, *j),
                ("DemoteTwo", [k, j]) => Action::DemoteTwo(*k, *j),
                ("JointDemoteTwo", [k, j]) => Action::JointDemoteTwo(*k, *j),
                ("Snapshot", [k]) => Action::Snapshot(*k),
                ("Transfer", [k, j]) => Action::Transfer(*k, *j),
                _ => return Err(format!("unknown action {}", &rest[..=close])),
            };
            v.push(a);
            rest = rest[close + 1..].trim_start_matches(separators);
        }
        Ok(v)
    }
}

/// Every node's role, term, vote, configuration, commit, applied index and log, one line each.
fn nodes_text(after: &ModelState) -> String {
    let mut out = String::new();
    for (k, live) in after.nodes.iter().enumerate() {
        let d = &after.disks[k];
        let node = match live {
            Some(l) => {
                let st = &l.state;
                format!(
                    "{:?} term {} vote {:?}, conf {}@{}",
                    st.role(),
                    st.term().0,
                    st.hard_state().vote.map(|v| v.0),
                    conf(st.membership()),
                    st.membership_index().0
                )
            }
            None => "down".into(),
        };
        let mut log: Vec<String> = d.log.entries.iter().map(entry_text).collect();
        if d.log.base.0 > 0 {
            log.insert(0, format!("..{}:t{}|", d.log.base.0, d.log.base_term.0));
        }
        let snap = match &d.snapshot {
            Some(f) => format!(", snapshot {}:t{}", f.meta.index.0, f.meta.term.0),
            None => String::new(),
        };
        let receiving = if d.incoming.is_empty() {
            String::new()
        } else {
            format!(", receiving {} bytes", d.incoming.len())
        };
        out.push_str(&format!(
            "       n{}: {node}, commit {}, applied {} (register {}){snap}{receiving}, \
             log [{}]\n",
            k + 1,
            d.commit.0,
            d.machine.applied.0,
            d.machine.register,
            log.join(" ")
        ));
    }
    out
}

/// One log entry as the trace shows it.
fn entry_text(e: &Entry) -> String {
    match e.data.as_slice() {
        [] if e.kind == MEMBERSHIP_KIND => format!("t{}:leave-joint", e.term.0),
        _ if e.kind == MEMBERSHIP_KIND => match Membership::decode(&e.data) {
            Ok(m) => format!("t{}:conf{}", e.term.0, conf(&m)),
            Err(_) => format!("t{}:conf?", e.term.0),
        },
        [] => format!("t{}:empty", e.term.0),
        [c, 1, v] => format!("t{}:c{c}:w{v}", e.term.0),
        [c, ..] => format!("t{}:c{c}:r", e.term.0),
    }
}
