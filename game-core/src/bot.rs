//! The built-in bot. It decides from a `PlayerView` alone, so it cannot see anything its
//! seat may not see, and it is deterministic given its own RNG.
//!
//! Probabilities are exact (RULES.md section 5): the number of matching dice among the
//! unknown ones is a sum of binomials with per-die odds `w/6`, computed as `u128` numerators
//! over `6^n` (n <= 49 fits), and only turned into `f64` for comparison.

use std::cell::RefCell;
use std::rc::Rc;

use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::bid::{Bid, Quantity};
use crate::dice::{Face, Seat};
use crate::event::{Action, Wilds};
use crate::view::{PlayerView, TableState};

#[cfg(feature = "serde")]
use serde::{Deserialize, Serialize};

/// How well the bot plays.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(Serialize, Deserialize))]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub enum BotLevel {
    /// Rough expectations, ignores wild aces, never calls calza, coin-flip raises.
    Easy,
    /// Exact odds, challenges only obvious lies, always makes its most likely raise.
    #[default]
    Normal,
    /// Exact odds, reads other players' bids as signals, calibrated dudo, calza when best.
    Hard,
}

impl BotLevel {
    pub const ALL: [BotLevel; 3] = [BotLevel::Easy, BotLevel::Normal, BotLevel::Hard];
}

/// A bot player: a level and its own RNG.
#[derive(Clone, Debug)]
pub struct Bot {
    level: BotLevel,
    rng: ChaCha8Rng,
}

/// Probability distribution of matching dice among unknown dice, exact.
#[derive(Clone, Debug)]
struct Matches {
    /// `numerators[j]` / `6^n` = P(exactly j matches).
    numerators: Vec<u128>,
    denominator: u128,
}

impl Matches {
    /// Matches among `n` dice that each match with odds `w/6`: `C(n,j) w^j (6-w)^(n-j)` over
    /// `6^n`, built in one pass (the binomial coefficient and both powers step along with j).
    fn single(n: u32, w: u32) -> Matches {
        let (w, rest) = (u128::from(w), u128::from(6 - w));
        let mut rest_powers = vec![1u128; n as usize + 1];
        for j in (0..n as usize).rev() {
            rest_powers[j] = rest_powers[j + 1] * rest;
        }
        let mut numerators = Vec::with_capacity(n as usize + 1);
        let (mut binomial, mut w_power) = (1u128, 1u128);
        for j in 0..=n {
            numerators.push(binomial * w_power * rest_powers[j as usize]);
            binomial = binomial * u128::from(n - j) / u128::from(j + 1);
            w_power *= w;
        }
        Matches {
            numerators,
            denominator: 6u128.pow(n),
        }
    }

    /// `groups`: (dice, w) with per-die match odds `w/6`; the sum of independent binomials.
    fn new(groups: &[(u32, u32)]) -> Matches {
        let mut parts = groups
            .iter()
            .filter(|(n, _)| *n > 0)
            .map(|&(n, w)| Matches::single(n, w));
        let Some(mut total) = parts.next() else {
            return Matches::single(0, 1);
        };
        for part in parts {
            let mut next = vec![0u128; total.numerators.len() + part.numerators.len() - 1];
            for (a, &x) in total.numerators.iter().enumerate() {
                for (b, &y) in part.numerators.iter().enumerate() {
                    next[a + b] += x * y;
                }
            }
            total = Matches {
                numerators: next,
                denominator: total.denominator * part.denominator,
            };
        }
        total
    }

    fn ratio(&self, numerator: u128) -> f64 {
        numerator as f64 / self.denominator as f64
    }

    /// P(at least k matches).
    fn at_least(&self, k: i64) -> f64 {
        if k <= 0 {
            return 1.0;
        }
        let k = k as usize;
        if k >= self.numerators.len() {
            return 0.0;
        }
        self.ratio(self.numerators[k..].iter().sum())
    }

    /// P(exactly k matches).
    fn exactly(&self, k: i64) -> f64 {
        if k < 0 || k as usize >= self.numerators.len() {
            return 0.0;
        }
        self.ratio(self.numerators[k as usize])
    }
}

/// Unknown dice split into (plain, wild) for one bid: the key of a `Matches`.
type DiceSplit = (u32, u32);

/// What the bot knows in one decision.
struct Situation<'a> {
    view: &'a PlayerView,
    wilds: Wilds,
    /// Dice held by other players still in the game, per seat.
    others: Vec<(Seat, u32)>,
    histogram: [u32; 6],
    /// Distributions already computed in this decision, by (plain dice, wild dice).
    cache: RefCell<Vec<(DiceSplit, Rc<Matches>)>>,
}

impl Situation<'_> {
    /// Whose aces are wild for a bid on `face` made by `bidder`.
    fn ace_wild_for(&self, face: Face, bidder: Seat, holder: Seat) -> bool {
        !face.is_ace()
            && match self.wilds {
                Wilds::None => false,
                Wilds::AllDice => true,
                Wilds::BidderOnly => holder == bidder,
            }
    }

    /// My dice matching a bid on `face` by `bidder`.
    fn my_matches(&self, face: Face, bidder: Seat) -> u32 {
        let mut m = self.histogram[face.index()];
        if self.ace_wild_for(face, bidder, self.view.seat) {
            m += self.histogram[Face::ACE.index()];
        }
        m
    }

    /// Distribution of matches among the dice I cannot see, for a bid on `face` by `bidder`.
    fn unknown(&self, face: Face, bidder: Seat) -> Rc<Matches> {
        let mut plain = 0;
        let mut wild = 0;
        for &(seat, dice) in &self.others {
            if self.ace_wild_for(face, bidder, seat) {
                wild += dice;
            } else {
                plain += dice;
            }
        }
        let key = (plain, wild);
        if let Some((_, matches)) = self.cache.borrow().iter().find(|(k, _)| *k == key) {
            return Rc::clone(matches);
        }
        let matches = Rc::new(Matches::new(&[(plain, 1), (wild, 2)]));
        self.cache.borrow_mut().push((key, Rc::clone(&matches)));
        matches
    }

    /// P(the bid `quantity x face` by `bidder` is true), with `credit` dice assumed to match
    /// beyond what I see (signals read from other players' bids).
    fn p_true(&self, bid: Bid, bidder: Seat, credit: u32) -> f64 {
        let need = i64::from(bid.quantity.get())
            - i64::from(self.my_matches(bid.face, bidder))
            - i64::from(credit);
        self.unknown(bid.face, bidder).at_least(need)
    }

    fn p_exact(&self, bid: Bid, bidder: Seat) -> f64 {
        let need = i64::from(bid.quantity.get()) - i64::from(self.my_matches(bid.face, bidder));
        self.unknown(bid.face, bidder).exactly(need)
    }

    /// The expected count for a bid on `face` (by me), the "outsider" estimate.
    fn expected(&self, face: Face) -> f64 {
        let me = self.view.seat;
        let m = f64::from(self.my_matches(face, me));
        let unknown: u32 = self.others.iter().map(|(_, d)| d).sum();
        let p = if self.ace_wild_for(face, me, me) {
            2.0
        } else {
            1.0
        } / 6.0;
        m + f64::from(unknown) * p
    }
}

impl Bot {
    pub fn new(level: BotLevel, seed: u64) -> Bot {
        Bot {
            level,
            rng: ChaCha8Rng::seed_from_u64(seed),
        }
    }

    pub fn level(&self) -> BotLevel {
        self.level
    }

    /// The bot's move, or `None` when it has nothing to do now. When it is the bot's turn
    /// the answer is always a legal action.
    pub fn decide(&mut self, view: &PlayerView) -> Option<Action> {
        let TableState::Bidding(round) = &view.table.state else {
            return None;
        };
        let legal = &view.legal;
        // A palifico round is worth more to a one-die player than an ordinary one: declare.
        if legal.declare_palifico {
            return Some(Action::DeclarePalifico);
        }
        if round.turn != view.seat || !legal.any() {
            return None;
        }
        let situation = Situation {
            view,
            wilds: round.wilds,
            others: view
                .table
                .seats
                .iter()
                .enumerate()
                .filter(|&(i, s)| i != view.seat.index() && s.dice > 0)
                .map(|(i, s)| (Seat::new(i as u8).expect("seat index"), u32::from(s.dice)))
                .collect(),
            histogram: view.hand.histogram(),
            cache: RefCell::new(Vec::new()),
        };
        let action = match round.bids.last() {
            None => self.open(&situation),
            Some(last) => self.respond(&situation, last.seat, last.bid),
        };
        Some(action.unwrap_or_else(|| fallback(view)))
    }

    /// The opening bid.
    fn open(&mut self, s: &Situation) -> Option<Action> {
        let legal = &s.view.legal;
        let me = s.view.seat;
        // The face I hold most of (wilds included), higher face on ties.
        let best_face = Face::ALL
            .into_iter()
            .filter(|f| legal.min_bid[f.index()].is_some())
            .max_by_key(|&f| (s.my_matches(f, me), f))?;
        let quantity = match self.level {
            BotLevel::Easy => s.expected(best_face).floor() as u32,
            BotLevel::Normal => s.my_matches(best_face, me),
            BotLevel::Hard => {
                // The largest quantity still more likely true than not; sometimes a notch
                // lower so the opening says less about the hand.
                let mut q = 1;
                while q < u32::from(legal.max_quantity.get())
                    && s.p_true(bid(q + 1, best_face)?, me, 0) >= 0.55
                {
                    q += 1;
                }
                if q > 1 && self.rng.random_bool(0.25) {
                    q - 1
                } else {
                    q
                }
            }
        };
        make_bid(legal, best_face, quantity)
    }

    /// The answer to `last` made by `bidder`.
    fn respond(&mut self, s: &Situation, bidder: Seat, last: Bid) -> Option<Action> {
        let legal = &s.view.legal;
        let me = s.view.seat;
        match self.level {
            BotLevel::Easy => {
                let expected = f64::from(s.histogram[last.face.index()])
                    + f64::from(s.others.iter().map(|(_, d)| d).sum::<u32>()) / 6.0;
                if legal.dudo && expected < f64::from(last.quantity.get()) {
                    return Some(Action::Dudo);
                }
                let face = if self.rng.random_bool(0.5) {
                    last.face
                } else {
                    Face::ALL
                        .into_iter()
                        .max_by_key(|f| (s.histogram[f.index()], *f))
                        .unwrap_or(last.face)
                };
                let min = legal.min_bid[face.index()]?;
                make_bid(legal, face, u32::from(min.get()))
            }
            BotLevel::Normal | BotLevel::Hard => {
                let hard = self.level == BotLevel::Hard;
                let signals = if hard { signals(s) } else { [0; 6] };
                let p_current = s.p_true(
                    last,
                    bidder,
                    if hard { signals[last.face.index()] } else { 0 },
                );
                // Candidates: the minimum raise on each face.
                let mut best: Option<(f64, Face, u8)> = None;
                for face in Face::ALL {
                    let Some(min) = legal.min_bid[face.index()] else {
                        continue;
                    };
                    let candidate = Bid {
                        quantity: min,
                        face,
                    };
                    let p = s.p_true(candidate, me, signals[face.index()]);
                    let held = s.my_matches(face, me);
                    let better = match best {
                        None => true,
                        Some((bp, bf, _)) => {
                            p > bp + 1e-12
                                || ((p - bp).abs() <= 1e-12
                                    && (held, face) > (s.my_matches(bf, me), bf))
                        }
                    };
                    if better {
                        best = Some((p, face, min.get()));
                    }
                }
                let p_dudo_wins = 1.0 - p_current;
                let dial = if hard { 0.12 } else { 0.0 };
                let p_best = best.map_or(0.0, |(p, _, _)| p);
                if hard && legal.calza {
                    let p_exact = s.p_exact(last, bidder);
                    if p_exact > p_best.max(p_dudo_wins - dial) && p_exact > 0.3 {
                        return Some(Action::Calza);
                    }
                }
                let dudo = if hard {
                    p_dudo_wins - dial > p_best
                } else {
                    p_dudo_wins > 0.6 || p_best < 0.2
                };
                if legal.dudo && (dudo || best.is_none()) {
                    return Some(Action::Dudo);
                }
                let (_, face, q) = best?;
                make_bid(legal, face, u32::from(q))
            }
        }
    }
}

/// Plays `game` to its end with one bot per seat, calling `after_move` after every
/// accepted action. Returns the number of actions. Used by the tournament, the benchmarks
/// and tests; a host with real players drives bots one decision at a time instead.
pub fn play_to_end(
    game: &mut crate::game::Game,
    bots: &mut [Bot],
    mut after_move: impl FnMut(&crate::game::Game),
) -> usize {
    let mut actions = 0;
    while let Some(turn) = game.turn() {
        // Out-of-turn moves (declaring palifico) come first, in seat order.
        let mut acted = false;
        for seat in Seat::all(game.seat_count()).filter(|&s| s != turn) {
            if game.is_legal(seat, &Action::DeclarePalifico) {
                let view = game.view_for(seat);
                if let Some(action) = bots[seat.index()].decide(&view) {
                    game.apply(seat, action)
                        .expect("bots only choose legal actions");
                    actions += 1;
                    after_move(game);
                    acted = true;
                    break;
                }
            }
        }
        if acted {
            continue;
        }
        let view = game.view_for(turn);
        let action = bots[turn.index()]
            .decide(&view)
            .expect("a bot on turn always acts");
        game.apply(turn, action)
            .expect("bots only choose legal actions");
        actions += 1;
        after_move(game);
    }
    actions
}

/// Dice credited per face from what other players bid this round: each bid by someone
/// else on a face suggests they hold some of it. Capped so a liar cannot steer the bot far.
fn signals(s: &Situation) -> [u32; 6] {
    let TableState::Bidding(round) = &s.view.table.state else {
        return [0; 6];
    };
    let mut per_face = [0u32; 6];
    for placed in &round.bids {
        if placed.seat != s.view.seat {
            per_face[placed.bid.face.index()] += 1;
        }
    }
    per_face.map(|n| n.div_ceil(2).min(2))
}

fn bid(quantity: u32, face: Face) -> Option<Bid> {
    Some(Bid {
        quantity: Quantity::from_u32(quantity)?,
        face,
    })
}

/// A bid on `face` near `quantity`, moved into the legal range for that face.
fn make_bid(legal: &crate::game::LegalMoves, face: Face, quantity: u32) -> Option<Action> {
    let min = u32::from(legal.min_bid[face.index()]?.get());
    let max = u32::from(legal.max_quantity.get());
    bid(quantity.clamp(min, max), face).map(Action::Bid)
}

/// Any legal action: dudo if it can, else the smallest bid on the highest face it may bid.
fn fallback(view: &PlayerView) -> Action {
    let legal = &view.legal;
    if legal.dudo {
        return Action::Dudo;
    }
    Face::ALL
        .into_iter()
        .rev()
        .find_map(|face| {
            legal.min_bid[face.index()].map(|quantity| Action::Bid(Bid { quantity, face }))
        })
        .or(legal.calza.then_some(Action::Calza))
        .expect("a player on turn always has a legal action")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exact_binomial_matches_rules_section_5() {
        // n = 25 unknown dice, p = 1/3: P(X>=7)=0.779, >=8 0.630, >=9 0.462, >=10 0.304.
        let wild = Matches::new(&[(25, 2)]);
        for (k, expected) in [(7, 0.779), (8, 0.630), (9, 0.462), (10, 0.304)] {
            assert!(
                (wild.at_least(k) - expected).abs() < 0.0015,
                "k={k}: {}",
                wild.at_least(k)
            );
        }
        // p = 1/6: P(X>=7) = 0.109.
        assert!((Matches::new(&[(25, 1)]).at_least(7) - 0.109).abs() < 0.0015);
        // The largest single P(exact) at n = 25, p = 1/3 is 0.167.
        let top = (0..=25).map(|k| wild.exactly(k)).fold(0.0, f64::max);
        assert!((top - 0.167).abs() < 0.0015, "{top}");
    }

    #[test]
    fn distribution_sums_to_one_at_the_largest_table() {
        // 49 unknown dice is the most a 10 x 5 table can have; 6^49 must not overflow.
        let m = Matches::new(&[(20, 1), (29, 2)]);
        let total: u128 = m.numerators.iter().sum();
        assert_eq!(total, m.denominator);
        assert_eq!(m.at_least(0), 1.0);
        assert_eq!(m.at_least(50), 0.0);
    }
}
