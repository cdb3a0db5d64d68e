use perudo_core::*;

#[test]
fn random_legal_games_finish() {
    for s in 0..200u64 {
        let seats = 2 + (s % 5) as u8;
        let mut game = Game::new(GameConfig::default(), seats, Seed::from_u64(s)).unwrap();
        let mut x = s.wrapping_mul(6364136223846793005).wrapping_add(1);
        let mut steps = 0;
        while !game.is_over() {
            let seat = game.turn().unwrap();
            let acts = game.legal_actions(seat);
            assert!(!acts.is_empty());
            x = x
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            // Prefer dudo now and then so rounds end.
            let a = if x % 4 == 0 && acts.contains(&Action::Dudo) {
                Action::Dudo
            } else {
                acts[(x >> 33) as usize % acts.len().min(8)]
            };
            game.apply(seat, a).unwrap();
            steps += 1;
            assert!(steps < 100_000);
        }
        let (replayed, _) = replay(
            GameConfig::default(),
            seats,
            Seed::from_u64(s),
            game.history(),
        )
        .unwrap();
        assert_eq!(replayed, game);
    }
}
