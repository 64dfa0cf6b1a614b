//! Building commands: the generic [`Command`] and the typed ones the chat needs.

use serde::Serialize;

/// One Redis command, serialized as Upstash's JSON array of strings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct Command(Vec<String>);

impl Command {
    /// A command named `name`, without arguments yet.
    pub fn new(name: &str) -> Self {
        Self(vec![name.to_owned()])
    }

    /// Appends one argument.
    pub fn arg(mut self, arg: impl ToString) -> Self {
        self.0.push(arg.to_string());
        self
    }

    /// The command's name and arguments.
    pub fn parts(&self) -> &[String] {
        &self.0
    }

    /// `PING`.
    pub fn ping() -> Self {
        Self::new("PING")
    }

    /// `ZADD key score member [score member …]`. Scores are integers: the chat's scores are
    /// sequence numbers, which must compare exactly.
    pub fn zadd<'a>(key: &str, entries: impl IntoIterator<Item = (i64, &'a str)>) -> Self {
        entries
            .into_iter()
            .fold(Self::new("ZADD").arg(key), |cmd, (score, member)| {
                cmd.arg(score).arg(member)
            })
    }

    /// `ZRANGE key … BYSCORE [REV] [LIMIT offset count]`.
    pub fn zrange_by_score(key: &str, query: &ZRangeByScore) -> Self {
        // With REV, Redis takes the range as `max min`.
        let (first, second) = if query.rev {
            (query.max, query.min)
        } else {
            (query.min, query.max)
        };
        let mut cmd = Self::new("ZRANGE")
            .arg(key)
            .arg(first.to_arg())
            .arg(second.to_arg())
            .arg("BYSCORE");
        if query.rev {
            cmd = cmd.arg("REV");
        }
        if let Some((offset, count)) = query.limit {
            cmd = cmd.arg("LIMIT").arg(offset).arg(count);
        }
        cmd
    }

    /// `ZREMRANGEBYRANK key start stop`.
    pub fn zremrangebyrank(key: &str, start: i64, stop: i64) -> Self {
        Self::new("ZREMRANGEBYRANK").arg(key).arg(start).arg(stop)
    }

    /// `ZCARD key`.
    pub fn zcard(key: &str) -> Self {
        Self::new("ZCARD").arg(key)
    }
}

/// One end of a score range.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Bound {
    /// `-inf`.
    NegInf,
    /// `+inf`.
    PosInf,
    /// The score itself is in the range.
    Inclusive(i64),
    /// The score itself is not in the range (`(score`).
    Exclusive(i64),
}

impl Bound {
    fn to_arg(self) -> String {
        match self {
            Bound::NegInf => "-inf".to_owned(),
            Bound::PosInf => "+inf".to_owned(),
            Bound::Inclusive(score) => score.to_string(),
            Bound::Exclusive(score) => format!("({score}"),
        }
    }
}

/// A `ZRANGE … BYSCORE` query: scores between `min` and `max`, ascending unless `rev`, with an
/// optional `(offset, count)` window.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ZRangeByScore {
    pub min: Bound,
    pub max: Bound,
    pub rev: bool,
    pub limit: Option<(u64, u64)>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn json(cmd: &Command) -> String {
        serde_json::to_string(cmd).unwrap()
    }

    #[test]
    fn commands_serialize_as_upstash_arrays() {
        assert_eq!(json(&Command::ping()), r#"["PING"]"#);
        assert_eq!(
            json(&Command::zadd(
                "chat:lobby:messages",
                [(1732700000123, "{\"a\":1}"), (2, "b")]
            )),
            r#"["ZADD","chat:lobby:messages","1732700000123","{\"a\":1}","2","b"]"#
        );
        assert_eq!(
            json(&Command::zremrangebyrank("k", 0, -10001)),
            r#"["ZREMRANGEBYRANK","k","0","-10001"]"#
        );
        assert_eq!(json(&Command::zcard("k")), r#"["ZCARD","k"]"#);
    }

    #[test]
    fn zrange_by_score_orders_bounds_for_rev() {
        let newest_before = ZRangeByScore {
            min: Bound::NegInf,
            max: Bound::Exclusive(500),
            rev: true,
            limit: Some((0, 50)),
        };
        assert_eq!(
            json(&Command::zrange_by_score("k", &newest_before)),
            r#"["ZRANGE","k","(500","-inf","BYSCORE","REV","LIMIT","0","50"]"#
        );
        let after = ZRangeByScore {
            min: Bound::Exclusive(7),
            max: Bound::PosInf,
            rev: false,
            limit: None,
        };
        assert_eq!(
            json(&Command::zrange_by_score("k", &after)),
            r#"["ZRANGE","k","(7","+inf","BYSCORE"]"#
        );
    }
}
