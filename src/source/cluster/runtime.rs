//! The simulated pod runtime: pod IPs from the pod CIDR, the lifecycle
//! Pending → Running → Ready after the configured delays, termination, the
//! pod status a kubelet would write, and injected faults.

use super::*;

impl SimPod {
    pub(super) fn ready(&self) -> bool {
        self.ready_since.is_some() && !self.unready && self.deleting.is_none() && !self.failed
    }

    pub(super) fn phase(&self) -> Phase {
        if self.failed {
            Phase::Failed
        } else if self.started.is_some() {
            Phase::Running
        } else {
            Phase::Pending
        }
    }
}
impl IpPool {
    pub(super) fn new(cidr: IpNet) -> Self {
        Self {
            cidr,
            // .0 is the network, .1 conventionally the gateway.
            cursor: 2,
            held: BTreeSet::new(),
        }
    }

    pub(super) fn size(&self) -> u128 {
        let bits = u32::from(self.cidr.max_prefix_len() - self.cidr.prefix_len());
        if bits >= 127 {
            u128::MAX
        } else {
            1u128 << bits
        }
    }

    pub(super) fn at(&self, offset: u128) -> IpAddr {
        match self.cidr.network() {
            IpAddr::V4(n) => IpAddr::V4((u32::from(n).wrapping_add(offset as u32)).into()),
            IpAddr::V6(n) => IpAddr::V6((u128::from(n).wrapping_add(offset)).into()),
        }
    }

    pub(super) fn allocate(&mut self) -> Option<IpAddr> {
        let size = self.size();
        // Usable offsets: 2 ..= size-2 (skip network, gateway, broadcast).
        let usable = size.saturating_sub(3).max(1);
        if self.held.len() as u128 >= usable {
            return None;
        }
        for _ in 0..usable.min(1 << 20) {
            if self.cursor >= size.saturating_sub(1) || self.cursor < 2 {
                self.cursor = 2;
            }
            let ip = self.at(self.cursor);
            self.cursor += 1;
            if self.held.insert(ip) {
                return Some(ip);
            }
        }
        None
    }

    pub(super) fn release(&mut self, ip: IpAddr) {
        self.held.remove(&ip);
    }
}
impl Cluster {
    /// Injects a fault into a pod.
    pub fn fault(&mut self, namespace: &str, name: &str, fault: Fault) -> Result<String, ApiError> {
        let key = (namespace.to_owned(), name.to_owned());
        let pod = self
            .pods
            .get_mut(&key)
            .ok_or_else(|| ApiError::not_found(Resource::Pods.plural(), name))?;
        let container = first_container(&pod.pod);
        let what = match fault {
            Fault::Kill => {
                pod.failed = true;
                "killed"
            }
            Fault::Unready => {
                pod.unready = true;
                "unready"
            }
            Fault::Ready => {
                pod.unready = false;
                "ready"
            }
            Fault::FailStart => {
                pod.fail_start = true;
                "failing to start"
            }
            Fault::Start => {
                pod.fail_start = false;
                "starting"
            }
        };
        match fault {
            Fault::Kill => self.event(
                ("Pod", namespace, name),
                "Warning",
                "Failed",
                format!("Container {container} was killed"),
            ),
            Fault::Unready => self.event(
                ("Pod", namespace, name),
                "Warning",
                "Unhealthy",
                "Readiness probe failed".to_owned(),
            ),
            _ => {}
        }
        Ok(format!("pod/{name} {what}"))
    }

    pub(super) fn advance_pods(&mut self, now: Instant) {
        let settings = self.settings.clone();
        let mut gone = Vec::new();
        let mut events = Vec::new();
        let mut warnings = Vec::new();
        for (key, pod) in &mut self.pods {
            if let Some(deleting) = pod.deleting {
                if now >= deleting + settings.terminate_delay {
                    gone.push(key.clone());
                }
                continue;
            }
            if pod.failed {
                continue;
            }
            if pod.started.is_none() && !pod.fail_start && now >= pod.created + settings.start_delay
            {
                if pod.ip.is_none() {
                    pod.ip = self.ips.allocate();
                }
                if pod.ip.is_none() {
                    if !pod.unschedulable {
                        pod.unschedulable = true;
                        tracing::warn!(pod = %key.1, cidr = %settings.pod_cidr, "pod CIDR exhausted; pod stays Pending");
                        warnings.push((
                            key.clone(),
                            "FailedScheduling",
                            format!(
                                "0/1 nodes are available: 1 node has no free pod IP: pod CIDR {} is exhausted.",
                                settings.pod_cidr
                            ),
                        ));
                    }
                    continue;
                }
                pod.unschedulable = false;
                pod.started = Some(pod.created + settings.start_delay);
                events.push((
                    key.clone(),
                    "Started",
                    format!("Started container {}", first_container(&pod.pod)),
                ));
            }
            if let Some(started) = pod.started
                && pod.ready_since.is_none()
                && now >= started + settings.ready_delay
            {
                pod.ready_since = Some(started + settings.ready_delay);
            }
        }
        for key in gone {
            if let Some(pod) = self.pods.remove(&key)
                && let Some(ip) = pod.ip
            {
                self.ips.release(ip);
            }
        }
        for ((ns, name), reason, message) in events {
            self.event(("Pod", &ns, &name), "Normal", reason, message);
        }
        for ((ns, name), reason, message) in warnings {
            self.event(("Pod", &ns, &name), "Warning", reason, message);
        }
        let keys: Vec<Key> = self.pods.keys().cloned().collect();
        for key in keys {
            self.render_pod_status(&key);
        }
    }

    /// Writes the simulated state into the Pod object's status.
    pub(super) fn render_pod_status(&mut self, key: &Key) {
        let Some(sim) = self.pods.get_mut(key) else {
            return;
        };
        let ready = sim.ready();
        let phase = match sim.phase() {
            Phase::Pending => "Pending",
            Phase::Running => "Running",
            Phase::Succeeded => "Succeeded",
            Phase::Failed => "Failed",
        };
        let condition = |type_: &str, ok: bool| core::PodCondition {
            type_: type_.to_owned(),
            status: if ok { "True" } else { "False" }.to_owned(),
            ..Default::default()
        };
        let containers = sim
            .pod
            .spec
            .as_ref()
            .map(|s| s.containers.clone())
            .unwrap_or_default();
        let statuses = containers
            .iter()
            .map(|c| core::ContainerStatus {
                name: c.name.clone(),
                image: c.image.clone().unwrap_or_default(),
                image_id: String::new(),
                ready,
                restart_count: 0,
                started: Some(sim.started.is_some() && !sim.failed),
                state: Some(if sim.failed {
                    core::ContainerState {
                        terminated: Some(core::ContainerStateTerminated {
                            exit_code: 137,
                            reason: Some("Error".to_owned()),
                            ..Default::default()
                        }),
                        ..Default::default()
                    }
                } else if sim.started.is_some() {
                    core::ContainerState {
                        // Wall time: the pod's creation plus the simulated
                        // start delay.
                        running: Some(core::ContainerStateRunning {
                            started_at: sim.started.and_then(|started| {
                                let created = sim.pod.metadata.creation_timestamp.as_ref()?.0;
                                let delay = k8s_openapi::jiff::SignedDuration::try_from(
                                    started.saturating_duration_since(sim.created),
                                )
                                .ok()?;
                                Some(Time(created.checked_add(delay).ok()?))
                            }),
                        }),
                        ..Default::default()
                    }
                } else {
                    core::ContainerState {
                        waiting: Some(core::ContainerStateWaiting {
                            reason: Some(
                                if sim.fail_start {
                                    "CrashLoopBackOff"
                                } else {
                                    "ContainerCreating"
                                }
                                .to_owned(),
                            ),
                            message: None,
                        }),
                        ..Default::default()
                    }
                }),
                ..Default::default()
            })
            .collect();
        let ip = sim.ip.map(|ip| ip.to_string());
        sim.pod.status = Some(core::PodStatus {
            phase: Some(phase.to_owned()),
            conditions: Some(vec![
                condition("PodScheduled", true),
                condition("Initialized", true),
                condition("ContainersReady", ready),
                condition("Ready", ready),
            ]),
            container_statuses: Some(statuses),
            pod_ip: ip.clone(),
            pod_ips: ip.map(|ip| vec![core::PodIP { ip }]),
            host_ip: Some("127.0.0.1".to_owned()),
            start_time: sim.pod.metadata.creation_timestamp.clone(),
            qos_class: Some("BestEffort".to_owned()),
            ..Default::default()
        });
    }
}
