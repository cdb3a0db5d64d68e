//! Table-driven unit tests for the rules of RULES.md section 1, every edge case of section 3 and
//! every house rule of section 2.
//!
//! Game states come from seeds: the dice of round `r` depend only on the seed, `r` and the dice
//! counts, so a test that needs particular dice searches `Seed::from_u64(0..)` for the first game
//! that has them (deterministic and bounded). Deeper states are reached by playing legal actions
//! chosen with full knowledge of every hand (`lose_die`, `calza_round`).
//!
//! Every action goes through `check`, which also asserts that a rejected action leaves the game
//! `==` to a clone taken before, and that `is_legal`, `check` and `legal_actions` agree with
//! `apply`.

use perudo_core::*;

// ---------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------

fn seat(index: u8) -> Seat {
    Seat::new(index).expect("seat index in range")
}

fn face(value: u8) -> Face {
    Face::new(value).expect("face in range")
}

fn bid(quantity: u8, face: u8) -> Bid {
    Bid::new(quantity, face).expect("quantity and face in range")
}

/// A bid as `(quantity, face)` in table rows.
type QF = (u8, u8);

/// What a table row expects of an action.
type Expected = Result<(), RuleError>;

fn b(quantity: u8, face: u8) -> Action {
    Action::Bid(bid(quantity, face))
}

fn qty(value: u8) -> Quantity {
    Quantity::new(value).expect("quantity in range")
}

/// Default rules, but seat 0 opens the first round so scripts know who starts.
fn config() -> GameConfig {
    GameConfig {
        first_round_opener: FirstOpener::Seat(seat(0)),
        ..GameConfig::default()
    }
}

fn new_game(config: &GameConfig, seats: u8, seed: u64) -> Game {
    Game::new(config.clone(), seats, Seed::from_u64(seed)).expect("valid config")
}

/// The first value `scenario` produces for seeds `0..SEARCH_LIMIT`.
const SEARCH_LIMIT: u64 = 3000;

#[track_caller]
fn search<T>(what: &str, mut scenario: impl FnMut(u64) -> Option<T>) -> T {
    (0..SEARCH_LIMIT)
        .find_map(&mut scenario)
        .unwrap_or_else(|| panic!("no seed below {SEARCH_LIMIT} gives {what}"))
}

/// The one checker every table row goes through. `expected` is `Ok(())` for an accepted action
/// (its events are returned) or the exact `RuleError`, in which case the game must be `==` to
/// what it was, and every legality API must agree.
#[track_caller]
fn check(game: &mut Game, who: u8, action: Action, expected: Result<(), RuleError>) -> Vec<Event> {
    let s = seat(who);
    let before = game.clone();
    let listed = before.legal_actions(s).contains(&action);
    let allowed = before.legal_moves(s).allows(&action);
    let result = game.apply(s, action);
    match expected {
        Ok(()) => {
            let events =
                result.unwrap_or_else(|error| panic!("{s} {action:?} rejected: {error:?}"));
            assert_eq!(before.check(s, &action), Ok(()), "{s} {action:?}");
            assert!(before.is_legal(s, &action), "{s} {action:?}");
            assert!(listed, "{s} {action:?} missing from legal_actions");
            assert!(allowed, "{s} {action:?} not allowed by legal_moves");
            assert_eq!(
                game.history().last(),
                Some(&Move::Act { seat: s, action }),
                "accepted action not logged"
            );
            assert!(!events.is_empty(), "an accepted action emits events");
            events
        }
        Err(error) => {
            assert_eq!(result, Err(error), "{s} {action:?}");
            assert_eq!(*game, before, "rejected {action:?} changed the game");
            assert_eq!(game.check(s, &action), Err(error), "{s} {action:?}");
            assert!(!game.is_legal(s, &action), "{s} {action:?}");
            assert!(!listed, "rejected {action:?} is in legal_actions");
            assert!(!allowed, "rejected {action:?} allowed by legal_moves");
            let message = error.to_string();
            assert!(!message.is_empty() && !message.ends_with('.'), "{message}");
            Vec::new()
        }
    }
}

/// `check` for a host forfeit.
#[track_caller]
fn check_forfeit(game: &mut Game, who: u8, expected: Result<(), RuleError>) -> Vec<Event> {
    let before = game.clone();
    let result = game.forfeit(seat(who));
    match expected {
        Ok(()) => {
            let events = result.unwrap_or_else(|error| panic!("forfeit rejected: {error:?}"));
            assert_eq!(
                game.history().last(),
                Some(&Move::Forfeit { seat: seat(who) })
            );
            events
        }
        Err(error) => {
            assert_eq!(result, Err(error));
            assert_eq!(*game, before, "rejected forfeit changed the game");
            Vec::new()
        }
    }
}

/// Dice matching `bid` on the table right now, counted independently of the engine.
fn count(game: &Game, bidder: Seat, bid: Bid) -> u32 {
    let config = game.config();
    let wild = game.palifico().is_none() && config.aces_wild && !bid.face.is_ace();
    Seat::all(game.seat_count())
        .map(|s| {
            let hand = game.hand(s).expect("game running");
            let aces_count = wild && (config.wild_scope == WildScope::AllDice || s == bidder);
            hand.count_exact(bid.face)
                + if aces_count {
                    hand.count_exact(Face::ACE)
                } else {
                    0
                }
        })
        .sum()
}

/// Aces on the table, and dice showing `face`, with no wilds.
fn exact(game: &Game, face: u8) -> u32 {
    Seat::all(game.seat_count())
        .map(|s| {
            game.hand(s)
                .expect("game running")
                .count_exact(Face::new(face).unwrap())
        })
        .sum()
}

fn legal_bids(game: &Game, who: Seat) -> Vec<Bid> {
    game.legal_actions(who)
        .into_iter()
        .filter_map(|action| match action {
            Action::Bid(bid) => Some(bid),
            Action::Dudo | Action::Calza | Action::DeclarePalifico => None,
        })
        .collect()
}

fn lowest(bids: impl IntoIterator<Item = Bid>) -> Option<Bid> {
    bids.into_iter().min_by_key(|bid| (bid.quantity, bid.face))
}

fn resolution(events: &[Event]) -> &Resolution {
    events
        .iter()
        .find_map(|event| match event {
            Event::RoundResolved(resolution) => Some(resolution),
            _ => None,
        })
        .expect("the round was resolved")
}

fn round_started(events: &[Event]) -> Option<(u32, Seat, Option<Seat>, Vec<u8>)> {
    events.iter().find_map(|event| match event {
        Event::RoundStarted {
            round,
            opener,
            palifico,
            dice,
            ..
        } => Some((*round, *opener, *palifico, dice.clone())),
        _ => None,
    })
}

fn active(game: &Game) -> usize {
    game.active_seats().count()
}

/// Plays the running round (from its start) so that `loser` loses exactly one die: players
/// before them make the lowest legal bid; `loser` calls dudo on a true bid or makes a false bid
/// that the next player challenges. `None` if the dice do not allow it.
fn lose_die(game: &mut Game, loser: Seat) -> Option<Vec<Event>> {
    let before = game.dice_counts();
    let round = game.round_number()?;
    assert!(game.bids().is_empty(), "lose_die starts at a round start");
    for _ in 0..=game.seat_count() {
        let turn = game.turn()?;
        if turn != loser {
            let low = lowest(legal_bids(game, turn))?;
            check(game, turn.get(), Action::Bid(low), Ok(()));
            continue;
        }
        if let Some(last) = game.bids().last().copied()
            && count(game, last.seat, last.bid) >= u32::from(last.bid.quantity.get())
        {
            let events = check(game, loser.get(), Action::Dudo, Ok(()));
            return Some(after_loss(game, before, round, loser, events));
        }
        let false_bid = lowest(
            legal_bids(game, loser)
                .into_iter()
                .filter(|bid| count(game, loser, *bid) < u32::from(bid.quantity.get())),
        )?;
        check(game, loser.get(), Action::Bid(false_bid), Ok(()));
        let challenger = game.turn()?;
        let events = check(game, challenger.get(), Action::Dudo, Ok(()));
        return Some(after_loss(game, before, round, loser, events));
    }
    None
}

#[track_caller]
fn after_loss(
    game: &Game,
    before: Vec<u8>,
    round: u32,
    loser: Seat,
    events: Vec<Event>,
) -> Vec<Event> {
    let mut expected = before;
    expected[loser.index()] -= 1;
    assert_eq!(game.dice_counts(), expected);
    let res = resolution(&events);
    assert_eq!(res.round, round);
    events
}

/// Plays the running round (from its start) so that `caller`, on turn, calls calza on a bid
/// that is exact (`exact`) or one too high. Every bid before is on one face, one higher each
/// time. `None` if the dice do not allow it.
fn calza_round(game: &mut Game, caller: Seat, exact: bool) -> Option<Vec<Event>> {
    assert!(
        game.bids().is_empty(),
        "calza_round starts at a round start"
    );
    let opener = game.turn()?;
    let mut bidders = vec![opener];
    while let Some(next) = game.next_active_after(*bidders.last().unwrap())
        && next != caller
    {
        bidders.push(next);
    }
    if opener == caller {
        // The caller opens and the bid goes round the table back to them.
        bidders.clear();
        let mut s = opener;
        loop {
            bidders.push(s);
            s = game.next_active_after(s)?;
            if s == caller {
                break;
            }
        }
    }
    let last_bidder = *bidders.last().unwrap();
    let k = bidders.len() as u32;
    let max = u32::from(game.legal_moves(opener).max_quantity.get());
    let (face, target) = Face::ALL
        .into_iter()
        .filter(|f| game.legal_moves(opener).min_bid[f.index()].is_some())
        .map(|f| {
            let c = count(
                game,
                last_bidder,
                Bid {
                    quantity: Quantity::ONE,
                    face: f,
                },
            );
            (f, if exact { c } else { c + 1 })
        })
        .filter(|&(_, target)| target >= k && target <= max)
        .max_by_key(|&(f, target)| (target, f))?;
    for (i, bidder) in bidders.iter().enumerate() {
        let q = target - k + 1 + i as u32;
        check(game, bidder.get(), b(q as u8, face.get()), Ok(()));
    }
    Some(check(game, caller.get(), Action::Calza, Ok(())))
}

// ---------------------------------------------------------------------------------------------
// Section 1.3: the raise table
// ---------------------------------------------------------------------------------------------

/// One row of a raise table: from `prev`, the smallest quantity on `to` (`None`: no bid on
/// that face can follow), checked against `minimum_raise` and `is_raise` on both sides of it.
#[track_caller]
fn check_raise(ordering: Ordering, prev: QF, to: u8, minimum: Option<u32>) {
    let prev = bid(prev.0, prev.1);
    assert_eq!(
        ordering.minimum_raise(prev, face(to)),
        minimum,
        "{ordering:?}: {prev} -> {}",
        face(to).plural()
    );
    for q in 1..=MAX_QUANTITY {
        let next = bid(q, to);
        let expected = minimum.is_some_and(|min| u32::from(q) >= min);
        assert_eq!(
            ordering.is_raise(prev, next),
            expected,
            "{ordering:?}: {prev} -> {next}"
        );
    }
}

const STANDARD: Ordering = Ordering::Wild {
    raise: RaiseRule::Standard,
    conversion: AceConversion::HalfUpDoublePlusOne,
};

#[test]
fn default_ordering_is_the_standard_table() {
    assert_eq!(GameConfig::default().normal_ordering(), STANDARD);
}

#[test]
fn raise_table_standard() {
    let rows: &[(QF, u8, Option<u32>)] = &[
        // non-ace -> non-ace: a higher face keeps q, the same or a lower face needs q + 1.
        ((5, 3), 4, Some(5)),
        ((5, 3), 6, Some(5)),
        ((5, 3), 3, Some(6)),
        ((5, 3), 2, Some(6)), // "five threes" -> "six twos" is a raise
        ((1, 2), 3, Some(1)),
        ((1, 6), 2, Some(2)),
        ((1, 6), 6, Some(2)),
        ((7, 6), 5, Some(8)),
        // non-ace -> ace: ceil(q / 2).
        ((9, 4), 1, Some(5)), // 9 fours -> 5 pacos
        ((8, 4), 1, Some(4)),
        ((1, 2), 1, Some(1)),
        ((2, 6), 1, Some(1)),
        ((3, 5), 1, Some(2)),
        ((4, 6), 1, Some(2)), // two aces beat four sixes
        ((30, 6), 1, Some(15)),
        // ace -> ace: q + 1.
        ((1, 1), 1, Some(2)),
        ((3, 1), 1, Some(4)),
        // ace -> non-ace: 2q + 1, any face.
        ((3, 1), 4, Some(7)),  // 3 aces -> 7 fours
        ((5, 1), 3, Some(11)), // 5 pacos -> 11 threes
        ((1, 1), 2, Some(3)),
        ((1, 1), 6, Some(3)),
        ((2, 1), 2, Some(5)), // two aces are less than five twos
        ((2, 1), 6, Some(5)),
        ((50, 1), 5, Some(101)), // above MAX_QUANTITY: no bid on fives at all
    ];
    for &(prev, to, minimum) in rows {
        check_raise(STANDARD, prev, to, minimum);
    }
}

#[test]
fn raise_table_worked_examples() {
    let rows: &[(QF, QF, bool)] = &[
        ((5, 3), (6, 2), true),
        ((5, 3), (5, 2), false),
        ((5, 3), (5, 4), true),
        ((5, 3), (5, 3), false),
        ((9, 4), (5, 1), true),
        ((9, 4), (4, 1), false),
        ((3, 1), (7, 4), true),
        ((3, 1), (6, 6), false),
        ((5, 1), (11, 3), true),
        ((5, 1), (10, 6), false),
        ((4, 6), (2, 1), true),
        ((2, 1), (4, 6), false),
        ((2, 1), (5, 2), true),
    ];
    for &(prev, next, legal) in rows {
        let (prev, next) = (bid(prev.0, prev.1), bid(next.0, next.1));
        assert_eq!(STANDARD.is_raise(prev, next), legal, "{prev} -> {next}");
        assert_eq!(
            GameConfig::default().is_raise(prev, next),
            legal,
            "{prev} -> {next}"
        );
        assert_eq!(
            standard_rank(next) > standard_rank(prev),
            legal,
            "oracle: {prev} -> {next}"
        );
    }
}

#[test]
fn standard_order_equals_the_rank_order() {
    let bids: Vec<Bid> = (1..=40)
        .flat_map(|q| (1..=6).map(move |f| bid(q, f)))
        .collect();
    for &prev in &bids {
        for &next in &bids {
            assert_eq!(
                STANDARD.is_raise(prev, next),
                standard_rank(next) > standard_rank(prev),
                "{prev} -> {next}"
            );
        }
    }
    // Order: 1x2 .. 1x6, 2x2 .. 2x6, 1xace, 3x2 ...
    let order = [(1, 2), (1, 6), (2, 2), (2, 6), (1, 1), (3, 2)];
    for pair in order.windows(2) {
        let (low, high) = (bid(pair[0].0, pair[0].1), bid(pair[1].0, pair[1].1));
        assert!(standard_rank(low) < standard_rank(high), "{low} < {high}");
    }
}

#[test]
fn raise_table_options() {
    let face_non_decreasing = Ordering::Wild {
        raise: RaiseRule::FaceNonDecreasing,
        conversion: AceConversion::HalfUpDoublePlusOne,
    };
    let double_value = Ordering::Wild {
        raise: RaiseRule::Standard,
        conversion: AceConversion::DoubleValue,
    };
    let plain = Ordering::Plain {
        raise: RaiseRule::Standard,
    };
    let plain_non_decreasing = Ordering::Plain {
        raise: RaiseRule::FaceNonDecreasing,
    };
    let face_first = Ordering::Plain {
        raise: RaiseRule::FaceFirst,
    };
    let locked_fours = Ordering::Locked { face: face(4) };
    let locked_aces = Ordering::Locked { face: Face::ACE };
    let rows: &[(Ordering, QF, u8, Option<u32>)] = &[
        // FaceNonDecreasing: a lower face is never a raise, aces convert as usual.
        (face_non_decreasing, (5, 3), 2, None),
        (face_non_decreasing, (5, 3), 3, Some(6)),
        (face_non_decreasing, (5, 3), 4, Some(5)),
        (face_non_decreasing, (9, 4), 1, Some(5)),
        (face_non_decreasing, (3, 1), 2, Some(7)),
        (face_non_decreasing, (3, 1), 1, Some(4)),
        // DoubleValue: an ace bid is worth 2q.
        (double_value, (9, 4), 1, Some(5)),
        (double_value, (8, 4), 1, Some(5)),
        (double_value, (1, 2), 1, Some(1)),
        (double_value, (2, 2), 1, Some(2)),
        (double_value, (3, 1), 4, Some(6)),
        (double_value, (5, 1), 3, Some(10)),
        (double_value, (3, 1), 1, Some(4)),
        (double_value, (5, 3), 2, Some(6)),
        // Plain (aces not wild): the ace is the lowest face, no conversion.
        (plain, (3, 1), 2, Some(3)),
        (plain, (3, 2), 1, Some(4)),
        (plain, (3, 1), 1, Some(4)),
        (plain, (5, 3), 2, Some(6)),
        (plain_non_decreasing, (3, 2), 1, None),
        (plain_non_decreasing, (3, 1), 6, Some(3)),
        // FaceFirst: a higher face with any quantity, the same face with more.
        (face_first, (5, 3), 4, Some(1)),
        (face_first, (5, 3), 3, Some(6)),
        (face_first, (5, 3), 2, None),
        (face_first, (5, 1), 2, Some(1)),
        (face_first, (5, 2), 1, None),
        // Palifico lock: only the locked face, with more (item 9 and 15).
        (locked_fours, (3, 4), 4, Some(4)),
        (locked_fours, (3, 4), 5, None),
        (locked_fours, (3, 4), 3, None),
        (locked_fours, (6, 4), 1, None), // no switch to aces at ceil(q/2)
        (locked_aces, (2, 1), 1, Some(3)),
        (locked_aces, (2, 1), 2, None), // no switch from aces at 2q+1
        (locked_aces, (2, 1), 6, None),
    ];
    for &(ordering, prev, to, minimum) in rows {
        check_raise(ordering, prev, to, minimum);
    }
}

#[test]
fn config_is_raise_follows_the_options() {
    let rows: &[(GameConfig, QF, QF, bool)] = &[
        (GameConfig::default(), (5, 3), (6, 2), true),
        (
            GameConfig {
                raise_rule: RaiseRule::FaceNonDecreasing,
                ..GameConfig::default()
            },
            (5, 3),
            (6, 2),
            false,
        ),
        (
            GameConfig {
                raise_rule: RaiseRule::FaceNonDecreasing,
                ..GameConfig::default()
            },
            (5, 3),
            (6, 3),
            true,
        ),
        (
            GameConfig {
                ace_conversion: AceConversion::DoubleValue,
                ..GameConfig::default()
            },
            (3, 1),
            (6, 4),
            true,
        ),
        (GameConfig::default(), (3, 1), (6, 4), false),
        (
            GameConfig {
                ace_conversion: AceConversion::DoubleValue,
                ..GameConfig::default()
            },
            (8, 4),
            (4, 1),
            false,
        ),
        (GameConfig::default(), (8, 4), (4, 1), true),
        (
            GameConfig {
                aces_wild: false,
                ..GameConfig::default()
            },
            (3, 1),
            (3, 2),
            true,
        ),
        (
            GameConfig {
                aces_wild: false,
                ..GameConfig::default()
            },
            (3, 2),
            (2, 1),
            false,
        ),
        (
            GameConfig {
                aces_wild: false,
                raise_rule: RaiseRule::FaceFirst,
                ..GameConfig::default()
            },
            (6, 3),
            (1, 4),
            true,
        ),
        (
            GameConfig {
                aces_wild: false,
                raise_rule: RaiseRule::FaceFirst,
                ..GameConfig::default()
            },
            (1, 4),
            (9, 3),
            false,
        ),
    ];
    for (config, prev, next, legal) in rows {
        let (prev, next) = (bid(prev.0, prev.1), bid(next.0, next.1));
        assert_eq!(
            config.is_raise(prev, next),
            *legal,
            "{config:?}: {prev} -> {next}"
        );
    }
}

// ---------------------------------------------------------------------------------------------
// Section 1.2 / 1.3 / item 2: opening bids
// ---------------------------------------------------------------------------------------------

#[test]
fn opening_bid_rules() {
    let game = new_game(&config(), 3, 1);
    assert_eq!(game.turn(), Some(seat(0)));
    assert_eq!(game.round_number(), Some(0));
    assert!(game.bids().is_empty());
    let moves = game.legal_moves(seat(0));
    let one = Some(qty(1));
    assert_eq!(moves.min_bid, [None, one, one, one, one, one]);
    assert_eq!(moves.max_quantity, qty(15));
    assert!(!moves.dudo && !moves.calza && !moves.declare_palifico);
    let not_declarable = RuleError::PalificoNotAllowed {
        reason: PalificoRefusal::NotDeclarable,
    };
    let rows = [
        (0, Action::Dudo, Err(RuleError::NoBidToChallenge)),
        (0, Action::Calza, Err(RuleError::NoBidToChallenge)),
        (1, Action::Dudo, Err(RuleError::NoBidToChallenge)),
        (2, Action::Calza, Err(RuleError::NoBidToChallenge)),
        (0, b(1, 1), Err(RuleError::OpeningOnAces)),
        (0, b(3, 1), Err(RuleError::OpeningOnAces)),
        (1, b(1, 2), Err(RuleError::NotYourTurn { turn: seat(0) })),
        (
            0,
            b(16, 2),
            Err(RuleError::QuantityTooHigh { max: qty(15) }),
        ),
        (0, Action::DeclarePalifico, Err(not_declarable)),
        (0, b(1, 2), Ok(())),
        (0, b(1, 6), Ok(())),
        (0, b(15, 6), Ok(())),
        (0, b(7, 3), Ok(())),
    ];
    for (who, action, expected) in rows {
        let mut game = game.clone();
        let events = check(&mut game, who, action, expected);
        if let (Ok(()), Action::Bid(bid)) = (expected, action) {
            let placed = PlacedBid { seat: seat(0), bid };
            assert_eq!(events, vec![Event::BidPlaced(placed)]);
            assert_eq!(game.bids(), &[placed]);
            assert_eq!(game.turn(), Some(seat(1)));
        }
    }
}

#[test]
fn opening_on_aces_with_the_options() {
    let rows = [
        (config(), Err(RuleError::OpeningOnAces)),
        (
            GameConfig {
                opening_aces_allowed: true,
                ..config()
            },
            Ok(()),
        ),
        // With aces not wild the ace is an ordinary (lowest) face.
        (
            GameConfig {
                aces_wild: false,
                ..config()
            },
            Ok(()),
        ),
    ];
    for (config, expected) in rows {
        let mut game = new_game(&config, 2, 3);
        assert_eq!(
            game.legal_moves(seat(0)).min_bid[0],
            expected.ok().map(|()| qty(1))
        );
        check(&mut game, 0, b(2, 1), expected);
    }
}

// ---------------------------------------------------------------------------------------------
// Item 1: the quantity cap
// ---------------------------------------------------------------------------------------------

#[test]
fn quantity_cap_is_the_dice_in_play() {
    let mut game = new_game(&config(), 2, 5);
    assert_eq!(game.total_dice(), 10);
    check(
        &mut game,
        0,
        b(11, 2),
        Err(RuleError::QuantityTooHigh { max: qty(10) }),
    );
    check(&mut game, 0, b(10, 6), Ok(()));
    // Over total x sixes only the ace switch, dudo and calza remain.
    let mut expected: Vec<Action> = (5..=10).map(|q| b(q, 1)).collect();
    expected.extend([Action::Dudo, Action::Calza]);
    assert_eq!(game.legal_actions(seat(1)), expected);
    let rows = [
        (b(11, 2), Err(RuleError::QuantityTooHigh { max: qty(10) })),
        (
            b(10, 6),
            Err(RuleError::BidTooLow {
                previous: bid(10, 6),
                minimum: 11,
            }),
        ),
        (
            b(4, 1),
            Err(RuleError::BidTooLow {
                previous: bid(10, 6),
                minimum: 5,
            }),
        ),
        (b(5, 1), Ok(())),
        (b(10, 1), Ok(())),
        (Action::Dudo, Ok(())),
        (Action::Calza, Ok(())),
    ];
    for (action, expected) in rows {
        check(&mut game.clone(), 1, action, expected);
    }
    // Over total x aces only the calls remain.
    check(&mut game, 1, b(10, 1), Ok(()));
    assert_eq!(
        game.legal_actions(seat(0)),
        vec![Action::Dudo, Action::Calza]
    );
    check(
        &mut game,
        0,
        b(10, 6),
        Err(RuleError::BidTooLow {
            previous: bid(10, 1),
            minimum: 21,
        }),
    );
}

#[test]
fn unbounded_cap_stops_at_max_quantity() {
    let config = GameConfig {
        bid_quantity_cap: BidQuantityCap::Unbounded,
        ..config()
    };
    let mut game = new_game(&config, 2, 5);
    assert_eq!(game.legal_moves(seat(0)).max_quantity, qty(MAX_QUANTITY));
    check(&mut game.clone(), 0, b(100, 6), Ok(()));
    check(&mut game, 0, b(11, 2), Ok(()));
    check(&mut game, 1, b(40, 5), Ok(()));
    // The default cap would have refused the 11.
    let mut capped = new_game(&self::config(), 2, 5);
    check(
        &mut capped,
        0,
        b(11, 2),
        Err(RuleError::QuantityTooHigh { max: qty(10) }),
    );
}

// ---------------------------------------------------------------------------------------------
// Items 3 and 4: out of turn, own bid
// ---------------------------------------------------------------------------------------------

#[test]
fn acting_out_of_turn_is_rejected() {
    let mut game = new_game(&config(), 3, 2);
    check(&mut game, 0, b(2, 3), Ok(()));
    let turn = RuleError::NotYourTurn { turn: seat(1) };
    let rows = [
        (2, b(3, 3), Err(turn)),
        (2, Action::Dudo, Err(turn)),
        (2, Action::Calza, Err(turn)),
        (0, b(3, 3), Err(turn)),
        (0, Action::Dudo, Err(turn)),
        // Item 4: the bidder can never calza their own bid.
        (0, Action::Calza, Err(RuleError::OwnBid)),
        (5, b(3, 3), Err(RuleError::NoSuchSeat { seat: seat(5) })),
        (
            3,
            Action::Dudo,
            Err(RuleError::NoSuchSeat { seat: seat(3) }),
        ),
        (1, b(3, 3), Ok(())),
        (1, Action::Dudo, Ok(())),
        (1, Action::Calza, Ok(())),
    ];
    for (who, action, expected) in rows {
        check(&mut game.clone(), who, action, expected);
    }
    for who in [0, 2] {
        assert!(!game.legal_moves(seat(who)).any(), "seat {who} has moves");
        assert!(game.legal_actions(seat(who)).is_empty());
    }
}

// ---------------------------------------------------------------------------------------------
// Section 1.4 and item 14: dudo
// ---------------------------------------------------------------------------------------------

#[test]
fn dudo_counts_face_plus_aces_and_exact_is_true() {
    let (seed, face, c) = search("a face with at least two matches", |n| {
        let game = new_game(&config(), 3, n);
        (2..=6)
            .map(|f| (f, count(&game, seat(0), bid(1, f))))
            .find(|&(_, c)| (2..15).contains(&c) && exact(&game, 1) >= 1)
            .map(|(f, c)| (n, f, c))
    });
    let game = new_game(&config(), 3, seed);
    assert_eq!(c, exact(&game, face) + exact(&game, 1));
    // (quantity, bid true, loser)
    let rows = [(c - 1, true, 1), (c, true, 1), (c + 1, false, 0)];
    for (q, true_bid, loser) in rows {
        let mut game = game.clone();
        let hands: Vec<Hand> = Seat::all(3)
            .map(|s| game.hand(s).unwrap().clone())
            .collect();
        check(&mut game, 0, b(q as u8, face), Ok(()));
        let events = check(&mut game, 1, Action::Dudo, Ok(()));
        let res = resolution(&events);
        assert_eq!(
            res.call,
            Call::Dudo {
                challenger: seat(1)
            }
        );
        assert_eq!(
            res.bid,
            PlacedBid {
                seat: seat(0),
                bid: bid(q as u8, face)
            }
        );
        assert_eq!(res.hands, hands, "every hand is revealed");
        assert_eq!(res.wilds, Wilds::AllDice);
        assert_eq!(res.count, c);
        assert_eq!(res.call_succeeded, !true_bid);
        assert_eq!(
            res.changes,
            vec![DiceChange {
                seat: seat(loser),
                before: 5,
                after: 4
            }]
        );
        let mut dice = vec![5, 5, 5];
        dice[loser as usize] = 4;
        assert_eq!(game.dice_counts(), dice);
        // The loser opens the next round.
        assert_eq!(
            round_started(&events),
            Some((1, seat(loser), None, dice.clone()))
        );
        assert_eq!(game.turn(), Some(seat(loser)));
        assert_eq!(game.last_resolution(), Some(res));
        assert!(!events.iter().any(|e| matches!(e, Event::Eliminated { .. })));
    }
}

#[test]
fn dudo_on_aces_counts_each_ace_once() {
    let (seed, aces) = search("aces on the table", |n| {
        let game = new_game(&config(), 3, n);
        let aces = exact(&game, 1);
        (1..15).contains(&aces).then_some((n, aces))
    });
    // (quantity of aces, bid true). Counting aces twice would make `aces + 1` true.
    let rows = [(aces, true), (aces + 1, false)];
    for (q, true_bid) in rows {
        let mut game = new_game(&config(), 3, seed);
        check(&mut game, 0, b(1, 2), Ok(()));
        check(&mut game, 1, b(q as u8, 1), Ok(()));
        let events = check(&mut game, 2, Action::Dudo, Ok(()));
        let res = resolution(&events);
        assert_eq!(res.count, aces);
        assert_eq!(res.call_succeeded, !true_bid);
        let loser = if true_bid { seat(2) } else { seat(1) };
        assert_eq!(
            res.changes,
            vec![DiceChange {
                seat: loser,
                before: 5,
                after: 4
            }]
        );
        assert_eq!(
            count_matches(&res.hands, res.bid, Wilds::AllDice),
            aces,
            "count_matches agrees"
        );
    }
}

// ---------------------------------------------------------------------------------------------
// Section 1.5 and item 5: calza with the default outcome
// ---------------------------------------------------------------------------------------------

#[test]
fn calza_at_full_dice_gains_nothing_and_fails_for_one_die() {
    // (exact bid, dice change of the caller)
    let rows = [(true, None), (false, Some((5, 4)))];
    for (exact_bid, change) in rows {
        let (mut game, events) = search("a calza round", |n| {
            let mut game = new_game(&config(), 3, n);
            let events = calza_round(&mut game, seat(1), exact_bid)?;
            Some((game, events))
        });
        let res = resolution(&events);
        assert_eq!(res.call, Call::Calza { caller: seat(1) });
        assert_eq!(res.call_succeeded, exact_bid);
        assert_eq!(
            res.count == u32::from(res.bid.bid.quantity.get()),
            exact_bid
        );
        let expected: Vec<DiceChange> = change
            .map(|(before, after)| DiceChange {
                seat: seat(1),
                before,
                after,
            })
            .into_iter()
            .collect();
        assert_eq!(res.changes, expected);
        let dice = if exact_bid {
            vec![5, 5, 5]
        } else {
            vec![5, 4, 5]
        };
        assert_eq!(game.dice_counts(), dice);
        // The caller opens the next round.
        assert_eq!(round_started(&events), Some((1, seat(1), None, dice)));
        assert!(game.calza_used(seat(1)));
        assert!(!game.calza_used(seat(0)));
        check(&mut game, 1, b(1, 2), Ok(()));
    }
}

#[test]
fn calza_below_the_cap_gains_a_die_and_never_above_the_start() {
    for starting_dice in [5, 3] {
        let config = GameConfig {
            starting_dice,
            ..config()
        };
        let (game, events) = search("a calza after a lost die", |n| {
            let mut game = new_game(&config, 2, n);
            lose_die(&mut game, seat(1))?;
            // Seat 1 lost, so it opens; seat 0 bids exactly and seat 1 calls.
            let events = calza_round(&mut game, seat(1), true)?;
            Some((game, events))
        });
        let res = resolution(&events);
        assert!(res.call_succeeded);
        let s = starting_dice;
        assert_eq!(
            res.changes,
            vec![DiceChange {
                seat: seat(1),
                before: s - 1,
                after: s
            }]
        );
        assert_eq!(game.dice_counts(), vec![s, s]);
        assert_eq!(game.total_dice(), u32::from(2 * s));
    }
}

/// Plays whole rounds in which only `who` loses, until `who` has `dice` dice. Returns the
/// events of the last round.
fn reduce(game: &mut Game, who: Seat, dice: u8) -> Option<Vec<Event>> {
    let mut events = Vec::new();
    while game.dice_counts()[who.index()] > dice {
        events = lose_die(game, who)?;
    }
    Some(events)
}

// ---------------------------------------------------------------------------------------------
// Section 1.6 and items 6, 7, 9, 15: palifico
// ---------------------------------------------------------------------------------------------

#[test]
fn palifico_triggers_when_the_opener_first_has_one_die() {
    let mut game = new_game(&config(), 3, 7);
    for dice in (1..=4).rev() {
        let events = lose_die(&mut game, seat(0)).expect("seat 0 can lose a die");
        let (round, opener, palifico, counts) = round_started(&events).unwrap();
        assert_eq!((round, opener), (5 - u32::from(dice), seat(0)));
        assert_eq!(counts, vec![dice, 5, 5]);
        // Only the round opened with exactly one die is palifico; the flag is set at its start.
        let expected = (dice == 1).then_some(seat(0));
        assert_eq!(palifico, expected);
        assert_eq!(game.palifico(), expected);
        assert_eq!(game.palifico_used(seat(0)), dice == 1);
        assert!(!game.palifico_used(seat(1)) && !game.palifico_used(seat(2)));
        let view = game.spectator_view();
        assert!(view.seats[0].palifico_used == (dice == 1));
        let TableState::Bidding(round_view) = view.state else {
            panic!("game running")
        };
        assert_eq!(round_view.palifico, expected);
        let wilds = if dice == 1 {
            Wilds::None
        } else {
            Wilds::AllDice
        };
        assert_eq!(round_view.wilds, wilds);
    }
    // The palifico opener may bid aces.
    let one = Some(qty(1));
    assert_eq!(game.legal_moves(seat(0)).min_bid, [one; 6]);
    check(&mut game.clone(), 0, b(1, 1), Ok(()));
    // The face is locked: later bids keep it with a higher quantity (items 9 and 15).
    let mut threes = game.clone();
    check(&mut threes, 0, b(2, 3), Ok(()));
    assert_eq!(
        threes.legal_moves(seat(1)).min_bid,
        [None, None, Some(qty(3)), None, None, None]
    );
    let locked = RuleError::FaceLocked { face: face(3) };
    let rows = [
        (b(3, 3), Ok(())),
        (b(11, 3), Ok(())),
        (b(3, 4), Err(locked)),
        (b(2, 4), Err(locked)),
        (b(9, 2), Err(locked)),
        (b(1, 1), Err(locked)), // no ace switch at ceil(q/2)
        (b(3, 1), Err(locked)),
        (
            b(2, 3),
            Err(RuleError::BidTooLow {
                previous: bid(2, 3),
                minimum: 3,
            }),
        ),
        (b(12, 3), Err(RuleError::QuantityTooHigh { max: qty(11) })),
    ];
    for (action, expected) in rows {
        check(&mut threes.clone(), 1, action, expected);
    }
    // Opened on aces: later bids are (Q > q) aces, no switch away from them.
    let mut aces = game.clone();
    check(&mut aces, 0, b(1, 1), Ok(()));
    let locked = RuleError::FaceLocked { face: Face::ACE };
    let rows = [
        (b(2, 1), Ok(())),
        (b(3, 2), Err(locked)),
        (b(11, 6), Err(locked)),
        (
            b(1, 1),
            Err(RuleError::BidTooLow {
                previous: bid(1, 1),
                minimum: 2,
            }),
        ),
    ];
    for (action, expected) in rows {
        check(&mut aces.clone(), 1, action, expected);
    }
}

#[test]
fn palifico_counts_no_wild_aces() {
    let (mut game, f, plain) = search("a palifico round with aces out", |n| {
        let mut game = new_game(&config(), 3, n);
        reduce(&mut game, seat(0), 1)?;
        assert_eq!(game.palifico(), Some(seat(0)));
        let aces = exact(&game, 1);
        (aces >= 1)
            .then(|| {
                (2..=6)
                    .map(|f| (f, exact(&game, f)))
                    .max_by_key(|&(_, c)| c)
            })
            .flatten()
            .map(|(f, c)| (game, f, c))
    });
    // With wild aces `plain + 1` would be true; without them it is false.
    let q = plain as u8 + 1;
    assert!(count(&game, seat(0), bid(q, f)) < u32::from(q));
    check(&mut game, 0, b(q, f), Ok(()));
    let events = check(&mut game, 1, Action::Dudo, Ok(()));
    let res = resolution(&events);
    assert_eq!(res.wilds, Wilds::None);
    assert_eq!(res.count, plain);
    assert!(res.call_succeeded);
    // The palifico player had one die: out, and the next seat opens a normal round.
    assert_eq!(
        res.changes,
        vec![DiceChange {
            seat: seat(0),
            before: 1,
            after: 0
        }]
    );
    assert!(events.contains(&Event::Eliminated { seat: seat(0) }));
    assert_eq!(
        round_started(&events),
        Some((5, seat(1), None, vec![0, 5, 5]))
    );
}

#[test]
fn palifico_opening_on_aces_can_be_forbidden() {
    let config = GameConfig {
        palifico_opening_aces_allowed: false,
        ..config()
    };
    let mut game = search("a palifico round", |n| {
        let mut game = new_game(&config, 3, n);
        reduce(&mut game, seat(0), 1)?;
        Some(game)
    });
    assert_eq!(game.palifico(), Some(seat(0)));
    check(&mut game.clone(), 0, b(1, 1), Err(RuleError::OpeningOnAces));
    check(&mut game, 0, b(1, 2), Ok(()));
}

#[test]
fn no_palifico_with_two_players_by_default() {
    // (palifico_min_players, palifico expected)
    for (min, palifico) in [(3, false), (2, true)] {
        let config = GameConfig {
            palifico_min_players: min,
            ..config()
        };
        let mut game = search("seat 0 at one die", |n| {
            let mut game = new_game(&config, 2, n);
            reduce(&mut game, seat(0), 1)?;
            Some(game)
        });
        assert_eq!(game.turn(), Some(seat(0)));
        assert_eq!(game.palifico(), palifico.then_some(seat(0)));
        assert_eq!(game.palifico_used(seat(0)), palifico);
        if palifico {
            check(&mut game, 0, b(1, 3), Ok(()));
            check(
                &mut game,
                1,
                b(2, 1),
                Err(RuleError::FaceLocked { face: face(3) }),
            );
        } else {
            // A normal round on 6 dice: no aces to open, ace switch allowed.
            check(&mut game.clone(), 0, b(1, 1), Err(RuleError::OpeningOnAces));
            check(&mut game, 0, b(2, 3), Ok(()));
            check(&mut game.clone(), 1, b(1, 1), Ok(()));
            check(&mut game, 1, b(2, 5), Ok(()));
        }
    }
}

#[test]
fn both_players_at_one_die_bid_normally() {
    let mut game = search("both seats at one die", |n| {
        let mut game = new_game(&config(), 2, n);
        reduce(&mut game, seat(0), 1)?;
        reduce(&mut game, seat(1), 1)?;
        Some(game)
    });
    assert_eq!(game.dice_counts(), vec![1, 1]);
    assert_eq!(game.palifico(), None);
    assert!(!game.palifico_used(seat(0)) && !game.palifico_used(seat(1)));
    let opener = game.turn().unwrap();
    let other = game.next_active_after(opener).unwrap();
    check(&mut game, opener.get(), b(1, 4), Ok(()));
    check(&mut game.clone(), other.get(), b(1, 1), Ok(()));
    check(&mut game.clone(), other.get(), b(2, 2), Ok(()));
    check(
        &mut game,
        other.get(),
        b(3, 2),
        Err(RuleError::QuantityTooHigh { max: qty(2) }),
    );
    let events = check(&mut game, other.get(), Action::Dudo, Ok(()));
    assert_eq!(resolution(&events).wilds, Wilds::AllDice);
    assert!(game.is_over());
}

#[test]
fn no_second_palifico_after_regaining_a_die() {
    let (mut game, calza, events) = search("a won calza in the palifico round", |n| {
        let mut game = new_game(&config(), 3, n);
        reduce(&mut game, seat(0), 1)?;
        // Seat 0 opens its palifico round and calls calza when the bid comes back round.
        let calza = calza_round(&mut game, seat(0), true)?;
        let mut later = game.clone();
        let events = lose_die(&mut later, seat(0))?;
        Some((game, calza, events))
    });
    let res = resolution(&calza);
    assert_eq!(res.wilds, Wilds::None);
    assert_eq!(
        res.changes,
        vec![DiceChange {
            seat: seat(0),
            before: 1,
            after: 2
        }]
    );
    assert_eq!(
        round_started(&calza),
        Some((5, seat(0), None, vec![2, 5, 5]))
    );
    assert!(game.palifico_used(seat(0)));
    assert_eq!(lose_die(&mut game, seat(0)), Some(events.clone()));
    // Seat 0 opens with one die again, but its palifico is spent.
    assert_eq!(
        round_started(&events),
        Some((6, seat(0), None, vec![1, 5, 5]))
    );
    assert_eq!(game.palifico(), None);
    check(&mut game, 0, b(1, 1), Err(RuleError::OpeningOnAces));
}

#[test]
fn one_die_players_may_change_the_face_in_the_variant() {
    let variant = GameConfig {
        palifico_one_die_may_change_face: true,
        ..config()
    };
    let setup = |config: &GameConfig, n: u64| {
        let mut game = new_game(config, 3, n);
        reduce(&mut game, seat(1), 1)?;
        assert_eq!(game.palifico(), Some(seat(1)));
        reduce(&mut game, seat(0), 1)?;
        Some(game)
    };
    let (seed, mut game) = search("seats 0 and 1 at one die", |n| {
        setup(&variant, n).map(|game| (n, game))
    });
    assert_eq!(game.dice_counts(), vec![1, 1, 5]);
    assert_eq!(game.palifico(), Some(seat(0)));
    check(&mut game, 0, b(1, 3), Ok(()));
    let previous = bid(1, 3);
    // Seat 1 has one die: plain (q, f) order, the ace the lowest face, no conversions.
    let rows = [
        (b(1, 4), Ok(())),
        (b(2, 2), Ok(())),
        (b(2, 1), Ok(())),
        (b(2, 3), Ok(())),
        (
            b(1, 2),
            Err(RuleError::BidTooLow {
                previous,
                minimum: 2,
            }),
        ),
        (
            b(1, 1),
            Err(RuleError::BidTooLow {
                previous,
                minimum: 2,
            }),
        ),
    ];
    for (action, expected) in rows {
        check(&mut game.clone(), 1, action, expected);
    }
    check(&mut game, 1, b(2, 5), Ok(()));
    // Seat 2 has five dice: locked to the face now standing.
    let rows = [
        (b(3, 5), Ok(())),
        (b(3, 3), Err(RuleError::FaceLocked { face: face(5) })),
        (b(3, 6), Err(RuleError::FaceLocked { face: face(5) })),
    ];
    for (action, expected) in rows {
        check(&mut game.clone(), 2, action, expected);
    }
    // Without the variant the same seat 1 is locked like everyone else.
    let mut locked = setup(&config(), seed).expect("same seed, same moves");
    check(&mut locked, 0, b(1, 3), Ok(()));
    check(
        &mut locked,
        1,
        b(1, 4),
        Err(RuleError::FaceLocked { face: face(3) }),
    );
    check(&mut locked, 1, b(2, 3), Ok(()));
}

// ---------------------------------------------------------------------------------------------
// Section 1.7 and items 10, 11, 12: elimination and the end of the game
// ---------------------------------------------------------------------------------------------

#[test]
fn eliminated_bidder_is_followed_by_the_next_seat_after_them() {
    // Anyone may call dudo, so the challenger (seat 3) is not the seat after the loser (seat 1):
    // the opener must be seat 2, not the challenger and not the seat after the challenger.
    let config = GameConfig {
        dudo_caller: DudoCaller::Anyone,
        palifico_enabled: false,
        ..config()
    };
    let (mut game, q, f) = search("seat 1 at one die opening", |n| {
        let mut game = new_game(&config, 4, n);
        reduce(&mut game, seat(1), 1)?;
        let false_bid = lowest(
            legal_bids(&game, seat(1))
                .into_iter()
                .filter(|bid| count(&game, seat(1), *bid) < u32::from(bid.quantity.get())),
        )?;
        Some((game, false_bid.quantity.get(), false_bid.face.get()))
    });
    assert_eq!(game.turn(), Some(seat(1)));
    check(&mut game, 1, b(q, f), Ok(()));
    let events = check(&mut game, 3, Action::Dudo, Ok(()));
    let res = resolution(&events);
    assert_eq!(
        res.call,
        Call::Dudo {
            challenger: seat(3)
        }
    );
    assert_eq!(
        res.changes,
        vec![DiceChange {
            seat: seat(1),
            before: 1,
            after: 0
        }]
    );
    assert_eq!(
        events[1..],
        [
            Event::Eliminated { seat: seat(1) },
            Event::RoundStarted {
                round: 5,
                opener: seat(2),
                palifico: None,
                wilds: Wilds::AllDice,
                dice: vec![5, 0, 5, 5],
            },
        ]
    );

    // Item 11: the eliminated seat never rolls, is skipped and cannot act.
    assert_eq!(game.hand(seat(1)), Some(&Hand::default()));
    assert!(game.view_for(seat(1)).hand.is_empty());
    assert_eq!(
        game.active_seats().collect::<Vec<_>>(),
        [seat(0), seat(2), seat(3)]
    );
    let out = RuleError::PlayerEliminated { seat: seat(1) };
    for action in [
        b(1, 2),
        Action::Dudo,
        Action::Calza,
        Action::DeclarePalifico,
    ] {
        check(&mut game, 1, action, Err(out));
    }
    check_forfeit(&mut game, 1, Err(out));
    assert!(!game.legal_moves(seat(1)).any());
    check(&mut game, 2, b(1, 2), Ok(()));
    check(&mut game, 3, b(1, 3), Ok(()));
    check(&mut game, 0, b(1, 4), Ok(()));
    assert_eq!(game.turn(), Some(seat(2)), "seat 1 is skipped");
    check(&mut game, 1, b(9, 6), Err(out));
    assert_eq!(game.next_active_after(seat(0)), Some(seat(2)));
}

#[test]
fn eliminated_challenger_and_failed_caller_pass_the_opening_on() {
    // (the round's call: dudo on a true bid by the 1-die challenger, or a failed calza)
    for calza in [false, true] {
        let (game, events) = search("seat 2 eliminated by its own call", |n| {
            let mut game = new_game(&config(), 3, n);
            reduce(&mut game, seat(2), 1)?;
            // Seat 2's palifico round; seat 2 opens and the call comes back to it.
            let events = if calza {
                calza_round(&mut game, seat(2), false)?
            } else {
                let f = (2..=6).find(|&f| count(&game, seat(2), bid(1, f)) >= 1)?;
                check(&mut game, 2, b(1, f), Ok(()));
                check(
                    &mut game,
                    0,
                    b(1, f),
                    Err(RuleError::BidTooLow {
                        previous: bid(1, f),
                        minimum: 2,
                    }),
                );
                let c = count(&game, seat(0), bid(1, f)) as u8;
                if c < 3 {
                    return None;
                }
                check(&mut game, 0, b(2, f), Ok(()));
                check(&mut game, 1, b(c, f), Ok(()));
                check(&mut game, 2, Action::Dudo, Ok(()))
            };
            Some((game, events))
        });
        let res = resolution(&events);
        assert_eq!(
            res.changes,
            vec![DiceChange {
                seat: seat(2),
                before: 1,
                after: 0
            }]
        );
        assert!(events.contains(&Event::Eliminated { seat: seat(2) }));
        assert_eq!(
            round_started(&events),
            Some((5, seat(0), None, vec![5, 5, 0]))
        );
        // Two players remain: no more palifico for anyone (default minimum 3).
        assert_eq!(game.active_seats().count(), 2);
    }
}

#[test]
fn the_game_ends_with_one_player_and_then_rejects_everything() {
    let (mut game, events, seed) = search("a two-player game to the end", |n| {
        let mut game = new_game(&config(), 2, n);
        let events = reduce(&mut game, seat(1), 0)?;
        Some((game, events, n))
    });
    assert_eq!(
        events[events.len() - 2..],
        [
            Event::Eliminated { seat: seat(1) },
            Event::GameWon { winner: seat(0) }
        ]
    );
    assert!(round_started(&events).is_none(), "no round after the last");
    assert!(game.is_over());
    assert_eq!(game.winner(), Some(seat(0)));
    assert_eq!(game.turn(), None);
    assert_eq!(game.round_number(), None);
    assert_eq!(game.hand(seat(0)), None);
    assert!(game.bids().is_empty());
    assert_eq!(game.dice_counts(), vec![5, 0]);
    let revealed = game.revealed_seed().expect("seed revealed at the end");
    assert_eq!(revealed, Seed::from_u64(seed));
    assert!(game.commitment().verify(&revealed));
    assert_eq!(
        game.spectator_view().state,
        TableState::Over { winner: seat(0) }
    );
    assert!(game.view_for(seat(0)).hand.is_empty());
    for who in [0, 1] {
        for action in [
            b(1, 2),
            b(1, 1),
            Action::Dudo,
            Action::Calza,
            Action::DeclarePalifico,
        ] {
            check(&mut game, who, action, Err(RuleError::GameOver));
        }
        check_forfeit(&mut game, who, Err(RuleError::GameOver));
        assert!(!game.legal_moves(seat(who)).any());
    }
    check(
        &mut game,
        2,
        Action::Dudo,
        Err(RuleError::NoSuchSeat { seat: seat(2) }),
    );
    // The log replays to the same game.
    let (replayed, _) = replay(config(), 2, Seed::from_u64(seed), game.history()).unwrap();
    assert_eq!(replayed, game);
}

#[test]
fn seed_stays_secret_while_the_game_runs() {
    let game = new_game(&config(), 3, 11);
    assert_eq!(game.revealed_seed(), None);
    assert!(game.commitment().verify(&Seed::from_u64(11)));
    assert_eq!(format!("{:?}", Seed::from_u64(11)), "Seed(<secret>)");
}

// ---------------------------------------------------------------------------------------------
// Item 13: forfeit
// ---------------------------------------------------------------------------------------------

#[test]
fn forfeit_voids_and_rerolls_the_round() {
    let base = {
        let mut game = new_game(&config(), 3, 4);
        check(&mut game, 0, b(2, 3), Ok(()));
        game
    };
    // (who forfeits, next opener)
    for (who, opener) in [(1, 0), (2, 0), (0, 1)] {
        let mut game = base.clone();
        let events = check_forfeit(&mut game, who, Ok(()));
        let mut dice = vec![5, 5, 5];
        dice[usize::from(who)] = 0;
        assert_eq!(
            events,
            vec![
                Event::Forfeited { seat: seat(who) },
                Event::Eliminated { seat: seat(who) },
                Event::RoundStarted {
                    round: 1,
                    opener: seat(opener),
                    palifico: None,
                    wilds: Wilds::AllDice,
                    dice: dice.clone(),
                },
            ]
        );
        assert!(game.bids().is_empty(), "the round is void");
        assert_eq!(game.turn(), Some(seat(opener)));
        assert_eq!(game.dice_counts(), dice);
        assert_eq!(game.hand(seat(who)).map(Hand::len), Some(0));
        assert_eq!(game.last_resolution(), None, "nothing was revealed");
        check(
            &mut game,
            who,
            b(1, 2),
            Err(RuleError::PlayerEliminated { seat: seat(who) }),
        );
        check_forfeit(
            &mut game,
            who,
            Err(RuleError::PlayerEliminated { seat: seat(who) }),
        );
        // A second forfeit leaves one player: the game is won.
        let last = game.active_seats().find(|&s| s != seat(opener)).unwrap();
        let events = check_forfeit(&mut game, last.get(), Ok(()));
        assert_eq!(
            events,
            vec![
                Event::Forfeited { seat: last },
                Event::Eliminated { seat: last },
                Event::GameWon {
                    winner: seat(opener)
                },
            ]
        );
        check_forfeit(&mut game, opener, Err(RuleError::GameOver));
    }
    let mut game = base.clone();
    check_forfeit(&mut game, 7, Err(RuleError::NoSuchSeat { seat: seat(7) }));
    // A forfeit is logged and replays.
    let mut game = base.clone();
    check_forfeit(&mut game, 1, Ok(()));
    let (replayed, _) = replay(config(), 3, Seed::from_u64(4), game.history()).unwrap();
    assert_eq!(replayed, game);
}

#[test]
fn forfeit_during_a_palifico_round() {
    let game = search("a four-player palifico round", |n| {
        let mut game = new_game(&config(), 4, n);
        reduce(&mut game, seat(1), 1)?;
        Some(game)
    });
    assert_eq!(game.palifico(), Some(seat(1)));
    let round = game.round_number().unwrap();
    // (who forfeits, seats before, palifico after, opener after)
    let rows = [
        // Another player leaves, three remain: still seat 1's palifico, re-rolled.
        (3, Some(seat(1)), seat(1)),
        // The palifico player leaves: the next seat opens a normal round.
        (1, None, seat(2)),
    ];
    for (who, palifico, opener) in rows {
        let mut game = game.clone();
        check(&mut game, 1, b(1, 4), Ok(()));
        let events = check_forfeit(&mut game, who, Ok(()));
        let (number, new_opener, new_palifico, _) = round_started(&events).unwrap();
        assert_eq!(
            (number, new_opener, new_palifico),
            (round + 1, opener, palifico)
        );
        assert_eq!(game.palifico(), palifico);
        assert!(game.palifico_used(seat(1)));
    }
    // With three players, a forfeit leaves two: the palifico ends and does not come back.
    let mut three = search("a three-player palifico round", |n| {
        let mut game = new_game(&config(), 3, n);
        reduce(&mut game, seat(1), 1)?;
        Some(game)
    });
    let events = check_forfeit(&mut three, 2, Ok(()));
    assert_eq!(
        round_started(&events).map(|(_, opener, palifico, _)| (opener, palifico)),
        Some((seat(1), None))
    );
    assert!(three.palifico_used(seat(1)));
}

// ---------------------------------------------------------------------------------------------
// Item 8: several players drop to one die at once
// ---------------------------------------------------------------------------------------------

#[test]
fn only_the_opener_gets_palifico_when_several_drop_to_one_die() {
    // Decision: palifico applies to the round's opener only; the others keep their flag unused
    // and get their palifico when they next open with one die.
    let config = GameConfig {
        calza_success: CalzaSuccess::OthersLoseDie,
        opener_after_calza: OpenerAfterCalza::LastBidderOnSuccess,
        opener_after_dudo: OpenerAfterDudo::Winner,
        ..config()
    };
    let (mut game, events, f) = search("seats 1 and 2 dropping to one die together", |n| {
        let mut game = new_game(&config, 3, n);
        reduce(&mut game, seat(1), 2)?;
        reduce(&mut game, seat(2), 2)?;
        // Seat 2 is the seat before seat 0, so it makes the bid seat 0 calls.
        let events = calza_round(&mut game, seat(0), true)?;
        // In seat 2's palifico round seat 0 makes a false bid for seat 1 to challenge.
        let f = (2..=6).find(|&f| exact(&game, f) < 7)?;
        Some((game, events, f))
    });
    let res = resolution(&events);
    assert!(res.call_succeeded);
    assert_eq!(res.bid.seat, seat(2));
    assert_eq!(
        res.changes,
        vec![
            DiceChange {
                seat: seat(1),
                before: 2,
                after: 1
            },
            DiceChange {
                seat: seat(2),
                before: 2,
                after: 1
            },
        ]
    );
    // The bidder (seat 2) opens and has the palifico; seat 1 keeps its flag.
    assert_eq!(
        round_started(&events),
        Some((
            game.round_number().unwrap(),
            seat(2),
            Some(seat(2)),
            vec![5, 1, 1]
        ))
    );
    assert!(game.palifico_used(seat(2)));
    assert!(!game.palifico_used(seat(1)));
    assert!(!game.palifico_used(seat(0)));
    // Seat 1 wins a dudo, opens (Winner rule) with one die: now it is seat 1's palifico.
    let q = (exact(&game, f) + 1).max(2) as u8;
    check(&mut game, 2, b(1, f), Ok(()));
    check(&mut game, 0, b(q, f), Ok(()));
    let events = check(&mut game, 1, Action::Dudo, Ok(()));
    assert_eq!(
        resolution(&events).changes,
        vec![DiceChange {
            seat: seat(0),
            before: 5,
            after: 4
        }]
    );
    assert_eq!(
        round_started(&events).map(|r| (r.1, r.2)),
        Some((seat(1), Some(seat(1))))
    );
    assert!(game.palifico_used(seat(1)));
}

// ---------------------------------------------------------------------------------------------
// Section 2: calza options
// ---------------------------------------------------------------------------------------------

#[test]
fn calza_caller_options() {
    let with = |calza_caller| GameConfig {
        calza_caller,
        ..config()
    };
    let not_allowed = |rule| Err(RuleError::CalzaNotAllowed { rule });
    let own = Err(RuleError::OwnBid);
    use CalzaCaller::*;
    // (rule, seats, [expected calza result for seat 0 (the bidder), 1 (on turn), 2, 3])
    let rows: [(CalzaCaller, u8, Vec<Expected>); 6] = [
        (
            CurrentPlayer,
            3,
            vec![own, Ok(()), Err(RuleError::NotYourTurn { turn: seat(1) })],
        ),
        (
            AnyExceptBidderAndCurrent,
            3,
            vec![own, not_allowed(AnyExceptBidderAndCurrent), Ok(())],
        ),
        // Item 4: with two players nobody may call it.
        (
            AnyExceptBidderAndCurrent,
            2,
            vec![own, not_allowed(AnyExceptBidderAndCurrent)],
        ),
        (
            AnyExceptNext,
            3,
            vec![own, Ok(()), not_allowed(AnyExceptNext)],
        ),
        (
            AnyExceptNext,
            4,
            vec![own, Ok(()), not_allowed(AnyExceptNext), Ok(())],
        ),
        (AnyExceptBidder, 3, vec![own, Ok(()), Ok(())]),
    ];
    for (rule, seats, expected) in rows {
        let mut game = new_game(&with(rule), seats, 9);
        check(&mut game, 0, b(2, 3), Ok(()));
        for (who, expected) in expected.into_iter().enumerate() {
            let who = who as u8;
            assert_eq!(
                game.legal_moves(seat(who)).calza,
                expected.is_ok(),
                "{rule:?} {who}"
            );
            let mut game = game.clone();
            let events = check(&mut game, who, Action::Calza, expected);
            if expected.is_ok() {
                let res = resolution(&events);
                assert_eq!(res.call, Call::Calza { caller: seat(who) });
                // The caller opens the next round (the default opener rule).
                assert_eq!(round_started(&events).unwrap().1, seat(who));
            }
        }
    }
}

#[test]
fn calza_success_and_opener_options() {
    // Seat 1 has 4 dice and calls calza on seat 0's bid; the script depends only on the dice.
    let seed = search("a calza by seat 1 at four dice, exact and not", |n| {
        for exact_bid in [true, false] {
            let mut game = new_game(&config(), 3, n);
            lose_die(&mut game, seat(1))?;
            calza_round(&mut game, seat(1), exact_bid)?;
        }
        Some(n)
    });
    let change = |s: u8, before: u8, after: u8| DiceChange {
        seat: seat(s),
        before,
        after,
    };
    // (success rule, opener rule, exact, changes, next opener)
    use CalzaSuccess::*;
    use OpenerAfterCalza::*;
    let rows = [
        (CallerGainsDie, Caller, true, vec![change(1, 4, 5)], 1),
        (BidderLosesDie, Caller, true, vec![change(0, 5, 4)], 1),
        (
            OthersLoseDie,
            Caller,
            true,
            vec![change(0, 5, 4), change(2, 5, 4)],
            1,
        ),
        (
            CallerGainsOthersLose,
            Caller,
            true,
            vec![change(0, 5, 4), change(1, 4, 5), change(2, 5, 4)],
            1,
        ),
        (
            CallerGainsDie,
            LastBidderOnSuccess,
            true,
            vec![change(1, 4, 5)],
            0,
        ),
        (
            BidderLosesDie,
            LastBidderOnSuccess,
            true,
            vec![change(0, 5, 4)],
            0,
        ),
        // A wrong calza always costs the caller a die, and the caller opens.
        (CallerGainsDie, Caller, false, vec![change(1, 4, 3)], 1),
        (BidderLosesDie, Caller, false, vec![change(1, 4, 3)], 1),
        (
            OthersLoseDie,
            LastBidderOnSuccess,
            false,
            vec![change(1, 4, 3)],
            1,
        ),
        (
            CallerGainsOthersLose,
            LastBidderOnSuccess,
            false,
            vec![change(1, 4, 3)],
            1,
        ),
    ];
    for (calza_success, opener_after_calza, exact_bid, changes, opener) in rows {
        let config = GameConfig {
            calza_success,
            opener_after_calza,
            ..config()
        };
        let mut game = new_game(&config, 3, seed);
        lose_die(&mut game, seat(1)).unwrap();
        let events = calza_round(&mut game, seat(1), exact_bid).unwrap();
        let res = resolution(&events);
        let label = format!("{calza_success:?} {opener_after_calza:?} {exact_bid}");
        assert_eq!(res.bid.seat, seat(0), "{label}");
        assert_eq!(res.call_succeeded, exact_bid, "{label}");
        assert_eq!(res.changes, changes, "{label}");
        assert_eq!(round_started(&events).unwrap().1, seat(opener), "{label}");
        assert_eq!(game.turn(), Some(seat(opener)), "{label}");
    }
}

#[test]
fn calza_gain_with_others_losing_at_the_cap() {
    // CallerGainsOthersLose at five dice: the caller stays at five, the others still lose.
    let config = GameConfig {
        calza_success: CalzaSuccess::CallerGainsOthersLose,
        ..config()
    };
    let events = search("an exact calza at full dice", |n| {
        calza_round(&mut new_game(&config, 3, n), seat(1), true)
    });
    let change = |s: u8| DiceChange {
        seat: seat(s),
        before: 5,
        after: 4,
    };
    assert_eq!(resolution(&events).changes, vec![change(0), change(2)]);
}

#[test]
fn calza_requires_a_missing_die() {
    let config = GameConfig {
        calza_requires_missing_die: true,
        ..config()
    };
    let mut game = new_game(&config, 3, 3);
    check(&mut game, 0, b(1, 2), Ok(()));
    assert!(!game.legal_moves(seat(1)).calza);
    check(
        &mut game,
        1,
        Action::Calza,
        Err(RuleError::CalzaNeedsMissingDie),
    );
    let mut game = search("seat 1 at four dice", |n| {
        let mut game = new_game(&config, 3, n);
        lose_die(&mut game, seat(1))?;
        Some(game)
    });
    check(&mut game, 1, b(1, 2), Ok(()));
    check(
        &mut game,
        2,
        Action::Calza,
        Err(RuleError::CalzaNeedsMissingDie),
    );
    check(&mut game, 2, b(1, 3), Ok(()));
    assert!(!game.legal_moves(seat(0)).calza);
    check(
        &mut game,
        0,
        Action::Calza,
        Err(RuleError::CalzaNeedsMissingDie),
    );
    check(&mut game, 0, b(1, 4), Ok(()));
    assert!(game.legal_moves(seat(1)).calza);
    check(&mut game, 1, Action::Calza, Ok(()));
}

#[test]
fn calza_once_per_game() {
    let config = GameConfig {
        calza_once_per_game: true,
        ..config()
    };
    // Seat 1's first calza fails (the flag is set all the same) and it opens the next round.
    let mut game = search("a failed calza", |n| {
        let mut game = new_game(&config, 3, n);
        calza_round(&mut game, seat(1), false)?;
        Some(game)
    });
    assert!(game.calza_used(seat(1)));
    assert!(game.spectator_view().seats[1].calza_used);
    assert!(!game.spectator_view().seats[2].calza_used);
    assert_eq!(game.turn(), Some(seat(1)));
    check(&mut game, 1, b(1, 2), Ok(()));
    assert!(
        game.legal_moves(seat(2)).calza,
        "seat 2 has not called calza yet"
    );
    check(&mut game, 2, b(1, 3), Ok(()));
    check(&mut game.clone(), 0, Action::Calza, Ok(()));
    check(&mut game, 0, b(1, 4), Ok(()));
    assert!(!game.legal_moves(seat(1)).calza);
    assert!(game.legal_moves(seat(1)).dudo);
    check(
        &mut game,
        1,
        Action::Calza,
        Err(RuleError::CalzaAlreadyUsed),
    );
    check(&mut game, 1, Action::Dudo, Ok(()));
}

#[test]
fn calza_disabled() {
    let config = GameConfig {
        calza_enabled: false,
        ..config()
    };
    let mut game = new_game(&config, 3, 3);
    // Rejected as disabled before anything else, even with no bid or out of turn.
    check(&mut game, 0, Action::Calza, Err(RuleError::CalzaDisabled));
    check(&mut game, 0, b(1, 2), Ok(()));
    for who in 0..3 {
        assert!(!game.legal_moves(seat(who)).calza);
        check(&mut game, who, Action::Calza, Err(RuleError::CalzaDisabled));
    }
    check(&mut game, 1, Action::Dudo, Ok(()));
}

// ---------------------------------------------------------------------------------------------
// Section 2: dudo options
// ---------------------------------------------------------------------------------------------

#[test]
fn dudo_by_anyone() {
    let config = GameConfig {
        dudo_caller: DudoCaller::Anyone,
        ..config()
    };
    let mut game = new_game(&config, 4, 6);
    for who in 0..4 {
        check(
            &mut game,
            who,
            Action::Dudo,
            Err(RuleError::NoBidToChallenge),
        );
    }
    check(&mut game, 0, b(2, 5), Ok(()));
    let rows = [
        (0, Err(RuleError::OwnBid)),
        (1, Ok(())),
        (2, Ok(())),
        (3, Ok(())),
    ];
    for (who, expected) in rows {
        assert_eq!(game.legal_moves(seat(who)).dudo, expected.is_ok());
        let events = check(&mut game.clone(), who, Action::Dudo, expected);
        if expected.is_ok() {
            assert_eq!(
                resolution(&events).call,
                Call::Dudo {
                    challenger: seat(who)
                }
            );
        }
    }
    // Bids stay with the player on turn.
    check(
        &mut game,
        2,
        b(3, 5),
        Err(RuleError::NotYourTurn { turn: seat(1) }),
    );
}

#[test]
fn opener_after_dudo_options() {
    let (seed, f, c) = search("a face with two matches", |n| {
        let game = new_game(&config(), 3, n);
        (2..=6)
            .map(|f| (f, count(&game, seat(0), bid(1, f))))
            .find(|&(_, c)| c >= 1)
            .map(|(f, c)| (n, f, c as u8))
    });
    // (opener rule, quantity bid by seat 0, next opener); seat 1 calls dudo.
    let rows = [
        (OpenerAfterDudo::Loser, c, 1),
        (OpenerAfterDudo::Loser, c + 1, 0),
        (OpenerAfterDudo::Winner, c, 0),
        (OpenerAfterDudo::Winner, c + 1, 1),
    ];
    for (opener_after_dudo, q, opener) in rows {
        let config = GameConfig {
            opener_after_dudo,
            ..config()
        };
        let mut game = new_game(&config, 3, seed);
        check(&mut game, 0, b(q, f), Ok(()));
        let events = check(&mut game, 1, Action::Dudo, Ok(()));
        assert_eq!(round_started(&events).unwrap().1, seat(opener));
        assert_eq!(game.turn(), Some(seat(opener)));
    }
}

// ---------------------------------------------------------------------------------------------
// Section 2: wild aces options and raise options in play
// ---------------------------------------------------------------------------------------------

#[test]
fn wild_scope_bidder_only_counts_the_bidders_aces() {
    let config = GameConfig {
        wild_scope: WildScope::BidderOnly,
        ..config()
    };
    let aces = |game: &Game, s: u8| game.hand(seat(s)).unwrap().count_exact(Face::ACE);
    let (seed, f, c) = search("aces with the bidder and with the others", |n| {
        let game = new_game(&config, 3, n);
        if aces(&game, 0) == 0 || aces(&game, 1) + aces(&game, 2) == 0 {
            return None;
        }
        let f = 2 + (n % 5) as u8;
        Some((n, f, exact(&game, f) + aces(&game, 0)))
    });
    let game = new_game(&config, 3, seed);
    assert_eq!(count(&game, seat(0), bid(1, f)), c);
    let TableState::Bidding(round) = game.spectator_view().state else {
        panic!("game running")
    };
    assert_eq!(round.wilds, Wilds::BidderOnly);
    // (quantity, bid true); counting every ace would make `c + 1` true.
    for (q, true_bid) in [(c, true), (c + 1, false)] {
        let mut game = game.clone();
        check(&mut game, 0, b(q as u8, f), Ok(()));
        let events = check(&mut game, 1, Action::Dudo, Ok(()));
        let res = resolution(&events);
        assert_eq!(res.wilds, Wilds::BidderOnly);
        assert_eq!(res.count, c);
        assert_eq!(res.call_succeeded, !true_bid);
    }
}

#[test]
fn aces_not_wild_count_only_as_aces() {
    let config = GameConfig {
        aces_wild: false,
        ..config()
    };
    let (mut game, f) = search("aces on the table", |n| {
        let game = new_game(&config, 3, n);
        (exact(&game, 1) >= 1).then_some((game, 2 + (n % 5) as u8))
    });
    let plain = exact(&game, f);
    check(&mut game, 0, b(plain as u8 + 1, f), Ok(()));
    let events = check(&mut game, 1, Action::Dudo, Ok(()));
    let res = resolution(&events);
    assert_eq!(
        (res.wilds, res.count, res.call_succeeded),
        (Wilds::None, plain, true)
    );
}

#[test]
fn raise_options_in_play() {
    let face_non_decreasing = GameConfig {
        raise_rule: RaiseRule::FaceNonDecreasing,
        ..config()
    };
    let double_value = GameConfig {
        ace_conversion: AceConversion::DoubleValue,
        ..config()
    };
    let face_first = GameConfig {
        raise_rule: RaiseRule::FaceFirst,
        aces_wild: false,
        ..config()
    };
    // (config, bids before, next bid by the player on turn, expected)
    let rows = [
        (
            &face_non_decreasing,
            vec![b(2, 4)],
            b(3, 3),
            Err(RuleError::FaceNotAllowed {
                face: face(3),
                previous: bid(2, 4),
            }),
        ),
        (&face_non_decreasing, vec![b(2, 4)], b(2, 5), Ok(())),
        (&face_non_decreasing, vec![b(2, 4)], b(3, 4), Ok(())),
        (&face_non_decreasing, vec![b(2, 4)], b(1, 1), Ok(())),
        (
            &face_non_decreasing,
            vec![b(2, 4), b(1, 1)],
            b(3, 2),
            Ok(()),
        ),
        (&config(), vec![b(2, 4)], b(3, 3), Ok(())),
        (
            &double_value,
            vec![b(2, 3)],
            b(1, 1),
            Err(RuleError::BidTooLow {
                previous: bid(2, 3),
                minimum: 2,
            }),
        ),
        (&config(), vec![b(2, 3)], b(1, 1), Ok(())),
        (&double_value, vec![b(2, 3), b(2, 1)], b(4, 2), Ok(())),
        (
            &config(),
            vec![b(2, 3), b(2, 1)],
            b(4, 2),
            Err(RuleError::BidTooLow {
                previous: bid(2, 1),
                minimum: 5,
            }),
        ),
        (&face_first, vec![b(3, 4)], b(1, 5), Ok(())),
        (&face_first, vec![b(3, 4)], b(4, 4), Ok(())),
        (
            &face_first,
            vec![b(3, 4)],
            b(4, 3),
            Err(RuleError::FaceNotAllowed {
                face: face(3),
                previous: bid(3, 4),
            }),
        ),
        (
            &face_first,
            vec![b(3, 4)],
            b(3, 4),
            Err(RuleError::BidTooLow {
                previous: bid(3, 4),
                minimum: 4,
            }),
        ),
        (&face_first, vec![b(3, 4), b(1, 6)], b(2, 6), Ok(())),
    ];
    for (config, before, next, expected) in rows {
        let mut game = new_game(config, 4, 8);
        for action in before {
            let turn = game.turn().unwrap().get();
            check(&mut game, turn, action, Ok(()));
        }
        let turn = game.turn().unwrap().get();
        check(&mut game, turn, next, expected);
    }
}

// ---------------------------------------------------------------------------------------------
// Section 2: palifico options
// ---------------------------------------------------------------------------------------------

#[test]
fn declared_palifico() {
    let config = GameConfig {
        palifico_trigger: PalificoTrigger::Declared,
        ..config()
    };
    let refuse = |reason| Err(RuleError::PalificoNotAllowed { reason });
    let (mut game, mut after) = search("seat 0 at one die, then seat 2 opening", |n| {
        let mut game = new_game(&config, 3, n);
        reduce(&mut game, seat(0), 1)?;
        // Declared: opening with one die is not a palifico by itself.
        assert_eq!(game.palifico(), None);
        assert!(!game.palifico_used(seat(0)));
        assert!(game.legal_moves(seat(0)).declare_palifico);
        lose_die(&mut game, seat(2))?;
        // In seat 0's declared round, seat 1 loses a die, so seat 1 opens the round after.
        let mut after = game.clone();
        check(&mut after, 0, Action::DeclarePalifico, Ok(()));
        lose_die(&mut after, seat(1))?;
        Some((game, after))
    });
    assert_eq!(game.turn(), Some(seat(2)));
    assert_eq!(game.dice_counts(), vec![1, 5, 4]);
    let rows = [
        (1, refuse(PalificoRefusal::NeedsOneDie)),
        (2, refuse(PalificoRefusal::NeedsOneDie)),
        (0, Ok(())),
    ];
    for (who, expected) in rows {
        assert_eq!(
            game.legal_moves(seat(who)).declare_palifico,
            expected.is_ok()
        );
        check(&mut game.clone(), who, Action::DeclarePalifico, expected);
    }
    // Only before the first bid.
    let mut started = game.clone();
    check(&mut started, 2, b(1, 2), Ok(()));
    check(
        &mut started,
        0,
        Action::DeclarePalifico,
        refuse(PalificoRefusal::BiddingStarted),
    );
    // Declaring out of turn makes seat 0 the opener of a palifico round.
    let events = check(&mut game, 0, Action::DeclarePalifico, Ok(()));
    assert_eq!(events, vec![Event::PalificoDeclared { seat: seat(0) }]);
    assert_eq!(game.palifico(), Some(seat(0)));
    assert!(game.palifico_used(seat(0)));
    assert_eq!(game.turn(), Some(seat(0)));
    let TableState::Bidding(round) = game.spectator_view().state else {
        panic!("game running")
    };
    assert_eq!(
        (round.opener, round.palifico, round.wilds),
        (seat(0), Some(seat(0)), Wilds::None)
    );
    for who in [0, 1, 2] {
        check(
            &mut game,
            who,
            Action::DeclarePalifico,
            refuse(PalificoRefusal::AlreadyPalifico),
        );
    }
    check(
        &mut game,
        2,
        b(1, 2),
        Err(RuleError::NotYourTurn { turn: seat(0) }),
    );
    check(&mut game, 0, b(1, 1), Ok(()));
    check(
        &mut game,
        1,
        b(2, 2),
        Err(RuleError::FaceLocked { face: Face::ACE }),
    );
    // Once per game.
    assert_eq!(after.turn(), Some(seat(1)));
    assert_eq!(after.dice_counts(), vec![1, 4, 4]);
    check(
        &mut after,
        0,
        Action::DeclarePalifico,
        refuse(PalificoRefusal::AlreadyUsed),
    );
    assert!(!after.legal_moves(seat(0)).declare_palifico);
}

#[test]
fn declared_palifico_needs_enough_players() {
    // (palifico_min_players, expected)
    let rows = [
        (
            3,
            Err(RuleError::PalificoNotAllowed {
                reason: PalificoRefusal::TooFewPlayers { min: 3 },
            }),
        ),
        (2, Ok(())),
    ];
    for (palifico_min_players, expected) in rows {
        let config = GameConfig {
            palifico_trigger: PalificoTrigger::Declared,
            palifico_min_players,
            ..config()
        };
        let mut game = search("seat 0 at one die", |n| {
            let mut game = new_game(&config, 2, n);
            reduce(&mut game, seat(0), 1)?;
            Some(game)
        });
        check(&mut game, 0, Action::DeclarePalifico, expected);
    }
}

#[test]
fn palifico_disabled_and_unlocked() {
    let disabled = GameConfig {
        palifico_enabled: false,
        ..config()
    };
    let declared_disabled = GameConfig {
        palifico_trigger: PalificoTrigger::Declared,
        ..disabled.clone()
    };
    for config in [&disabled, &declared_disabled] {
        let mut game = search("seat 0 at one die", |n| {
            let mut game = new_game(config, 3, n);
            reduce(&mut game, seat(0), 1)?;
            Some(game)
        });
        assert_eq!(game.palifico(), None);
        assert!(!game.palifico_used(seat(0)));
        check(
            &mut game,
            0,
            Action::DeclarePalifico,
            Err(RuleError::PalificoNotAllowed {
                reason: PalificoRefusal::NotDeclarable,
            }),
        );
        check(&mut game, 0, b(1, 1), Err(RuleError::OpeningOnAces));
    }
    // Face lock off: a palifico round without wilds, ordered plainly (ace the lowest face).
    let unlocked = GameConfig {
        palifico_face_locked: false,
        ..config()
    };
    let mut game = search("seat 0 at one die", |n| {
        let mut game = new_game(&unlocked, 3, n);
        reduce(&mut game, seat(0), 1)?;
        Some(game)
    });
    assert_eq!(game.palifico(), Some(seat(0)));
    check(&mut game, 0, b(2, 3), Ok(()));
    let rows = [
        (b(2, 4), Ok(())),
        (b(3, 2), Ok(())),
        (b(3, 1), Ok(())),
        (
            b(2, 1),
            Err(RuleError::BidTooLow {
                previous: bid(2, 3),
                minimum: 3,
            }),
        ),
    ];
    for (action, expected) in rows {
        check(&mut game.clone(), 1, action, expected);
    }
}

// ---------------------------------------------------------------------------------------------
// Section 2: setup options and every ConfigError
// ---------------------------------------------------------------------------------------------

#[test]
fn first_round_opener_options() {
    for who in 0..4 {
        let config = GameConfig {
            first_round_opener: FirstOpener::Seat(seat(who)),
            ..GameConfig::default()
        };
        let (game, events) = perudo_core::Rules::new(config)
            .and_then(|rules| Game::start(rules, 4, Seed::from_u64(1)))
            .unwrap();
        assert_eq!(game.turn(), Some(seat(who)));
        assert_eq!(
            round_started(&events),
            Some((0, seat(who), None, vec![5; 4]))
        );
    }
    // Seeded: the same seed always picks the same seat, and over many seeds every seat opens.
    let openers: Vec<Seat> = (0..60)
        .map(|n| {
            let game = new_game(&GameConfig::default(), 4, n);
            assert_eq!(game.turn(), new_game(&GameConfig::default(), 4, n).turn());
            game.turn().unwrap()
        })
        .collect();
    for who in 0..4 {
        assert!(openers.contains(&seat(who)), "seat {who} never opens");
    }
}

#[test]
fn starting_dice_option() {
    let config = GameConfig {
        starting_dice: 3,
        ..config()
    };
    let (game, events) = perudo_core::Rules::new(config)
        .and_then(|rules| Game::start(rules, 4, Seed::from_u64(2)))
        .unwrap();
    assert_eq!(
        events[0],
        Event::GameStarted {
            seats: 4,
            starting_dice: 3,
            commitment: Seed::from_u64(2).commitment(),
        }
    );
    assert_eq!(game.dice_counts(), vec![3; 4]);
    assert_eq!(game.total_dice(), 12);
    for s in Seat::all(4) {
        assert_eq!(game.hand(s).unwrap().len(), 3);
        assert_eq!(game.view_for(s).hand, *game.hand(s).unwrap());
    }
    assert_eq!(game.legal_moves(seat(0)).max_quantity, qty(12));
}

#[test]
fn every_config_error() {
    let d = GameConfig::default;
    let contradiction = |setting: &str, error: &ConfigError| match error {
        ConfigError::Contradiction { setting: s, reason } => *s == setting && !reason.is_empty(),
        _ => false,
    };
    let rows: Vec<(GameConfig, u8, ConfigError)> = vec![
        (
            GameConfig {
                starting_dice: 0,
                ..d()
            },
            3,
            ConfigError::StartingDiceOutOfRange { value: 0 },
        ),
        (
            GameConfig {
                starting_dice: 6,
                ..d()
            },
            3,
            ConfigError::StartingDiceOutOfRange { value: 6 },
        ),
        (
            GameConfig {
                min_players: 1,
                ..d()
            },
            3,
            ConfigError::PlayerLimitsOutOfRange { min: 1, max: 6 },
        ),
        (
            GameConfig {
                max_players: 11,
                ..d()
            },
            3,
            ConfigError::PlayerLimitsOutOfRange { min: 2, max: 11 },
        ),
        (
            GameConfig {
                min_players: 5,
                max_players: 4,
                ..d()
            },
            4,
            ConfigError::PlayerLimitsOutOfRange { min: 5, max: 4 },
        ),
        (
            d(),
            1,
            ConfigError::SeatCountOutOfRange {
                seats: 1,
                min: 2,
                max: 6,
            },
        ),
        (
            d(),
            7,
            ConfigError::SeatCountOutOfRange {
                seats: 7,
                min: 2,
                max: 6,
            },
        ),
        (
            GameConfig {
                min_players: 4,
                ..d()
            },
            3,
            ConfigError::SeatCountOutOfRange {
                seats: 3,
                min: 4,
                max: 6,
            },
        ),
        (
            GameConfig {
                first_round_opener: FirstOpener::Seat(seat(6)),
                ..d()
            },
            3,
            ConfigError::OpenerSeatOutOfRange {
                seat: seat(6),
                seats: 6,
            },
        ),
        (
            GameConfig {
                first_round_opener: FirstOpener::Seat(seat(3)),
                ..d()
            },
            3,
            ConfigError::OpenerSeatOutOfRange {
                seat: seat(3),
                seats: 3,
            },
        ),
        (
            GameConfig {
                palifico_min_players: 1,
                ..d()
            },
            3,
            ConfigError::PalificoMinPlayersOutOfRange {
                value: 1,
                max_players: 6,
            },
        ),
        (
            GameConfig {
                palifico_min_players: 7,
                ..d()
            },
            3,
            ConfigError::PalificoMinPlayersOutOfRange {
                value: 7,
                max_players: 6,
            },
        ),
        (
            GameConfig {
                turn_time_limit_secs: Some(9),
                ..d()
            },
            3,
            ConfigError::TurnTimeLimitOutOfRange { value: 9 },
        ),
        (
            GameConfig {
                turn_time_limit_secs: Some(301),
                ..d()
            },
            3,
            ConfigError::TurnTimeLimitOutOfRange { value: 301 },
        ),
    ];
    for (config, seats, expected) in rows {
        assert_eq!(
            config.validate_for(seats),
            Err(expected.clone()),
            "{config:?}"
        );
        assert_eq!(
            Game::new(config.clone(), seats, Seed::from_u64(0)),
            Err(expected.clone())
        );
        assert_eq!(
            replay(config, seats, Seed::from_u64(0), &[]).unwrap_err(),
            ReplayError::Config(expected.clone())
        );
        let message = expected.to_string();
        assert!(!message.is_empty() && !message.ends_with('.'), "{message}");
    }
    let contradictions: Vec<(GameConfig, &str)> = vec![
        (
            GameConfig {
                raise_rule: RaiseRule::FaceFirst,
                ..d()
            },
            "raise_rule",
        ),
        (
            GameConfig {
                wild_scope: WildScope::BidderOnly,
                aces_wild: false,
                ..d()
            },
            "wild_scope",
        ),
        (
            GameConfig {
                palifico_one_die_may_change_face: true,
                palifico_face_locked: false,
                ..d()
            },
            "palifico_one_die_may_change_face",
        ),
        (
            GameConfig {
                calza_requires_missing_die: true,
                starting_dice: 1,
                ..d()
            },
            "calza_requires_missing_die",
        ),
    ];
    for (config, setting) in contradictions {
        let error = Game::new(config.clone(), 3, Seed::from_u64(0)).unwrap_err();
        assert!(contradiction(setting, &error), "{config:?}: {error:?}");
        assert_eq!(config.validate(), Err(error));
    }
    // The edges of every range are valid.
    let valid = [
        (
            GameConfig {
                starting_dice: 1,
                ..d()
            },
            2,
        ),
        (
            GameConfig {
                max_players: 10,
                ..d()
            },
            10,
        ),
        (
            GameConfig {
                palifico_min_players: 2,
                ..d()
            },
            2,
        ),
        (
            GameConfig {
                palifico_min_players: 6,
                ..d()
            },
            6,
        ),
        (
            GameConfig {
                turn_time_limit_secs: Some(10),
                ..d()
            },
            3,
        ),
        (
            GameConfig {
                turn_time_limit_secs: Some(300),
                ..d()
            },
            3,
        ),
        (
            GameConfig {
                first_round_opener: FirstOpener::Seat(seat(2)),
                ..d()
            },
            3,
        ),
        (
            GameConfig {
                raise_rule: RaiseRule::FaceFirst,
                aces_wild: false,
                ..d()
            },
            3,
        ),
        (
            GameConfig {
                calza_requires_missing_die: true,
                starting_dice: 2,
                ..d()
            },
            3,
        ),
    ];
    for (config, seats) in valid {
        assert_eq!(config.validate_for(seats), Ok(()), "{config:?}");
        assert!(Game::new(config, seats, Seed::from_u64(0)).is_ok());
    }
}

#[test]
fn a_calza_can_eliminate_everyone_else_under_others_lose() {
    // Only under the non-default outcomes can one round eliminate several players at once.
    for calza_success in [
        CalzaSuccess::OthersLoseDie,
        CalzaSuccess::CallerGainsOthersLose,
    ] {
        let config = GameConfig {
            calza_success,
            ..config()
        };
        let (game, events) = search("seats 1 and 2 at one die, seat 0 calling", |n| {
            let mut game = new_game(&config, 3, n);
            reduce(&mut game, seat(1), 1)?;
            reduce(&mut game, seat(2), 1)?;
            let events = calza_round(&mut game, seat(0), true)?;
            Some((game, events))
        });
        assert_eq!(active(&game), 1);
        let res = resolution(&events);
        assert_eq!(
            res.changes,
            vec![
                DiceChange {
                    seat: seat(1),
                    before: 1,
                    after: 0
                },
                DiceChange {
                    seat: seat(2),
                    before: 1,
                    after: 0
                },
            ]
        );
        assert_eq!(
            events[1..],
            [
                Event::Eliminated { seat: seat(1) },
                Event::Eliminated { seat: seat(2) },
                Event::GameWon { winner: seat(0) },
            ]
        );
        assert_eq!(game.winner(), Some(seat(0)));
        assert_eq!(game.dice_counts(), vec![5, 0, 0]);
    }
}
