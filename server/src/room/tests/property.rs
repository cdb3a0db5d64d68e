//! The property behind protocol version 2: whatever happens in a room, every member that
//! applies the updates it receives (from its snapshot, or from a resume) holds exactly the
//! room, table and own view a snapshot would give it now. Random rooms: house rules, a reveal
//! pause or none, a turn time limit or none, and a random run of moves, timers, drops and
//! resumes, spectators coming and going, emotes, players leaving and new games.

use proptest::prelude::*;

use super::*;

impl Harness {
    /// Drops `client`'s socket and comes back on a new one with `Resume`, as a browser does.
    pub(super) fn reconnect(&mut self, client: &mut Client) {
        self.disconnect(client);
        let mut fresh = self.connect();
        fresh.mirror = client.mirror.clone();
        fresh.mirror.reconnected();
        self.hello(&mut fresh);
        let resume = fresh.mirror.resume();
        self.step(Input::Message {
            conn: fresh.conn,
            message: resume,
        });
        fresh.frames();
        *client = fresh;
    }

    pub(super) fn seated(&self, client: &Client) -> Option<Seat> {
        match self.room.role(client.conn) {
            Role::Seat(seat) => Some(seat),
            Role::Outsider | Role::Spectator => None,
        }
    }
}

fn run(seed: u64, starting_dice: u8, pause: bool, limit: bool, ops: &[u8]) {
    let mut h = Harness::build(
        RoomSettings {
            reveal_pause: if pause {
                Duration::from_millis(500)
            } else {
                Duration::ZERO
            },
            bot_delay: Duration::from_millis(10),
            disconnect_grace: Duration::from_secs(5),
            ..RoomSettings::default()
        },
        GameConfig {
            starting_dice,
            turn_time_limit_secs: limit.then_some(30),
            ..GameConfig::default()
        },
        RoomOptions {
            forfeit_after_secs: 60,
        },
    );
    let mut clients = [h.host(), h.player("Bob"), h.player("Cy")];
    h.ok(
        &mut clients[0],
        Request::AddBot {
            level: BotLevel::Easy,
        },
    );
    let mut watcher: Option<Client> = None;
    let mut rng = seed;
    let mut next = move |n: usize| {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        (rng % n as u64) as usize
    };
    for &op in ops {
        match op {
            // Moves: the human on turn plays, or whatever is due happens.
            0..=5 => {
                let turn = h.turn();
                let paused = matches!(&h.room.phase, Phase::Playing(p) if p.pause.is_some());
                let mover = clients
                    .iter()
                    .position(|c| turn.is_some() && h.seated(c) == turn && !paused);
                match mover {
                    Some(i) if h.room.conns.contains_key(&clients[i].conn) => {
                        let you = h.room.you_view(turn.unwrap()).expect("a view");
                        if let Some(action) = simple_move(&you.legal) {
                            h.request(&mut clients[i], Request::Act { action });
                        }
                    }
                    _ => {
                        h.fire_timer();
                    }
                }
            }
            6 => {
                let i = next(clients.len());
                if h.room.conns.contains_key(&clients[i].conn)
                    && clients[i].mirror.role() != perudo_protocol::client::Role::Outsider
                {
                    h.reconnect(&mut clients[i]);
                }
            }
            7 => match watcher.take() {
                Some(mut w) => {
                    h.request(&mut w, Request::Leave);
                }
                None => {
                    let mut w = h.connect();
                    h.hello(&mut w);
                    h.request(&mut w, Request::Spectate);
                    watcher = Some(w);
                }
            },
            8 => {
                let i = next(clients.len());
                h.request(
                    &mut clients[i],
                    Request::Emote {
                        emote: Emote::ALL[next(Emote::ALL.len())],
                    },
                );
            }
            9 => {
                h.advance(Duration::from_secs(1 + next(40) as u64));
                h.tick();
            }
            10 => {
                h.request(&mut clients[0], Request::Start);
            }
            _ => {
                // Someone other than the host leaves, rarely.
                if next(4) == 0 {
                    let i = 1 + next(clients.len() - 1);
                    h.request(&mut clients[i], Request::Leave);
                }
            }
        }
        for client in clients.iter_mut().chain(watcher.iter_mut()) {
            if h.room.conns.contains_key(&client.conn) {
                client.frames();
                h.check_mirror(client);
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 40,
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn every_member_holds_the_room_a_snapshot_shows(
        seed in 1u64..u64::MAX,
        starting_dice in 1u8..=3,
        pause in any::<bool>(),
        limit in any::<bool>(),
        ops in prop::collection::vec(0u8..12, 1..400),
    ) {
        run(seed, starting_dice, pause, limit, &ops);
    }
}
