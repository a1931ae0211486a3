//! Budgets of a rollout: steps, tokens, cost and wall time. The model is told what is left every
//! turn and warned as any budget nears its end (budget-aware agents spend their budget better).

use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

/// Limits of one rollout; `None` is unlimited.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Budget {
    pub max_steps: usize,
    pub max_tokens: Option<u64>,
    pub max_cost_usd: Option<f64>,
    pub max_wall: Option<Duration>,
}

impl Default for Budget {
    fn default() -> Self {
        Budget {
            max_steps: 50,
            max_tokens: None,
            max_cost_usd: None,
            max_wall: Some(Duration::from_secs(3600)),
        }
    }
}

/// Share of a budget after which the model is warned.
pub const WARN_AT: f64 = 0.8;

/// Spending so far.
#[derive(Debug, Clone)]
pub struct Spent {
    pub steps: usize,
    pub tokens: u64,
    pub cost_usd: f64,
    pub started: Instant,
}

impl Spent {
    pub fn new() -> Self {
        Spent {
            steps: 0,
            tokens: 0,
            cost_usd: 0.0,
            started: Instant::now(),
        }
    }
}

impl Default for Spent {
    fn default() -> Self {
        Self::new()
    }
}

impl Budget {
    /// The budget that ran out, if any.
    pub fn exhausted(&self, s: &Spent) -> Option<&'static str> {
        if s.steps >= self.max_steps {
            return Some("steps");
        }
        if self.max_tokens.is_some_and(|m| s.tokens >= m) {
            return Some("tokens");
        }
        if self.max_cost_usd.is_some_and(|m| s.cost_usd >= m) {
            return Some("cost");
        }
        if self.max_wall.is_some_and(|m| s.started.elapsed() >= m) {
            return Some("time");
        }
        None
    }

    /// The largest share of any budget used, 0..1.
    pub fn used_share(&self, s: &Spent) -> f64 {
        let mut share = s.steps as f64 / self.max_steps.max(1) as f64;
        if let Some(m) = self.max_tokens {
            share = share.max(s.tokens as f64 / m.max(1) as f64);
        }
        if let Some(m) = self.max_cost_usd {
            share = share.max(s.cost_usd / m.max(1e-9));
        }
        if let Some(m) = self.max_wall {
            share = share.max(s.started.elapsed().as_secs_f64() / m.as_secs_f64().max(1e-9));
        }
        share
    }

    /// What the model reads each turn: what is left of every budget, and a warning near the end
    /// (`prompts/budget_warning.md`).
    pub fn status_line(&self, s: &Spent) -> String {
        let mut parts = vec![format!(
            "step {}/{} ({} left)",
            s.steps,
            self.max_steps,
            self.max_steps.saturating_sub(s.steps)
        )];
        if let Some(m) = self.max_tokens {
            parts.push(format!("tokens {}k/{}k", s.tokens / 1000, m / 1000));
        }
        if let Some(m) = self.max_cost_usd {
            parts.push(format!("cost ${:.2}/${:.2}", s.cost_usd, m));
        }
        if let Some(m) = self.max_wall {
            let left = m.saturating_sub(s.started.elapsed());
            parts.push(format!(
                "time left {}m{:02}s",
                left.as_secs() / 60,
                left.as_secs() % 60
            ));
        }
        let mut line = format!("[budget] {}", parts.join(", "));
        if self.used_share(s) >= WARN_AT {
            line.push('\n');
            line.push_str(&crate::prompts::budget_warning());
        }
        line
    }

    /// A short description for the task prompt.
    pub fn describe(&self) -> String {
        let mut v = vec![format!("at most {} steps (tool calls)", self.max_steps)];
        if let Some(m) = self.max_tokens {
            v.push(format!("{m} tokens"));
        }
        if let Some(m) = self.max_cost_usd {
            v.push(format!("${m:.2}"));
        }
        if let Some(m) = self.max_wall {
            v.push(format!("{} minutes", m.as_secs() / 60));
        }
        v.join(", ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn warns_near_the_end_and_stops_at_it() {
        let b = Budget {
            max_steps: 10,
            max_tokens: Some(1000),
            max_cost_usd: None,
            max_wall: None,
        };
        let mut s = Spent::new();
        s.steps = 3;
        assert!(!b.status_line(&s).contains("WARNING"));
        assert!(b.status_line(&s).contains("7 left"));
        s.tokens = 850;
        assert!(
            b.status_line(&s).contains("WARNING"),
            "tokens at 85% must warn"
        );
        assert_eq!(b.exhausted(&s), None);
        s.steps = 10;
        assert_eq!(b.exhausted(&s), Some("steps"));
    }

    fn only(max_cost_usd: Option<f64>, max_wall: Option<Duration>) -> Budget {
        Budget {
            max_steps: 1000,
            max_tokens: None,
            max_cost_usd,
            max_wall,
        }
    }

    #[test]
    fn the_warning_starts_at_exactly_80_percent() {
        assert_eq!(WARN_AT, 0.8);
        let b = Budget {
            max_steps: 10,
            max_tokens: None,
            max_cost_usd: None,
            max_wall: None,
        };
        let mut s = Spent::new();
        s.steps = 7;
        assert!(!b.status_line(&s).contains("WARNING"), "70%");
        s.steps = 8;
        assert!(b.status_line(&s).contains("WARNING"), "80%");
        assert_eq!(b.used_share(&s), 0.8);
        assert_eq!(b.exhausted(&s), None);
    }

    #[test]
    fn cost_warns_then_runs_out() {
        let b = only(Some(2.0), None);
        let mut s = Spent::new();
        s.cost_usd = 1.5;
        assert!(!b.status_line(&s).contains("WARNING"), "75%");
        assert!(b.status_line(&s).contains("cost $1.50/$2.00"));
        s.cost_usd = 1.6;
        assert!(b.status_line(&s).contains("WARNING"), "80%");
        assert_eq!(b.exhausted(&s), None);
        s.cost_usd = 2.0;
        assert_eq!(b.exhausted(&s), Some("cost"));
        // The largest share of any budget counts.
        assert!((b.used_share(&s) - 1.0).abs() < 1e-12);
    }

    #[test]
    fn time_warns_then_runs_out() {
        let b = only(None, Some(Duration::from_secs(100)));
        let mut s = Spent::new();
        let ago = |secs| {
            Instant::now()
                .checked_sub(Duration::from_secs(secs))
                .unwrap()
        };
        s.started = ago(50);
        assert!(!b.status_line(&s).contains("WARNING"), "50%");
        assert_eq!(b.exhausted(&s), None);
        s.started = ago(85);
        let line = b.status_line(&s);
        assert!(line.contains("WARNING"), "85%: {line}");
        assert!(line.contains("time left 0m1"), "{line}");
        s.started = ago(100);
        assert_eq!(b.exhausted(&s), Some("time"));
    }

    #[test]
    fn tokens_run_out_at_the_limit_and_unlimited_budgets_never_do() {
        let b = Budget {
            max_steps: 1000,
            max_tokens: Some(1000),
            max_cost_usd: None,
            max_wall: None,
        };
        let mut s = Spent::new();
        s.tokens = 999;
        assert_eq!(b.exhausted(&s), None);
        s.tokens = 1000;
        assert_eq!(b.exhausted(&s), Some("tokens"));
        let free = only(None, None);
        s.cost_usd = 1e9;
        assert_eq!(free.exhausted(&s), None);
        assert!(!free.status_line(&s).contains("cost"));
        assert_eq!(
            free.describe(),
            "at most 1000 steps (tool calls)",
            "only the limits set are described"
        );
        assert_eq!(
            only(Some(2.5), Some(Duration::from_secs(600))).describe(),
            "at most 1000 steps (tool calls), $2.50, 10 minutes"
        );
    }
}
