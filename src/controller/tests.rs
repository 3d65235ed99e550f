//! Tests of the reconcile core: ordered creation and deletion, Parallel,
//! rolling updates with partition and maxUnavailable, OnDelete, claims,
//! start ordinals, status.

use super::*;

fn spec(replicas: u32) -> SetSpec {
    SetSpec {
        name: "web".into(),
        replicas,
        start: 0,
        pod_management: PodManagement::OrderedReady,
        update_strategy: UpdateStrategy::RollingUpdate {
            partition: 0,
            max_unavailable: 1,
        },
        claim_templates: vec!["www".into()],
        when_scaled: Retention::Retain,
        current_revision: "r1".into(),
        update_revision: "r1".into(),
    }
}

fn pod(ordinal: u32, revision: &str, healthy: bool) -> PodView {
    PodView {
        ordinal,
        revision: revision.into(),
        phase: if healthy {
            Phase::Running
        } else {
            Phase::Pending
        },
        ready: healthy,
        terminating: false,
    }
}

/// A tiny world: carries actions out; new pods start Pending, `settle`
/// makes them Running and Ready, terminating pods vanish.
struct World {
    spec: SetSpec,
    pods: Vec<PodView>,
    claims: BTreeSet<String>,
    log: Vec<Action>,
}

impl World {
    fn new(spec: SetSpec) -> Self {
        Self {
            spec,
            pods: vec![],
            claims: BTreeSet::new(),
            log: vec![],
        }
    }

    fn step(&mut self) -> Vec<Action> {
        let actions = reconcile(&self.spec, &self.pods, &self.claims, usize::MAX);
        for a in &actions {
            match a {
                Action::CreateClaim { name, .. } => {
                    self.claims.insert(name.clone());
                }
                Action::CreatePod { ordinal, revision } => {
                    assert!(
                        self.pods.iter().all(|p| p.ordinal != *ordinal),
                        "two pods with ordinal {ordinal}"
                    );
                    self.pods.push(PodView {
                        ordinal: *ordinal,
                        revision: revision.clone(),
                        phase: Phase::Pending,
                        ready: false,
                        terminating: false,
                    });
                }
                Action::DeletePod { ordinal, .. } => {
                    for p in &mut self.pods {
                        if p.ordinal == *ordinal {
                            p.terminating = true;
                        }
                    }
                }
                Action::DeleteClaim { name, .. } => {
                    self.claims.remove(name);
                }
                Action::NoCapacity { ordinal } => {
                    panic!("no capacity for {ordinal} with unlimited room")
                }
            }
        }
        self.log.extend(actions.clone());
        actions
    }

    fn settle(&mut self) {
        self.pods.retain(|p| !p.terminating);
        for p in &mut self.pods {
            p.phase = Phase::Running;
            p.ready = true;
        }
    }

    /// Steps and settles until nothing more happens.
    fn converge(&mut self) {
        for _ in 0..200 {
            let acted = !self.step().is_empty();
            let pending = self.pods.iter().any(|p| !p.healthy());
            if !acted && !pending {
                return;
            }
            self.settle();
        }
        panic!("did not converge: {:?}", self.pods);
    }

    fn ordinals(&self) -> Vec<u32> {
        let mut o: Vec<u32> = self.pods.iter().map(|p| p.ordinal).collect();
        o.sort();
        o
    }
}

fn created(log: &[Action]) -> Vec<u32> {
    log.iter()
        .filter_map(|a| match a {
            Action::CreatePod { ordinal, .. } => Some(*ordinal),
            _ => None,
        })
        .collect()
}

fn deleted(log: &[Action]) -> Vec<u32> {
    log.iter()
        .filter_map(|a| match a {
            Action::DeletePod { ordinal, .. } => Some(*ordinal),
            _ => None,
        })
        .collect()
}

#[test]
fn scale_up_creates_one_pod_per_step_in_order_and_waits_for_ready() {
    let mut w = World::new(spec(2));
    w.converge();
    w.spec.replicas = 5;
    w.log.clear();
    for expected in 2..5 {
        let actions = w.step();
        assert_eq!(created(&actions), [expected]);
        // While the new pod is not Ready, nothing else happens.
        assert!(
            w.step().is_empty(),
            "acted while web-{expected} was not ready"
        );
        w.pods.iter_mut().for_each(|p| p.phase = Phase::Running);
        assert!(
            w.step().is_empty(),
            "Running but not Ready must still block"
        );
        w.settle();
    }
    assert!(w.step().is_empty());
    assert_eq!(created(&w.log), [2, 3, 4]);
}

#[test]
fn scale_down_deletes_highest_first_one_at_a_time() {
    let mut w = World::new(spec(5));
    w.converge();
    w.spec.replicas = 2;
    w.log.clear();
    for expected in [4, 3, 2] {
        let actions = w.step();
        assert_eq!(deleted(&actions), [expected]);
        assert!(
            w.step().is_empty(),
            "must wait for web-{expected} to terminate"
        );
        w.settle();
    }
    assert_eq!(w.ordinals(), [0, 1]);
    assert_eq!(deleted(&w.log), [4, 3, 2]);
}

#[test]
fn parallel_creates_and_deletes_at_once() {
    let mut s = spec(4);
    s.pod_management = PodManagement::Parallel;
    let mut w = World::new(s);
    assert_eq!(created(&w.step()), [0, 1, 2, 3]);
    w.settle();
    w.spec.replicas = 1;
    assert_eq!(deleted(&w.step()), [3, 2, 1]);
}

#[test]
fn rolling_update_highest_first_respecting_partition() {
    let mut w = World::new(spec(5));
    w.converge();
    w.spec.update_revision = "r2".into();
    w.spec.update_strategy = UpdateStrategy::RollingUpdate {
        partition: 3,
        max_unavailable: 1,
    };
    w.log.clear();
    w.converge();
    assert_eq!(deleted(&w.log), [4, 3]);
    let revisions: BTreeMap<u32, String> = w
        .pods
        .iter()
        .map(|p| (p.ordinal, p.revision.clone()))
        .collect();
    assert_eq!(revisions[&4], "r2");
    assert_eq!(revisions[&3], "r2");
    assert_eq!(revisions[&2], "r1");
    let st = status(&w.spec, &w.pods);
    assert_eq!(st.updated_replicas, 2);
    assert_eq!(st.current_revision, "r1", "partitioned: current stays");
    // Lowering the partition finishes the rollout.
    w.spec.update_strategy = UpdateStrategy::RollingUpdate {
        partition: 0,
        max_unavailable: 1,
    };
    w.log.clear();
    w.converge();
    assert_eq!(deleted(&w.log), [2, 1, 0]);
    let st = status(&w.spec, &w.pods);
    assert_eq!(st.current_revision, "r2");
    assert_eq!(st.updated_replicas, 5);
}

#[test]
fn rolling_update_waits_for_each_pod_to_be_ready() {
    let mut w = World::new(spec(3));
    w.converge();
    w.spec.update_revision = "r2".into();
    assert_eq!(deleted(&w.step()), [2]);
    assert!(w.step().is_empty(), "waits for web-2 to go");
    w.pods.retain(|p| !p.terminating);
    assert_eq!(created(&w.step()), [2]);
    assert!(w.step().is_empty(), "waits for new web-2 to be ready");
    w.settle();
    assert_eq!(deleted(&w.step()), [1]);
}

#[test]
fn max_unavailable_deletes_several_at_once() {
    let mut w = World::new(spec(5));
    w.converge();
    w.spec.update_revision = "r2".into();
    w.spec.update_strategy = UpdateStrategy::RollingUpdate {
        partition: 0,
        max_unavailable: 2,
    };
    assert_eq!(deleted(&w.step()), [4, 3]);
}

#[test]
fn on_delete_updates_only_deleted_pods() {
    let mut s = spec(3);
    s.update_strategy = UpdateStrategy::OnDelete;
    let mut w = World::new(s);
    w.converge();
    w.spec.update_revision = "r2".into();
    w.log.clear();
    w.converge();
    assert!(w.log.is_empty(), "OnDelete must not delete: {:?}", w.log);
    // A user deletes web-1: it comes back at r2.
    w.pods.retain(|p| p.ordinal != 1);
    w.converge();
    let revs: BTreeMap<u32, String> = w
        .pods
        .iter()
        .map(|p| (p.ordinal, p.revision.clone()))
        .collect();
    assert_eq!(revs[&1], "r2");
    assert_eq!(revs[&0], "r1");
    assert_eq!(revs[&2], "r1");
}

#[test]
fn claims_survive_scale_down_and_are_reused() {
    let mut w = World::new(spec(5));
    w.converge();
    let before = w.claims.clone();
    assert_eq!(before.len(), 5);
    assert!(before.contains("www-web-4"));
    w.spec.replicas = 2;
    w.converge();
    assert_eq!(w.claims, before, "claims are kept on scale down");
    w.spec.replicas = 5;
    w.log.clear();
    w.converge();
    assert!(
        !w.log
            .iter()
            .any(|a| matches!(a, Action::CreateClaim { .. })),
        "claims are reused: {:?}",
        w.log
    );
    assert_eq!(w.claims, before);
}

#[test]
fn claims_are_created_before_their_pod() {
    let mut w = World::new(spec(1));
    let actions = w.step();
    assert_eq!(
        actions,
        [
            Action::CreateClaim {
                ordinal: 0,
                name: "www-web-0".into()
            },
            Action::CreatePod {
                ordinal: 0,
                revision: "r1".into()
            }
        ]
    );
}

#[test]
fn when_scaled_delete_removes_claims_of_condemned_ordinals() {
    let mut s = spec(3);
    s.when_scaled = Retention::Delete;
    let mut w = World::new(s);
    w.converge();
    w.spec.replicas = 1;
    w.converge();
    assert_eq!(w.claims.iter().collect::<Vec<_>>(), ["www-web-0"]);
}

#[test]
fn ordinals_start_offsets_names() {
    let mut s = spec(3);
    s.start = 5;
    let mut w = World::new(s);
    w.converge();
    assert_eq!(w.ordinals(), [5, 6, 7]);
    assert!(w.claims.contains("www-web-5"));
    assert_eq!(pod_name("web", 5), "web-5");
    w.spec.replicas = 1;
    w.converge();
    assert_eq!(w.ordinals(), [5]);
}

#[test]
fn failed_pod_is_replaced() {
    let mut w = World::new(spec(3));
    w.converge();
    w.pods[1].phase = Phase::Failed;
    w.pods[1].ready = false;
    let actions = w.step();
    assert_eq!(
        actions,
        [Action::DeletePod {
            ordinal: 1,
            reason: DeleteReason::Failed
        }]
    );
    w.converge();
    assert_eq!(w.ordinals(), [0, 1, 2]);
    assert!(w.pods.iter().all(PodView::healthy));
}

#[test]
fn unhealthy_pod_blocks_ordered_scale_down() {
    let mut w = World::new(spec(3));
    w.converge();
    w.pods[0].ready = false;
    w.spec.replicas = 2;
    assert!(w.step().is_empty());
    w.pods[0].ready = true;
    assert_eq!(deleted(&w.step()), [2]);
}

#[test]
fn status_counts() {
    let s = spec(3);
    let pods = vec![pod(0, "r1", true), pod(1, "r1", false)];
    let st = status(&s, &pods);
    assert_eq!(
        (st.replicas, st.ready_replicas, st.updated_replicas),
        (2, 1, 2)
    );
}

/// `replicas: 2147483647` under Parallel: the controller creates what
/// the cluster has room for, says there is no more, and its work is
/// bounded by the pods, not by the number someone wrote.
#[test]
fn huge_parallel_set_stops_at_capacity() {
    let mut s = spec(i32::MAX as u32);
    s.pod_management = PodManagement::Parallel;
    s.claim_templates.clear();
    let actions = reconcile(&s, &[], &BTreeSet::new(), 5);
    let made = created(&actions);
    assert_eq!(made, [0, 1, 2, 3, 4]);
    assert_eq!(actions.last(), Some(&Action::NoCapacity { ordinal: 5 }));
    // With those five observed and no room: one NoCapacity, nothing else.
    let pods: Vec<PodView> = made.iter().map(|&o| pod(o, "r1", true)).collect();
    let actions = reconcile(&s, &pods, &BTreeSet::new(), 0);
    assert_eq!(actions, [Action::NoCapacity { ordinal: 5 }]);
}

/// OrderedReady at the cap waits; a rolling update of a huge set works
/// from the highest pod it can see (there is none above the cap).
#[test]
fn huge_ordered_set_waits_at_capacity_and_updates_nothing_unseen() {
    let mut s = spec(i32::MAX as u32);
    s.claim_templates.clear();
    let pods = vec![pod(0, "r1", true), pod(1, "r1", true)];
    assert_eq!(
        reconcile(&s, &pods, &BTreeSet::new(), 0),
        [Action::NoCapacity { ordinal: 2 }]
    );
    s.update_revision = "r2".into();
    assert_eq!(
        reconcile(&s, &pods, &BTreeSet::new(), 0),
        [Action::NoCapacity { ordinal: 2 }]
    );
    // Room again: the next ordinal is created, in order.
    assert_eq!(created(&reconcile(&s, &pods, &BTreeSet::new(), 1)), [2]);
}

mod props {
    use super::*;
    use proptest::prelude::*;

    #[derive(Clone, Debug)]
    enum Op {
        Scale(u32),
        Delete(u32),
        Ready(u32, bool),
        Template,
        Settle,
        Step,
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            (0u32..6).prop_map(Op::Scale),
            (0u32..6).prop_map(Op::Delete),
            (0u32..6, any::<bool>()).prop_map(|(o, r)| Op::Ready(o, r)),
            Just(Op::Template),
            Just(Op::Settle),
            Just(Op::Step),
            Just(Op::Step),
        ]
    }

    proptest! {
        /// Random interleavings of scale, delete, readiness flips and
        /// template changes: never two pods with one ordinal; under
        /// OrderedReady one transition at a time, a pod created only
        /// above Ready pods and scale-down from the top; and once the
        /// world settles, the set converges to its spec.
        #[test]
        fn invariants_hold_and_state_converges(
            ops in proptest::collection::vec(op(), 1..60),
            parallel in any::<bool>(),
        ) {
            let mut s = spec(2);
            if parallel {
                s.pod_management = PodManagement::Parallel;
            }
            let mut w = World::new(s);
            let mut revision = 1;
            for op in ops {
                match op {
                    Op::Scale(n) => w.spec.replicas = n,
                    Op::Delete(o) => w.pods.retain(|p| p.ordinal != o),
                    Op::Ready(o, r) => {
                        for p in &mut w.pods {
                            if p.ordinal == o && p.phase == Phase::Running {
                                p.ready = r;
                            }
                        }
                    }
                    Op::Template => {
                        revision += 1;
                        w.spec.update_revision = format!("r{revision}");
                    }
                    Op::Settle => w.settle(),
                    Op::Step => {
                        let healthy: BTreeSet<u32> = w.pods.iter().filter(|p| p.healthy()).map(|p| p.ordinal).collect();
                        let highest = w.pods.iter().map(|p| p.ordinal).max();
                        let actions = w.step();
                        if !parallel {
                            // One transition at a time, and only on top of healthy pods.
                            let started = actions.iter().filter(|a| matches!(a, Action::CreatePod{..} | Action::DeletePod{..})).count();
                            prop_assert!(started <= 1, "{actions:?}");
                            for a in &actions {
                                match a {
                                    Action::CreatePod { ordinal, .. } => {
                                        prop_assert!((w.spec.start..*ordinal).all(|o| healthy.contains(&o)),
                                            "created {} before lower ordinals were ready: {:?}", ordinal, healthy);
                                    }
                                    Action::DeletePod { ordinal, reason: DeleteReason::ScaleDown } => {
                                        prop_assert_eq!(Some(*ordinal), highest, "scale-down must take the highest ordinal");
                                    }
                                    _ => {}
                                }
                            }
                        }
                    }
                }
                let mut seen = BTreeSet::new();
                for p in &w.pods {
                    prop_assert!(seen.insert(p.ordinal), "two pods with ordinal {}", p.ordinal);
                }
            }
            w.converge();
            let want: Vec<u32> = (0..w.spec.replicas).collect();
            prop_assert_eq!(w.ordinals(), want);
            prop_assert!(w.pods.iter().all(|p| p.revision == w.spec.update_revision && p.healthy()));
            let st = status(&w.spec, &w.pods);
            prop_assert_eq!(st.ready_replicas, w.spec.replicas);
        }
    }
}
