//! Several nodes on one shared store (PostgreSQL): the node's lease loop. Every tick (a third
//! of the lease) it renews all of this node's leases in one statement and stops at once the
//! rooms whose lease it lost (another node took them, or they expired while the node was
//! paused), then claims its share of the rooms whose node died and opens them here.
//!
//! A room whose node died is taken sooner still when a request needs it: a client
//! reconnecting through any node makes that node take the room on the spot
//! (`AppState::find_room`). The loop is what moves the rooms nobody is connected to (bots'
//! turns, timers) and what spreads a dead node's rooms over the survivors.

use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use crate::registry::AppState;
use crate::room::Mail;
use crate::store::Store;

/// Runs until `shutdown`: renew, drop the lost rooms, claim and open the orphaned ones.
pub(crate) async fn keep_leases(
    state: AppState,
    store: Arc<dyn Store>,
    every: Duration,
    shutdown: CancellationToken,
) {
    loop {
        tokio::select! {
            () = shutdown.cancelled() => return,
            () = tokio::time::sleep(every) => {}
        }
        let renewing = store.clone();
        let lost = match tokio::task::spawn_blocking(move || renewing.renew_leases()).await {
            Ok(Ok(lost)) => lost,
            // Logged by the store; `/readyz` says not ready until a renewal succeeds.
            Ok(Err(_)) => continue,
            Err(e) => {
                warn!(error = %e, "the lease renewal panicked");
                continue;
            }
        };
        for code in lost {
            drop_lost(&state, &code);
        }
        if shutdown.is_cancelled() {
            return;
        }
        let claiming = store.clone();
        match tokio::task::spawn_blocking(move || claiming.claim_rooms()).await {
            Ok(Ok(images)) if !images.is_empty() => {
                let claimed = images.len();
                let opened = images
                    .into_iter()
                    .filter_map(|image| state.reopen(image))
                    .count();
                info!(claimed, opened, "took over rooms of nodes that are gone");
            }
            Ok(Ok(_)) => {}
            Ok(Err(e)) => warn!(error = %e, "cannot claim the rooms of dead nodes"),
            Err(e) => warn!(error = %e, "the claim panicked"),
        }
    }
}

/// Stops this node's task of a room whose lease it lost: the room writes nothing more and
/// its connections are closed with 1012, so their clients reconnect to the new owner.
fn drop_lost(state: &AppState, code: &str) {
    let Some(handle) = state.room_handle(code) else {
        return;
    };
    warn!(room = %code, "lost the room's lease: stopping it here");
    // Off the loop: a room's inbox may be full for a moment, and the next room must not wait.
    tokio::spawn(async move {
        handle.send(Mail::Lost).await;
    });
}
