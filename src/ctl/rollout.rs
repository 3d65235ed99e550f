//! `ctl rollout status`: kubectl's `StatefulSetStatusViewer`, ported as a
//! pure function of the StatefulSet, and the loop that feeds it: one GET,
//! then the watch stream (or, if the server has no watch, a poll) until the
//! rollout is complete or the timeout expires.

use std::time::{Duration, Instant};

use k8s_openapi::api::apps::v1::StatefulSet;

use super::client::{self, Error};
use super::context::Ctx;
use super::resource::Kind;

/// How often the poll fallback asks again.
const POLL_INTERVAL: Duration = Duration::from_secs(1);

/// kubectl's `StatefulSetStatusViewer.Status`: the line to print and whether
/// the rollout is done, or an error for a strategy it cannot follow.
///
/// Fields the API server would default are read with those defaults
/// (`updateStrategy.type` RollingUpdate, `spec.replicas` 1); an absent
/// `rollingUpdate` is taken as the server sent it.
pub fn statefulset_status(sts: &StatefulSet) -> Result<(String, bool), String> {
    let spec = sts.spec.as_ref();
    let strategy = spec.and_then(|s| s.update_strategy.as_ref());
    let strategy_type = strategy
        .and_then(|s| s.type_.as_deref())
        .unwrap_or("RollingUpdate");
    if strategy_type != "RollingUpdate" {
        return Err("rollout status is only available for RollingUpdate strategy type".into());
    }
    let status = sts.status.clone().unwrap_or_default();
    let observed = status.observed_generation.unwrap_or(0);
    let generation = sts.metadata.generation.unwrap_or(0);
    if observed == 0 || generation > observed {
        return Ok((
            "Waiting for statefulset spec update to be observed...".into(),
            false,
        ));
    }
    let replicas = spec.and_then(|s| s.replicas).unwrap_or(1);
    let ready = status.ready_replicas.unwrap_or(0);
    if ready < replicas {
        return Ok((
            format!("Waiting for {} pods to be ready...", replicas - ready),
            false,
        ));
    }
    let updated = status.updated_replicas.unwrap_or(0);
    if let Some(rolling) = strategy.and_then(|s| s.rolling_update.as_ref()) {
        if let Some(partition) = rolling.partition
            && updated < replicas - partition
        {
            return Ok((
                format!(
                    "Waiting for partitioned roll out to finish: {updated} out of {} new pods have been updated...",
                    replicas - partition
                ),
                false,
            ));
        }
        return Ok((
            format!("partitioned roll out complete: {updated} new pods have been updated..."),
            true,
        ));
    }
    let update_revision = status.update_revision.clone().unwrap_or_default();
    let current_revision = status.current_revision.clone().unwrap_or_default();
    if update_revision != current_revision {
        return Ok((
            format!(
                "waiting for statefulset rolling update to complete {updated} pods at revision {update_revision}..."
            ),
            false,
        ));
    }
    Ok((
        format!(
            "statefulset rolling update complete {} pods at revision {current_revision}...",
            status.current_replicas.unwrap_or(0)
        ),
        true,
    ))
}

/// Runs `rollout status`; returns the exit code.
pub fn run(ctx: &mut Ctx<'_>, name: &str, timeout: Option<Duration>, watch: bool) -> u8 {
    let deadline = timeout.map(|t| Instant::now() + t);
    let namespace = ctx.namespace.clone();
    let path = Kind::StatefulSet.item_path(&namespace, name);
    let mut follower = Follower { last: None };

    let sts: StatefulSet = match ctx.client.get(&path) {
        Ok(sts) => sts,
        Err(error) => return ctx.fail(&error),
    };
    match follower.observe(ctx, &sts) {
        Step::Done(code) => return code,
        Step::Continue if !watch => return 0,
        Step::Continue => {}
    }

    let list_path = Kind::StatefulSet.list_path(Some(&namespace));
    let mut polling = false;
    loop {
        let remaining = match deadline {
            Some(deadline) => match deadline.checked_duration_since(Instant::now()) {
                Some(left) if !left.is_zero() => Some(left),
                _ => return ctx.fail(&Error::Timeout),
            },
            None => None,
        };
        if polling {
            std::thread::sleep(remaining.map_or(POLL_INTERVAL, |r| r.min(POLL_INTERVAL)));
            match ctx.client.get::<StatefulSet>(&path) {
                Ok(sts) => match follower.observe(ctx, &sts) {
                    Step::Done(code) => return code,
                    Step::Continue => continue,
                },
                Err(error) => return ctx.fail(&error),
            }
        }
        let stream = match ctx.client.watch(&list_path, remaining) {
            Ok(stream) => stream,
            // A server without watch support: poll instead.
            Err(Error::Server { .. }) => {
                polling = true;
                continue;
            }
            Err(error) => return ctx.fail(&error),
        };
        for event in stream {
            let event = match event {
                Ok(event) => event,
                Err(Error::Read { .. }) => break,
                Err(error) => return ctx.fail(&error),
            };
            if event.kind == "ERROR" {
                return ctx.fail(&client::status_error(500, &event.object.to_string()));
            }
            let sts: StatefulSet = match client::decode(&list_path, event.object) {
                Ok(sts) => sts,
                Err(error) => return ctx.fail(&error),
            };
            if sts.metadata.name.as_deref() != Some(name) {
                continue;
            }
            match event.kind.as_str() {
                "ADDED" | "MODIFIED" => match follower.observe(ctx, &sts) {
                    Step::Done(code) => return code,
                    Step::Continue => {}
                },
                // Abort rather than silently follow a re-created object.
                "DELETED" => return ctx.error("object has been deleted"),
                _ => {}
            }
        }
        // The server ended the stream: watch again after a breath.
        let pause = Duration::from_millis(200);
        std::thread::sleep(remaining.map_or(pause, |r| r.min(pause)));
    }
}

enum Step {
    Continue,
    Done(u8),
}

struct Follower {
    /// The last line printed: kubectl prints one per event; printing only
    /// changes says the same without repeating it.
    last: Option<String>,
}

impl Follower {
    fn observe(&mut self, ctx: &mut Ctx<'_>, sts: &StatefulSet) -> Step {
        match statefulset_status(sts) {
            Err(message) => Step::Done(ctx.error(&message)),
            Ok((line, done)) => {
                if self.last.as_deref() != Some(line.as_str()) {
                    ctx.print(&format!("{line}\n"));
                    ctx.flush();
                    self.last = Some(line);
                }
                if done { Step::Done(0) } else { Step::Continue }
            }
        }
    }
}
