//! Service admission as kube-apiserver does it: cluster IPs from the
//! service CIDR (a stable hash of namespace/name, then the next free one),
//! requested IPs checked, node ports for NodePort and LoadBalancer, and the
//! apiserver's error texts.

use super::*;

impl Cluster {
    /// Gives a Service its cluster IP as kube-apiserver's allocator does:
    /// headless and ExternalName Services get none; an IP written in the
    /// spec is kept if it is in `service_cidr` and free, and refused in
    /// kube-apiserver's words otherwise; an updated Service keeps the IP it
    /// has; a new one gets a free IP, the same one for the same name on
    /// every run (a hash of namespace/name, then the next free).
    pub(super) fn allocate_cluster_ip(
        &self,
        key: &Key,
        svc: &mut core::Service,
    ) -> Result<(), ApiError> {
        let name = key.1.clone();
        let spec = svc.spec.get_or_insert_with(Default::default);
        let type_ = spec.type_.get_or_insert_with(|| "ClusterIP".to_owned());
        if type_ == "ExternalName" {
            return Ok(());
        }
        let requested: Vec<String> = match (&spec.cluster_ips, &spec.cluster_ip) {
            (Some(ips), _) if !ips.is_empty() => ips.clone(),
            (_, Some(ip)) if !ip.is_empty() => vec![ip.clone()],
            _ => Vec::new(),
        };
        if requested.first().map(String::as_str) == Some("None") {
            spec.cluster_ip = Some("None".to_owned());
            spec.cluster_ips = Some(vec!["None".to_owned()]);
            return Ok(());
        }
        let taken: BTreeSet<IpAddr> = self
            .services
            .iter()
            .filter(|(k, _)| *k != key)
            .filter_map(|(_, s)| s.spec.as_ref()?.cluster_ips.as_ref())
            .flatten()
            .filter_map(|ip| ip.parse().ok())
            .collect();
        let cidr = self.settings.service_cidr;
        let invalid = |ips: &[String], why: String| {
            let list = ips
                .iter()
                .map(|ip| format!("{ip:?}"))
                .collect::<Vec<_>>()
                .join(", ");
            ApiError::invalid(format!(
                "Service \"{name}\" is invalid: spec.clusterIPs: Invalid value: []string{{{list}}}: {why}"
            ))
        };
        let chosen: IpAddr = if let Some(first) = requested.first() {
            let Ok(ip) = first.parse::<IpAddr>() else {
                return Err(invalid(
                    &requested,
                    "must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)".to_owned(),
                ));
            };
            if !cidr.contains(&ip) {
                return Err(invalid(
                    &requested,
                    format!(
                        "failed to allocate IP {ip}: the provided IP ({ip}) is not in the valid range. The range of valid IPs is {cidr}"
                    ),
                ));
            }
            if taken.contains(&ip) {
                return Err(invalid(
                    &requested,
                    format!("failed to allocate IP {ip}: provided IP is already allocated"),
                ));
            }
            ip
        } else if let Some(kept) = self
            .services
            .get(key)
            .and_then(|old| old.spec.as_ref()?.cluster_ip.as_ref()?.parse().ok())
            .filter(|ip: &IpAddr| cidr.contains(ip))
        {
            kept
        } else {
            let pool = IpPool::new(cidr);
            let size = pool.size().min(1 << 24);
            // Offsets 1 ..= size-2: not the network, not the broadcast.
            let usable = size.saturating_sub(2).max(1);
            let start = u128::from(fnv(&format!("{}/{}", key.0, key.1))) % usable;
            let free = (0..usable)
                .map(|i| pool.at(1 + (start + i) % usable))
                .find(|ip| !taken.contains(ip));
            let Some(ip) = free else {
                return Err(ApiError::invalid(format!(
                    "Internal error occurred: failed to allocate a serviceIP: range is full ({cidr})"
                )));
            };
            ip
        };
        if matches!(spec.type_.as_deref(), Some("NodePort" | "LoadBalancer")) {
            // Node ports from kube-apiserver's default range 30000-32767.
            let used: BTreeSet<i32> = self
                .services
                .iter()
                .filter(|(k, _)| *k != key)
                .filter_map(|(_, s)| s.spec.as_ref()?.ports.as_ref())
                .flatten()
                .filter_map(|p| p.node_port)
                .collect();
            let mut next = 30000 + (fnv(&format!("{}/{}", key.0, key.1)) % 2768) as i32;
            for port in spec.ports.iter_mut().flatten() {
                if port.node_port.is_some_and(|n| n > 0) {
                    continue;
                }
                for _ in 0..2768 {
                    if !used.contains(&next) {
                        break;
                    }
                    next = if next >= 32767 { 30000 } else { next + 1 };
                }
                port.node_port = Some(next);
                next = if next >= 32767 { 30000 } else { next + 1 };
            }
        }
        let family = if chosen.is_ipv4() { "IPv4" } else { "IPv6" };
        spec.cluster_ip = Some(chosen.to_string());
        spec.cluster_ips = Some(vec![chosen.to_string()]);
        spec.ip_families = Some(vec![family.to_owned()]);
        spec.ip_family_policy
            .get_or_insert_with(|| "SingleStack".to_owned());
        Ok(())
    }
}
